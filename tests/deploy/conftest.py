"""Shared fixtures of the deploy tests: the files under deploy/, their PromQL, promtool and a running app."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import promql_parser
import pytest
import yaml

from service.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_GPU = DEPLOY / "docker-compose.gpu.yml"
PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ebmm.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

# What Grafana substitutes for its variables when it sends a query; "$model" is the "All" value.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$model": ".*"}


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it comes from (a dashboard panel or an alert rule)."""

    source: str
    expr: str

    def __str__(self) -> str:
        return self.source


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_script(path: Path) -> ModuleType:
    """A Python script under deploy/, imported from its path (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_build_dashboard() -> ModuleType:
    """deploy/grafana/build_dashboard.py."""
    return load_script(DEPLOY / "grafana" / "build_dashboard.py")


def dashboard_panels() -> list[dict]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]


def dashboard_queries() -> list[Query]:
    """Every panel target's expression with Grafana's variables substituted, as Grafana would send it."""
    queries = []
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(name, value)
            queries.append(Query(f"panel {panel['title']!r} {target['refId']}", expr))
    return queries


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector (`name{matchers}`) in a PromQL expression, parsed by promql-parser."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def alert_queries() -> list[Query]:
    rules = load_yaml(PROMETHEUS_DIR / "alerts.yml")
    return [Query(f"alert {rule['alert']}", rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary (Debian package `prometheus`; `make test` installs it when missing and it can)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not found: install the Debian package `prometheus` (make test does when root)")
    return path


# --- a real app on a loopback port, with a tiny checkpoint and an embedded Redis ---------------------------


@dataclass(frozen=True)
class RunningApp:
    url: str
    model: str


def openapi_path(openapi: dict, method: str, schema_name: str) -> str:
    """The route whose `method` request body is the component `schema_name` (routes are the service's call)."""
    ref = f"#/components/schemas/{schema_name}"
    for path, operations in openapi["paths"].items():
        body = operations.get(method, {}).get("requestBody", {})
        if body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref") == ref:
            return path
    raise AssertionError(f"no {method.upper()} route takes {schema_name}; routes: {sorted(openapi['paths'])}")


def with_id(path: str, memory_id: str) -> str:
    """Fill the route template's one path parameter (e.g. `/memories/{memory_id}`) with the id."""
    return re.sub(r"\{[^}]+\}", memory_id, path)


def exercise(app: RunningApp, rounds: int = 1) -> None:
    """Write a memory and retrieve from it `rounds` times, then delete it: every metric family gets samples."""
    import torch

    from model.tasks import random_binary_patterns

    with httpx.Client(base_url=app.url, timeout=30) as client:
        openapi = client.get("/openapi.json").raise_for_status().json()
        write_path = openapi_path(openapi, "post", "MemoryCreate")
        read_path = openapi_path(openapi, "post", "RetrieveRequest")
        delete_path = next(path for path, operations in openapi["paths"].items() if "delete" in operations)
        generator = torch.Generator().manual_seed(0)
        for _ in range(rounds):
            patterns = random_binary_patterns(1, 4, 32, generator)[0]  # [N=4, D=32] ±1
            response = client.post(write_path, json={"model": app.model, "patterns": patterns.tolist()})
            assert response.status_code in (200, 201), response.text
            memory_id = response.json()["id"]
            queries = patterns.clone()
            queries[:, :8] = 0  # erase 8 of 32 bits: 0 = unknown
            response = client.post(with_id(read_path, memory_id), json={"queries": queries.tolist()})
            assert response.status_code == 200, response.text
            response = client.delete(with_id(delete_path, memory_id))
            assert response.status_code in (200, 204), response.text


@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """`ebmm serve` as shipped (one worker, the models in its engine process) with a tiny checkpoint on loopback."""
    if not (ROOT / "service" / "main.py").is_file():
        pytest.skip("service/main.py does not exist yet")
    from model.checkpoint import save_checkpoint
    from model.config import tiny_binary_config
    from model.memory import EnergyMemory

    tmp = tmp_path_factory.mktemp("app")
    save_checkpoint(EnergyMemory(tiny_binary_config()), tmp / "checkpoints" / "tiny")
    settings = {
        "EBMM_CHECKPOINT_DIR": str(tmp / "checkpoints"),
        "EBMM_DATA_DIR": str(tmp / "data"),
        "EBMM_DEVICE": "cpu",
        "EBMM_TORCH_THREADS": "1",
        "EBMM_AUTH_DISABLED": "true",  # the scrape needs no key; the memory calls below act as the dev tenant
    }
    with ServeProcess(settings) as server:
        yield RunningApp(url=server.url, model="tiny")
