"""Meta-training (Bartunov et al., 2020, eq. 5): learn θ̄, step sizes, α, β, μ and the shared energy layers.

One meta-step: sample B memories of random sizes, write each set (T unrolled steps), distort every stored
pattern with one of the model's trained distortion families (drawn per meta-step, at a drawn strength), read
it back (K unrolled steps) and minimise the mean ‖x̂ − x‖² through both loops (second order).
Training is resumable: `train_state.pt` beside the checkpoint holds the optimizer, step and RNG state.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import torch
from torch import Tensor
from tqdm import tqdm

from model.checkpoint import LOOP_STEPS, adapt, load_checkpoint, save_checkpoint
from model.config import ModelConfig
from model.domains import DistortionFamily, domain_of
from model.memory import EnergyMemory
from model.tasks import TABLE1_COUNTS, masked_mean, pattern_mask, random_binary_patterns, sample_counts

TRAIN_STATE_FILE = "train_state.pt"


def save_train_state(
    out_dir: Path, step: int, optimizer: torch.optim.Optimizer, generator: torch.Generator, elapsed: float
) -> None:
    """What a resumed run needs beside its checkpoint (step, optimizer, task generator, time), written atomically."""
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "elapsed": elapsed,
    }
    tmp = out_dir / (TRAIN_STATE_FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(out_dir / TRAIN_STATE_FILE)


def load_train_state(out_dir: Path) -> dict[str, Any] | None:
    """The state `save_train_state` wrote to `out_dir`, or None when there is none (a new run)."""
    path = out_dir / TRAIN_STATE_FILE
    return torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None


# sampler(batch, generator) -> (X: [B, N, *S], pattern_mask: [B, N])
TaskSampler = Callable[[int, torch.Generator], tuple[Tensor, Tensor]]
# source(memories B, count N, generator) -> X: [B, N, *S]: the patterns of B memories of N patterns each
PatternSource = Callable[[int, int, torch.Generator], Tensor]


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 20_000
    batch: int = 32  # memories per meta-step
    min_patterns: int = 1
    max_patterns: int = 96
    lr: float = 3e-3
    # The learning rate of the writing and reading rules' own parameters (step sizes, momentum, α, β, κ: all
    # outside the energy network), following the same schedule; 0: lr. A model started near a working energy
    # (the FC energy's paired wells) wants its network moved slowly and its rules at the usual pace.
    rule_lr: float = 0.0
    lr_schedule: str = "cosine"  # "constant" or "cosine" (to lr_floor · lr at the last step)
    lr_floor: float = 0.05
    warmup_steps: int = 200
    clip: float = 1.0
    seed: int = 0
    eval_every: int = 500
    eval_memories: int = 64
    checkpoint_seconds: float = 120.0
    dataset: str = "random"  # "random" ±1 patterns, or an image data set of model.data.datasets
    # "mse": minimise the mean ‖x̂ − x‖² / D. "log-mse": its log (plus LOG_LOSS_FLOOR), which weighs a halving of
    # the error the same at every N and distortion, so small sets and mild corruptions, whose errors are
    # small, are not drowned out by the large errors of full memories.
    loss: str = "mse"
    # Train only the parameters with these names (e.g. the free reads' rates, leaving everything the clamped
    # reads and the writes use as it was); empty: all of them.
    train_only: tuple[str, ...] = ()
    # How the per-meta-step N is drawn from [min_patterns, max_patterns]: "uniform", "log-uniform" (every
    # doubling of N as often as any other, so small sets are trained on as much as full ones), or "mixed" (either
    # of the two, with even odds, per meta-step).
    count_distribution: str = "uniform"


def binary_source(dim: int) -> PatternSource:
    """Uniform random ±1 patterns of `dim` bits."""
    return lambda memories, count, generator: random_binary_patterns(memories, count, dim, generator)


def task_sampler(source: PatternSource, settings: TrainSettings) -> TaskSampler:
    """Memories of patterns from `source`, N drawn once per meta-step from [min_patterns, max_patterns] by
    `settings.count_distribution`.

    One N for the whole batch (rather than one per memory, padded to the largest) halves the mean cost of
    a step; over many steps every N in the range is trained on equally often (uniform), or every doubling
    of N is (log-uniform), or half-way between the two (mixed).
    """
    low, high = settings.min_patterns, settings.max_patterns
    if settings.count_distribution not in ("uniform", "log-uniform", "mixed"):
        raise ValueError(f"unknown count distribution {settings.count_distribution!r}: uniform, log-uniform or mixed")

    def sample(batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        distribution = settings.count_distribution
        if distribution == "mixed":
            distribution = "uniform" if float(torch.rand(1, generator=generator)) < 0.5 else "log-uniform"
        if distribution == "uniform":
            count = int(sample_counts(1, low, high, generator))
        else:  # N = ⌊exp(U[log low, log (high + 1)])⌋
            u = float(torch.rand(1, generator=generator))
            count = min(high, int(math.exp(math.log(low) + u * (math.log(high + 1) - math.log(low)))))
        X = source(batch, count, generator)
        return X, pattern_mask(torch.full((batch,), count))

    return sample


def binary_sampler(config: ModelConfig, settings: TrainSettings) -> TaskSampler:
    """The binary task: random ±1 patterns of the model's input size."""
    return task_sampler(binary_source(config.input_dim), settings)


