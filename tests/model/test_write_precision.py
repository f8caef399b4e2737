"""Write precision: bfloat16 products in the FC write gradient stay within bfloat16 rounding of float32, and
"auto" picks them only for FC energies on CPUs that multiply bfloat16 natively."""

from __future__ import annotations

import pytest
import torch

import model.write_precision as write_precision
from model.config import ModelConfig
from model.engine import Engine
from model.memory import EnergyMemory
from model.tasks import random_binary_patterns
from model.write_precision import write_product_dtype

CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU


def test_bfloat16_write_gradient_is_float32s_within_bfloat16_rounding(tiny_config: ModelConfig) -> None:
    torch.manual_seed(0)
    energy = EnergyMemory(tiny_config.replace(quadratic_energy=True, quadratic_rank=5)).energy
    x = torch.rand(3, 5, energy.dim) * 2 - 1
    weights = torch.rand(3, 5)
    theta = energy.theta_bar.detach().expand(3, -1) + 0.3 * torch.randn(3, energy.writable_numel)
    alpha = torch.tensor(0.7)
    exact = energy.write_loss_grad(x, weights, theta, alpha, create_graph=False)
    low = energy.write_loss_grad(x, weights, theta, alpha, create_graph=False, product_dtype=torch.bfloat16)
    assert low.dtype == torch.float32
    relative = float((low - exact).norm() / exact.norm())
    assert 0.0 < relative < 2.0**-6, relative  # rounded (bfloat16 keeps 8 bits), but only by its rounding


def test_a_bfloat16_engine_writes_what_a_float32_one_does_within_rounding(tiny_config: ModelConfig) -> None:
    torch.manual_seed(0)
    memory = EnergyMemory(tiny_config)
    exact, low = Engine(memory, "h", "cpu"), Engine(memory, "h", "cpu", write_precision="bfloat16")
    assert (exact.write_dtype, low.write_dtype) == (torch.float32, torch.bfloat16)
    X = random_binary_patterns(4, 6, tiny_config.input_dim, torch.Generator().manual_seed(1))
    theta_bar = memory.energy.theta_bar.detach()
    update, low_update = exact.write(X) - theta_bar, low.write(X) - theta_bar
    assert 0.0 < float((low_update - update).norm() / update.norm()) < 2.0**-6


def test_only_the_fc_energy_writes_in_bfloat16(tiny_config: ModelConfig, tiny_conv_config: ModelConfig) -> None:
    conv = EnergyMemory(tiny_conv_config).energy
    assert write_product_dtype("bfloat16", conv, CPU) == torch.float32  # the setting applies where it can
    X = torch.rand(1, 2, *tiny_conv_config.input_shape)
    with pytest.raises(ValueError, match="inputs' dtype only"):
        conv.write_loss_grad(X, torch.ones(1, 2), conv.theta_bar[None], torch.tensor(0.1), False, torch.bfloat16)
    assert write_product_dtype("auto", conv, CPU) == torch.float32
    with pytest.raises(ValueError, match="write precision"):
        write_product_dtype("float16", EnergyMemory(tiny_config).energy, CPU)  # type: ignore[arg-type]


@pytest.mark.parametrize("native", [True, False])
def test_auto_picks_bfloat16_for_fc_energies_on_cpus_that_have_it(
    tiny_config: ModelConfig, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(write_precision, "cpu_has_bfloat16_products", lambda: native)
    fc = EnergyMemory(tiny_config).energy
    assert write_product_dtype("auto", fc, CPU) == (torch.bfloat16 if native else torch.float32)
    assert write_product_dtype("auto", fc, CUDA) == torch.float32  # not measured on a GPU yet
    assert write_product_dtype("float32", fc, CPU) == torch.float32
    assert write_product_dtype("bfloat16", fc, CPU) == torch.bfloat16
