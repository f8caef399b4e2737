"""Meta-training lowers the loss, and resumes where it stopped."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from model.checkpoint import save_checkpoint
from model.config import ModelConfig
from model.memory import EnergyMemory
from model.training import MetaTrainer, TrainSettings, binary_source, learning_rate, meta_loss, run_config, task_sampler


def _settings(steps: int) -> TrainSettings:
    return TrainSettings(
        steps=steps,
        batch=16,
        min_patterns=2,
        max_patterns=8,
        lr=1e-2,
        warmup_steps=5,
        eval_every=10**9,
        eval_memories=32,
        checkpoint_seconds=10**9,
    )


def _fixed_loss(trainer: MetaTrainer) -> float:
    generator = torch.Generator().manual_seed(99)
    X, mask = trainer.sampler(64, generator)
    return float(meta_loss(trainer.memory, X, mask, generator, trainer.domain.standard)[0].detach())


def test_short_training_lowers_the_loss(tmp_path: Path, tiny_config: ModelConfig) -> None:
    trainer = MetaTrainer(tiny_config, _settings(60), tmp_path)
    before = _fixed_loss(trainer)
    trainer.run(progress=False)
    assert _fixed_loss(trainer) < 0.8 * before


def test_resume_continues_from_the_saved_step(tmp_path: Path, tiny_config: ModelConfig) -> None:
    first = MetaTrainer(tiny_config, _settings(20), tmp_path, command="ebmm train --preset tiny")
    first.run(progress=False)
    resumed = MetaTrainer(tiny_config, _settings(30), tmp_path, resume=True)
    assert resumed.step == 20
    for name, tensor in first.memory.state_dict().items():
        assert torch.equal(tensor, resumed.memory.state_dict()[name])
    assert resumed.memory.config.training["command"] == "ebmm train --preset tiny"
    resumed.run(progress=False)
    assert resumed.step == 30


def test_an_interrupted_final_evaluation_keeps_the_trained_steps(
    tmp_path: Path, tiny_config: ModelConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = MetaTrainer(tiny_config, _settings(5), tmp_path)

    def interrupted() -> None:
        raise KeyboardInterrupt  # SIGTERM from a time limit while the final evaluation runs

    monkeypatch.setattr(trainer, "evaluate", interrupted)
    trainer.run(progress=False)
    resumed = MetaTrainer(tiny_config, _settings(10), tmp_path, resume=True)
    assert resumed.step == 5
    for name, tensor in trainer.memory.state_dict().items():
        assert torch.equal(tensor, resumed.memory.state_dict()[name])


def test_learning_rate_schedule() -> None:
    settings = TrainSettings(steps=1000, lr=1e-3, warmup_steps=100, lr_floor=0.1)
    assert learning_rate(settings, 0) == 1e-5
    assert abs(learning_rate(settings, 100) - 1e-3) < 1e-12
    assert abs(learning_rate(settings, 1000) - 1e-4) < 1e-12


def test_init_from_fine_tunes_a_checkpoint_with_longer_reads(tmp_path: Path, tiny_config: ModelConfig) -> None:
    """`ebmm train --init-from C --read-steps K'` starts from C's weights with K' steps."""
    from typer.testing import CliRunner

    from ebmm.cli import app
    from model.checkpoint import load_checkpoint

    MetaTrainer(tiny_config, _settings(10), tmp_path / "base").run(progress=False)
    base = load_checkpoint(tmp_path / "base")
    args = ["train", "--out", str(tmp_path / "tuned"), "--init-from", str(tmp_path / "base"), "--read-steps"]
    args += [str(tiny_config.read_steps + 2), "--steps", "1", "--eval-every", "1000", "--lr", "1e-9"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    tuned = load_checkpoint(tmp_path / "tuned")
    assert tuned.config.read_steps == tiny_config.read_steps + 2
    assert tuned.config.training["steps"] == 1 and tuned.config.training["settings"]["max_patterns"] == 8
    torch.testing.assert_close(tuned.energy.A, base.energy.A, atol=1e-6, rtol=0)  # lr ≈ 0: still the base weights
    assert not torch.equal(tuned.energy.A, EnergyMemory(tiny_config).energy.A)


def test_train_only_changes_just_the_named_parameters(tmp_path: Path, tiny_config: ModelConfig) -> None:
    config = tiny_config.replace(free_read_rates=True, distortions=("erase", "flip"))
    names = ("log_free_read_lr", "free_momentum_logit")
    trainer = MetaTrainer(config, dataclasses.replace(_settings(20), train_only=names), tmp_path)
    before = {name: p.detach().clone() for name, p in trainer.memory.named_parameters()}
    for _ in range(20):
        trainer.train_step()
    changed = {name for name, p in trainer.memory.named_parameters() if not torch.equal(p, before[name])}
    assert changed == set(names)
    with pytest.raises(ValueError, match="names no parameter"):
        MetaTrainer(config, dataclasses.replace(_settings(1), train_only=("nope",)), tmp_path)


def test_rule_lr_moves_the_rules_at_their_own_rate(tmp_path: Path, tiny_config: ModelConfig) -> None:
    """With rule_lr the rules' parameters (outside the energy) take Adam steps of rule_lr, the energy's of lr:
    Adam's first step moves every parameter by about its learning rate."""
    settings = dataclasses.replace(_settings(20), lr=1e-3, rule_lr=1e-1, warmup_steps=0, lr_schedule="constant")
    trainer = MetaTrainer(tiny_config, settings, tmp_path)
    before = {name: p.detach().clone() for name, p in trainer.memory.named_parameters()}
    trainer.train_step()
    moved = {name: float((p.detach() - before[name]).abs().max()) for name, p in trainer.memory.named_parameters()}
    assert moved["log_read_lr"] == pytest.approx(0.1, rel=0.01) and moved["log_alpha"] == pytest.approx(0.1, rel=0.01)
    assert moved["energy.A"] == pytest.approx(1e-3, rel=0.01) and moved["energy.theta_bar"] == pytest.approx(
        1e-3, rel=0.01
    )
    one_rate = MetaTrainer(tiny_config, dataclasses.replace(settings, rule_lr=0.0), tmp_path / "one")
    assert [group["lr_scale"] for group in one_rate.optimizer.param_groups] == [1.0]


