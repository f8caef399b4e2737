"""Behaviour every baseline memory shares: recall of orthogonal patterns, and batching over memories."""

from __future__ import annotations

import torch

from model.baselines import AssociativeMemory
from model.distortions import erase
from model.tasks import random_binary_patterns


def _signs(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0)


def test_recalls_a_handful_of_orthogonal_patterns(memory: AssociativeMemory, hadamard: torch.Tensor) -> None:
    generator = torch.Generator().manual_seed(0)
    rows = torch.stack([torch.randperm(128, generator=generator)[:8] for _ in range(2)])  # 2 memories × 8 rows
    X = hadamard[rows]  # [2, 8, 128], orthogonal within each memory
    theta = memory.write(X)
    stored, _ = memory.read(theta, X)
    assert torch.equal(_signs(stored), X)  # every stored pattern is a fixed point
    Q, known = erase(X, 32, generator)
    for clamp in (known, None):
        recalled, _ = memory.read(theta, Q, clamp)
        assert torch.equal(_signs(recalled), X)


def test_batched_memories_equal_separate_ones(memory: AssociativeMemory) -> None:
    generator = torch.Generator().manual_seed(1)
    X = random_binary_patterns(3, 12, 128, generator)
    counts = [12, 5, 9]
    mask = torch.arange(12) < torch.tensor(counts)[:, None]  # [3, 12]: memories of different sizes
    Q, known = erase(X, 64, generator)
    theta = memory.write(X, mask)
    states, energies = memory.read(theta, Q, known)
    for b, count in enumerate(counts):
        theta_b = memory.write(X[b : b + 1, :count])
        states_b, energies_b = memory.read(theta_b, Q[b : b + 1], known[b : b + 1])
        torch.testing.assert_close(states[b : b + 1], states_b)
        torch.testing.assert_close(energies[b : b + 1], energies_b)


def test_clamped_reads_keep_every_known_bit(memory: AssociativeMemory) -> None:
    generator = torch.Generator().manual_seed(2)
    X = random_binary_patterns(4, 64, 128, generator)  # near or past capacity: many bits go wrong
    Q, known = erase(X, 64, generator)
    states, _ = memory.read(memory.write(X), Q, known)
    assert torch.equal(states[known], Q[known])
