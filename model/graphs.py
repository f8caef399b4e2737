"""CUDA-graph replay of the read and write loops, one captured graph per fixed-shape bucket.

Small batches are launch-bound on a GPU (each unrolled step is ~20 small kernels; a write also runs its
gradient passes); replaying a captured graph removes the per-kernel launch cost. Reads are captured for
energies with a hand-written ∇ₓE (no autograd); writes with the FC energy's hand-written write gradient
(Energy.write_loss_grad; other energies' autograd passes would be captured inside the graph, as PyTorch's
whole-network capture does). Inputs are copied into static buffers, the graph is
replayed, outputs are copied out. Batches are padded to (memory bucket, query or pattern bucket) and
longer ones run in chunks of the largest memory bucket.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from model.buckets import MEMORY_BUCKETS, chunks, memory_bucket, pad_to, query_bucket
from model.memory import EnergyMemory


def capture(run: Callable[[], tuple[Tensor, ...]], device: torch.device) -> tuple[torch.cuda.CUDAGraph, tuple]:
    """Warm `run` up on a side stream (allocator, lazy kernel init), then capture it; returns its static outputs."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(2):
            run()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = run()
    return graph, outputs


class CapturedRead:
    """memory.descend (the plain read) for one static shape θ: [B, P], Q/known: [B, M, *S], captured as a CUDA graph."""

    def __init__(self, memory: EnergyMemory, batch: int, queries: int, device: torch.device) -> None:
        shape = memory.config.input_shape
        self.theta = torch.zeros(batch, memory.writable_numel, device=device)
        self.Q = torch.zeros(batch, queries, *shape, device=device)
        self.known = torch.zeros(batch, queries, *shape, dtype=torch.bool, device=device)

        def read() -> tuple[Tensor, Tensor]:
            with torch.inference_mode():
                return memory.descend(self.theta, self.Q, self.known)

        self.graph, (self.states, self.energies) = capture(read, device)

    def __call__(self, theta: Tensor, Q: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
        self.theta.copy_(theta)
        self.Q.copy_(Q)
        self.known.copy_(known)
        self.graph.replay()
        return self.states.clone(), self.energies.clone()


class CapturedWrite:
    """memory.write for one static shape X: [B, N, *S], pattern_mask: [B, N], captured as a CUDA graph (its
    products at `product_dtype`, see EnergyMemory.write)."""

    def __init__(
        self, memory: EnergyMemory, batch: int, count: int, device: torch.device, product_dtype: torch.dtype
    ) -> None:
        self.X = torch.zeros(batch, count, *memory.config.input_shape, device=device)
        self.mask = torch.ones(batch, count, dtype=torch.bool, device=device)

        def write() -> tuple[Tensor]:
            return (memory.write(self.X, self.mask, product_dtype=product_dtype),)

        self.graph, (self.theta,) = capture(write, device)

    def __call__(self, X: Tensor, mask: Tensor) -> Tensor:
        self.X.copy_(X)
        self.mask.copy_(mask)
        self.graph.replay()
        return self.theta.clone()


def padded_write(write: Callable[[Tensor, Tensor], Tensor], X: Tensor, pattern_mask: Tensor | None) -> Tensor:
    """θ: [B, P] of `write` run chunk by chunk on bucket-padded X: [B', N', *S] and pattern_mask: [B', N'].

    Padded patterns are masked out and padded memories are dropped, so the result equals an unpadded write.
    """
    count, patterns = X.shape[:2]
    if pattern_mask is None:
        pattern_mask = torch.ones(count, patterns, dtype=torch.bool, device=X.device)
    padded_patterns = query_bucket(patterns)
    thetas = []
    for rows in chunks(count, MEMORY_BUCKETS[-1]):
        size = (memory_bucket(rows.stop - rows.start), padded_patterns)
        thetas.append(write(pad_to(X[rows], size), pad_to(pattern_mask[rows], size))[: rows.stop - rows.start])
    return torch.cat(thetas)


class GraphedWriter:
    """Writes of any size through bucket-padded captured graphs, captured lazily on first use."""

    def __init__(self, memory: EnergyMemory, device: torch.device, product_dtype: torch.dtype) -> None:
        self.memory, self.device, self.product_dtype = memory, device, product_dtype
        self.captured: dict[tuple[int, int], CapturedWrite] = {}

    def write(self, X: Tensor, pattern_mask: Tensor | None) -> Tensor:
        """X: [B, N, *S], pattern_mask: [B, N] bool or None -> θ: [B, P]."""
        return padded_write(self._run, X, pattern_mask)

    def _run(self, X: Tensor, mask: Tensor) -> Tensor:
        size = tuple(mask.shape)
        if size not in self.captured:
            self.captured[size] = CapturedWrite(self.memory, *size, self.device, self.product_dtype)
        return self.captured[size](X, mask)


class GraphedReader:
    """Reads of any size through bucket-padded captured graphs, captured lazily on first use."""

    def __init__(self, memory: EnergyMemory, device: torch.device) -> None:
        self.memory, self.device = memory, device
        self.captured: dict[tuple[int, int], CapturedRead] = {}

    def read(self, theta: Tensor, Q: Tensor, known: Tensor | None) -> tuple[Tensor, Tensor]:
        """θ: [B, P], Q: [B, M, *S], known: [B, M, *S] bool or None -> (X̂: [B, M, *S], E: [B, M])."""
        if known is None:  # nothing clamped: an all-False mask reads exactly the same
            known = torch.zeros_like(Q, dtype=torch.bool)
        count, queries = Q.shape[:2]
        padded_queries = query_bucket(queries)
        states, energies = [], []
        for rows in chunks(count, MEMORY_BUCKETS[-1]):
            size = (memory_bucket(rows.stop - rows.start), padded_queries)
            if size not in self.captured:
                self.captured[size] = CapturedRead(self.memory, *size, self.device)
            s, e = self.captured[size](pad_to(theta[rows], size[:1]), pad_to(Q[rows], size), pad_to(known[rows], size))
            states.append(s[: rows.stop - rows.start, :queries])
            energies.append(e[: rows.stop - rows.start, :queries])
        return torch.cat(states), torch.cat(energies)
