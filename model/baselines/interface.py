"""The write / read interface every memory in the benchmarks (and the service) can be driven through."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class AssociativeMemory(Protocol):
    """A memory batched over B independent memories, each holding up to N patterns of D entries."""

    def write(self, X: Tensor, pattern_mask: Tensor | None = None) -> Tensor:
        """X: [B, N, D], pattern_mask: [B, N] bool (True = a real pattern) or None -> θ: [B, P]."""
        ...

    def read(self, theta: Tensor, Q: Tensor, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """θ: [B, P], Q: [B, M, D], known: [B, M, D] bool (entries kept fixed) or None.

        Returns the retrieved states X̂: [B, M, D] and their energies: [B, M].
        """
        ...
