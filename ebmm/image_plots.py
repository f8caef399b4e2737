"""PNG figures for `ebmm bench images`: error-vs-memory curves (like the paper's figure 3) and example grids."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure  # the object API draws with Agg and needs no display
from torch import Tensor


def plot_curves(result: dict, path: Path, title: str) -> None:
    """Occluded-block MSE against the number of stored images N, one line per method."""
    fig = Figure(figsize=(10, 4.5))
    ax = fig.subplots()
    for name, method in result["methods"].items():
        counts = [int(n) for n in method["mse"]]
        style = "--" if name.startswith(("query", "modern Hopfield, all", "Gaussian prior")) else "-"
        marker = "o" if name.startswith("EBMM") else "."
        floats = method["floats"]
        ax.plot(counts, list(method["mse"].values()), style, marker=marker, label=f"{name} [{floats} floats]")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"images stored per memory N (budget P = {result['budget_floats']} floats)")
    ax.set_ylabel("MSE on the occluded block")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def plot_memory_size(result: dict, path: Path, count: int, title: str) -> None:
    """MSE at N = `count` against writable floats per memory (log scale), one line per method family, like the
    paper's figure 3; the methods that store nothing are horizontal lines."""
    from benchmarks.images import memory_size_curves

    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for family, points in memory_size_curves(result, count).items():
        floats, errors = zip(*points, strict=True)
        if floats == (0.0,):
            ax.axhline(
                errors[0], linestyle="--", color="grey" if family == "query unchanged" else "black", label=family
            )
            continue
        marker = "o" if family.startswith("EBMM") or len(points) == 1 else "."
        ax.plot(floats, errors, "-" if family.startswith("EBMM") else "-.", marker=marker, label=family)
    ax.set_xscale("log")
    ax.set_xlabel(f"writable floats per memory (one image = {result['image_floats']} floats)")
    ax.set_ylabel(f"MSE on the occluded block, N = {count}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def plot_examples(examples: dict[str, Tensor], path: Path) -> None:
    """One row per method (original, query, then each memory's answer), one column per example image."""
    rows, columns = len(examples), len(next(iter(examples.values())))
    fig = Figure(figsize=(1.1 * columns + 2.2, 1.1 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for row, (name, images) in enumerate(examples.items()):
        for column, image in enumerate(images):
            ax = axes[row][column]
            pixels = image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
