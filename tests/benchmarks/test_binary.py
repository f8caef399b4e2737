"""`bench_binary`: every method on the same tasks, the paper's numbers beside ours, a JSON-ready result."""

from __future__ import annotations

import orjson
import pytest
import torch
from rich.console import Console

from benchmarks.binary import PAPER, bench_binary, table1, unclamped_table
from model.baselines import LEARNED_PRESETS, build_learned
from model.config import binary128_config
from model.engine import Engine
from model.memory import EnergyMemory

METHODS = ("ebmm", "pseudo_inverse", "storkey", "hebb", "modern_hopfield")
LEARNED_ORDER = ("differentiable_plasticity", "mann", "lstm", "memory_networks")  # the paper's row order


@pytest.fixture(scope="module")
def result() -> dict:
    torch.manual_seed(0)
    engine = Engine(EnergyMemory(binary128_config()), "untrained", "cpu")  # untrained: only the harness is tested
    return bench_binary(engine, memories=4, counts=(16, 32), seed=0, checkpoint="untrained")


def test_every_method_is_scored_at_every_n(result: dict) -> None:
    assert result["n_patterns"] == [16, 32]
    for errors in (result["methods"], result["unclamped"]):
        assert tuple(errors) == METHODS
        assert all(len(values) == 2 for values in errors.values())
    for values in result["methods"].values():
        assert all(0.0 <= v <= 64.0 for v in values)  # clamped: only the 64 erased bits can be wrong
    assert result["methods"]["pseudo_inverse"] == [0.0, 0.0]
    assert result["methods"]["ebmm"][0] > 1.0  # an untrained EBMM really is scored, not skipped


def test_budgets_are_the_floats_each_memory_wrote(result: dict) -> None:
    budget = result["budget_floats"]
    assert budget["ebmm"] == budget["hebb"] == budget["storkey"] == budget["pseudo_inverse"] == 8256
    assert budget["modern_hopfield"] == [16 * 128, 32 * 128]


def test_same_seed_same_tasks_and_json_ready(result: dict) -> None:
    torch.manual_seed(0)
    engine = Engine(EnergyMemory(binary128_config()), "untrained", "cpu")
    again = bench_binary(engine, memories=4, counts=(16, 32), seed=0)
    assert again["methods"] == result["methods"] and again["unclamped"] == result["unclamped"]
    assert orjson.loads(orjson.dumps(result))["paper"] == PAPER


def test_tables_show_ours_beside_the_papers(result: dict) -> None:
    console = Console(record=True, width=120)
    console.print(table1(result))
    console.print(unclamped_table(result))
    text = console.export_text()
    assert "Hopfield, Storkey" in text and "MANN (paper)" in text and "LSTM (paper)" in text
    assert f"{result['methods']['hebb'][1]:.2f}" in text
    assert "NOT clamped" in text


def test_flips_clamp_nothing_and_report_exact_recalls() -> None:
    torch.manual_seed(0)
    engine = Engine(EnergyMemory(binary128_config()), "untrained", "cpu")
    flips = bench_binary(engine, memories=4, counts=(16,), distortion="flip", bits=4, seed=0)
    assert flips["protocol"]["distortion"] == "flip 4 of 128 entries" and not flips["protocol"]["known_clamped"]
    assert "unclamped" not in flips and flips["paper"] == {}
    pseudo_inverse = flips["methods"]["pseudo_inverse"][0]
    assert pseudo_inverse < 1.0 and flips["exact_fraction"]["pseudo_inverse"][0] > 0.5  # 16 patterns fit
    assert flips["exact_fraction"]["modern_hopfield"] == [1.0]  # the nearest stored pattern, exactly
    Console(width=160).print(table1(flips))  # renders without the paper's rows
    with pytest.raises(ValueError, match="unknown binary distortion"):
        bench_binary(engine, memories=2, counts=(16,), distortion="noise")


def test_learned_baselines_are_measured_on_the_same_tasks_and_lose_their_paper_only_rows() -> None:
    torch.manual_seed(0)
    engine = Engine(EnergyMemory(binary128_config()), "untrained", "cpu")
    learned = {preset.kind: build_learned(preset).eval() for preset in LEARNED_PRESETS.values()}
    result = bench_binary(engine, memories=2, counts=(16,), seed=0, learned=learned)
    assert tuple(result["methods"]) == (*METHODS[:4], *LEARNED_ORDER, "modern_hopfield")
    budget = result["budget_floats"]
    assert budget["memory_networks"] == budget["mann"] == budget["differentiable_plasticity"] == 8256
    assert budget["lstm"] == 1024
    for name in LEARNED_ORDER:  # untrained: answers are scored, and clamped reads only get erased bits wrong
        assert 1.0 < result["methods"][name][0] <= 64.0 and result["unclamped"][name][0] > 0.0
    console = Console(record=True, width=160)
    console.print(table1(result))
    text = console.export_text()
    assert "(paper)" not in text and "MANN" in text and "Memory Networks" in text
    assert f"{result['methods']['lstm'][0]:.2f}" in text
    again = bench_binary(engine, memories=2, counts=(16,), seed=0, learned=learned)
    assert again["methods"] == result["methods"]  # same seed, same tasks
    with pytest.raises(ValueError, match="no Table-1 row"):
        bench_binary(engine, memories=2, counts=(16,), learned={"gru": learned["lstm"]})
