"""Probe: does the written energy have its minimum at the stored image? Long, small-step clamped reads
(occlusion), and the same descent started from the stored image."""

import sys

import torch

from benchmarks.images import corrupt, scored_mse
from model.data.datasets import load_images
from model.data.sampler import image_source
from model.engine import Engine

torch.set_num_threads(2)
ckpt = sys.argv[1]
engine = Engine.from_checkpoint(ckpt, "cpu", write_precision="float32")
mem = engine.memory
test = load_images("digits", "test", None)
gen = torch.Generator().manual_seed(0)
src = image_source(test)
for n in (1, 16, 64):
    X = src(64, n, gen)
    _, Q, known, scored = (None, *corrupt(engine.domain, "occlude", X, gen))
    with torch.no_grad():
        theta = engine.write(X)
        base = engine.read(theta, Q, known).patterns.cpu()
    res = [f"K=5 learned {float(scored_mse(base, X, scored).mean()):.4f}"]
    # energy at truth vs at answer
    with torch.no_grad():
        e_true = mem.energy.energy(X, theta).mean().item()
        e_ans = mem.energy.energy(base, theta).mean().item()
    res.append(f"E(x*)={e_true:.3f} E(ans)={e_ans:.3f}")
    for lr, steps in ((0.02, 400), (0.05, 400)):
        x = base.clone()
        free = (~known).float()
        with torch.no_grad():
            for _ in range(steps):
                g = mem.energy.grad_x(x, theta, create_graph=False)
                x = mem.project(x - lr * g * free)
        res.append(
            f"GD lr={lr} x{steps}: {float(scored_mse(x, X, scored).mean()):.4f} "
            f"E={mem.energy.energy(x, theta).mean().item():.3f}"
        )
    # from the truth: does GD stay?
    x = X.clone()
    with torch.no_grad():
        for _ in range(400):
            g = mem.energy.grad_x(x, theta, create_graph=False)
            x = mem.project(x - 0.02 * g * (~known).float())
    res.append(f"from truth: {float(scored_mse(x, X, scored).mean()):.4f}")
    print(f"N={n}: " + " | ".join(res), flush=True)
