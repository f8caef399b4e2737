"""The shipped binary128 checkpoint: it loads, recalls as well as recorded, and far better than untrained.

A regression guard for whatever checkpoint is at checkpoints/binary128, for each corruption it was made for:
erasures (64 of 128 bits, known bits clamped) at N = 96, and flipped bits (nothing clamped, read as rounds of
erasures) at N = 48, with writes in float32 and in bfloat16 (EBMM_WRITE_PRECISION). The recorded figures come
from the checkpoint's own config.json (`training.eval_error[family][N]`, written by the trainer at the family's
standard strength).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "checkpoints" / "binary128"
GUARDS = [("erase", 96), ("flip", 48)]  # (family, N): the hardest N each family is shipped for


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return Engine.from_checkpoint(CHECKPOINT, "cpu", write_precision=request.param)


def recorded_error(engine: Engine, family: str, count: int) -> float:
    """The checkpoint's recorded mean error bits for `family` at N = `count`."""
    eval_error = engine.config.training.get("eval_error", {})
    if str(count) not in eval_error.get(family, {}):
        pytest.fail(f"{CHECKPOINT} records no {family} error at N={count}: ship the trainer's config.json")
    return float(eval_error[family][str(count)])


def sample_error(engine: Engine, family: str, count: int, memories: int = 32) -> float:
    """Mean error bits on a fixed sample: `memories` memories of N patterns, each read back from `family`."""
    generator = torch.Generator().manual_seed(2024)
    X = random_binary_patterns(memories, count, engine.info.input_dim, generator)
    Q, known = engine.domain.families[family](X, generator)
    answer = engine.read(engine.write(X), Q, known).patterns
    return float((answer != X).sum(-1).float().mean())


def test_shipped_checkpoint_loads_with_the_table1_budget(engine: Engine) -> None:
    assert engine.info.name == "binary128"
    assert engine.info.input_dim == 128 and engine.info.distortion_size == 64
    assert engine.info.writable_floats == 128 * 127 // 2 + 128
    assert engine.config.training["command"].startswith("ebmm train")
    assert {name for name, _ in GUARDS} <= {d.name for d in engine.info.distortions}


@pytest.mark.parametrize(("family", "count"), GUARDS)
def test_shipped_checkpoint_recalls_as_well_as_recorded(engine: Engine, family: str, count: int) -> None:
    recorded = recorded_error(engine, family, count)
    measured = sample_error(engine, family, count)
    assert abs(measured - recorded) <= 1.0 + 0.25 * recorded, (measured, recorded)


def test_shipped_checkpoint_is_far_better_than_an_untrained_model(engine: Engine) -> None:
    torch.manual_seed(0)
    untrained = Engine(EnergyMemory(engine.config), "untrained", "cpu")
    assert sample_error(engine, "erase", 96) < 0.5 * sample_error(untrained, "erase", 96)
