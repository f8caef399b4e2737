"""CUDA-graph replay of the read loop, one captured graph per (memory bucket, query bucket).

Small read batches are launch-bound on a GPU (the K-step loop is ~20 small kernels per step); replaying a
captured graph removes the per-kernel launch cost. Only energies with a hand-written ∇ₓE (no autograd)
are captured. Inputs are copied into static buffers, the graph is replayed, outputs are copied out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model.buckets import MEMORY_BUCKETS, QUERY_BUCKETS, bucket_for, chunks, pad_to
from model.memory import EnergyMemory


class CapturedRead:
    """memory.read for one static shape θ: [B, P], Q/known: [B, M, *S], captured as a CUDA graph."""

    def __init__(self, memory: EnergyMemory, batch: int, queries: int, device: torch.device) -> None:
        shape = memory.config.input_shape
        self.theta = torch.zeros(batch, memory.writable_numel, device=device)
        self.Q = torch.zeros(batch, queries, *shape, device=device)
        self.known = torch.zeros(batch, queries, *shape, dtype=torch.bool, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(2):  # warm-up outside the capture (allocator, lazy kernel init)
                memory.read(self.theta, self.Q, self.known)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.states, self.energies = memory.read(self.theta, self.Q, self.known)

    def __call__(self, theta: Tensor, Q: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
        self.theta.copy_(theta)
        self.Q.copy_(Q)
        self.known.copy_(known)
        self.graph.replay()
        return self.states.clone(), self.energies.clone()


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
        padded_queries = bucket_for(queries, QUERY_BUCKETS)
        states, energies = [], []
        for rows in chunks(count, MEMORY_BUCKETS[-1]):
            size = (bucket_for(rows.stop - rows.start, MEMORY_BUCKETS), padded_queries)
            if size not in self.captured:
                self.captured[size] = CapturedRead(self.memory, *size, self.device)
            s, e = self.captured[size](pad_to(theta[rows], size[:1]), pad_to(Q[rows], size), pad_to(known[rows], size))
            states.append(s[: rows.stop - rows.start, :queries])
            energies.append(e[: rows.stop - rows.start, :queries])
        return torch.cat(states), torch.cat(energies)
