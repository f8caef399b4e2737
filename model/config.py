"""Configuration of an Energy-Based Memory Model: one dataclass saved beside the weights as JSON."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

EnergyKind = Literal["fc", "conv"]
DomainKind = Literal["binary", "continuous"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: architecture, unrolled-loop lengths and the pattern domain.

    Patterns have shape `input_shape`: `(D,)` for the FC energy, `(C, H, W)` for the conv energy.
    Only the first layer of the energy is written per memory ("writable"); all else is meta-learned.
    """

    name: str
    energy: EnergyKind = "fc"
    input_shape: tuple[int, ...] = (128,)
    # FC: width of the writable layer W·x + b.  Conv: number of writable filters.
    writable_hidden: int = 64
    # Width of the meta-learned (shared) layer on top; a wide one is what lets few writable floats store much.
    meta_hidden: int = 512
    # Conv only: writable kernel size, stride, and the number of shared residual blocks.
    kernel_size: int = 3
    stride: int = 2
    residual_blocks: int = 1
    write_steps: int = 5  # T
    read_steps: int = 5  # K
    domain: DomainKind = "binary"
    value_range: tuple[float, float] = (-1.0, 1.0)
    max_patterns: int = 96
    # The standard distortion used for the write-time recall self-check and for training queries:
    # binary models erase `distortion_size` entries, image models occlude a `distortion_size`² block.
    distortion_size: int = 64
    # Initial values of the learned meta-parameters (all stored in log / logit space).
    init_write_lr: float = 1.0
    init_read_lr: float = 10.0
    init_momentum: float = 0.5
    init_alpha: float = 1e-2
    init_beta: float = 1e-2
    # One learned write rate per writable float and step (Meta-SGD style) instead of one per step.
    per_parameter_write_lr: bool = True
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def input_dim(self) -> int:
        """Number of floats in one pattern."""
        return math.prod(self.input_shape)

    def to_json_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config fields: {unknown}")
        fixed = dict(data)
        for key in ("input_shape", "value_range"):
            if key in fixed:
                fixed[key] = tuple(fixed[key])
        return cls(**fixed)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def binary128_config(**changes: Any) -> ModelConfig:
    """The paper's Table-1 model: 128-bit ±1 patterns, writable W: 64×128 + b: 64 = 8256 floats."""
    return ModelConfig(name="binary128", **changes)


def tiny_binary_config(**changes: Any) -> ModelConfig:
    """A tiny binary model for tests and smoke runs: 32-bit patterns, 8×32 + 8 writable floats."""
    defaults = dict(
        name="tiny", input_shape=(32,), writable_hidden=8, meta_hidden=32, max_patterns=8, distortion_size=8
    )
    return ModelConfig(**{**defaults, **changes})


PRESETS = {"binary128": binary128_config, "tiny": tiny_binary_config}
