"""Probe (checkpoints/digits/TRAINING.md 5b): can gradient steps write the whitened projection?

W = V P½ with V: [16, 64] written from orthonormal rows V̄ by T plain gradient steps on the writing loss's
gradient-norm term Σ_i ‖(I − VᵀV) z_i‖², z_i = P½ (x_i − μ) under the training split's Gaussian (the energy term
−½ ‖V z‖² weighted by `energy_weight`), each step's rate `rate` divided by N and the set's mean ‖z‖²; then the
exact read of the whitened projection (WhitenedProjection.read). Block MSE at N = 1 / 4 / 16 / 32 / 64 (the
bench's tasks and seed); the closed-form write gives 0 / 0 / 0 / 0.0231 / 0.0432.

    .venv/bin/python scripts/whitened_write_probe.py STEPS RATE [ENERGY_WEIGHT]
"""

import sys

import torch

from benchmarks.images import corrupt, scored_mse
from model.baselines.images import GaussianPrior, WhitenedProjection
from model.checkpoint import load_checkpoint
from model.data.datasets import load_images
from model.data.sampler import image_source
from model.domains import domain_of

torch.set_num_threads(2)
steps, rate = int(sys.argv[1]), float(sys.argv[2])
energy_weight = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
config = load_checkpoint("checkpoints/digits").config
domain = domain_of(config)
prior = GaussianPrior(load_images("digits", "train", None), config.value_range)
memory = WhitenedProjection(prior, 16 * 64)
start = torch.randn(64, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
V_bar = torch.linalg.qr(start)[0].T  # [16, 64], orthonormal rows
generator = torch.Generator().manual_seed(0)
source = image_source(load_images("digits", "test", None))
errors = []
for count in (1, 4, 16, 32, 64):
    X = source(64, count, generator)
    Q, known, scored = corrupt(domain, "occlude", X, generator)
    z = (X.flatten(2).double() - prior.mean) @ prior.precision_root  # [B, N, D]
    scale = count * z.pow(2).sum(-1).mean(1).view(-1, 1, 1)  # N times the set's mean ‖z‖²: [B, 1, 1]
    V = V_bar.expand(z.shape[0], -1, -1).clone()
    for _ in range(steps):
        Vz = z @ V.mT  # [B, N, 16]
        residual = z - Vz @ V  # (I − VᵀV) z
        grad = -2 * (Vz.mT @ residual + (residual @ V.mT).mT @ z) - energy_weight * (Vz.mT @ z)
        V = V - rate * grad / scale
    if not torch.isfinite(V).all():  # the steps diverged
        errors.append(float("nan"))
        continue
    answer = memory.read(V @ prior.precision_root, Q, known)
    errors.append(float(scored_mse(answer, X, scored).mean()))
print(f"T = {steps}, rate {rate}, energy weight {energy_weight}: " + " / ".join(f"{e:.4f}" for e in errors))
