"""θ at rest: a served memory's writable parameters may be stored in 16 bits (float16 or bfloat16) to halve
their bytes. Reading then uses θ rounded to that precision; `at_rest` gives exactly those values, so
benchmarks and the write-time self-check measure what a stored memory will answer."""

from __future__ import annotations

from typing import Literal

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


def from_bytes(raw: bytes, dtype: ThetaDtype) -> Tensor:
    """`to_bytes`'s inverse for one memory: [P] float32."""
    return torch.frombuffer(bytearray(raw), dtype=THETA_DTYPES[dtype]).float()
