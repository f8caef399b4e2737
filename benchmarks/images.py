"""`ebmm bench images`: reconstruction error versus the number of stored images, per query distortion.

The protocol of the paper's image experiments (section 4, figure 3) on a held-out split: each memory stores
a set of N images drawn from the test split, every stored image is queried with a block of half the image
side occluded (filled with mid-grey, the visible pixels known), and the error is the MSE over the occluded
pixels only. Other distortions (`--distortion`): `occlude-free` (the same block, but no pixel marked known:
every method must find it), `noise` (Gaussian σ) and `salt-pepper`, scored by the MSE over the whole image;
there no pixel is known, so the classical memories fit the whole query and nothing is kept fixed. Beside
each mean, the fraction of queries recalled exactly (MSE below the domain's exact threshold).

EBMM checkpoints are compared with classical memories given the same number of floats
per memory P (the first checkpoint's writable budget): the projection (pseudo-inverse) Hopfield network, the
modern Hopfield network and the whitened projection (the training split's Gaussian plus a projection network
in its whitened coordinates; model.baselines.images), plus three references: the query returned unchanged,
a modern Hopfield network keeping all N·D floats (no budget), and the conditional mean under a Gaussian fitted
to the training split (stores nothing: what knowing the data set alone gives).
"""

from __future__ import annotations

import time

import torch
from rich.table import Table
from torch import Tensor

from model.baselines.images import BudgetedModernHopfield, GaussianPrior, ProjectionHopfield, WhitenedProjection
from model.config import ModelConfig
from model.data.sampler import image_source
from model.domains import Domain, domain_of
from model.engine import Engine

DEFAULT_COUNTS = (1, 2, 4, 8, 16, 32, 64)
BETAS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
EXAMPLES = 8


def scored_mse(X_hat: Tensor, X: Tensor, scored: Tensor) -> Tensor:
    """Mean squared error over the scored entries of each image: [B, M, *S] -> [B, M]."""
    weight = scored.flatten(2).to(X.dtype)
    return ((X_hat - X).flatten(2).pow(2) * weight).sum(-1) / weight.sum(-1).clamp_min(1.0)


