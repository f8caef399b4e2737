"""Fixed-shape batch buckets: pad a batch up to one of a few sizes so each size is one static graph.

A read batch θ: [B, P], Q: [B, M, *S] is padded to B' = bucket(B) memories and M' = bucket(M) queries per
memory (rows of zeros; padded queries are never returned). A graph captured once per (B', M') then serves
every batch of that bucket; on CPU eager execution the padding is pure overhead, so it is not used there.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

MEMORY_BUCKETS = (1, 8, 32, 128, 512)
QUERY_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def bucket_for(count: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket ≥ count (count must not exceed the largest bucket)."""
    for size in buckets:
        if count <= size:
            return size
    raise ValueError(f"{count} exceeds the largest bucket {buckets[-1]}")


def memory_bucket(count: int) -> int:
    """The bucket a batch of `count` memories pads to; larger batches run in chunks of the largest bucket."""
    return bucket_for(min(count, MEMORY_BUCKETS[-1]), MEMORY_BUCKETS)


def query_bucket(count: int) -> int:
    """The smallest power of two ≥ `count` queries (or patterns) per memory: QUERY_BUCKETS up to its largest."""
    return 1 << (count - 1).bit_length()


def chunks(count: int, largest: int) -> Iterator[slice]:
    """Slices of at most `largest` rows covering range(count)."""
    for start in range(0, count, largest):
        yield slice(start, min(start + largest, count))


def pad_to(x: Tensor, sizes: tuple[int, ...]) -> Tensor:
    """Zero-pad the leading len(sizes) dims of x up to `sizes` (no copy when nothing is padded)."""
    if tuple(x.shape[: len(sizes)]) == sizes:
        return x
    padded = torch.zeros(*sizes, *x.shape[len(sizes) :], dtype=x.dtype, device=x.device)
    padded[tuple(slice(0, n) for n in x.shape[: len(sizes)])] = x
    return padded
