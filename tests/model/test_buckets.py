"""Fixed-shape buckets: selection, chunking, and padded execution equal to unpadded execution."""

from __future__ import annotations

import pytest
import torch

from model.buckets import MEMORY_BUCKETS, QUERY_BUCKETS, bucket_for, chunks, memory_bucket, pad_to, query_bucket
from model.engine import Engine
from model.graphs import padded_write
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns


def test_bucket_selection() -> None:
    assert [bucket_for(n, MEMORY_BUCKETS) for n in (1, 2, 8, 9, 33, 512)] == [1, 8, 8, 32, 128, 512]
    assert bucket_for(3, QUERY_BUCKETS) == 4
    with pytest.raises(ValueError, match="exceeds the largest bucket"):
        bucket_for(513, MEMORY_BUCKETS)


def test_memory_bucket_caps_at_the_largest_and_query_bucket_is_a_power_of_two() -> None:
    assert [memory_bucket(n) for n in (1, 2, 8, 9, 33, 512, 5000)] == [1, 8, 8, 32, 128, 512, 512]
    assert [query_bucket(n) for n in QUERY_BUCKETS] == list(QUERY_BUCKETS)
    assert [query_bucket(n) for n in (3, 5, 1000, 1025)] == [4, 8, 1024, 2048]


def test_chunks_cover_every_row_once() -> None:
    assert [(s.start, s.stop) for s in chunks(1100, 512)] == [(0, 512), (512, 1024), (1024, 1100)]


def test_pad_to_keeps_values_and_adds_zero_rows() -> None:
    x = torch.randn(3, 2, 5)
    padded = pad_to(x, (8, 4))
    assert padded.shape == (8, 4, 5) and torch.equal(padded[:3, :2], x) and padded[3:].eq(0).all()
    assert pad_to(x, (3, 2)) is x


def test_padded_read_equals_unpadded(tiny_memory: EnergyMemory) -> None:
    X = random_binary_patterns(3, 5, tiny_memory.config.input_dim).double()
    theta = tiny_memory.write(X)
    Q = X[:, :3] * (torch.rand(3, 3, X.shape[-1]) > 0.3)
    known = Q != 0
    states, energies = tiny_memory.read(theta, Q, known)
    size = (bucket_for(3, MEMORY_BUCKETS), bucket_for(3, QUERY_BUCKETS))
    padded_states, padded_energies = tiny_memory.read(pad_to(theta, size[:1]), pad_to(Q, size), pad_to(known, size))
    torch.testing.assert_close(padded_states[:3, :3], states)
    torch.testing.assert_close(padded_energies[:3, :3], energies)


def test_graph_mode_needs_cuda(tiny_memory: EnergyMemory) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: tests/model/test_cuda.py covers graph mode")
    with pytest.raises(ValueError, match="graph mode needs a CUDA device"):
        Engine(tiny_memory.float(), "x", "cpu", mode="graph")
    assert Engine(tiny_memory.float(), "x", "cpu", mode="auto").mode == "eager"


@pytest.mark.parametrize(("memories", "patterns"), [(1, 1), (3, 5), (600, 3)])
def test_padded_write_equals_unpadded(tiny_memory: EnergyMemory, memories: int, patterns: int) -> None:
    X = random_binary_patterns(memories, patterns, tiny_memory.config.input_dim).double()
    mask = torch.ones(memories, patterns, dtype=torch.bool)
    mask[0, patterns // 2 + 1 :] = False  # one memory holds fewer patterns
    shapes = []

    def recording_write(X: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(mask.shape))
        return tiny_memory.write(X, mask)

    torch.testing.assert_close(padded_write(recording_write, X, mask), tiny_memory.write(X, mask))
    assert all(b in MEMORY_BUCKETS and n == bucket_for(patterns, QUERY_BUCKETS) for b, n in shapes)
    assert len(shapes) == len(list(chunks(memories, MEMORY_BUCKETS[-1])))
