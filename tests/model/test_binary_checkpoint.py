"""The shipped binary128 checkpoint: it loads, recalls as well as recorded, and far better than untrained.

A regression guard for whatever checkpoint is at checkpoints/binary128. Its recorded error at N = 96 comes
from the checkpoint's own config.json (`training.eval_error["96"]`, written by the trainer) or, failing that,
from benchmarks/results/binary.json when that was measured on the same weights (same checkpoint hash).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import torch

from model.distortions import erase
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "checkpoints" / "binary128"
BENCH_RESULTS = ROOT / "benchmarks" / "results" / "binary.json"
COUNT = 96


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_checkpoint(CHECKPOINT, "cpu")


def recorded_error(engine: Engine) -> float:
    """The checkpoint's recorded mean error bits at N = 96 (64 erased bits, known bits clamped)."""
    eval_error = engine.config.training.get("eval_error", {})
    if str(COUNT) in eval_error:
        return float(eval_error[str(COUNT)])
    if BENCH_RESULTS.is_file():
        bench = orjson.loads(BENCH_RESULTS.read_bytes())
        if bench["checkpoint"]["hash"] == engine.info.checkpoint_hash:
            return float(bench["methods"]["ebmm"][bench["n_patterns"].index(COUNT)])
    pytest.fail(
        f"{CHECKPOINT} records no error at N={COUNT}: run "
        "`ebmm bench binary --json benchmarks/results/binary.json` on it (or ship the trainer's config.json)"
    )


def sample_error(engine: Engine) -> float:
    """Mean error bits on a fixed sample: 32 memories × N = 96, every pattern read back from 64 erased bits."""
    generator = torch.Generator().manual_seed(2024)
    X = random_binary_patterns(32, COUNT, engine.info.input_dim, generator)
    Q, known = erase(X, engine.info.distortion_size, generator)
    answer = engine.read(engine.write(X), Q, known).patterns
    return float((answer != X).sum(-1).float().mean())


def test_shipped_checkpoint_loads_with_the_table1_budget(engine: Engine) -> None:
    assert engine.info.name == "binary128"
    assert engine.info.input_dim == 128 and engine.info.distortion_size == 64
    assert engine.info.writable_floats == 128 * 127 // 2 + 128
    assert engine.config.training["command"].startswith("ebmm train")


def test_shipped_checkpoint_recalls_as_well_as_recorded(engine: Engine) -> None:
    recorded = recorded_error(engine)
    measured = sample_error(engine)
    assert abs(measured - recorded) <= 1.0 + 0.25 * recorded, (measured, recorded)


def test_shipped_checkpoint_is_far_better_than_an_untrained_model(engine: Engine) -> None:
    torch.manual_seed(0)
    untrained = Engine(EnergyMemory(engine.config), "untrained", "cpu")
    assert sample_error(engine) < 0.5 * sample_error(untrained)