LOG_LOSS_FLOOR = 1e-4  # "log-mse" minimises log(mse + this): errors below it no longer pull


def meta_loss(
    memory: EnergyMemory,
    X: Tensor,
    mask: Tensor,
    generator: torch.Generator,
    family: DistortionFamily,
    loss: str = "mse",
) -> tuple[Tensor, Tensor]:
    """Write X, read it back from a `family` distortion at a drawn strength; returns (the meta-loss: mean
    ‖x̂ − x‖² / D, or its log (see TrainSettings.loss), and the mean recall error)."""
    theta = memory.write(X, mask, create_graph=True)
    Q, known = family(X.cpu(), generator, family.training_strength(generator))
    X_hat, _ = memory.read(theta, Q.to(X.device), known.to(X.device), create_graph=True)
    squared = masked_mean((X_hat - X).flatten(2).pow(2).mean(-1), mask)  # mean over [B, N]
    error = masked_mean(domain_of(memory.config).recall_error(X_hat.detach(), X), mask)
    if loss == "log-mse":
        return torch.log(squared + LOG_LOSS_FLOOR), error
    if loss != "mse":
        raise ValueError(f"unknown meta-loss {loss!r}: mse or log-mse")
    return squared, error


def evaluate_recall(
    memory: EnergyMemory,
    source: PatternSource,
    counts: tuple[int, ...] = TABLE1_COUNTS,
    memories: int = 64,
    seed: int = 1234,
) -> dict[str, dict[int, float]]:
    """Mean recall error (bits, or MSE per entry) per trained distortion family and pattern count, each at its
    standard strength, on fresh tasks (inference path, fixed seed)."""
    device = next(memory.parameters()).device
    domain = domain_of(memory.config)
    results: dict[str, dict[int, float]] = {}
    for family in domain.trained:
        generator = torch.Generator().manual_seed(seed)
        results[family.name] = {}
        for count in counts:
            X = source(memories, count, generator).to(device)
            with torch.no_grad():
                theta = memory.write(X)
                Q, known = family(X.cpu(), generator)
                X_hat, _ = memory.read(theta, Q.to(device), known.to(device))
            results[family.name][count] = float(domain.recall_error(domain.decode(X_hat), X).mean())
    return results


