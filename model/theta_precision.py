"""θ at rest: a served memory's writable parameters may be stored in 16 bits (float16 or bfloat16) to halve
their bytes. Reading then uses θ rounded to that precision; `at_rest` gives exactly those values, so
benchmarks and the write-time self-check measure what a stored memory will answer."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

ThetaDtype = Literal["float32", "float16", "bfloat16"]
THETA_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def at_rest(theta: Tensor, dtype: ThetaDtype) -> Tensor:
    """θ: [B, P] float32 -> the same values rounded to `dtype` (round to nearest even), as float32."""
    return theta.to(THETA_DTYPES[dtype]).to(theta.dtype)


def to_bytes(theta: Tensor, dtype: ThetaDtype) -> list[bytes]:
    """θ: [B, P] -> each memory's θ as little-endian `dtype` bytes (P · 4 or P · 2 bytes)."""
    stored = theta.detach().cpu().to(THETA_DTYPES[dtype]).contiguous()
    return [row.view(torch.uint8).numpy().tobytes() for row in stored]


def from_bytes(raw: bytes, dtype: ThetaDtype) -> np.ndarray:
    """`to_bytes`'s inverse for one memory: [P] float32, in numpy alone (a read's hot path: no torch call, and
    float32 is not copied). bfloat16 is the top half of a float32, so it widens exactly by a 16-bit shift."""
    if dtype == "float32":
        return np.frombuffer(raw, dtype="<f4")
    if dtype == "float16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
