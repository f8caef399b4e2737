"""Overload: a burst beyond the queue limit gets 429s with Retry-After, and every accepted request is served
correctly (the same answer as the engine in-process)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import torch

from ebmm_client import AsyncEBMMClient, EBMMError
from model.engine import Engine

from .conftest import KEYS, TENANT, memory_key

BURST = 48


async def burst(client: AsyncEBMMClient, memory_id: str, queries: list[np.ndarray]) -> list:
    return await asyncio.gather(*(client.retrieve(memory_id, Q) for Q in queries), return_exceptions=True)


async def test_a_burst_beyond_the_queue_limit_gets_429s_and_the_accepted_are_correct(
    make_server, engine: Engine, bits
) -> None:
    auth = {"Authorization": f"Bearer {KEYS[TENANT]}"}
    limits = httpx.Limits(max_connections=BURST)
    with make_server(max_queue=2, max_batch=1, max_delay_ms=0.0) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits, headers=auth) as http:
            client = AsyncEBMMClient(server.url, http=http)
            X = bits.patterns(16)
            memory = await client.write("tiny", X)
            for _ in range(3):  # a few bursts: the first may be absorbed while connections open
                queries = [bits.erase(X[np.arange(64) % 16], 8) for _ in range(BURST)]  # 64 queries each
                results = await burst(client, memory.id, queries)
                if any(isinstance(r, EBMMError) for r in results):
                    break
        raw = server.redis().hget(memory_key(memory.id), "theta")

    refused = [r for r in results if isinstance(r, EBMMError)]
    served = [(Q, r) for Q, r in zip(queries, results, strict=True) if not isinstance(r, BaseException)]
    assert refused and served and len(refused) + len(served) == BURST
    for error in refused:
        assert (error.status, error.type) == (429, "queue_full") and int(error.headers["Retry-After"]) >= 1
    theta = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())[None]
    for Q, result in served:
        Qt = torch.from_numpy(Q)[None]
        assert np.array_equal(np.asarray(result.patterns), engine.read(theta, Qt, Qt != 0).patterns[0].numpy())
