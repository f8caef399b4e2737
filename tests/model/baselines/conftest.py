"""Patterns for the baseline tests: orthogonal ±1 rows of a Hadamard matrix and random ±1 sets."""

from __future__ import annotations

import pytest
import torch

from model.baselines import AssociativeMemory, HopfieldNetwork, ModernHopfield

MEMORIES = {
    "hebb": lambda: HopfieldNetwork("hebb"),
    "storkey": lambda: HopfieldNetwork("storkey"),
    "pseudo_inverse": lambda: HopfieldNetwork("pseudo_inverse"),
    "modern_hopfield": lambda: ModernHopfield(),
}


@pytest.fixture
def hadamard() -> torch.Tensor:
    """Sylvester's construction: a [128, 128] ±1 matrix with mutually orthogonal rows."""
    H = torch.ones(1, 1)
    while H.shape[0] < 128:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    return H


@pytest.fixture(params=sorted(MEMORIES))
def memory(request) -> AssociativeMemory:
    return MEMORIES[request.param]()
