"""`ebmm bench binary`: the paper's Table 1 — error bits of every memory on the same random binary tasks.

Protocol (Bartunov et al., 2020, section 4; the retrieval rule that reproduces the paper's baseline rows):
each memory stores N random ±1 patterns of D = 128 bits; every stored pattern is queried with `erased` of
its bits set to 0; the other bits are known and clamped (only the erased ones are filled in), for every
method; the error is the number of bits whose sign differs from the stored pattern (a 0 reads as +1),
averaged over queries and memories. The unclamped variant (every bit free to change) is a harder setting.

`--distortion flip` / `mixed` query the same way with k bits flipped (and, mixed, half the erasure size
erased too): no bit is known to be right, so nothing is clamped for any method.
Beside each mean, the fraction of queries recalled exactly (0 wrong bits).
"""

from __future__ import annotations

import time

import torch
from rich.table import Table
from torch import Tensor

from model.baselines import AssociativeMemory, HopfieldNetwork, ModernHopfield
from model.engine import Engine
from model.tasks import TABLE1_COUNTS, random_binary_patterns

PROTOCOL = (
    "Protocol (paper's Table 1): each memory stores N random ±1 patterns of 128 bits; every stored pattern is "
    "queried with 64 of its bits erased (set to 0); the known bits are clamped and only the erased ones are "
    "filled in, for every method; error = bits whose sign differs from the stored pattern (0 reads as +1), "
    "averaged over queries and memories. Unclamped (every bit free to change) is reported as a harder setting."
)

# Table 1 of the paper, in its row order: error bits at N = 16 / 32 / 48 / 64 / 96, every model 8256 floats.
PAPER: dict[str, list[float]] = {
    "hebb": [0.4, 5.0, 9.8, 13.0, 16.5],
    "storkey": [0.0, 0.9, 6.3, 11.3, 17.1],
    "pseudo_inverse": [0.0, 0.0, 0.3, 4.3, 22.5],
    "differentiable_plasticity": [3.0, 13.2, 20.8, 26.3, 34.9],
    "mann": [0.1, 0.2, 1.8, 4.25, 9.6],
    "lstm": [30.0, 58.0, 63.0, 64.0, 64.0],
    "memory_networks": [0.0, 0.0, 0.0, 0.0, 10.5],
    "ebmm": [0.0, 0.0, 0.1, 0.5, 4.2],
}

NAMES = {
    "hebb": "Hopfield, Hebb",
    "storkey": "Hopfield, Storkey",
    "pseudo_inverse": "Hopfield, pseudo-inv.",
    "differentiable_plasticity": "Diff. plasticity",
    "mann": "MANN",
    "lstm": "LSTM",
    "memory_networks": "Memory Networks",
    "ebmm": "EBMM (checkpoint)",
    "modern_hopfield": "Modern Hopfield*",
}


class EngineMemory:
    """The Engine seen through the AssociativeMemory interface: read returns (X̂, E(X̂))."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, X: Tensor, pattern_mask: Tensor | None = None) -> Tensor:
        return self.engine.write(X, pattern_mask)

    def read(self, theta: Tensor, Q: Tensor, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
        result = self.engine.read(theta, Q, known)
        return result.states, result.energies


def table1_memories(
    engine: Engine, learned: dict[str, AssociativeMemory] | None = None
) -> dict[str, AssociativeMemory]:
    """Every method we run: EBMM first, then the Hopfield rules, the learned baselines (by kind, e.g. "mann";
    `model.baselines.load_learned_baselines`) in the paper's order, and the modern Hopfield network."""
    learned = learned or {}
    unknown = sorted(set(learned) - set(PAPER))
    if unknown:
        raise ValueError(f"no Table-1 row for learned baselines {unknown}")
    return {
        "ebmm": EngineMemory(engine),
        "pseudo_inverse": HopfieldNetwork("pseudo_inverse"),
        "storkey": HopfieldNetwork("storkey"),
        "hebb": HopfieldNetwork("hebb"),
        **{name: learned[name] for name in PAPER if name in learned},
        "modern_hopfield": ModernHopfield(),
    }


