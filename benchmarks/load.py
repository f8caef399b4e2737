"""`ebmm bench load`: `/healthz`, write and retrieve throughput and latency of one or two servers, in one run.

Each server (the one at `url`, or an `ebmm serve` of this checkout started here) gets `memories` memories of
N = 32 patterns, then for each connection count four cells of `seconds` each: GET /healthz (the HTTP stack's
ceiling), POST /memories (N = 32, 64 pre-encoded bodies), the same with `"self_check": false` (the write alone,
as `ebmm bench engine` measures it) and POST /memories/{id}/retrieve (one query, for
binary models with the standard erasure, 256 pre-encoded bodies spread over the memories). Each request is
picked at random from its cell's list by the generator: `wrk` with `benchmarks/wrk/requests.lua` (a C load
generator that leaves the CPU to the server), or the httpx fallback. A second server (`compare_url`, or
`compare_ref`: that git ref checked out into a temporary worktree and served from there) runs the same cells,
interleaved with the first (A, B, A, B, ...) so drift on a shared machine falls on both, and the report gives
first / second ratios. Around each retrieve cell a spot check (benchmarks/spot_check.py) asks a few retrieves
again: an answer different from before the load fails the run. A server started here gets a fresh API key; a
given one is called with the key in EBMM_API_KEY (EBMM_COMPARE_API_KEY for the compare server, default the same).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
from rich.markup import escape
from rich.table import Table

from benchmarks.checkout import git_worktree
from benchmarks.scale import (
    SCALE_QUOTA,
    fill,
    memories_held,
    redis_used_memory,
    retrieve_requests,
    scale_row,
    wait_for_persistence,
)
from benchmarks.spot_check import PROBES, SpotCheck
from benchmarks.wrk_driver import Request, run_wrk_cell, wrk_binary, wrk_version
from ebmm_client import AsyncEBMMClient, EBMMClient
from ebmm_client.models import ModelPublic
from service.auth import key_digest
from service.embedded_redis import EmbeddedRedis
from service.serve_process import ROOT, ServeProcess

Generator = Literal["auto", "wrk", "httpx"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
OPS = ("healthz", "write", "write_unchecked", "retrieve")
MAX_REQUESTS_PER_CELL = 200_000  # the httpx generator's bound on one cell's latency list
WRITE_BODIES = 64
READ_BODIES = 256
SCALE_READ_BODIES = 8192  # scale cells: memories read, drawn from all stored (beyond any CPU cache at 36 KB)
TTL_SECONDS = 3600  # what the benchmark writes expires: a server given with --url is not left full
SETUP_CONCURRENCY = 16  # concurrent writes while storing the memories (under the tenant's queue limit)
BENCH_TENANT = "bench"  # the tenant of a server started here


@dataclass
class Target:
    """One server under test: `label` 'A' (the subject) or 'B' (the comparison), `source` what it serves."""

    label: str
    source: str
    url: str
    api_key: str | None
    requests: dict[str, list[Request]] | None = None
    spot_check: SpotCheck | None = None
    ids: list[str] | None = None  # of the workload's stored memories, in order


@contextmanager
def started_server(
    root: Path = ROOT, redis_url: str | None = None, serve_args: Sequence[str] = ()
) -> Iterator[tuple[str, str]]:
    """`ebmm serve` of the checkout at `root` on a free loopback port with its own embedded Redis (or the one at
    `redis_url`, with quotas that hold the scale cells' memories), serving this checkout's checkpoints (unless
    EBMM_CHECKPOINT_DIR says otherwise), with `serve_args` (e.g. `--workers 2`); yields its URL and API key."""
    api_key = secrets.token_urlsafe(32)
    checkpoints = Path(os.environ.get("EBMM_CHECKPOINT_DIR", "checkpoints"))
    with tempfile.TemporaryDirectory(prefix="ebmm-load-") as data_dir:
        settings = {
            "EBMM_DATA_DIR": data_dir,
            "EBMM_API_KEYS": f"{key_digest(api_key)}:{BENCH_TENANT}",
            "EBMM_CHECKPOINT_DIR": str(ROOT / checkpoints),  # an absolute path stays as it is
        }
        if redis_url is not None:
            settings |= {
                "EBMM_REDIS_URL": redis_url,
                "EBMM_TENANT_MAX_MEMORIES": str(SCALE_QUOTA.max_memories),
                "EBMM_TENANT_MAX_FLOATS": str(SCALE_QUOTA.max_floats),
            }
        with ServeProcess(settings, inherit_settings=True, root=root, serve_args=serve_args) as server:
            yield server.url, api_key


@contextmanager
def scale_redis() -> Iterator[str]:
    """An embedded redis-server for the scale cells (fsync every second: filling it is not what is measured)."""
    with tempfile.TemporaryDirectory(prefix="ebmm-scale-") as data_dir:
        embedded = EmbeddedRedis(Path(data_dir), "everysec")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


def _pick_model(served: list[ModelPublic], model: str | None, url: str) -> ModelPublic:
    binary = [m for m in served if m.domain == "binary"]
    info = next((m for m in served if m.name == model), None) if model else (binary or served or [None])[0]
    if info is None:
        raise ValueError(f"model {model!r} is not served at {url}")
    return info


@dataclass(frozen=True)
class Workload:
    """What every server is given, drawn once: stored patterns [memories][N, D], the write bodies' patterns
    [WRITE_BODIES][N, D], and READ_BODIES (memory index, query [D]) retrieves."""

    model: str
    stored: list[np.ndarray]
    writes: list[np.ndarray]
    reads: list[tuple[int, np.ndarray]]


def draw_workload(info: ModelPublic, memories: int, seed: int = 0) -> Workload:
    """Random patterns of the model's domain (N = 32, or its maximum); queries with its standard corruption,
    `distortion_size` entries erased, for binary models, and the stored pattern itself for image models."""
    rng = np.random.default_rng(seed)
    count = min(32, info.max_patterns)

    def patterns() -> np.ndarray:
        if info.domain == "binary":
            return (rng.integers(0, 2, (count, info.input_dim)) * 2 - 1).astype(np.float32)
        lo, hi = info.value_range
        return rng.uniform(lo, hi, (count, info.input_dim)).astype(np.float32)

    stored = [patterns() for _ in range(memories)]
    writes = [patterns() for _ in range(WRITE_BODIES)]
    reads = []
    for _ in range(READ_BODIES):
        m = int(rng.integers(memories))
        reads.append((m, query_of(info, stored[m][rng.integers(count)], rng)))
    return Workload(info.name, stored, writes, reads)


def query_of(info: ModelPublic, pattern: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A retrieve's query for a stored pattern [D]: binary models' standard erasure, else the pattern itself."""
    query = pattern.copy()
    if info.domain == "binary":
        query[rng.choice(info.input_dim, info.distortion_size, replace=False)] = 0.0
    return query


async def _store(url: str, api_key: str | None, workload: Workload) -> list[str]:
    """Write the workload's memories into the server: their ids, in order."""
    semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)
    async with AsyncEBMMClient(url, api_key=api_key, timeout=120) as client:

        async def write(patterns: np.ndarray) -> str:
            async with semaphore:
                return (await client.write(workload.model, patterns, ttl_seconds=TTL_SECONDS)).id

        return list(await asyncio.gather(*(write(X) for X in workload.stored)))


