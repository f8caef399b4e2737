"""The scale cells of `ebmm bench load --stored 1000,10000,100000`: retrieve latency and Redis memory as the
number of stored memories grows.

Writing 100,000 memories through the API would take the engine half an hour, and what is measured here is the
lookup, not the write: so one memory is written through the API (the template), and the store is filled with
copies of it under new ids through the service's own `MemoryStore.put` (the same reservation, quota and index
scripts as a write; only the engine call is skipped). Each cell waits for an AOF rewrite the fill set off to end,
then reads random memories among all of them, with queries of the template's patterns, so its answers are
known, and reports Redis's `used_memory`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import numpy as np
import orjson
import redis

from benchmarks.wrk_driver import Request
from service.memories import new_memory_id
from service.metrics import Metrics
from service.store import MemoryStore, Quota, TenantKeys

FILL_CONCURRENCY = 64
SCALE_QUOTA = Quota(max_memories=10**8, max_floats=10**13)  # the filling store's; the server gets the same


async def fill(redis_url: str, tenant: str, template_id: str, floats: int, count: int, ttl_s: int) -> list[str]:
    """Store `count` copies of the tenant's memory `template_id` (θ of `floats` floats) under new ids: their ids."""
    store = MemoryStore(redis_url, 10.0, SCALE_QUOTA, Metrics(), max_connections=FILL_CONCURRENCY)
    try:
        template = await store.get(tenant, template_id)
        assert template is not None, f"template memory {template_id} is not stored"
        semaphore = asyncio.Semaphore(FILL_CONCURRENCY)

        async def copy() -> str:
            async with semaphore:
                now = time.time()
                memory = dataclasses.replace(template, id=new_memory_id(), created_at=now, expires_at=now + ttl_s)
                await store.put(tenant, memory, floats)
                return memory.id

        return list(await asyncio.gather(*(copy() for _ in range(count))))
    finally:
        await store.close()


def memories_held(redis_url: str, tenant: str) -> int:
    """How many memories the tenant holds (its listing index)."""
    with redis.Redis.from_url(redis_url) as connection:
        return int(connection.zcard(TenantKeys(tenant).created))


def wait_for_persistence(redis_url: str, timeout_s: float = 300.0) -> None:
    """Wait until Redis is not rewriting its AOF or saving a snapshot: a rewrite forks the whole data set, and
    the fill that just ran (not what is measured) is what set it off."""
    deadline = time.monotonic() + timeout_s
    with redis.Redis.from_url(redis_url) as connection:
        while True:
            info = connection.info("persistence")
            busy = info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"] or info["rdb_bgsave_in_progress"]
            if not busy or time.monotonic() > deadline:
                return
            time.sleep(0.5)


def redis_used_memory(redis_url: str) -> int:
    """Bytes Redis holds (INFO memory: used_memory)."""
    with redis.Redis.from_url(redis_url) as connection:
        return int(connection.info("memory")["used_memory"])


def retrieve_requests(ids: list[str], queries: np.ndarray, count: int, seed: int = 0) -> list[Request]:
    """`count` retrieves of one query each, on memories drawn at random from `ids` (queries [Q, D], drawn too)."""
    rng = np.random.default_rng(seed)
    return [
        Request(
            "POST",
            f"/memories/{ids[int(rng.integers(len(ids)))]}/retrieve",
            orjson.dumps({"queries": [queries[int(rng.integers(len(queries)))].tolist()]}),
        )
        for _ in range(count)
    ]


def scale_row(stored: int, cell: dict[str, Any], used_memory: int) -> dict[str, Any]:
    """One row of the scale table: memories stored, the retrieve cell, Redis memory in total and per memory."""
    return {
        "stored": stored,
        **{key: cell[key] for key in ("per_s", "p50_ms", "p90_ms", "p99_ms", "non_2xx", "socket_errors")},
        "redis_used_mb": round(used_memory / 2**20, 1),
        "redis_bytes_per_memory": round(used_memory / stored),
        **({"rounds": cell["rounds"]} if "rounds" in cell else {}),  # each round's cell, when there were several
    }
