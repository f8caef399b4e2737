"""`ebmm bench engine --compare-ref REF`: this checkout's engine throughput against a git ref's, interleaved.

Each round runs `ebmm bench engine` once from this checkout and once from REF (checked out into a temporary
worktree), alternately, each in a fresh process on the same checkpoint, so both meet the same machine state; the
ratios are of the medians over rounds. Options REF's command may lack (`--write-precision`) go to this side only.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson
from rich.table import Table

from benchmarks.checkout import ROOT, git_worktree

CLI = "import sys; from ebmm.cli import app; sys.argv[0] = 'ebmm'; app()"  # `ebmm` of the checkout on PYTHONPATH


def run_bench_engine(checkout: Path, args: Sequence[str]) -> dict:
    """The JSON result of `ebmm bench engine ARGS` run from `checkout` (its code, its working directory)."""
    with tempfile.TemporaryDirectory(prefix="ebmm-bench-") as folder:
        out = Path(folder) / "engine.json"
        command = [sys.executable, "-c", CLI, "bench", "engine", *args, "--json", str(out)]
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        run = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"`ebmm bench engine` from {checkout} failed: {run.stderr.strip()[-2000:]}")
        return orjson.loads(out.read_bytes())


def compare_engine(ref: str, args: Sequence[str], this_only: Sequence[str] = (), rounds: int = 3) -> dict:
    """`rounds` alternating runs of this checkout (`args` + `this_only`) and of `ref` (`args`): every run's
    result, and per batch the median writes/s and reads/s of each side and their ratios (this / ref)."""
    runs: dict[str, list[dict]] = {"this": [], "ref": []}
    with git_worktree(ref) as (checkout, commit):
        for _ in range(rounds):
            runs["this"].append(run_bench_engine(ROOT, [*args, *this_only]))
            runs["ref"].append(run_bench_engine(checkout, args))
    rows = []
    for index, row in enumerate(runs["this"][0]["rows"]):
        medians = {
            f"{kind}_per_s_{side}": statistics.median(run["rows"][index][f"{kind}_per_s"] for run in runs[side])
            for side in runs
            for kind in ("writes", "reads")
        }
        ratios = {
            f"{kind}_ratio": medians[f"{kind}_per_s_this"] / medians[f"{kind}_per_s_ref"]
            for kind in ("writes", "reads")
        }
        rows.append({"batch": row["batch"], **medians, **ratios})
    return {"ref": ref, "ref_commit": commit, "rounds": rounds, "rows": rows, "runs": runs}


def compare_table(result: dict) -> Table:
    """Median writes/s and reads/s of this checkout and of the ref, and their ratios."""
    this = result["runs"]["this"][0]
    table = Table(
        title=f"engine throughput, this checkout vs {result['ref']} ({result['ref_commit'][:12]}): {this['model']} on "
        f"{this['device']}, {this['torch_threads']} threads, this checkout's write products {this['write_dtype']}, "
        f"medians of {result['rounds']} alternating rounds"
    )
    for column in (
        "batch",
        "writes/s",
        f"writes/s {result['ref']}",
        "ratio",
        "reads/s",
        f"reads/s {result['ref']}",
        "ratio",
    ):
        table.add_column(column, justify="right")
    for row in result["rows"]:
        table.add_row(
            str(row["batch"]),
            f"{row['writes_per_s_this']:,.0f}",
            f"{row['writes_per_s_ref']:,.0f}",
            f"{row['writes_ratio']:.2f}×",
            f"{row['reads_per_s_this']:,.0f}",
            f"{row['reads_per_s_ref']:,.0f}",
            f"{row['reads_ratio']:.2f}×",
        )
    return table
