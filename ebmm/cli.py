"""`ebmm`: train, evaluate, benchmark and serve Energy-Based Memory Models."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import orjson
import torch
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Energy-Based Memory Model service and tools.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: each prints a table and writes JSON.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
console = Console()

DEFAULT_CHECKPOINT = Path("checkpoints/binary128")


def write_json(data: dict, path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        console.print(f"wrote {path}")


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Checkpoint directory (written as training goes).")],
    preset: Annotated[str, typer.Option(help="Model preset: binary128 or tiny.")] = "binary128",
    steps: int = 20_000,
    batch: Annotated[int, typer.Option(help="Memories per meta-step.")] = 32,
    min_patterns: int = 1,
    max_patterns: Annotated[int | None, typer.Option(help="Default: the preset's max_patterns.")] = None,
    lr: float = 3e-3,
    lr_schedule: Annotated[str, typer.Option(help="constant or cosine")] = "cosine",
    meta_hidden: Annotated[int | None, typer.Option(help="Width of the meta-learned layer.")] = None,
    write_steps: Annotated[int | None, typer.Option(help="T")] = None,
    read_steps: Annotated[int | None, typer.Option(help="K")] = None,
    eval_every: int = 500,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = None,
    minutes: Annotated[float | None, typer.Option(help="Stop this call after so many minutes.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/train_state.pt.")] = False,
) -> None:
    """Meta-train a model; resumable with --resume."""
    from model.config import PRESETS
    from model.engine import resolve_device
    from model.training import MetaTrainer, TrainSettings

    if threads:
        torch.set_num_threads(threads)
    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    overrides = {
        k: v for k, v in {"meta_hidden": meta_hidden, "write_steps": write_steps, "read_steps": read_steps}.items() if v
    }
    config = PRESETS[preset](**overrides)
    settings = TrainSettings(
        steps=steps,
        batch=batch,
        min_patterns=min_patterns,
        max_patterns=max_patterns or config.max_patterns,
        lr=lr,
        lr_schedule=lr_schedule,
        eval_every=eval_every,
        seed=seed,
    )
    command = "ebmm " + shlex.join(sys.argv[1:])
    trainer = MetaTrainer(config, settings, out, device=resolve_device(device), command=command, resume=resume)
    results = trainer.run(max_minutes=minutes)
    console.print(f"step {trainer.step}: " + " ".join(f"N={k}: {v:.2f}" for k, v in results.items()))


@app.command("eval")
def evaluate(
    checkpoint: Path = DEFAULT_CHECKPOINT,
    patterns: Annotated[list[int] | None, typer.Option(help="Pattern counts (repeatable).")] = None,
    memories: int = 256,
    seed: int = 1234,
    device: str = "auto",
) -> None:
    """Mean recall error of a checkpoint on fresh random tasks under the standard distortion."""
    from model.engine import Engine
    from model.tasks import random_binary_patterns

    engine = Engine.from_checkpoint(checkpoint, device)
    counts = patterns or [n for n in (16, 32, 48, 64, 96) if n <= engine.info.max_patterns]
    generator = torch.Generator().manual_seed(seed)
    table = Table(title=f"{engine.info.name} ({checkpoint}), {memories} memories per N")
    table.add_column("patterns", justify="right")
    table.add_column("error bits" if engine.info.domain == "binary" else "MSE", justify="right")
    for count in counts:
        X = random_binary_patterns(memories, count, engine.info.input_dim, generator)
        errors = engine.self_check(engine.write(X), X, generator=generator)
        table.add_row(str(count), f"{float(errors.mean()):.3f}")
    console.print(table)


@bench_app.command("engine")
def bench_engine_command(
    checkpoint: Path = DEFAULT_CHECKPOINT,
    device: str = "auto",
    batches: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,8,64,512",
    patterns: Annotated[int, typer.Option(help="Patterns per written memory.")] = 32,
    seconds: Annotated[float, typer.Option(help="Minimum timed seconds per cell.")] = 1.0,
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """Write/read throughput vs batch size on one device."""
    from model.bench.engine import bench_engine
    from model.engine import Engine

    engine = Engine.from_checkpoint(checkpoint, device)
    result = bench_engine(engine, tuple(int(b) for b in batches.split(",")), patterns, seconds)
    table = Table(
        title=f"engine throughput: {result['model']} on {result['device']} ({result['torch_threads']} threads)"
    )
    for column in ("batch", "writes/s", "reads/s", "read speed-up vs batch 1"):
        table.add_column(column, justify="right")
    for row in result["rows"]:
        table.add_row(
            str(row["batch"]),
            f"{row['writes_per_s']:,.0f}",
            f"{row['reads_per_s']:,.0f}",
            f"{row['read_speedup_vs_batch1']:.1f}×",
        )
    console.print(table)
    write_json(result, json_path)


if __name__ == "__main__":
    app()
