"""The writing and reading rules: batching, masking, the inference path and what a write does to the energy."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig, digits_subspace_config, spectral_config
from model.memory import EnergyMemory, ReadTrace
from model.tasks import random_binary_patterns


def _patterns(memory: EnergyMemory, batch: int, count: int) -> torch.Tensor:
    config = memory.config
    if config.domain == "binary":
        return random_binary_patterns(batch, count, config.input_dim).double()
    return torch.rand(batch, count, *config.input_shape, dtype=torch.float64)


@pytest.fixture(params=["fc", "fc-count-scaled", "conv", "subspace", "spectral"])
def memory(request, tiny_config: ModelConfig, tiny_conv_config: ModelConfig) -> EnergyMemory:
    configs = {
        "fc": tiny_config,
        "fc-count-scaled": tiny_config.replace(count_scaled_write_lr=True, init_write_lr=0.2),
        "conv": tiny_conv_config,
        "subspace": digits_subspace_config(writable_hidden=4, write_steps=3, read_steps=3),
        "spectral": spectral_config("tiny-spectral", (1, 8, 8), 16, 4, write_steps=3, read_steps=3),
    }
    return EnergyMemory(configs[request.param]).double()


def test_batched_write_and_read_equal_separate_runs(memory: EnergyMemory) -> None:
    X = _patterns(memory, 4, 5)
    Q = X + 0.3 * torch.randn_like(X)
    theta = memory.write(X)
    states, energies = memory.read(theta, Q)
    for b in range(4):
        theta_b = memory.write(X[b : b + 1])
        states_b, energies_b = memory.read(theta_b, Q[b : b + 1])
        torch.testing.assert_close(theta[b : b + 1], theta_b)
        torch.testing.assert_close(states[b : b + 1], states_b)
        torch.testing.assert_close(energies[b : b + 1], energies_b)


def test_inference_write_equals_training_write(memory: EnergyMemory) -> None:
    X = _patterns(memory, 3, 4)
    inference = memory.write(X, create_graph=False)
    training = memory.write(X, create_graph=True)
    assert not inference.requires_grad and training.requires_grad
    torch.testing.assert_close(inference, training.detach())
    assert not torch.allclose(inference, memory.energy.theta_bar.detach().expand_as(inference))


def test_padding_contributes_nothing(memory: EnergyMemory) -> None:
    X = _patterns(memory, 2, 3)
    padded = torch.cat([X, 5.0 * torch.ones_like(X[:, :2])], dim=1)
    mask = torch.tensor([[True, True, True, False, False]] * 2)
    torch.testing.assert_close(memory.write(padded, mask), memory.write(X))


def test_memories_with_different_counts_batch_together(tiny_memory: EnergyMemory) -> None:
    X = _patterns(tiny_memory, 2, 6)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    theta = tiny_memory.write(X, mask)
    torch.testing.assert_close(theta[1:], tiny_memory.write(X[1:, :2]))
    torch.testing.assert_close(theta[:1], tiny_memory.write(X[:1]))


@pytest.mark.parametrize(
    ("quadratic", "rank"), [(False, 0), (True, 0), (True, 5)], ids=["plain", "quadratic", "quadratic-rank-5"]
)
def test_fc_analytic_gradient_matches_autograd(tiny_config: ModelConfig, quadratic: bool, rank: int) -> None:
    energy = EnergyMemory(tiny_config.replace(quadratic_energy=quadratic, quadratic_rank=rank)).double().energy
    if quadratic:
        with torch.no_grad():
            energy.mu.uniform_(-0.5, 0.5)
            energy.log_lambda.fill_(0.3)
    x = torch.rand(3, 4, energy.dim, dtype=torch.float64) * 2 - 1
    theta = energy.theta_bar.detach().expand(3, -1) + 0.1 * torch.randn(3, energy.writable_numel, dtype=torch.float64)
    e, grad = energy.energy_and_grad(x, theta, create_graph=False)
    leaf = x.clone().requires_grad_()
    (auto,) = torch.autograd.grad(energy.energy(leaf, theta).sum(), leaf)
    torch.testing.assert_close(grad, auto)
    torch.testing.assert_close(e, energy.energy(x, theta))


@pytest.mark.parametrize(("quadratic", "rank"), [(False, 0), (True, 5)], ids=["plain", "quadratic-rank-5"])
def test_fc_write_gradient_by_hand_equals_autograd(tiny_config: ModelConfig, quadratic: bool, rank: int) -> None:
    """The serving write's θ-gradient of Σ w_i [E(x_i) + α‖∇ₓE(x_i)‖²], written out by hand, equals autograd's
    double backward (meta-training's) within 1e-5, at float32, with unequal weights and a strong α."""
    torch.manual_seed(0)
    energy = EnergyMemory(tiny_config.replace(quadratic_energy=quadratic, quadratic_rank=rank)).energy
    x = torch.rand(3, 5, energy.dim) * 2 - 1
    weights = torch.rand(3, 5)
    theta = energy.theta_bar.detach().expand(3, -1) + 0.3 * torch.randn(3, energy.writable_numel)
    alpha = torch.tensor(0.7)
    by_hand = energy.write_loss_grad(x, weights, theta, alpha, create_graph=False)
    leaf = theta.clone().requires_grad_()  # meta-training's θ is part of the unrolled graph
    autograd = super(type(energy), energy).write_loss_grad(x, weights, leaf, alpha, create_graph=True)
    assert not by_hand.requires_grad and autograd.requires_grad
    torch.testing.assert_close(by_hand, autograd.detach(), rtol=1e-5, atol=1e-5)
    assert by_hand.abs().max() > 1e-2  # not trivially zero


def test_quadratic_term_pulls_reads_orthogonal_to_the_writable_projections(tiny_config: ModelConfig) -> None:
    """With W = 0 the plain FC energy is flat in x; the quadratic term alone moves x to its centre μ."""
    memory = EnergyMemory(tiny_config.replace(quadratic_energy=True)).double()
    energy = memory.energy
    theta = torch.zeros(1, energy.writable_numel, dtype=torch.float64)
    x = torch.rand(1, 2, energy.dim, dtype=torch.float64) - 0.5
    with torch.no_grad():
        energy.mu.fill_(0.25)
    grad = energy.grad_x(x, theta, create_graph=False)
    torch.testing.assert_close(grad, energy.log_lambda.exp() * (x - 0.25))
    plain = EnergyMemory(tiny_config).double().energy
    assert plain.grad_x(x, theta, create_graph=False).abs().max() == 0


def test_precision_factor_makes_the_quadratic_a_gaussian_prior(tiny_config: ModelConfig) -> None:
    """With W = 0 the energy is ½ (x − μ)ᵀ (λ I + LᵀL) (x − μ): its gradient is that precision times x − μ."""
    energy = EnergyMemory(tiny_config.replace(quadratic_energy=True, quadratic_rank=3)).double().energy
    assert energy.precision_factor.shape == (3, energy.dim)
    theta = torch.zeros(1, energy.writable_numel, dtype=torch.float64)
    x = torch.rand(1, 2, energy.dim, dtype=torch.float64)
    precision = energy.log_lambda.exp() * torch.eye(energy.dim, dtype=torch.float64)
    precision = precision + energy.precision_factor.T @ energy.precision_factor
    centred = x - energy.mu
    torch.testing.assert_close(energy.grad_x(x, theta, create_graph=False), centred @ precision)
    baseline = energy.energy(energy.mu.expand(1, 1, -1), theta)
    torch.testing.assert_close(
        energy.energy(x, theta) - baseline, 0.5 * torch.einsum("bmd,de,bme->bm", centred, precision, centred)
    )


def test_quadratic_rank_needs_the_quadratic_term(tiny_config: ModelConfig) -> None:
    with pytest.raises(ValueError, match="needs quadratic_energy"):
        EnergyMemory(tiny_config.replace(quadratic_rank=4))


def test_known_entries_are_clamped(tiny_memory: EnergyMemory) -> None:
    X = _patterns(tiny_memory, 2, 3)
    known = torch.rand(X.shape) < 0.5
    Q = torch.where(known, X, torch.zeros_like(X))
    states, _ = tiny_memory.read(tiny_memory.write(X), Q, known)
    torch.testing.assert_close(states[known], X[known])
    unclamped, _ = tiny_memory.read(tiny_memory.write(X), Q)
    assert not torch.equal(unclamped[known], X[known])


def test_read_stays_in_domain(tiny_memory: EnergyMemory) -> None:
    X = _patterns(tiny_memory, 2, 3)
    states, _ = tiny_memory.read(tiny_memory.write(X), 3.0 * torch.randn_like(X))
    assert states.abs().max() <= 1.0


def test_write_lowers_energy_of_stored_patterns(trained_tiny: EnergyMemory) -> None:
    X = random_binary_patterns(16, 4, trained_tiny.config.input_dim)
    others = random_binary_patterns(16, 4, trained_tiny.config.input_dim)
    theta = trained_tiny.write(X)
    stored = trained_tiny.energy.energy(X, theta)
    unstored = trained_tiny.energy.energy(others, theta)
    assert (stored.mean(1) < unstored.mean(1)).float().mean() > 0.9
    # Writing is what lowers it: before the write the stored patterns are not special.
    theta_bar = trained_tiny.energy.theta_bar.detach().expand(16, -1)
    before = trained_tiny.energy.energy(X, theta_bar) - trained_tiny.energy.energy(others, theta_bar)
    assert (stored - unstored).mean() < before.mean() - 0.1 * before.abs().mean()


def test_reading_a_stored_pattern_leaves_it_unchanged(trained_tiny: EnergyMemory) -> None:
    X = random_binary_patterns(16, 4, trained_tiny.config.input_dim)
    states, _ = trained_tiny.read(trained_tiny.write(X), X)
    changed_bits = (torch.sign(states) != X).float().sum(-1).mean()
    assert changed_bits < 0.5


def test_count_scaled_write_rate_is_eta_times_n_to_the_kappa(tiny_config: ModelConfig) -> None:
    config = tiny_config.replace(count_scaled_write_lr=True, write_steps=1, init_beta=1e-12)
    scaled = EnergyMemory(config).double()
    plain = EnergyMemory(config.replace(count_scaled_write_lr=False)).double()
    plain.load_state_dict({k: v for k, v in scaled.state_dict().items() if k != "write_lr_count_exponent"})
    X = _patterns(plain, 2, 4)
    theta_bar = plain.energy.theta_bar.detach()
    with torch.no_grad():
        scaled.write_lr_count_exponent.fill_(0.5)
    # One step from θ̄: the scaled update is the plain one times 4^0.5 = 2.
    torch.testing.assert_close(scaled.write(X) - theta_bar, 2.0 * (plain.write(X) - theta_bar))


def test_conv_energy_adds_the_gaussian_prior_term(tiny_conv_config: ModelConfig) -> None:
    """The same quadratic on the flattened image: its gradient adds (λ I + LᵀL)(x − μ) to the conv one's."""
    torch.manual_seed(0)
    plain = EnergyMemory(tiny_conv_config).double().energy
    torch.manual_seed(0)
    prior = EnergyMemory(tiny_conv_config.replace(quadratic_energy=True, quadratic_rank=4)).double().energy
    x = torch.rand(2, 3, *tiny_conv_config.input_shape, dtype=torch.float64)
    theta = plain.theta_bar.detach().expand(2, -1)
    precision = prior.log_lambda.exp() * torch.eye(64, dtype=torch.float64)
    precision = precision + prior.precision_factor.T @ prior.precision_factor
    expected = plain.grad_x(x, theta, create_graph=False) + ((x.flatten(2) - prior.mu) @ precision).view_as(x)
    torch.testing.assert_close(prior.grad_x(x, theta, create_graph=False), expected)


def test_free_reads_have_their_own_rates(tiny_config: ModelConfig) -> None:
    memory = EnergyMemory(tiny_config.replace(free_read_rates=True, init_free_read_lr=0.1)).double()
    X = random_binary_patterns(2, 4, 32).double()
    theta = memory.write(X, create_graph=True)
    Q = X.clone()
    Q[..., :4] *= -1
    free, _ = memory.read(theta, Q, create_graph=True)  # nothing clamped: the free rates
    (free - X).pow(2).sum().backward(retain_graph=True)  # θ's graph is read again below
    assert memory.log_free_read_lr.grad.abs().sum() > 0 and memory.log_read_lr.grad is None
    memory.zero_grad()
    known = torch.zeros_like(Q, dtype=torch.bool)
    known[..., 16:] = True
    clamped, _ = memory.read(theta, Q, known, create_graph=True)  # something clamped: the shared rates
    (clamped - X).pow(2).sum().backward()
    assert memory.log_read_lr.grad.abs().sum() > 0 and memory.log_free_read_lr.grad is None


def test_free_reads_can_scale_each_entrys_step(tiny_config: ModelConfig) -> None:
    config = tiny_config.replace(free_read_rates=True, free_read_entry_rates=True)
    memory = EnergyMemory(config).double()
    X = random_binary_patterns(2, 4, 32).double()
    theta = memory.write(X)
    Q = 0.5 * X
    before, _ = memory.read(theta, Q)
    with torch.no_grad():
        memory.log_free_read_entry_scale[:16] = -30.0  # these entries' steps scaled to ~0
    after, _ = memory.read(theta, Q)
    moved = lambda x, entries: float((x - Q)[..., entries].abs().max().detach())  # noqa: E731
    assert moved(after, slice(0, 16)) < 1e-9 and moved(before, slice(0, 16)) > 1e-3
    assert moved(after, slice(16, 32)) > 1e-3  # the others still move
    known = torch.zeros_like(Q, dtype=torch.bool)
    known[..., 24:] = True
    clamped, _ = memory.read(theta, Q, known)  # something clamped: no entry scale
    assert moved(clamped, slice(0, 16)) > 1e-3
    with pytest.raises(ValueError, match="needs free_read_rates"):
        EnergyMemory(tiny_config.replace(free_read_entry_rates=True))


def test_untrusted_reads_are_rounds_of_erasure_reads(tiny_config: ModelConfig, monkeypatch) -> None:
    memory = EnergyMemory(tiny_config.replace(untrusted_read_rounds=3, untrusted_read_erased=5)).double()
    X = random_binary_patterns(2, 4, 32).double()
    theta = memory.write(X)
    Q = X.clone()
    Q[..., :2] *= -1
    Q[..., 30:] = 0.0  # two unknown entries per query: always erased, outside the budget of 5
    rounds: list[torch.Tensor] = []
    descend = memory.descend

    def recording(theta, Q_round, known, create_graph=False, trace=None):
        rounds.append(known)
        assert torch.equal(Q_round[known], Q[known]) and (Q_round[~known] == 0).all()  # erased entries read as 0
        return descend(theta, Q_round, known, create_graph, trace)

    monkeypatch.setattr(memory, "descend", recording)
    answer, _ = memory.read(theta, Q)  # nothing known: read as rounds of erasures
    assert len(rounds) == 3
    for known in rounds:
        assert ((~known).sum(-1) == 5 + 2).all() and not known[..., 30:].any()
    assert torch.equal(answer, descend(theta, torch.where(rounds[-1], Q, 0.0), rounds[-1])[0])
    rounds.clear()
    clamped = Q != 0
    memory.read(theta, Q, clamped)  # something known: one plain read with it clamped
    assert len(rounds) == 1 and torch.equal(rounds[0], clamped)


def test_untrusted_reads_recall_flipped_queries_better_than_a_plain_read(trained_tiny: EnergyMemory) -> None:
    """The tiny model is meta-trained on erasures only; read as erasures, flipped queries come back better."""
    memory = EnergyMemory(trained_tiny.config.replace(untrusted_read_rounds=4, untrusted_read_erased=8))
    memory.load_state_dict(trained_tiny.state_dict())
    generator = torch.Generator().manual_seed(0)
    X = random_binary_patterns(32, 4, 32, generator)
    Q = X.clone()
    Q[..., :3] *= -1  # three flipped bits per query
    theta = memory.write(X)
    plain, _ = memory.descend(theta, Q)
    untrusted, _ = memory.read(theta, Q)
    wrong = lambda x: float((torch.sign(x) != X).sum(-1).float().mean())  # noqa: E731
    assert wrong(untrusted) < 0.9 * wrong(plain), (wrong(untrusted), wrong(plain))


def test_free_reads_can_take_their_own_number_of_steps(tiny_config: ModelConfig, monkeypatch) -> None:
    memory = EnergyMemory(tiny_config.replace(free_read_rates=True, free_read_steps=9)).double()
    assert memory.log_free_read_lr.shape == (9,) and memory.log_read_lr.shape == (tiny_config.read_steps,)
    X = random_binary_patterns(2, 4, 32).double()
    theta = memory.write(X)
    steps: list[int] = []
    grad_x = memory.energy.grad_x
    monkeypatch.setattr(memory.energy, "grad_x", lambda *args, **kwargs: steps.append(1) or grad_x(*args, **kwargs))
    memory.read(theta, X)  # nothing clamped
    assert len(steps) == 9
    steps.clear()
    memory.read(theta, X, X != 0)
    assert len(steps) == tiny_config.read_steps


def test_a_traced_read_records_k_plus_one_states_ending_at_the_answer(memory: EnergyMemory) -> None:
    X = _patterns(memory, 2, 3)
    theta = memory.write(X)
    Q = X + 0.3 * torch.randn_like(X)
    known = torch.rand_like(X) < 0.5
    for clamp in (known, None):
        trace = ReadTrace()
        answer, energies = memory.read(theta, Q, clamp, trace=trace)
        untraced, untraced_energies = memory.read(theta, Q, clamp)
        torch.testing.assert_close(answer, untraced, rtol=0, atol=0)
        torch.testing.assert_close(energies, untraced_energies, rtol=0, atol=0)
        assert trace.rounds == 1 and len(trace.states) == len(trace.energies) == memory.config.read_steps + 1
        assert torch.equal(trace.states[0], Q) and torch.equal(trace.states[-1], answer)
        torch.testing.assert_close(trace.energies[-1], energies)
        for state, energy in zip(trace.states, trace.energies, strict=True):
            torch.testing.assert_close(energy, memory.energy.energy(state, theta))
        assert not torch.equal(trace.states[1], trace.states[0])  # the states move


def test_a_traced_read_of_rounds_records_every_round(tiny_config: ModelConfig) -> None:
    memory = EnergyMemory(tiny_config.replace(untrusted_read_rounds=3, untrusted_read_erased=5)).double()
    X = random_binary_patterns(2, 4, 32).double()
    theta = memory.write(X)
    Q = X.clone()
    Q[..., :2] *= -1
    trace = ReadTrace()
    answer, _ = memory.read(theta, Q, trace=trace)  # nothing known: rounds of erasure reads
    assert trace.rounds == 3 and len(trace.states) == 3 * (tiny_config.read_steps + 1)
    assert torch.equal(trace.states[-1], answer) and torch.equal(answer, memory.read(theta, Q)[0])
