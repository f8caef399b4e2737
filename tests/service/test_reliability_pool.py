"""Issue 16 item 2: a burst wider than the Redis connection pool waits for connections (a blocking pool sized by
EBMM_REDIS_MAX_CONNECTIONS) instead of answering 503 `redis`; engine overload stays a 429 with Retry-After, and
/readyz does not flap."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import httpx

from .conftest import KEYS, TENANT


async def _burst(url: str, memory_id: str, gets: int, retrieves: int, query: list[float]) -> tuple[Counter, list]:
    headers = {"Authorization": f"Bearer {KEYS[TENANT]}"}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as http:
        ready: list[int] = []
        stop = asyncio.Event()

        async def probe() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=60) as prober:
                while not stop.is_set():
                    ready.append((await prober.get("/readyz")).status_code)
                    await asyncio.sleep(0.02)

        async def get() -> tuple[int, str | None]:
            response = await http.get(f"/memories/{memory_id}")
            return response.status_code, response.headers.get("Retry-After")

        async def retrieve() -> tuple[int, str | None]:
            response = await http.post(f"/memories/{memory_id}/retrieve", json={"queries": [query]})
            return response.status_code, response.headers.get("Retry-After")

        prober = asyncio.create_task(probe())
        await asyncio.sleep(0.05)
        calls = [get() for _ in range(gets)] + [retrieve() for _ in range(retrieves)]
        outcomes = await asyncio.gather(*calls)
        stop.set()
        await prober
    return Counter(outcomes), ready


def test_a_burst_wider_than_the_pool_waits_for_connections(make_server, bits) -> None:
    with make_server(max_queue=16, redis_max_connections=4) as server, server.client() as client:
        X = bits.patterns(2)
        memory = client.write("tiny", X)
        counts, ready = asyncio.run(_burst(server.url, memory.id, 160, 140, bits.erase(X, 8)[0].tolist()))
    statuses = Counter(status for (status, _), n in counts.items() for _ in range(n))
    assert set(statuses) <= {200, 429}, counts  # no 503: requests wait for a connection
    assert statuses[200] >= 160  # every get, and the retrieves the engine queue took
    assert all(after and after.isdigit() for (status, after) in counts if status == 429)
    assert ready and set(ready) == {200}, Counter(ready)  # readiness never reported Redis down


def test_no_free_connection_within_the_deadline_is_a_429_not_a_redis_outage(make_server, bits) -> None:
    """One pooled connection, held by a call to a hung Redis: the calls waiting behind it get 429 `overloaded`
    with Retry-After once EBMM_DEADLINE_S passes; the one holding it gets 503 `redis`."""
    settings = dict(redis_max_connections=1, deadline_s=0.5, redis_timeout_s=0.5)
    with make_server(**settings) as server, server.client() as client:
        memory = client.write("tiny", bits.patterns(2))
        pid = server.app.state.embedded.process.pid
        headers = {"Authorization": f"Bearer {KEYS[TENANT]}"}

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
                return await asyncio.gather(*(http.get(f"/memories/{memory.id}") for _ in range(6)))

        os.kill(pid, signal.SIGSTOP)
        try:
            responses = asyncio.run(burst())
        finally:
            os.kill(pid, signal.SIGCONT)
        kinds = Counter((r.status_code, r.json()["error"]["type"]) for r in responses)
        assert set(kinds) == {(503, "redis"), (429, "overloaded")}, kinds
        assert all(r.headers["Retry-After"].isdigit() for r in responses if r.status_code == 429)
        assert client.get(memory.id) == memory
