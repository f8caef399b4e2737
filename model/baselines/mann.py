"""MANN (Santoro et al., 2016): a controller with least-recently-used-access writes and content-based reads.

Memory: a matrix M: [L, S] (L = 64 slots of S = 129: 8,256 floats, so up to 64 patterns each get a slot wider
than the pattern); θ = M. Beyond 64 patterns LRU access overwrites the least used slots. The usage weights and
the last read weights are bookkeeping of the write loop (which slot is least used next); a finished memory is
only read, so they are not kept.

Writing, one pattern after another (t = 1…N), with a feed-forward controller emitting the key k_t = ctrl(x_t):

    w^r_t  = softmax(β cos(k_t, M_{t−1}))  over written slots     content-based read weights
    w^lu   = one-hot of the least used slot (argmin w^u_{t−1})
    w^w_t  = σ(g) w^r_{t−1} + (1 − σ(g)) w^lu                    LRU access: the last read slot, or an unused one
    M_t    = M_{t−1} ⊙ (1 − w^lu) + w^w_t k_tᵀ                   the least used slot is cleared, then written
    w^u_t  = γ w^u_{t−1} + w^r_t + w^w_t

An empty slot (all zeros: a written key never is) has no content to address, so content-based reads skip it;
it keeps usage 0 and is the first to be written. With cosine read weights spread over empty slots too (cos = 0),
they gained usage with every read and, with γ < 1, soon looked more used than the oldest written slots: a first
run overwrote half of 32 patterns (12.3 error bits at N = 32 against 0.26 at N = 16 after 1,000 steps).
Reading: the query's key k = ctrl(q) reads r = softmax(β cos(k, M)) M, and the shared decoder maps [r, q] to
the bits' logits. β and g are learned; γ = 0.95 is fixed (it only picks the argmin, which has no gradient).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from model.baselines.learned import LearnedConfig, LearnedMemory, mlp

USAGE_DECAY = 0.95  # γ


class MANN(LearnedMemory):
    """Memory-augmented network with LRU-access writes (Santoro et al., 2016), feed-forward controller."""

    def __init__(self, config: LearnedConfig) -> None:
        super().__init__(config)
        D, H, S = config.input_dim, config.hidden, config.slot_width
        self.controller = mlp(D, H, S)  # pattern or query -> key
        self.decoder = mlp(S + D, H, D)  # [read vector, query] -> logits
        self.log_key_strength = nn.Parameter(torch.tensor(2.3))  # β ≈ 10
        self.write_gate = nn.Parameter(torch.tensor(-2.0))  # g: σ(g) of a write goes to the last read slot

    @staticmethod
    def state_floats(config: LearnedConfig) -> int:
        return config.memory_slots * config.slot_width

    def content_weights(self, keys: Tensor, memory: Tensor) -> Tensor:
        """keys: [B, M, S], memory: [B, L, S] -> softmax(β cos) over the written slots: [B, M, L] (all 0 when
        nothing is written)."""
        cosine = F.normalize(keys, dim=-1, eps=1e-6) @ F.normalize(memory, dim=-1, eps=1e-6).transpose(1, 2)
        written = memory.ne(0).any(-1).unsqueeze(1)  # [B, 1, L]
        scores = (self.log_key_strength.exp() * cosine).masked_fill(~written, float("-inf"))
        return torch.nan_to_num(scores.softmax(-1))

    def _write(self, X: Tensor, real: Tensor) -> Tensor:
        batch, count, _ = X.shape
        slots = self.config.memory_slots
        keys = self.controller(X)  # [B, N, S]
        memory = keys.new_zeros(batch, slots, self.config.slot_width)
        usage = keys.new_zeros(batch, slots)
        last_read = keys.new_zeros(batch, slots)
        gate = torch.sigmoid(self.write_gate)
        for t in range(count):
            key, keep = keys[:, t], real[:, t].view(batch, 1)  # [B, S], [B, 1]
            read = self.content_weights(key.unsqueeze(1), memory).squeeze(1)  # [B, L]
            least_used = F.one_hot(usage.argmin(-1), slots).to(keys.dtype)  # [B, L]
            write = gate * last_read + (1 - gate) * least_used
            written = memory * (1 - least_used).unsqueeze(-1) + write.unsqueeze(-1) * key.unsqueeze(1)
            memory = torch.where(keep.unsqueeze(-1), written, memory)  # a padding row changes nothing
            usage = torch.where(keep, USAGE_DECAY * usage + read + write, usage)
            last_read = torch.where(keep, read, last_read)
        return memory.flatten(1)

    def _logits(self, theta: Tensor, Q: Tensor, known: Tensor | None) -> Tensor:
        memory = theta.view(theta.shape[0], self.config.memory_slots, self.config.slot_width)
        read = self.content_weights(self.controller(Q), memory) @ memory  # [B, M, S]
        return self.decoder(torch.cat([read, Q], dim=-1))