def bench_binary(
    engine: Engine,
    memories: int = 256,
    counts: tuple[int, ...] = TABLE1_COUNTS,
    distortion: str = "erase",
    bits: int | None = None,
    seed: int = 0,
    checkpoint: str = "",
    learned: dict[str, AssociativeMemory] | None = None,
) -> dict:
    """Error bits of every method on the same `memories` random tasks per N, queried with `distortion`
    (a binary distortion family) at `bits` (default: the family's standard strength). `learned`: the trained
    learned baselines to score beside the Hopfield rules, by kind.

    Erasures are read with the known bits clamped (Table 1) and again unclamped; flips and mixed corruptions
    clamp nothing. `seconds` times each method's write plus its first read, summed over N.
    """
    domain = engine.domain
    if domain.kind != "binary":
        raise ValueError(f"bench binary needs a binary model, {engine.info.name!r} is {engine.info.domain}")
    if distortion not in domain.families:
        raise ValueError(f"unknown binary distortion {distortion!r}; choose from {sorted(domain.families)}")
    family = domain.families[distortion]
    strength = family.strength if bits is None else bits
    methods = table1_memories(engine, learned)
    generator = torch.Generator().manual_seed(seed)
    errors = {name: [] for name in methods}
    exact = {name: [] for name in methods}
    unclamped = {name: [] for name in methods}
    floats = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    start = time.perf_counter()
    for count in counts:
        X = random_binary_patterns(memories, count, engine.info.input_dim, generator)  # [B, N, D]
        Q, known = family(X, generator, strength)  # each stored pattern is queried: M = N
        clamps = bool(known.any())
        for name, memory in methods.items():
            began = time.perf_counter()
            theta = memory.write(X)
            answer, _ = memory.read(theta, Q, known if clamps else None)
            seconds[name] += time.perf_counter() - began
            wrong = wrong_bits(engine, answer, X)  # [B, M]
            errors[name].append(float(wrong.mean()))
            exact[name].append(float((wrong < domain.exact_error).float().mean()))
            if clamps:
                free, _ = memory.read(theta, Q)
                unclamped[name].append(float(wrong_bits(engine, free, X).mean()))
            floats[name].append(theta.shape[1])
    return {
        "n_patterns": list(counts),
        "distortion": distortion,
        "methods": errors,
        "exact_fraction": exact,
        **({"unclamped": unclamped} if distortion == "erase" else {}),
        "paper": PAPER if distortion == "erase" else {},
        "budget_floats": {name: used[0] if len(set(used)) == 1 else used for name, used in floats.items()},
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "total_seconds": round(time.perf_counter() - start, 1),
        "protocol": {
            "dim": engine.info.input_dim,
            "distortion": family.describe(strength),
            "bits": strength,
            "known_clamped": distortion == "erase",
            "memories_per_n": memories,
            "queries_per_memory": "every stored pattern (M = N)",
            "description": PROTOCOL,
            "seed": seed,
        },
        "checkpoint": {
            "path": checkpoint,
            "hash": engine.info.checkpoint_hash,
            "model": engine.info.name,
            "training_steps": engine.config.training.get("steps"),
        },
        "device": str(engine.device),
        "torch_threads": torch.get_num_threads(),
    }


def wrong_bits(engine: Engine, X_hat: Tensor, X: Tensor) -> Tensor:
    """X̂, X: [B, M, D] -> [B, M] wrong bits of each decoded answer."""
    domain = engine.domain
    return domain.recall_error(domain.decode(X_hat.to(X.device)), X)


def table1(result: dict) -> Table:
    """The paper's layout (a row per method, a column per N): each method we ran, then the paper's row for it."""
    counts = result["n_patterns"]
    protocol = result["protocol"]
    budget = HopfieldNetwork.writable_floats(protocol["dim"])
    title = (
        f"Table 1: error bits, {protocol['dim']}-bit patterns, {protocol['distortion']}, known bits clamped"
        if protocol["known_clamped"]
        else f"error bits, {protocol['dim']}-bit patterns, {protocol['distortion']}, nothing clamped"
    )
    table = Table(
        title=title,
        caption=f"{protocol['memories_per_n']} memories per N, every stored pattern queried, seed "
        f"{protocol['seed']}. floats: memory per stored set (paper: {budget:,} for "
        f"all). * stores the raw patterns: N·{protocol['dim']} floats. s: write + read time over all N. "
        "exact: fraction of queries with 0 wrong bits.",
    )
    table.add_column("method")
    table.add_column("floats", justify="right")
    for count in counts:
        table.add_column(str(count), justify="right")
    table.add_column("s", justify="right")
    for name in (*PAPER, "modern_hopfield"):
        ours, paper = result["methods"].get(name), result["paper"].get(name)
        if ours is not None:
            used, seconds = result["budget_floats"][name], result["seconds"][name]
            table.add_row(NAMES[name], _floats(used), *(f"{v:.2f}" for v in ours), f"{seconds:.1f}")
            exact = result["exact_fraction"][name]
            table.add_row("  exact", "", *(f"{v:.0%}" for v in exact), "", style="dim")
        if paper is not None:
            label = "  paper" if ours is not None else f"{NAMES[name]} (paper)"
            table.add_row(label, f"{budget:,}", *(f"{v:g}" for v in paper), "", style="dim")
    return table


def unclamped_table(result: dict) -> Table:
    """The harder variant: the same tasks, but every bit (known ones too) may change during retrieval."""
    counts = result["n_patterns"]
    table = Table(title="harder setting: known bits NOT clamped (every bit free, erased ones start at 0)")
    table.add_column("method")
    for count in counts:
        table.add_column(str(count), justify="right")
    for name, errors in result["unclamped"].items():
        table.add_row(NAMES[name], *(f"{value:.2f}" for value in errors))
    return table


def _floats(budget: int | list[int]) -> str:
    """8256 -> '8,256'; a budget that grows with N -> '2k-12k'."""
    if isinstance(budget, int):
        return f"{budget:,}"
    return f"{budget[0] / 1000:.0f}k-{budget[-1] / 1000:.0f}k"
