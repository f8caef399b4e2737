"""An LSTM (Hochreiter & Schmidhuber, 1997) as a memory: it reads the stored patterns as a sequence, then the query.

Memory: the LSTM's state after the last stored pattern, θ = [h, c]: [B, 2H] (H = 512: 1,024 floats, within the
8,256 budget; at H = 4,128, the budget in full, one meta-step costs ~60× more on CPU). Padding rows are removed
(the real patterns are packed in order), so they never enter the sequence.

Reading: one more LSTM step from θ with the query as input; the shared decoder maps [h', q] to the bits' logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from model.baselines.learned import LearnedConfig, LearnedMemory, mlp


class LSTMMemory(LearnedMemory):
    """A one-layer LSTM whose state after the stored sequence is the memory."""

    def __init__(self, config: LearnedConfig) -> None:
        super().__init__(config)
        D, H = config.input_dim, config.lstm_hidden
        self.lstm = nn.LSTM(D, H, batch_first=True)
        self.decoder = mlp(H + D, config.hidden, D)

    @staticmethod
    def state_floats(config: LearnedConfig) -> int:
        return 2 * config.lstm_hidden

    def _write(self, X: Tensor, real: Tensor) -> Tensor:
        order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)  # real rows first, in their order
        packed = torch.gather(X, 1, order.unsqueeze(-1).expand_as(X))
        lengths = real.sum(1).clamp_min(1).cpu()  # a memory with no pattern reads one zero row
        _, (h, c) = self.lstm(pack_padded_sequence(packed, lengths, batch_first=True, enforce_sorted=False))
        return torch.cat([h[0], c[0]], dim=-1)

    def _logits(self, theta: Tensor, Q: Tensor, known: Tensor | None) -> Tensor:
        batch, queries, dim = Q.shape
        h, c = theta.repeat_interleave(queries, dim=0).chunk(2, dim=-1)  # [B·M, H] each
        out, _ = self.lstm(
            Q.reshape(batch * queries, 1, dim), (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous())
        )
        return self.decoder(torch.cat([out.view(batch, queries, -1), Q], dim=-1))