def prepare(target: Target, workload: Workload, client: EBMMClient) -> None:
    """Store the workload in the target, encode its requests and take its spot check's reference answers."""
    ids = target.ids = asyncio.run(_store(target.url, target.api_key, workload))
    expiry = {"ttl_seconds": TTL_SECONDS}
    target.requests = {
        "healthz": [Request("GET", "/healthz")],
        "write": [
            Request("POST", "/memories", orjson.dumps({"model": workload.model, "patterns": X.tolist(), **expiry}))
            for X in workload.writes
        ],
        "write_unchecked": [
            Request(
                "POST",
                "/memories",
                orjson.dumps({"model": workload.model, "patterns": X.tolist(), "self_check": False, **expiry}),
            )
            for X in workload.writes
        ],
        "retrieve": [
            Request("POST", f"/memories/{ids[m]}/retrieve", orjson.dumps({"queries": [q.tolist()]}))
            for m, q in workload.reads
        ],
    }
    probes = [(ids[m], q[None]) for m, q in workload.reads[:PROBES]]
    target.spot_check = SpotCheck(client, workload.model, probes, workload.writes[0])
    target.spot_check.take_reference()


async def _httpx_cell(
    url: str, api_key: str | None, requests: list[Request], connections: int, seconds: float
) -> dict[str, Any]:
    """The fallback generator: `connections` asyncio workers, each with its own httpx client and keep-alive
    connection (made before the clock starts: one pool shared by 64 workers spent more CPU than the server,
    68 vs 314 /healthz req/s on 2 cores), picking requests at random for `seconds`."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    latencies: list[float] = []
    counts = {"non_2xx": 0, "socket_errors": 0}
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60, headers=headers))
            for _ in range(connections)
        ]
        stop_at = time.monotonic() + seconds

        async def worker(k: int) -> None:
            rng = np.random.default_rng(k + 1)
            http = clients[k]
            while time.monotonic() < stop_at and len(latencies) < MAX_REQUESTS_PER_CELL:
                request = requests[int(rng.integers(len(requests)))]
                start = time.perf_counter()
                try:
                    response = await http.request(
                        request.method,
                        request.path,
                        content=request.body,
                        headers={"content-type": "application/json"} if request.body else None,
                    )
                except httpx.HTTPError:
                    counts["socket_errors"] += 1
                    continue
                latencies.append(time.perf_counter() - start)
                counts["non_2xx"] += not response.is_success

        start = time.monotonic()
        await asyncio.gather(*(worker(k) for k in range(connections)))
        elapsed = time.monotonic() - start
    ms = np.asarray(latencies) * 1000.0 if latencies else np.zeros(1)
    p50, p90, p99 = (round(float(np.percentile(ms, q)), 2) for q in (50, 90, 99))
    return {
        "requests": len(latencies),
        **counts,
        "seconds": round(elapsed, 3),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
    }


def run_cell(
    generator: Literal["wrk", "httpx"], target: Target, op: str, connections: int, seconds: float, threads: int
) -> dict[str, Any]:
    """One cell against one target: req/s, p50/p90/p99 ms, non-2xx responses, socket errors."""
    assert target.requests is not None
    requests = target.requests[op]
    if generator == "wrk":
        return run_wrk_cell(target.url, requests, connections, seconds, threads, target.api_key)
    return asyncio.run(_httpx_cell(target.url, target.api_key, requests, connections, seconds))


def choose_generator(generator: Generator) -> tuple[Literal["wrk", "httpx"], str]:
    """The generator to use and why."""
    if generator == "httpx":
        return "httpx", "asked for (--generator httpx)"
    if wrk_binary() is not None:
        return "wrk", "installed"
    if generator == "wrk":
        raise FileNotFoundError("wrk is not installed (bash scripts/ensure-wrk.sh installs it)")
    return "httpx", "wrk is not installed (bash scripts/ensure-wrk.sh installs it); httpx competes for the CPU"


def _check_loopback(url: str) -> str:
    if urlsplit(url).hostname not in LOOPBACK:
        raise ValueError(f"the load benchmark only targets loopback servers, not {url}")
    return url.rstrip("/")


def run_load_bench(
    url: str | None,
    connections: tuple[int, ...],
    seconds: float,
    model: str | None,
    *,
    threads: int = 1,
    memories: int = 64,
    rounds: int = 1,
    generator: Generator = "auto",
    compare_url: str | None = None,
    compare_ref: str | None = None,
    stored: tuple[int, ...] = (),
    ops: tuple[str, ...] = OPS,
) -> dict[str, Any]:
    """Every cell against `url` (or a server of this checkout started here) and, with `compare_url` or
    `compare_ref`, against that second server, interleaved; `rounds` repeats the whole sequence. `stored`: then
    the scale cells (benchmarks/scale.py) on a server started here, at each of these numbers of memories. `ops`:
    the cells to run (a subset of OPS, e.g. without write_unchecked against a commit that predates it)."""
    if not ops or set(ops) - set(OPS) or "healthz" not in ops:
        raise ValueError(f"--ops takes healthz and any of {', '.join(OPS[1:])}, comma-separated")
    if compare_url is not None and compare_ref is not None:
        raise ValueError("give --compare-url or --compare-ref, not both")
    if stored and (url is not None or compare_url is not None or compare_ref is not None):
        raise ValueError("--stored measures a server started here, alone (no --url, --compare-url, --compare-ref)")
    if stored and min(stored) <= memories:
        raise ValueError(f"every --stored count must be over --memories ({memories})")
    if min(connections) < threads:
        raise ValueError(f"every connection count must be at least --threads ({threads})")
    used, reason = choose_generator(generator)
    with ExitStack() as stack:
        # the compare ref first: a bad ref fails before any server starts
        compare_checkout = stack.enter_context(git_worktree(compare_ref)) if compare_ref is not None else None
        targets = []
        if url is not None:
            targets.append(Target("A", url, _check_loopback(url), os.environ.get("EBMM_API_KEY")))
        else:
            redis_url = stack.enter_context(scale_redis()) if stored else None
            started, key = stack.enter_context(started_server(redis_url=redis_url))
            targets.append(Target("A", "this checkout", started, key))
        if compare_url is not None:
            compare_key = os.environ.get("EBMM_COMPARE_API_KEY", os.environ.get("EBMM_API_KEY"))
            targets.append(Target("B", compare_url, _check_loopback(compare_url), compare_key))
        elif compare_checkout is not None:
            checkout, commit = compare_checkout
            started, key = stack.enter_context(started_server(root=checkout))
            targets.append(Target("B", f"git {compare_ref} ({commit[:12]})", started, key))
        clients = [stack.enter_context(EBMMClient(t.url, api_key=t.api_key, timeout=120)) for t in targets]
        infos = [_pick_model(client.models(), model, t.url) for client, t in zip(clients, targets, strict=True)]
        if len({(i.name, i.input_dim, i.max_patterns) for i in infos}) > 1:
            raise ValueError(f"the servers serve different models: {[(i.name, i.input_dim) for i in infos]}")
        workload = draw_workload(infos[0], memories)
        for target, client in zip(targets, clients, strict=True):
            prepare(target, workload, client)
        runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for round_ in range(rounds):
            for count in connections:
                for op in ops:
                    for target in targets:  # interleaved: A, B, A, B, ...
                        assert target.spot_check is not None
                        name = f"round {round_ + 1} {op} c{count} on {target.label}"
                        if op == "retrieve":
                            target.spot_check.verify(f"before {name}")
                        cell = run_cell(used, target, op, count, seconds, threads)
                        if op == "retrieve":
                            target.spot_check.verify(f"after {name}")
                        runs.setdefault((target.label, op, count), []).append(cell)
        scale = []
        if stored:
            assert redis_url is not None
            scale = run_scale_cells(
                used,
                targets[0],
                infos[0],
                workload,
                redis_url,
                stored,
                connections[0],
                seconds,
                threads,
                clients[0],
                rounds,
            )
    servers = [
        {
            "label": t.label,
            "source": t.source,
            "url": t.url,
            "cells": [_combine(op, count, runs[(t.label, op, count)]) for count in connections for op in ops],
            "spot_checks_passed": t.spot_check.checks if t.spot_check else 0,
        }
        for t in targets
    ]
    for server in servers:
        server["ratios"] = _op_ratios(server["cells"])
    return {
        "command": "ebmm " + " ".join(sys.argv[1:]),
        "generator": used,
        "generator_reason": reason,
        "wrk_version": wrk_version() if used == "wrk" else None,
        "wrk_threads": threads if used == "wrk" else None,
        "cpu_count": os.cpu_count(),
        "duration_s": seconds,
        "rounds": rounds,
        "model": workload.model,
        "patterns_per_write": len(workload.writes[0]),
        "memories": memories,
        "servers": servers,
        "compare": _compare(servers[0]["cells"], servers[1]["cells"]) if len(servers) == 2 else None,
        "scale": scale,
        "non_2xx": sum(c["non_2xx"] for s in servers for c in s["cells"]) + sum(row["non_2xx"] for row in scale),
    }


def run_scale_cells(
    generator: Literal["wrk", "httpx"],
    target: Target,
    info: ModelPublic,
    workload: Workload,
    redis_url: str,
    stored: tuple[int, ...],
    connections: int,
    seconds: float,
    threads: int,
    client: EBMMClient,
    rounds: int,
) -> list[dict[str, Any]]:
    """At each count of stored memories (ascending): fill the store up to it with copies of the workload's first
    memory, spot-check, run `rounds` retrieve cells over SCALE_READ_BODIES of the copies drawn at random, and read
    Redis's memory (benchmarks/scale.py)."""
    assert target.ids is not None
    template = target.ids[0]
    rng = np.random.default_rng(1)
    queries = np.stack([query_of(info, pattern, rng) for pattern in workload.stored[0]])  # [N, D]
    copies = [template]
    check = None
    rows = []
    for count in sorted(stored):
        missing = count - memories_held(redis_url, BENCH_TENANT)  # the workload's, the write cells' and copies
        copies += asyncio.run(
            fill(redis_url, BENCH_TENANT, template, info.writable_floats, max(0, missing), TTL_SECONDS)
        )
        if check is None:
            probes = [(copies[-1 - k % len(copies)], queries[k : k + 1]) for k in range(PROBES)]
            check = SpotCheck(client, workload.model, probes, workload.writes[0])
            check.take_reference()
        wait_for_persistence(redis_url)
        requests = {"retrieve": retrieve_requests(copies, queries, SCALE_READ_BODIES)}
        cell_target = Target(target.label, target.source, target.url, target.api_key, requests)
        cells = []
        for round_ in range(rounds):
            check.verify(f"before round {round_ + 1} of the scale cell at {count} memories")
            cells.append(run_cell(generator, cell_target, "retrieve", connections, seconds, threads))
        check.verify(f"after the scale cell at {count} memories")
        cell = _combine("retrieve", connections, cells)
        rows.append(scale_row(memories_held(redis_url, BENCH_TENANT), cell, redis_used_memory(redis_url)))
    return rows


