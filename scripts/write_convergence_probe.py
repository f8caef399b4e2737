"""Probe (checkpoints/digits/TRAINING.md 5b): write the shipped digits model's sets with more steps (its learned
rates, the last one repeated, times a factor) and a stronger α, then read the occluded block as shipped. Prints
the block MSE and the mean ‖∇ₓE‖ at the stored images, at N = 1 / 16 / 64 (the bench's tasks and seed).

    .venv/bin/python scripts/write_convergence_probe.py
"""

import torch

from benchmarks.images import corrupt, scored_mse
from model.data.datasets import load_images
from model.data.sampler import image_source
from model.engine import Engine

SETTINGS = [(8, 1, 1), (32, 1, 1), (100, 1, 1), (100, 0.3, 1), (100, 1, 10), (300, 0.3, 10)]  # (T, rate ×, α ×)

torch.set_num_threads(2)
engine = Engine.from_checkpoint("checkpoints/digits", "cpu", write_precision="float32")
memory = engine.memory
generator = torch.Generator().manual_seed(0)
source = image_source(load_images("digits", "test", None))
tasks = []
for count in (1, 16, 64):
    X = source(64, count, generator)
    tasks.append((X, *corrupt(engine.domain, "occlude", X, generator)))
with torch.no_grad():  # the prior's share: no write changes it
    prior = [memory.energy._quadratic(X, with_grad=True)[1].norm(dim=-1).mean().item() for X, *_ in tasks]
print("‖∇ₓ prior(x*)‖: " + " / ".join(f"{value:.3f}" for value in prior))
learned_rates, learned_alpha = memory.log_write_lr.detach().clone(), memory.log_alpha.detach().clone()
for steps, rate_factor, alpha_factor in SETTINGS:
    repeated = learned_rates[-1:].expand(max(0, steps - len(learned_rates)), *learned_rates.shape[1:])
    rates = torch.cat([learned_rates, repeated])[:steps] + torch.tensor(float(rate_factor)).log()
    with torch.no_grad():
        memory.log_write_lr = torch.nn.Parameter(rates)
        memory.log_alpha.copy_(learned_alpha + torch.tensor(float(alpha_factor)).log())
    memory.config = memory.config.replace(write_steps=steps)
    row = []
    for X, Q, known, scored in tasks:
        with torch.no_grad():
            theta = memory.write(X)
            answer, _ = memory.read(theta, Q, known)
            grad = memory.energy.grad_x(X, theta, create_graph=False).flatten(2).norm(dim=-1).mean().item()
        row.append(f"{float(scored_mse(answer, X, scored).mean()):.4f} (‖∇E(x*)‖ {grad:.3f})")
    print(f"T = {steps}, rates × {rate_factor}, α × {alpha_factor}: " + " / ".join(row), flush=True)
