"""Meta-training of the learned baselines on the same task as EBMM's `binary128`, resumable like MetaTrainer.

One meta-step: B memories of N ~ U[min_patterns, max_patterns] random ±1 patterns (one N per step, the
sampler `model.training.task_sampler` that EBMM trains with), each stored pattern queried with one of the
model's distortion families (erase / flip, drawn per step at a drawn strength, as for EBMM), loss: the bits'
binary cross-entropy on the free entries (`LearnedMemory.loss`). Adam, the warm-up and cosine schedule of
`model.training.learning_rate`, gradient clipping. `train_state.pt` beside the checkpoint holds the optimizer,
step and RNG state.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from model.baselines.learned import LearnedConfig, LearnedMemory, load_learned, save_learned
from model.baselines.presets import build_learned
from model.tasks import TABLE1_COUNTS
from model.training import (
    TrainSettings,
    binary_source,
    learning_rate,
    load_train_state,
    save_train_state,
    task_sampler,
)


def evaluate_learned(
    memory: LearnedMemory, counts: tuple[int, ...] = TABLE1_COUNTS, memories: int = 64, seed: int = 1234
) -> dict[str, dict[int, float]]:
    """Mean error bits per trained distortion family (its standard strength) and N, on fresh tasks; erasures
    are read with the known bits clamped (Table 1)."""
    domain = memory.config.domain()
    source = binary_source(memory.config.input_dim)
    was_training = memory.training
    memory.eval()
    results: dict[str, dict[int, float]] = {}
    for family in domain.trained:
        generator = torch.Generator().manual_seed(seed)
        results[family.name] = {}
        for count in counts:
            X = source(memories, count, generator)
            Q, known = family(X, generator)
            X_hat, _ = memory.read(memory.write(X), Q, known if bool(known.any()) else None)
            results[family.name][count] = float(domain.recall_error(domain.decode(X_hat), X).mean())
    memory.train(was_training)
    return results


class LearnedTrainer:
    """Owns the model, optimizer and RNG of one learned baseline's training run in `out_dir`."""

    def __init__(
        self,
        config: LearnedConfig,
        settings: TrainSettings,
        out_dir: str | Path,
        command: str = "",
        resume: bool = False,
    ) -> None:
        self.settings, self.out_dir, self.command = settings, Path(out_dir), command
        self.step, self.elapsed = 0, 0.0
        self.generator = torch.Generator().manual_seed(settings.seed)
        torch.manual_seed(settings.seed)
        state = load_train_state(self.out_dir) if resume else None
        self.memory = (load_learned(self.out_dir) if state is not None else build_learned(config)).train()
        self.optimizer = torch.optim.Adam(self.memory.parameters(), lr=settings.lr)
        if state is not None:
            self.step, self.elapsed = state["step"], state["elapsed"]
            self.generator.set_state(state["generator"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.domain = self.memory.config.domain()
        self.sampler = task_sampler(binary_source(self.memory.config.input_dim), settings)
        self.last_eval: dict[str, dict[int, float]] = {}

    def train_step(self) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.settings, self.step)
        X, mask = self.sampler(self.settings.batch, self.generator)
        family = self.domain.sample_training_family(self.generator)
        Q, known = family(X, self.generator, family.training_strength(self.generator))
        loss = self.memory.loss(X, mask, Q, known)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.memory.parameters(), self.settings.clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def evaluate(self) -> dict[str, dict[int, float]]:
        counts = tuple(n for n in TABLE1_COUNTS if n <= self.settings.max_patterns) or (self.settings.max_patterns,)
        self.last_eval = evaluate_learned(self.memory, counts, self.settings.eval_memories)
        return self.last_eval

    def save(self) -> None:
        training = {
            "command": self.command,
            "settings": asdict(self.settings),
            "steps": self.step,
            "seconds": round(self.elapsed, 1),
            "state_floats": self.memory.state_floats(self.memory.config),
            "eval_error": {
                name: {str(n): round(v, 2) for n, v in errors.items()} for name, errors in self.last_eval.items()
            },
        }
        self.memory.config = self.memory.config.replace(training=training)
        save_learned(self.memory, self.out_dir)
        save_train_state(self.out_dir, self.step, self.optimizer, self.generator, self.elapsed)

    @staticmethod
    def format_errors(results: dict[str, dict[int, float]]) -> str:
        return " | ".join(
            name + " " + " ".join(f"N={n}:{v:.2f}" for n, v in errors.items()) for name, errors in results.items()
        )

    def run(self, max_minutes: float | None = None, progress: bool = True) -> dict[str, dict[int, float]]:
        """Train until `settings.steps` (or `max_minutes` of this call), evaluating and saving as it goes."""
        start = last_save = time.monotonic()
        bar = tqdm(total=self.settings.steps, initial=self.step, disable=not progress, dynamic_ncols=True)
        running = None
        try:
            while self.step < self.settings.steps:
                began = time.monotonic()
                loss = self.train_step()
                self.elapsed += time.monotonic() - began
                running = loss if running is None else 0.98 * running + 0.02 * loss
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}", lr=f"{learning_rate(self.settings, self.step):.1e}")
                if self.step % self.settings.eval_every == 0:
                    bar.write(f"step {self.step}: eval error bits {self.format_errors(self.evaluate())}")
                now = time.monotonic()
                if now - last_save >= self.settings.checkpoint_seconds:
                    self.save()
                    last_save = now
                if max_minutes is not None and now - start >= 60.0 * max_minutes:
                    break
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (see `ebmm train`): keep what was learned
            bar.write(f"interrupted at step {self.step}; saving")
        bar.close()
        self.evaluate()
        self.save()
        return self.last_eval
