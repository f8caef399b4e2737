"""Both clients' generated parts match openapi/openapi.json: regenerate them (scripts/generate-clients.sh) and diff.

Run `bash scripts/generate-clients.sh` after `ebmm openapi` when this fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clients.conftest import ROOT

SPEC = ROOT / "openapi/openapi.json"
COMMITTED = {
    "models.py": ROOT / "clients/python/src/ebmm_client/models.py",
    "schema.ts": ROOT / "clients/typescript/src/schema.ts",
}

pytestmark = pytest.mark.usefixtures("typescript_packages")  # skips without node/npm


def regenerate(out: Path, spec: Path = SPEC) -> dict[str, str]:
    """Both generated files, made from `spec` into `out`: file name -> text."""
    env = {**os.environ, "PYTHON": sys.executable, "OPENAPI_SPEC": str(spec)}
    command = ["bash", str(ROOT / "scripts/generate-clients.sh"), str(out)]
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=300)
    return {name: (out / name).read_text() for name in COMMITTED}


def test_generated_clients_match_the_spec(tmp_path: Path) -> None:
    for name, text in regenerate(tmp_path).items():
        assert text == COMMITTED[name].read_text(), f"{COMMITTED[name]} is stale: run bash scripts/generate-clients.sh"


def test_a_spec_change_shows_in_both_clients(tmp_path: Path) -> None:
    """The comparison above sees a new response field (so it fails when the spec moves on without the clients)."""
    spec = json.loads(SPEC.read_text())
    spec["components"]["schemas"]["Health"]["properties"]["uptime_seconds"] = {"type": "number"}
    changed = tmp_path / "spec" / "openapi.json"  # the same file name: datamodel-codegen writes it in its header
    changed.parent.mkdir()
    changed.write_text(json.dumps(spec))
    for name, text in regenerate(tmp_path, changed).items():
        assert "uptime_seconds" in text and text != COMMITTED[name].read_text(), name
