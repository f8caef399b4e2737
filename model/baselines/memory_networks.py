"""Memory Networks (Weston et al., 2014; end-to-end attention as in Sukhbaatar et al., 2015) in a fixed budget.

Memory: one slot per stored pattern, written by a learned encoder, slot_n = enc(x_n)[:w]: the first w of the D
code entries, w = min(D, ⌊(P − 1) / N⌋) for a memory of N patterns and a state of P = 8,256 floats. So up to
N = 64 every slot holds a full D = 128 code, and beyond it the slots must compress (N = 96: 85 entries each).
θ: [B, P] = the N slots of w entries one after another, zeros after them, and N itself in the last float (the
read needs it to find the slots).

Reading: a query key u = key(q)[:w] attends over the N slots, p = softmax(τ · u · slotᵀ) (τ learned), and a
learned decoder maps [Σₙ pₙ slotₙ (zero-filled to D entries), q] to the bits' logits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.baselines.learned import STATE_BUDGET, LearnedConfig, LearnedMemory, mlp


class MemoryNetwork(LearnedMemory):
    """Encoder-written slots, read by dot-product attention and a decoder."""

    def __init__(self, config: LearnedConfig) -> None:
        super().__init__(config)
        D, H = config.input_dim, config.hidden
        self.encoder = mlp(D, H, D)  # pattern -> slot code (its first entries are kept when slots compress)
        self.key = mlp(D, H, D)  # query -> attention key
        self.decoder = mlp(2 * D, H, D)  # [read-out, query] -> logits
        self.log_temperature = nn.Parameter(torch.tensor(-0.5 * math.log(D)))

    @staticmethod
    def state_floats(config: LearnedConfig) -> int:
        return min(STATE_BUDGET, config.max_patterns * config.input_dim + 1)

    def slot_width(self, counts: Tensor) -> Tensor:
        """counts: [B] patterns per memory -> w: [B] code entries per slot."""
        room = self.state_floats(self.config) - 1
        return torch.minimum(torch.full_like(counts, self.config.input_dim), room // counts.clamp_min(1))

    def layout(self, counts: Tensor) -> tuple[Tensor, Tensor]:
        """counts: [B] -> (index: [B, L, D] of slot n's entry j in θ, used: [B, L, D] bool), L = max_patterns."""
        width = self.slot_width(counts).view(-1, 1, 1)
        slot = torch.arange(self.config.max_patterns, device=counts.device).view(1, -1, 1)
        entry = torch.arange(self.config.input_dim, device=counts.device).view(1, 1, -1)
        used = (slot < counts.view(-1, 1, 1)) & (entry < width)
        return torch.where(used, slot * width + entry, 0), used

    def _write(self, X: Tensor, real: Tensor) -> Tensor:
        batch, count, dim = X.shape
        order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)  # real rows first, in their order
        codes = self.encoder(torch.gather(X, 1, order.unsqueeze(-1).expand_as(X)))  # [B, N, D]
        codes = torch.cat([codes, codes.new_zeros(batch, self.config.max_patterns - count, dim)], dim=1)
        counts = real.sum(1)
        index, used = self.layout(counts)
        size = self.state_floats(self.config)
        theta = codes.new_zeros(batch, size + 1)  # the last column takes the unused entries, then is dropped
        theta = theta.scatter(1, torch.where(used, index, size).flatten(1), (codes * used).flatten(1))[:, :size]
        return torch.cat([theta[:, :-1], counts.to(theta.dtype).unsqueeze(1)], dim=1)

    def _logits(self, theta: Tensor, Q: Tensor, known: Tensor | None) -> Tensor:
        counts = theta[:, -1].round().long()  # [B]
        index, used = self.layout(counts)
        slots = torch.gather(theta, 1, index.flatten(1)).view_as(index) * used  # [B, L, D], zero past w
        keys = self.key(Q) * used[:, :1]  # [B, M, D]: the first w entries, like the slots
        scores = torch.einsum("bmd,bld->bml", keys, slots) * self.log_temperature.exp()
        written = used[:, :, 0]  # [B, L]
        attention = torch.nan_to_num(scores.masked_fill(~written.unsqueeze(1), float("-inf")).softmax(-1))
        return self.decoder(torch.cat([attention @ slots, Q], dim=-1))  # a memory with no pattern reads zeros
