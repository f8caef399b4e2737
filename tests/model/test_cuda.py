"""The engine on CUDA: same results as on CPU, and CUDA-graph reads equal eager reads. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig
from model.domains import domain_of
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.fixture
def cpu_and_cuda(tiny_config: ModelConfig) -> tuple[Engine, Engine]:
    torch.backends.cuda.matmul.allow_tf32 = False
    memory = EnergyMemory(tiny_config.replace(max_patterns=16))
    return Engine(memory, "x", "cpu"), Engine(EnergyMemory(memory.config).to("cpu"), "x", "cuda")


def test_cuda_engine_matches_cpu(cpu_and_cuda: tuple[Engine, Engine]) -> None:
    cpu, cuda = cpu_and_cuda
    cuda.memory.load_state_dict(cpu.memory.state_dict())
    X = random_binary_patterns(8, 6, cpu.config.input_dim)
    Q, known = domain_of(cpu.config).standard(X)
    theta_cpu, theta_cuda = cpu.write(X), cuda.write(X)
    torch.testing.assert_close(theta_cuda.cpu(), theta_cpu, rtol=1e-4, atol=1e-5)
    a, b = cpu.read(theta_cpu, Q, known), cuda.read(theta_cpu, Q, known)
    torch.testing.assert_close(b.states.cpu(), a.states, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b.energies.cpu(), a.energies, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("memories", "queries"), [(1, 1), (5, 3), (40, 1), (600, 2)])
def test_graph_reads_equal_eager_reads(tiny_config: ModelConfig, memories: int, queries: int) -> None:
    memory = EnergyMemory(tiny_config)
    eager = Engine(memory, "x", "cuda", mode="eager")
    graph = Engine(EnergyMemory(tiny_config), "x", "cuda", mode="graph")
    graph.memory.load_state_dict(eager.memory.state_dict())
    X = random_binary_patterns(memories, queries, tiny_config.input_dim)
    theta = eager.write(X)
    Q, known = domain_of(tiny_config).standard(X)
    for clamp in (known, None):
        a, b = eager.read(theta, Q, clamp), graph.read(theta, Q, clamp)
        torch.testing.assert_close(b.states, a.states, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b.energies, a.energies, rtol=1e-5, atol=1e-5)
    assert graph.mode == "graph" and graph._graphed_reads.captured


@pytest.mark.parametrize(("memories", "patterns"), [(1, 1), (5, 6), (40, 16), (600, 3)])
def test_graph_writes_equal_eager_writes(tiny_config: ModelConfig, memories: int, patterns: int) -> None:
    memory = EnergyMemory(tiny_config.replace(max_patterns=16))
    eager = Engine(memory, "x", "cuda", mode="eager")
    graph = Engine(EnergyMemory(memory.config), "x", "cuda", mode="graph")
    graph.memory.load_state_dict(eager.memory.state_dict())
    X = random_binary_patterns(memories, patterns, tiny_config.input_dim)
    mask = torch.ones(memories, patterns, dtype=torch.bool)
    mask[0, patterns // 2 + 1 :] = False
    torch.testing.assert_close(graph.write(X, mask), eager.write(X, mask), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(graph.write(X), eager.write(X), rtol=1e-5, atol=1e-6)  # replayed, not recaptured
    assert graph._graphed_writes.captured


def test_a_traced_read_in_graph_mode_ends_at_the_graphed_answer(tiny_config: ModelConfig) -> None:
    """A traced read runs eagerly even in graph mode; it must end where the graphed (served) read does."""
    graph = Engine(EnergyMemory(tiny_config), "x", "cuda", mode="graph")
    X = random_binary_patterns(5, 3, tiny_config.input_dim)
    theta = graph.write(X)
    Q, known = domain_of(tiny_config).standard(X)
    plain, traced = graph.read(theta, Q, known), graph.read(theta, Q, known, trace=True)
    assert graph._graphed_reads.captured and traced.trace.patterns.shape[2] == tiny_config.read_steps + 1
    assert torch.equal(traced.trace.patterns[:, :, -1], traced.patterns)
    torch.testing.assert_close(traced.states, plain.states, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(traced.energies, plain.energies, rtol=1e-5, atol=1e-5)
