"""Shared fixtures: tiny models so the suite runs in seconds on 2 CPU cores."""

from __future__ import annotations

import pytest
import torch

from model import config as config_presets
from model.config import ModelConfig, tiny_binary_config
from model.memory import EnergyMemory


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture
def tiny_config() -> ModelConfig:
    return tiny_binary_config()


@pytest.fixture
def tiny_memory(tiny_config: ModelConfig) -> EnergyMemory:
    return EnergyMemory(tiny_config).double()


@pytest.fixture
def tiny_conv_config() -> ModelConfig:
    return config_presets.tiny_conv_config()


@pytest.fixture(scope="session")
def trained_tiny() -> EnergyMemory:
    """The tiny binary model after a short meta-training run (~5 s): 4 patterns of 32 bits, 8 erased."""
    from model.training import MetaTrainer, TrainSettings

    settings = TrainSettings(
        steps=200,
        batch=16,
        min_patterns=1,
        max_patterns=8,
        lr=1e-2,
        warmup_steps=10,
        eval_every=10**9,
        checkpoint_seconds=10**9,
    )
    trainer = MetaTrainer(tiny_binary_config(), settings, out_dir="unused", device="cpu")
    for _ in range(settings.steps):
        trainer.train_step()
    return trainer.memory.eval().requires_grad_(False)
