"""`ebmm bench images`: reconstruction error on the occluded block versus the number of stored images.

The protocol of the paper's image experiments (section 4, figure 3) on a held-out split: each memory stores
a set of N images drawn from the test split, every stored image is queried with a block of half the image
side occluded (the checkpoint's standard distortion, filled with mid-grey), and the error is the MSE over the
occluded pixels only. EBMM checkpoints are compared with classical memories given the same number of floats
per memory P (the first checkpoint's writable budget): the projection (pseudo-inverse) Hopfield network and
the modern Hopfield network (model.bench.image_baselines), plus three references: the query returned unchanged,
a modern Hopfield network keeping all N·D floats (no budget), and the conditional mean under a Gaussian fitted
to the training split (stores nothing: what knowing the data set alone gives).
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from model.bench.image_baselines import GaussianPrior, ModernHopfield, ProjectionHopfield
from model.data.sampler import image_source
from model.engine import Engine
from model.tasks import standard_distortion

DEFAULT_COUNTS = (1, 2, 4, 8, 16, 32, 64)
BETAS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
EXAMPLES = 8


def occluded_mse(X_hat: Tensor, X: Tensor, known: Tensor) -> Tensor:
    """Mean squared error over the hidden (not known) entries of each image: [B, M, *S] -> [B, M]."""
    hidden = (~known).flatten(2).to(X.dtype)
    return ((X_hat - X).flatten(2).pow(2) * hidden).sum(-1) / hidden.sum(-1).clamp_min(1.0)


def tune_beta(engine: Engine, train_images: Tensor, budget: int, count: int, memories: int, seed: int) -> float:
    """The modern Hopfield inverse temperature with the lowest occluded MSE on the *training* split."""
    generator = torch.Generator().manual_seed(seed)
    X = image_source(train_images)(memories, count, generator)
    Q, known = standard_distortion(engine.config, X, generator)
    errors = {}
    for beta in BETAS:
        memory = ModernHopfield(budget, beta)
        errors[beta] = float(occluded_mse(memory.read(memory.write(X), Q, known), X, known).mean())
    return min(errors, key=errors.get)


def bench_images(
    engines: list[Engine],
    test_images: Tensor,
    train_images: Tensor,
    counts: tuple[int, ...] = DEFAULT_COUNTS,
    memories: int = 64,
    seed: int = 0,
) -> tuple[dict, dict[str, Tensor]]:
    """Occluded-block MSE per method and N; returns (JSON-ready result, example images).

    engines: EBMM checkpoints sharing one input shape and distortion, the first one's writable budget (the
    baselines' budget) holding at least one image; test/train_images: [P, C, H, W] (β is tuned on train).
    The examples are the first EXAMPLES images of the first memory at the largest N, per method
    plus "original" and "query": [EXAMPLES, C, H, W] each.
    """
    config = engines[0].config
    for engine in engines[1:]:
        if (engine.config.input_shape, engine.config.distortion_size) != (config.input_shape, config.distortion_size):
            raise ValueError(f"{engine.info.name} and {config.name} differ in input shape or occlusion")
    dim, budget = config.input_dim, engines[0].info.writable_floats
    beta = tune_beta(engines[0], train_images, budget, max(counts), memories, seed + 1)
    projection = ProjectionHopfield(budget, config.value_range)
    budgeted, unbounded = ModernHopfield(budget, beta), ModernHopfield(None, beta)

    def classical(memory: ProjectionHopfield | ModernHopfield | GaussianPrior):
        return lambda X, Q, known: memory.read(memory.write(X), Q, known)

    def ebmm(engine: Engine):
        return lambda X, Q, known: engine.read(engine.write(X), Q, known).patterns.cpu()

    methods = {f"EBMM {e.info.energy} ({e.info.name})": (ebmm(e), e.info.writable_floats) for e in engines}
    methods |= {
        "projection Hopfield": (classical(projection), budget),
        "modern Hopfield": (classical(budgeted), budget),
        "modern Hopfield, all N·D floats": (classical(unbounded), None),
        "Gaussian prior of the training split": (classical(GaussianPrior(train_images, config.value_range)), 0),
        "query unchanged": (lambda X, Q, known: Q, 0),
    }
    generator = torch.Generator().manual_seed(seed)
    source = image_source(test_images)
    errors: dict[str, dict[str, float]] = {name: {} for name in methods}
    examples: dict[str, Tensor] = {}
    start = time.perf_counter()
    for count in counts:
        X = source(memories, count, generator)
        Q, known = standard_distortion(config, X, generator)
        for name, (recall, _) in methods.items():
            X_hat = recall(X, Q, known)
            errors[name][str(count)] = float(occluded_mse(X_hat, X, known).mean())
            if count == max(counts):
                examples[name] = X_hat[0, :EXAMPLES]
        if count == max(counts):
            examples = {"original": X[0, :EXAMPLES], "query": Q[0, :EXAMPLES], **examples}
    result = {
        "protocol": "occluded-block MSE, test split, every stored image queried once",
        "image_shape": list(config.input_shape),
        "occlusion": config.distortion_size,
        "fill": sum(config.value_range) / 2.0,
        "test_images": len(test_images),
        "memories": memories,
        "counts": list(counts),
        "budget_floats": budget,
        "image_floats": dim,
        "modern_hopfield_beta": beta,
        "methods": {
            name: {"floats": "N·D" if floats is None else floats, "mse": errors[name]}
            for name, (_, floats) in methods.items()
        },
        "seconds": round(time.perf_counter() - start, 1),
        "torch_threads": torch.get_num_threads(),
    }
    return result, examples