def test_run_config_builds_a_preset_or_grows_a_checkpoint(tmp_path: Path, tiny_config: ModelConfig) -> None:
    config, initial = run_config("tiny", None, {"write_steps": 3})
    assert initial is None and config.write_steps == 3 and config.name == "tiny"
    save_checkpoint(EnergyMemory(tiny_config), tmp_path)
    config, initial = run_config("tiny", tmp_path, {"read_steps": 7, "distortions": ("erase", "flip")})
    assert initial is not None and initial.config is config and config.training == {}
    assert config.read_steps == 7 and len(initial.log_read_lr) == 7 and config.distortions == ("erase", "flip")
    with pytest.raises(ValueError, match="meta-learned layer"):
        run_config("tiny", tmp_path, {"meta_hidden": 8})
    with pytest.raises(ValueError, match="unknown preset"):
        run_config("nope", None, {})


def test_log_uniform_counts_draw_small_sets_as_often_as_each_doubling() -> None:
    """N ∈ [1, 64]: uniform draws N ≤ 8 an eighth of the time, log-uniform about half (log 9 / log 65), mixed
    half-way between."""
    fractions = {}
    for distribution in ("uniform", "log-uniform", "mixed"):
        settings = TrainSettings(min_patterns=1, max_patterns=64, count_distribution=distribution)
        sample, generator = task_sampler(binary_source(4), settings), torch.Generator().manual_seed(0)
        counts = torch.tensor([int(sample(1, generator)[1].sum()) for _ in range(2000)])
        assert counts.min() == 1 and counts.max() == 64
        fractions[distribution] = float((counts <= 8).float().mean())
    assert fractions["uniform"] == pytest.approx(8 / 64, abs=0.03)
    assert fractions["log-uniform"] == pytest.approx(math.log(9) / math.log(65), abs=0.04)
    assert fractions["mixed"] == pytest.approx((fractions["uniform"] + fractions["log-uniform"]) / 2, abs=0.04)
    with pytest.raises(ValueError, match="count distribution"):
        task_sampler(binary_source(4), TrainSettings(count_distribution="normal"))
