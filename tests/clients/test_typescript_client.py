"""The TypeScript client (clients/typescript) against a live server: compiled with tsc, run by node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import TYPESCRIPT
from tests.service.conftest import KEYS, TENANT

LIVE_SCRIPT = TYPESCRIPT / "dist/test/live.js"


@pytest.fixture(scope="module")
def compiled(typescript_packages: Path) -> subprocess.CompletedProcess[str]:
    """The client and its live script compiled to dist/ (tsc emits JavaScript even when types do not check)."""
    shutil.rmtree(typescript_packages / "dist", ignore_errors=True)  # no stale script from an earlier build
    build = subprocess.run(
        ["npx", "--no-install", "tsc", "-p", "."], cwd=typescript_packages, capture_output=True, text=True, timeout=300
    )
    assert LIVE_SCRIPT.exists(), build.stdout + build.stderr
    return build


def run_step(server, step: str) -> None:
    result = subprocess.run(
        ["node", str(LIVE_SCRIPT), server.url, KEYS[TENANT], step], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == f"ok {step}", result.stdout + result.stderr


def test_the_client_and_its_live_script_typecheck_against_the_spec(compiled) -> None:
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_write_get_retrieve_delete_and_a_404(compiled, server) -> None:
    run_step(server, "roundtrip")


def test_list_pages_newest_first(compiled, server) -> None:
    run_step(server, "listing")


def test_an_error_carries_its_type_field_and_request_id(compiled, server) -> None:
    run_step(server, "request-id")