def _combine(op: str, connections: int, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell's rounds as one: summed counts, req/s over the summed time, the median of each percentile."""
    requests, elapsed = sum(c["requests"] for c in cells), sum(c["seconds"] for c in cells)
    combined = {
        "op": op,
        "connections": connections,
        "requests": requests,
        "non_2xx": sum(c["non_2xx"] for c in cells),
        "socket_errors": sum(c["socket_errors"] for c in cells),
        "seconds": round(elapsed, 3),
        "per_s": round(requests / elapsed, 1) if elapsed else 0.0,
        **{p: statistics.median(c[p] for c in cells) for p in ("p50_ms", "p90_ms", "p99_ms")},
    }
    if len(cells) > 1:
        combined["rounds"] = cells
    return combined


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _op_ratios(cells: list[dict[str, Any]]) -> dict[str, float | None]:
    """retrieve / healthz and write / healthz req/s at each connection count: the share of the HTTP ceiling."""
    rate = {(c["op"], c["connections"]): c["per_s"] for c in cells}
    return {
        f"{op}/healthz c{count}": _ratio(per_s, rate[("healthz", count)])
        for (op, count), per_s in rate.items()
        if op != "healthz"
    }


def _compare(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """First server / second server, per cell: req/s and p50/p99 latency ratios (req/s > 1: the first is faster)."""
    return {
        f"{a['op']} c{a['connections']}": {key: _ratio(a[key], b[key]) for key in ("per_s", "p50_ms", "p99_ms")}
        for a, b in zip(first, second, strict=True)
    }


def load_table(result: dict[str, Any]) -> Table:
    generator = result["wrk_version"] if result["generator"] == "wrk" else "httpx"
    table = Table(
        title=escape(
            f"HTTP load ({generator}), {result['model']}, {result['memories']} memories, "
            f"{result['duration_s']:g} s × {result['rounds']} per cell, {result['cpu_count']} CPUs"
        ),
        caption=escape("; ".join(f"{s['label']}: {s['source']}" for s in result["servers"])),
    )
    table.add_column("srv")
    table.add_column("op", min_width=8)
    for column in ("conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx", "sock err"):
        table.add_column(column, justify="right")
    for server in result["servers"]:
        for c in server["cells"]:
            table.add_row(
                server["label"],
                c["op"],
                str(c["connections"]),
                f"{c['per_s']:,.0f}",
                f"{c['p50_ms']:.1f}",
                f"{c['p90_ms']:.1f}",
                f"{c['p99_ms']:.1f}",
                str(c["non_2xx"]),
                str(c["socket_errors"]),
            )
    return table


def ratio_table(result: dict[str, Any]) -> Table:
    """Each server's share of its /healthz rate and, with two servers, first / second per cell."""
    table = Table(title="ratios")
    table.add_column("ratio")
    table.add_column("value", justify="right")
    for server in result["servers"]:
        for name, value in server["ratios"].items():
            table.add_row(f"{server['label']} {name} req/s", _fmt(value))
    for name, ratios in (result["compare"] or {}).items():
        for key, value in ratios.items():
            table.add_row(f"A/B {name} {key.removesuffix('_ms')}", _fmt(value))
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def scale_table(result: dict[str, Any]) -> Table:
    """Retrieve latency and Redis memory by the number of stored memories (the --stored cells)."""
    table = Table(title=f"retrieves as the store grows ({result['model']})")
    for column in ("stored", "req/s", "p50 ms", "p99 ms", "non-2xx", "Redis MB", "bytes / memory"):
        table.add_column(column, justify="right")
    for row in result["scale"]:
        table.add_row(
            f"{row['stored']:,}",
            f"{row['per_s']:,.0f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            str(row["non_2xx"]),
            f"{row['redis_used_mb']:,.1f}",
            f"{row['redis_bytes_per_memory']:,}",
        )
    return table
