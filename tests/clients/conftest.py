"""The clients run against the service tests' real servers (tiny checkpoints, embedded Redis, API keys)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.service.conftest import bits, checkpoints, client, server  # noqa: F401  (pytest fixtures)

ROOT = Path(__file__).resolve().parents[2]
TYPESCRIPT = ROOT / "clients/typescript"


@pytest.fixture(scope="session")
def typescript_packages() -> Path:
    """clients/typescript with its pinned npm packages installed (scripts/ensure-ts-client.sh); skips without
    node and npm, or when npm cannot install them (e.g. no registry), saying why."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the TypeScript client cannot be built, run or regenerated")
    ensure = subprocess.run(
        ["bash", str(ROOT / "scripts/ensure-ts-client.sh")], capture_output=True, text=True, timeout=600
    )
    if ensure.returncode != 0:
        pytest.skip(f"npm could not install clients/typescript's packages: {ensure.stderr.strip()[-500:]}")
    return TYPESCRIPT
