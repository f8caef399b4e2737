"""The modern Hopfield network: memory that grows with N, and an update that descends its energy."""

from __future__ import annotations

import torch

from model.baselines import ModernHopfield
from model.tasks import random_binary_patterns


def test_memory_grows_with_the_number_of_patterns() -> None:
    for count in (16, 96):
        theta = ModernHopfield().write(random_binary_patterns(2, count, 128))
        assert theta.shape == (2, count * 128) == (2, ModernHopfield.writable_floats(128, count))


def test_update_does_not_raise_the_energy() -> None:
    generator = torch.Generator().manual_seed(6)
    X = random_binary_patterns(3, 32, 128, generator)
    Q = torch.randn(3, 10, 128, generator=generator)  # queries anywhere, not only near stored patterns
    for beta in (0.05, 1.0):
        memory = ModernHopfield(beta=beta, steps=0)
        theta = memory.write(X)
        _, start = memory.read(theta, Q)
        _, after = ModernHopfield(beta=beta, steps=1).read(theta, Q)
        assert (after <= start + 1e-4).all()
