"""Meta-training lowers the loss, and resumes where it stopped."""

from __future__ import annotations

from pathlib import Path

import torch

from model.config import ModelConfig
from model.training import MetaTrainer, TrainSettings, learning_rate, meta_loss


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
    return float(meta_loss(trainer.memory, X, mask, generator)[0].detach())


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


def test_learning_rate_schedule() -> None:
    settings = TrainSettings(steps=1000, lr=1e-3, warmup_steps=100, lr_floor=0.1)
    assert learning_rate(settings, 0) == 1e-5
    assert abs(learning_rate(settings, 100) - 1e-3) < 1e-12
    assert abs(learning_rate(settings, 1000) - 1e-4) < 1e-12
