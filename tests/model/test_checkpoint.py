"""Checkpoints round-trip exactly; broken ones fail with a message that says what is wrong."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
import torch
from safetensors.torch import load_file, save_file

from model.checkpoint import (
    EXTRA_WRITE_RATE_FRACTION,
    CheckpointError,
    adapt,
    checkpoint_hash,
    load_checkpoint,
    save_checkpoint,
)
from model.config import ModelConfig
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns


@pytest.mark.parametrize(
    ("quadratic_rank", "attractor"), [(0, False), (6, False), (6, True)], ids=["plain", "precision-factor", "attractor"]
)
def test_round_trip_gives_bit_identical_outputs(
    tmp_path: Path, tiny_config: ModelConfig, quadratic_rank: int, attractor: bool
) -> None:
    tiny_config = tiny_config.replace(
        quadratic_energy=quadratic_rank > 0, quadratic_rank=quadratic_rank, attractor_energy=attractor
    )
    memory = EnergyMemory(tiny_config)
    with torch.no_grad():
        memory.log_read_lr.add_(0.3)  # differ from the initial values
        if attractor:
            memory.energy.log_attractor_temperature.add_(0.3)
    save_checkpoint(memory, tmp_path)
    original = Engine(memory, "x")
    loaded = Engine.from_checkpoint(tmp_path, "cpu")
    assert loaded.config == tiny_config
    X = random_binary_patterns(3, 4, tiny_config.input_dim)
    theta = original.write(X)
    assert torch.equal(theta, loaded.write(X))
    Q = X * (torch.rand(X.shape) > 0.3)
    a, b = original.read(theta, Q), loaded.read(theta, Q)
    assert torch.equal(a.states, b.states) and torch.equal(a.energies, b.energies)
    assert loaded.info.checkpoint_hash == checkpoint_hash(tmp_path)
    assert loaded.info.writable_floats == 8 * 32 + 8


def test_missing_tensor_is_a_clear_error(tmp_path: Path, tiny_config: ModelConfig) -> None:
    save_checkpoint(EnergyMemory(tiny_config), tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    del tensors["energy.A"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing tensors \['energy.A'\]"):
        load_checkpoint(tmp_path)


def test_wrong_dims_is_a_clear_error(tmp_path: Path, tiny_config: ModelConfig) -> None:
    save_checkpoint(EnergyMemory(tiny_config), tmp_path)
    config = orjson.loads((tmp_path / "config.json").read_bytes())
    config["meta_hidden"] = 64
    (tmp_path / "config.json").write_bytes(orjson.dumps(config))
    with pytest.raises(CheckpointError, match=r"'energy\.A' has shape"):
        load_checkpoint(tmp_path)


def test_missing_files_and_bad_config(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"missing config\.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text('{"name": "x", "colour": "red"}')
    with pytest.raises(CheckpointError, match="unknown model config fields"):
        load_checkpoint(tmp_path)


def test_loading_with_more_or_fewer_steps_resizes_the_per_step_rates(tmp_path: Path, tiny_config: ModelConfig) -> None:
    memory = EnergyMemory(tiny_config)
    with torch.no_grad():
        memory.log_read_lr.copy_(torch.arange(tiny_config.read_steps, dtype=torch.float32))
        memory.log_write_lr.copy_(torch.randn_like(memory.log_write_lr))
    save_checkpoint(memory, tmp_path)
    K, T = tiny_config.read_steps, tiny_config.write_steps
    longer = load_checkpoint(tmp_path, read_steps=K + 3, write_steps=T + 2)
    assert (longer.config.read_steps, longer.config.write_steps) == (K + 3, T + 2)
    assert torch.equal(longer.log_read_lr[:K], memory.log_read_lr.detach())
    assert torch.equal(longer.log_read_lr[K:], torch.full((3,), float(K - 1)))  # the last rate, repeated
    extra_write = memory.log_write_lr.detach()[-1:].expand(2, -1) + math.log(EXTRA_WRITE_RATE_FRACTION)
    torch.testing.assert_close(longer.log_write_lr[T:], extra_write)  # a fraction of the last rate
    shorter = load_checkpoint(tmp_path, read_steps=2)
    assert torch.equal(shorter.log_read_lr, torch.tensor([0.0, 1.0]))
    assert torch.equal(shorter.energy.theta_bar, memory.energy.theta_bar)
    with pytest.raises(ValueError, match="meta_hidden"):
        load_checkpoint(tmp_path, meta_hidden=8)


def test_adapt_adds_new_terms_and_keeps_every_learned_tensor(tmp_path: Path, tiny_config: ModelConfig) -> None:
    memory = EnergyMemory(tiny_config)
    grown = adapt(memory, distortions=("erase", "flip"), free_read_rates=True, init_free_read_lr=0.3)
    assert grown.config.distortions == ("erase", "flip")
    for name, tensor in memory.state_dict().items():
        assert torch.equal(grown.state_dict()[name], tensor)
    torch.testing.assert_close(grown.log_free_read_lr.exp(), torch.full((tiny_config.read_steps,), 0.3))
    with pytest.raises(ValueError, match="drops learned tensors"):
        adapt(EnergyMemory(tiny_config.replace(quadratic_energy=True)), quadratic_energy=False)
    attractor_names = {
        "energy.log_attractor_weight",
        "energy.log_attractor_temperature",
        "energy.log_slot_scale",
        "energy.attractor_threshold",
    }
    assert not attractor_names & set(memory.state_dict())  # off by default: old checkpoints load unchanged
    with_attractor = adapt(memory, attractor_energy=True, init_attractor_weight=0.5)
    assert set(with_attractor.state_dict()) == set(memory.state_dict()) | attractor_names
    torch.testing.assert_close(with_attractor.energy.log_attractor_weight.exp(), torch.tensor(0.5))
    save_checkpoint(grown, tmp_path)
    longer = load_checkpoint(tmp_path, read_steps=tiny_config.read_steps + 2)  # the free rates grow too
    assert torch.equal(longer.log_free_read_lr[-3:], grown.log_free_read_lr.detach()[-1:].expand(3))


def test_free_read_steps_can_change_at_load_time(tmp_path: Path, tiny_config: ModelConfig) -> None:
    save_checkpoint(EnergyMemory(tiny_config.replace(free_read_rates=True)), tmp_path)
    longer = load_checkpoint(tmp_path, free_read_steps=tiny_config.read_steps + 3)
    assert longer.log_free_read_lr.shape == (tiny_config.read_steps + 3,)
    assert longer.log_read_lr.shape == (tiny_config.read_steps,)  # the clamped reads keep K
