"""The classical Hopfield network: its 8256-float budget, the Table-1 recall and the retrieval dynamics."""

from __future__ import annotations

import pytest
import torch

from model.baselines import LEARNING_RULES, HopfieldNetwork
from model.distortions import erase
from model.tasks import random_binary_patterns

RULES = ("hebb", "storkey", "pseudo_inverse")


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("count", [16, 96])
def test_memory_is_8256_floats_whatever_the_number_of_patterns(rule: str, count: int) -> None:
    X = random_binary_patterns(2, count, 128)
    theta = HopfieldNetwork(rule).write(X)
    assert theta.shape == (2, 128 * 127 // 2 + 128) == (2, HopfieldNetwork.writable_floats(128))


@pytest.mark.parametrize("rule", RULES)
def test_theta_packs_the_rules_weights(rule: str) -> None:
    X = random_binary_patterns(2, 10, 128)
    W, b = HopfieldNetwork.unpack(HopfieldNetwork(rule).write(X), 128)
    torch.testing.assert_close(W, LEARNING_RULES[rule](X))
    assert torch.equal(b, torch.zeros(2, 128))


def test_pseudo_inverse_recalls_16_patterns_from_64_erased_bits() -> None:
    generator = torch.Generator().manual_seed(3)
    X = random_binary_patterns(32, 16, 128, generator)
    Q, known = erase(X, 64, generator)
    network = HopfieldNetwork("pseudo_inverse")
    recalled, _ = network.read(network.write(X), Q, known)
    assert int((recalled != X).sum()) == 0


@pytest.mark.parametrize("rule", RULES)
def test_reading_descends_the_energy_to_a_fixed_point(rule: str) -> None:
    generator = torch.Generator().manual_seed(4)
    X = random_binary_patterns(4, 48, 128, generator)  # loaded enough that retrieval has work to do
    Q, known = erase(X, 64, generator)
    network = HopfieldNetwork(rule)
    theta = network.write(X)
    W, b = network.unpack(theta, 128)
    for clamp in (known, None):
        recalled, energy = network.read(theta, Q, clamp)
        assert (energy <= network.energy(W, b, Q) + 1e-4).all()
        again, _ = network.read(theta, recalled, clamp)
        assert torch.equal(again, recalled)  # a further sweep changes nothing


def test_sweeps_are_bounded() -> None:
    generator = torch.Generator().manual_seed(5)
    X = random_binary_patterns(2, 96, 128, generator)
    Q, _ = erase(X, 64, generator)
    theta = HopfieldNetwork("hebb").write(X)
    one_sweep, _ = HopfieldNetwork("hebb", max_sweeps=1).read(theta, Q)
    converged, _ = HopfieldNetwork("hebb").read(theta, Q)
    assert not torch.equal(one_sweep, converged)  # Hebb at N=96 needs more than one sweep


def _plain_asynchronous_read(W: torch.Tensor, b: torch.Tensor, q: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """One query, the textbook loop: recompute each unit's field from scratch until a sweep changes nothing."""
    x = q.clone()
    changed = True
    while changed:
        changed = False
        for i in range(len(x)):
            field = W[i] @ x + b[i]
            if free[i] and field != 0 and field.sign() != x[i]:
                x[i], changed = field.sign(), True
    return x


@pytest.mark.parametrize("rule", RULES)
def test_fast_read_matches_the_plain_asynchronous_loop(rule: str) -> None:
    generator = torch.Generator().manual_seed(7)
    X = random_binary_patterns(2, 12, 32, generator).double()  # 12 patterns in 32 units: past capacity
    Q, known = erase(X, 16, generator)
    network = HopfieldNetwork(rule)
    theta = network.write(X)
    W, b = network.unpack(theta, 32)
    for clamp in (known, torch.zeros_like(known)):
        recalled, _ = network.read(theta, Q, clamp)
        for m in range(2):
            for q in range(12):
                expected = _plain_asynchronous_read(W[m], b[m], Q[m, q], ~clamp[m, q])
                assert torch.equal(recalled[m, q], expected)
