"""A git ref of this repository checked out beside it, for before/after benchmarks (`--compare-ref`)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def git_worktree(ref: str, repo: Path = ROOT) -> Iterator[tuple[Path, str]]:
    """`ref` of the git repository at `repo` checked out (detached) into a temporary worktree, removed after;
    yields its path and the commit it resolved to."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise ValueError(f"git {' '.join(args)}: {run.stderr.strip()}")
        return run.stdout.strip()

    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="ebmm-compare-") as parent:
        path = Path(parent) / "checkout"
        git("worktree", "add", "--detach", str(path), commit)
        try:
            yield path, commit
        finally:
            git("worktree", "remove", "--force", str(path))
