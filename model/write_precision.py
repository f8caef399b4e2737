"""Write precision: the dtype of a serving write's products with the meta-learned layers (FCEnergy.write_loss_grad).

bfloat16 (with float32 accumulation) roughly halves a binary128 write on a CPU with bfloat16 dot products
(AVX512-BF16 or AMX) and changes θ by ~0.3 % of its update; on other CPUs it is emulated and slower, so "auto"
picks it only where the CPU has it. Meta-training and reads always run in float32.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

from model.energy import Energy, FCEnergy

WritePrecision = Literal["auto", "float32", "bfloat16"]
WRITE_PRECISIONS: tuple[str, ...] = get_args(WritePrecision)


def cpu_has_bfloat16_products() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX tiles), as torch reports it."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def write_product_dtype(precision: WritePrecision, energy: Energy, device: torch.device) -> torch.dtype:
    """The dtype of `energy`'s write products on `device`: bfloat16 for a FC energy (its write gradient is written
    by hand) when asked for, or with "auto" on a CPU with bfloat16 products (GPUs stay float32 until measured);
    float32 otherwise, other energies always (a service-wide setting applies where it can)."""
    if precision not in WRITE_PRECISIONS:
        raise ValueError(f"write precision must be one of {', '.join(WRITE_PRECISIONS)}, not {precision!r}")
    if not isinstance(energy, FCEnergy):
        return torch.float32
    if precision == "bfloat16" or (precision == "auto" and device.type == "cpu" and cpu_has_bfloat16_products()):
        return torch.bfloat16
    return torch.float32
