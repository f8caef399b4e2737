"""Checkpoints: a directory holding `model.safetensors` (all meta-learned tensors) and `config.json`.

`config.json` is the ModelConfig; its `training` entry records the exact command, the data (a hash of the
task settings), steps and the last evaluation, so every shipped checkpoint says how it was made.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import orjson
import torch
from safetensors.torch import load_file, save_file

from model.config import ModelConfig
from model.memory import EnergyMemory

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded: missing file or tensor, wrong shape, bad config."""


def save_checkpoint(memory: EnergyMemory, directory: str | Path) -> Path:
    """Write weights and config atomically (temp file + rename) and return the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().cpu().contiguous() for name, t in memory.state_dict().items()}
    tmp_weights = directory / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp_weights), metadata={"format": "ebmm"})
    tmp_config = directory / (CONFIG_FILE + ".tmp")
    tmp_config.write_bytes(orjson.dumps(memory.config.to_json_dict(), option=orjson.OPT_INDENT_2))
    tmp_weights.replace(directory / WEIGHTS_FILE)
    tmp_config.replace(directory / CONFIG_FILE)
    return directory


def read_config(directory: str | Path) -> ModelConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {directory}: missing {CONFIG_FILE}")
    try:
        return ModelConfig.from_json_dict(orjson.loads(path.read_bytes()))
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {directory}: bad {CONFIG_FILE}: {exc}") from exc


def checkpoint_hash(directory: str | Path) -> str:
    """sha256 (first 16 hex digits) of the weights file: what a stored θ is tied to."""
    return hashlib.sha256((Path(directory) / WEIGHTS_FILE).read_bytes()).hexdigest()[:16]


# The per-step rates of the unrolled loops (log space): [T, …] for writing, [K] for reading.
STEP_PARAMETERS = {
    "log_write_lr": "write_steps",
    "log_read_lr": "read_steps",
    "log_free_read_lr": "free_steps",
}
# What load_checkpoint(..., **loop_steps) may change (free_steps follows free_read_steps, or read_steps).
LOOP_STEPS = ("write_steps", "read_steps", "free_read_steps")
REQUIRED_STEP_PARAMETERS = ("log_write_lr", "log_read_lr")  # the others exist only with their option
# Extra write steps start at this fraction of the last learned write rate. Measured on binary128 (T = 5 -> 7,
# no training): repeating the last rate overshoots (24 error bits at N = 96), a fifth of it gives 4.0.
EXTRA_WRITE_RATE_FRACTION = 0.2


def resize_steps(tensors: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """Fit the per-step rates to `config`'s T and K; fewer steps drop the tail. Extra read steps repeat the last
    learned rate; extra write steps take EXTRA_WRITE_RATE_FRACTION of it, as refinement steps.

    This is how a trained model starts a run (or serves) with longer unrolled loops than it was trained with.
    """
    resized = dict(tensors)
    for name, field_name in STEP_PARAMETERS.items():
        if name not in tensors:
            continue
        rates, steps = tensors[name], getattr(config, field_name)
        extra = rates[-1:].expand(max(0, steps - len(rates)), *rates.shape[1:])
        if name == "log_write_lr":
            extra = extra + math.log(EXTRA_WRITE_RATE_FRACTION)
        resized[name] = torch.cat([rates, extra])[:steps].contiguous()
    return resized


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu", **loop_steps: int) -> EnergyMemory:
    """Rebuild the EnergyMemory from its config and load every tensor, checking names and shapes.

    `loop_steps` (`write_steps=`, `read_steps=`, `free_read_steps=`) override the saved loop lengths; see
    `resize_steps`.
    """
    unknown = set(loop_steps) - set(LOOP_STEPS)
    if unknown:
        raise ValueError(f"only {list(LOOP_STEPS)} can be changed at load time, not {sorted(unknown)}")
    config = read_config(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {directory}: missing {WEIGHTS_FILE}")
    tensors = load_file(str(weights))
    if loop_steps:
        config = config.replace(**loop_steps)
        if not set(REQUIRED_STEP_PARAMETERS) <= set(tensors):
            raise CheckpointError(f"checkpoint {directory}: missing per-step rates {list(REQUIRED_STEP_PARAMETERS)}")
        tensors = resize_steps(tensors, config)
    memory = EnergyMemory(config)
    expected = memory.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {directory}: missing tensors {missing}, unexpected tensors {unexpected}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"checkpoint {directory}: tensor {name!r} has shape {tuple(tensor.shape)}, "
                f"config {config.name!r} needs {tuple(expected[name].shape)}"
            )
    memory.load_state_dict(tensors)
    return memory.to(device).eval()


def adapt(memory: EnergyMemory, **changes: object) -> EnergyMemory:
    """The same learned weights under a changed config (e.g. more distortion families, free-read rates);
    parameters the change adds start at their initial values, and none may be dropped."""
    adapted = EnergyMemory(memory.config.replace(**changes))
    try:
        result = adapted.load_state_dict(memory.state_dict(), strict=False)
    except RuntimeError as exc:  # a learned tensor's shape changed: an architecture change, not an addition
        raise ValueError(f"the change {sorted(changes)} reshapes learned tensors: {exc}") from exc
    if result.unexpected_keys:
        raise ValueError(f"the change {sorted(changes)} drops learned tensors {sorted(result.unexpected_keys)}")
    return adapted.to(next(memory.parameters()).device)
