"""The engine's traced read: the same read the engine serves, every state decoded as the answer is."""

from __future__ import annotations

import torch

from model.config import ModelConfig
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns


def test_a_traced_read_ends_at_the_untraced_answer(tiny_config: ModelConfig) -> None:
    engine = Engine(EnergyMemory(tiny_config.replace(untrusted_read_rounds=2, untrusted_read_erased=4)), "h", "cpu")
    X = random_binary_patterns(3, 4, 32)
    theta = engine.write(X)
    Q = X.clone()
    Q[..., :8] = 0.0  # erased: the non-zero entries are clamped
    flipped = X.clone()
    flipped[..., :3] *= -1  # nothing known: rounds of erasure reads
    for query, known, rounds in ((Q, Q != 0, 1), (flipped, None, 2)):
        plain = engine.read(theta, query, known)
        traced = engine.read(theta, query, known, trace=True)
        assert plain.trace is None and traced.trace is not None and traced.trace.rounds == rounds
        steps = rounds * (tiny_config.read_steps + 1)
        assert traced.trace.patterns.shape == (3, 4, steps, 32) and traced.trace.energies.shape == (3, 4, steps)
        assert torch.equal(traced.patterns, plain.patterns) and torch.equal(traced.energies, plain.energies)
        assert torch.equal(traced.trace.patterns[:, :, -1], plain.patterns)
        assert torch.equal(traced.trace.energies[:, :, -1], plain.energies)
        assert set(traced.trace.patterns.unique().tolist()) <= {-1.0, 1.0}  # decoded, as answers are


def test_a_traced_image_read_keeps_values_in_range(tiny_conv_config: ModelConfig) -> None:
    engine = Engine(EnergyMemory(tiny_conv_config), "h", "cpu")
    X = torch.rand(2, 3, 1, 8, 8)
    theta = engine.write(X)
    Q = X.clone()
    Q[..., :4, :4] = 0.5
    traced = engine.read(theta, Q, None, trace=True)
    path = traced.trace.patterns  # [B, M, K + 1, 1, 8, 8]
    assert torch.equal(path[:, :, 0], Q) and torch.equal(path[:, :, -1], traced.patterns)
    assert traced.trace.patterns.min() >= 0.0 and traced.trace.patterns.max() <= 1.0