def corrupt(domain: Domain, distortion: str, X: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """X: [B, N, *S] -> (Q, known given to every method, scored entries), each [B, N, *S].

    Occlusions are scored on the block (`occlude-free` hides which block it is); noise on every entry."""
    if distortion in ("occlude", "occlude-free"):
        Q, visible = domain.families["occlude"](X, generator)
        known = visible if distortion == "occlude" else torch.zeros_like(visible)
        return Q, known, ~visible
    Q, known = domain.families[distortion](X, generator)
    return Q, known, torch.ones_like(known)


def tune_beta(
    domain: Domain, distortion: str, train_images: Tensor, budget: int | None, count: int, memories: int, seed: int
) -> float:
    """The modern Hopfield inverse temperature with the lowest scored MSE on the *training* split, at a budget
    of `budget` floats (None: keeping all images)."""
    generator = torch.Generator().manual_seed(seed)
    X = image_source(train_images)(memories, count, generator)
    Q, known, scored = corrupt(domain, distortion, X, generator)
    errors = {}
    for beta in BETAS:
        memory = BudgetedModernHopfield(budget, beta)
        errors[beta] = float(scored_mse(memory.read(memory.write(X), Q, known), X, scored).mean())
    return min(errors, key=errors.get)


def bench_images(
    engines: list[Engine],
    test_images: Tensor,
    train_images: Tensor,
    counts: tuple[int, ...] = DEFAULT_COUNTS,
    memories: int = 64,
    seed: int = 0,
    distortion: str = "occlude",
    budgets: tuple[int, ...] = (),
    config: ModelConfig | None = None,
) -> tuple[dict, dict[str, Tensor]]:
    """MSE per method and N under `distortion`; returns (JSON-ready result, example images).

    engines: EBMM checkpoints sharing one input shape and distortion (may be empty when `config` names the
    image shape and occlusion); test/train_images: [P, C, H, W] (β is tuned on train). `budgets`: the floats
    per memory the projection and budgeted modern Hopfield networks get, each at least one image (default: the
    first engine's writable budget); with several budgets every budgeted method is named with its floats, so
    the result holds the error-vs-memory-size sweep. Each method records its `family` (one line of that plot).
    The examples are the first EXAMPLES images of the first memory at the largest N, per method
    plus "original" and "query": [EXAMPLES, C, H, W] each.
    """
    config = engines[0].config if engines else config
    if config is None:
        raise ValueError("bench_images needs an engine or a config")
    for engine in engines:
        if (engine.config.input_shape, engine.config.distortion_size) != (config.input_shape, config.distortion_size):
            raise ValueError(f"{engine.info.name} and {config.name} differ in input shape or occlusion")
    if not budgets and engines:
        budgets = (engines[0].info.writable_floats,)
    if not budgets:
        raise ValueError("without an engine, pass the baselines' budgets")
    domain = engines[0].domain if engines else domain_of(config)
    if distortion not in domain.families:
        raise ValueError(f"unknown image distortion {distortion!r}; choose from {sorted(domain.families)}")
    dim = config.input_dim
    betas = {
        budget: tune_beta(domain, distortion, train_images, budget, max(counts), memories, seed + 1)
        for budget in (*budgets, None)
    }
    generator = torch.Generator().manual_seed(seed)
    source = image_source(test_images)
    tasks = {}  # N -> (X, Q, known, scored): drawn before the methods so all see the same queries
    for count in counts:
        X = source(memories, count, generator)
        tasks[count] = (X, *corrupt(domain, distortion, X, generator))
    noise_variance = float(torch.stack([(Q - X).pow(2).mean() for X, Q, _, _ in tasks.values()]).mean())

    def classical(memory: ProjectionHopfield | BudgetedModernHopfield | GaussianPrior | WhitenedProjection):
        return lambda X, Q, known: memory.read(memory.write(X), Q, known)

    def ebmm(engine: Engine):
        return lambda X, Q, known: engine.read(engine.write(X), Q, known).patterns.cpu()

    # name -> (recall, floats, family)
    methods = {
        f"EBMM {e.info.kind} ({e.info.name})": (ebmm(e), e.info.writable_floats, f"EBMM {e.info.kind}") for e in engines
    }
    prior = GaussianPrior(train_images, config.value_range, noise_variance=noise_variance)
    for budget in budgets:
        suffix = f", {budget} floats" if len(budgets) > 1 else ""
        methods[f"projection Hopfield{suffix}"] = (
            classical(ProjectionHopfield(budget, config.value_range)),
            budget,
            "projection Hopfield",
        )
        methods[f"modern Hopfield{suffix}"] = (
            classical(BudgetedModernHopfield(budget, betas[budget])),
            budget,
            "modern Hopfield",
        )
        methods[f"whitened projection{suffix}"] = (
            classical(WhitenedProjection(prior, budget)),
            budget,
            "whitened projection",
        )
    methods |= {
        "modern Hopfield, all N·D floats": (
            classical(BudgetedModernHopfield(None, betas[None])),
            None,
            "modern Hopfield, all N·D floats",
        ),
        "Gaussian prior of the training split": (classical(prior), 0, "Gaussian prior"),
        "query unchanged": (lambda X, Q, known: Q, 0, "query unchanged"),
    }
    errors: dict[str, dict[str, float]] = {name: {} for name in methods}
    exact: dict[str, dict[str, float]] = {name: {} for name in methods}
    examples: dict[str, Tensor] = {}
    start = time.perf_counter()
    for count, (X, Q, known, scored) in tasks.items():
        for name, (recall, _, _) in methods.items():
            X_hat = recall(X, Q, known)
            mse = scored_mse(X_hat, X, scored)
            errors[name][str(count)] = float(mse.mean())
            exact[name][str(count)] = float((mse < domain.exact_error).float().mean())
            if count == max(counts):
                examples[name] = X_hat[0, :EXAMPLES]
        if count == max(counts):
            examples = {"original": X[0, :EXAMPLES], "query": Q[0, :EXAMPLES], **examples}
    scored_on = "the occluded block" if distortion.startswith("occlude") else "the whole image"
    result = {
        "protocol": f"MSE on {scored_on}, test split, every stored image queried once",
        "distortion": distortion,
        "distortion_description": domain.families[distortion].description,
        "noise_variance": noise_variance,
        "image_shape": list(config.input_shape),
        "occlusion": config.distortion_size,
        "fill": sum(config.value_range) / 2.0,
        "exact_threshold": domain.exact_error,
        "test_images": len(test_images),
        "memories": memories,
        "counts": list(counts),
        "budget_floats": budgets[0],
        "budgets": list(budgets),
        "image_floats": dim,
        "modern_hopfield_beta": betas[budgets[0]],
        "modern_hopfield_betas": {"all" if budget is None else str(budget): beta for budget, beta in betas.items()},
        "methods": {
            name: {
                "family": family,
                "floats": "N·D" if floats is None else floats,
                "mse": errors[name],
                "exact_fraction": exact[name],
            }
            for name, (_, floats, family) in methods.items()
        },
        "seconds": round(time.perf_counter() - start, 1),
        "torch_threads": torch.get_num_threads(),
    }
    return result, examples


def memory_size_curves(result: dict, count: int) -> dict[str, list[tuple[float, float]]]:
    """Error at N = `count` against writable floats, per family: {family: [(floats, mse), …]} sorted by floats.

    The all-images modern Hopfield network is a point at N·D floats; the methods storing nothing are at 0."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for method in result["methods"].values():
        floats = count * result["image_floats"] if method["floats"] == "N·D" else method["floats"]
        curves.setdefault(method["family"], []).append((float(floats), method["mse"][str(count)]))
    return {family: sorted(points) for family, points in curves.items()}


def images_table(result: dict) -> Table:
    """The table of a bench_images result: MSE and the share of exact recalls per method and N."""
    title = f"{result.get('dataset', 'images')}, {result['distortion_description']}: {result['protocol']}"
    table = Table(
        title=f"{title} ({result['memories']} memories per N)", caption="exact: share of queries recalled exactly"
    )
    table.add_column("method")
    table.add_column("floats", justify="right")
    for count in result["counts"]:
        table.add_column(f"N={count}", justify="right")
    for name, method in result["methods"].items():
        table.add_row(name, str(method["floats"]), *(f"{v:.4f}" for v in method["mse"].values()))
        table.add_row("  exact", "", *(f"{v:.0%}" for v in method["exact_fraction"].values()), style="dim")
    return table
