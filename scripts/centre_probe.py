"""Probe: a writable isotropic centre term 1/2 rho ||x - m||^2, m = the set's mean (one exact GD step), on the
shipped checkpoint without training: block MSE of occlusion reads vs rho, per N."""

import sys

import torch

from benchmarks.images import corrupt, scored_mse
from model.data.datasets import load_images
from model.data.sampler import image_source
from model.engine import Engine

torch.set_num_threads(2)
engine = Engine.from_checkpoint(sys.argv[1], "cpu", write_precision="float32")
rhos = [float(r) for r in sys.argv[2].split(",")]
distortion = sys.argv[3] if len(sys.argv) > 3 else "occlude"
mem = engine.memory
en = mem.energy
test = load_images("digits", "test", None)
gen = torch.Generator().manual_seed(0)
src = image_source(test)
tasks = {}
for n in (1, 4, 16, 64):
    X = src(64, n, gen)
    tasks[n] = (X, *corrupt(engine.domain, distortion, X, gen))
orig_grad, orig_energy = type(en).grad_x, type(en).energy
STATE = {}


def grad_x(self, x, theta, create_graph):
    g = orig_grad(self, x, theta, create_graph)
    return g + STATE["rho"] * (x - STATE["m"])


def energy(self, x, theta):
    e = orig_energy(self, x, theta)
    return e + 0.5 * STATE["rho"] * (x - STATE["m"]).flatten(2).pow(2).sum(-1)


type(en).grad_x, type(en).energy = grad_x, energy
for rho in rhos:
    row = []
    for X, Q, known, scored in tasks.values():
        STATE["rho"] = rho
        STATE["m"] = X.mean(1, keepdim=True)  # [B, 1, C, H, W]: one GD step with eta*rho = 1
        with torch.no_grad():
            theta = engine.write(X)
            out = engine.read(theta, Q, known).patterns.cpu()
        row.append(float(scored_mse(out, X, scored).mean()))
    print(f"{distortion} rho={rho}: " + " / ".join(f"{v:.4f}" for v in row) + "  (N = 1 / 4 / 16 / 64)", flush=True)