def learning_rate(settings: TrainSettings, step: int) -> float:
    """Linear warm-up, then constant or cosine decay to lr_floor · lr."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    if settings.lr_schedule == "constant":
        return settings.lr
    progress = min(1.0, (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps))
    floor = settings.lr_floor
    return settings.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def data_hash(config: ModelConfig, settings: TrainSettings) -> str:
    """A hash naming the task distribution the model was trained on."""
    task = {
        "domain": config.domain,
        "input_shape": config.input_shape,
        "distortion": config.distortion_size,
        "distortions": [f.name for f in domain_of(config).trained],
        "patterns": [settings.min_patterns, settings.max_patterns],
        "seed": settings.seed,
    }
    if settings.dataset != "random":
        task["dataset"] = settings.dataset
    if settings.count_distribution != "uniform":
        task["count_distribution"] = settings.count_distribution
    return hashlib.sha256(orjson.dumps(task, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def run_config(
    preset: str, init_from: str | Path | None, changes: dict[str, object]
) -> tuple[ModelConfig, EnergyMemory | None]:
    """The config a run trains, and the model it starts from (None: a fresh one).

    A new model is the preset with `changes`; an `init_from` checkpoint keeps its architecture but may take
    longer loops (write_steps, read_steps; see model.checkpoint.resize_steps) and added terms (distortions,
    read rules, the quadratic: new parameters start at their initial values).
    """
    from model.config import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    if init_from is None:
        return PRESETS[preset](**changes), None
    if "meta_hidden" in changes:
        raise ValueError("an --init-from checkpoint keeps its meta-learned layer's width")
    loop_steps = {k: v for k, v in changes.items() if k in LOOP_STEPS}
    additions = {k: v for k, v in changes.items() if k not in loop_steps}
    initial = adapt(load_checkpoint(init_from, **loop_steps), training={}, **additions)
    return initial.config, initial


class MetaTrainer:
    """Owns the model, optimizer and RNG of one training run in `out_dir`; saves resumable checkpoints."""

    def __init__(
        self,
        config: ModelConfig,
        settings: TrainSettings,
        out_dir: str | Path,
        sampler: TaskSampler | None = None,
        device: torch.device | str = "cpu",
        command: str = "",
        resume: bool = False,
        eval_source: PatternSource | None = None,
        initial: EnergyMemory | None = None,
        prior_images: Tensor | None = None,
    ) -> None:
        """`sampler` draws training tasks and `eval_source` the evaluation patterns (default: random ±1 ones).

        A new run starts from `initial` (e.g. a trained checkpoint, fine-tuned with a changed recipe) when
        given, else from a fresh `EnergyMemory(config)` whose energy fits its prior to `prior_images` (the
        training split, [P, *S]; Energy.fit_prior); a resumed run always continues its own checkpoint.
        """
        self.settings, self.out_dir, self.device, self.command = settings, Path(out_dir), torch.device(device), command
        self.step = 0
        self.generator = torch.Generator().manual_seed(settings.seed)
        torch.manual_seed(settings.seed)
        state = load_train_state(self.out_dir) if resume else None
        if state is not None:
            self.memory = load_checkpoint(self.out_dir, self.device).train()
            self.step = state["step"]
            self.generator.set_state(state["generator"])
            self.elapsed = state["elapsed"]
        else:
            if initial is None:
                initial = EnergyMemory(config)
                if prior_images is not None:
                    initial.energy.fit_prior(prior_images)
            self.memory = initial.to(self.device).train()
            self.elapsed = 0.0
        self.optimizer = torch.optim.Adam(self.parameter_groups(), lr=settings.lr)
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.sampler = sampler or binary_sampler(self.memory.config, settings)
        self.eval_source = eval_source or binary_source(self.memory.config.input_dim)
        self.domain = domain_of(self.memory.config)
        self.error_format = self.domain.error_format
        self.last_eval: dict[str, dict[int, float]] = {}

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters this run optimises: all, or those named in `settings.train_only`."""
        named = dict(self.memory.named_parameters())
        if not self.settings.train_only:
            return list(named.values())
        unknown = sorted(set(self.settings.train_only) - set(named))
        if unknown:
            raise ValueError(f"train_only names no parameter of the model: {unknown}")
        return [named[name] for name in self.settings.train_only]

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The trained parameters as Adam's groups, each with its `lr_scale` relative to the schedule: the energy
        network's at 1, the rules' at rule_lr / lr (one group when rule_lr is 0)."""
        trained = {id(p) for p in self.trained_parameters()}
        named = [(name, p) for name, p in self.memory.named_parameters() if id(p) in trained]
        if not self.settings.rule_lr:
            return [{"params": [p for _, p in named], "lr_scale": 1.0}]
        network = [p for name, p in named if name.startswith("energy.")]
        rules = [p for name, p in named if not name.startswith("energy.")]
        groups = [
            {"params": network, "lr_scale": 1.0},
            {"params": rules, "lr_scale": self.settings.rule_lr / self.settings.lr},
        ]
        return [group for group in groups if group["params"]]

    def train_step(self) -> tuple[float, float]:
        for group in self.optimizer.param_groups:
            scale = group.get("lr_scale", 1.0)  # a state saved before rule_lr existed: one group, the schedule's
            group["lr"] = learning_rate(self.settings, self.step) * scale
        X, mask = self.sampler(self.settings.batch, self.generator)
        family = self.domain.sample_training_family(self.generator)
        X, mask = X.to(self.device), mask.to(self.device)
        loss, error = meta_loss(self.memory, X, mask, self.generator, family, self.settings.loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained_parameters(), self.settings.clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach()), float(error)

    def save(self) -> None:
        training = {
            "command": self.command,
            "data_hash": data_hash(self.memory.config, self.settings),
            "settings": asdict(self.settings),
            "steps": self.step,
            "seconds": round(self.elapsed, 1),
            "eval_error": {
                name: {str(k): float(format(v, self.error_format)) for k, v in errors.items()}
                for name, errors in self.last_eval.items()
            },
            "meta_parameters": self.memory.meta_parameters_summary(),
        }
        self.memory.config = self.memory.config.replace(training=training)
        save_checkpoint(self.memory, self.out_dir)
        save_train_state(self.out_dir, self.step, self.optimizer, self.generator, self.elapsed)

    def evaluate(self) -> dict[str, dict[int, float]]:
        counts = tuple(n for n in TABLE1_COUNTS if n <= self.settings.max_patterns) or (self.settings.max_patterns,)
        self.memory.eval()
        self.last_eval = evaluate_recall(self.memory, self.eval_source, counts, self.settings.eval_memories)
        self.memory.train()
        return self.last_eval

    def format_errors(self, results: dict[str, dict[int, float]]) -> str:
        """'erase N=16:0.00 … | flip N=16:…' for logs."""
        return " | ".join(
            name + " " + " ".join(f"N={k}:{v:{self.error_format}}" for k, v in errors.items())
            for name, errors in results.items()
        )

    def run(self, max_minutes: float | None = None, progress: bool = True) -> dict[str, dict[int, float]]:
        """Train until `settings.steps` (or `max_minutes` of this call), evaluating and saving as it goes."""
        start = time.monotonic()
        bar = tqdm(total=self.settings.steps, initial=self.step, disable=not progress, dynamic_ncols=True)
        try:
            self._loop(bar, start, max_minutes)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (see `ebmm train`): keep what was learned
            bar.write(f"interrupted at step {self.step}; saving")
        bar.close()
        self.save()  # before the final evaluation: a signal during it (a time limit) loses no training
        try:
            self.evaluate()
        except KeyboardInterrupt:
            bar.write(f"final evaluation interrupted; step {self.step} is saved with the previous one")
            return self.last_eval
        self.save()
        return self.last_eval

    def _loop(self, bar: tqdm, start: float, max_minutes: float | None) -> None:
        last_save = start
        running_loss = running_error = None
        while self.step < self.settings.steps:
            t0 = time.monotonic()
            loss, error = self.train_step()
            self.elapsed += time.monotonic() - t0
            running_loss = loss if running_loss is None else 0.98 * running_loss + 0.02 * loss
            running_error = error if running_error is None else 0.98 * running_error + 0.02 * error
            bar.update(1)
            bar.set_postfix(
                loss=f"{running_loss:.4f}",
                err=format(running_error, self.error_format),
                lr=f"{learning_rate(self.settings, self.step):.1e}",
            )
            if self.step % self.settings.eval_every == 0:
                bar.write(f"step {self.step}: eval error {self.format_errors(self.evaluate())}")
            now = time.monotonic()
            if now - last_save >= self.settings.checkpoint_seconds:
                self.save()
                last_save = now
            if max_minutes is not None and now - start >= 60.0 * max_minutes:
                break
