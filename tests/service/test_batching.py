"""Concurrent retrieves of different memories share engine calls and each gets its own correct answer."""

from __future__ import annotations

import asyncio

import numpy as np
import torch
from prometheus_client.parser import text_string_to_metric_families

from ebmm_client import AsyncEBMMClient
from model.engine import Engine

from .conftest import KEYS, TENANT, memory_key


def read_batches(metrics_text: str) -> tuple[float, float, float, dict[str, float]]:
    """(batcher batches, items, engine calls, graph-mode engine calls per bucket) of the tiny model's reads."""
    samples = [
        s
        for family in text_string_to_metric_families(metrics_text)
        if family.name in ("ebmm_batch_size", "ebmm_engine_calls", "ebmm_engine_batches")
        for s in family.samples
        if s.labels.get("model") == "tiny" and s.labels["op"] == "read"
    ]
    values = {s.name: s.value for s in samples if "bucket" not in s.labels}
    buckets = {s.labels["bucket"]: s.value for s in samples if s.name == "ebmm_engine_batches_total"}
    batches, items = values["ebmm_batch_size_count"], values["ebmm_batch_size_sum"]
    return batches, items, values["ebmm_engine_calls_total"], buckets


async def test_64_concurrent_retrieves_are_batched_and_correct(server, engine: Engine, bits) -> None:
    redis = server.redis()
    async with AsyncEBMMClient(server.url, api_key=KEYS[TENANT]) as client:
        stored = [bits.patterns(8) for _ in range(8)]
        memories = await asyncio.gather(*(client.write("tiny", X) for X in stored))
        jobs = [(i % 8, bits.erase(stored[i % 8][: 1 + i % 3], 8)) for i in range(64)]  # 1–3 queries each
        batches_before, items_before, calls_before, buckets_before = read_batches(await client.metrics())
        results = await asyncio.gather(*(client.retrieve(memories[m].id, Q) for m, Q in jobs))
        batches_after, items_after, calls_after, buckets_after = read_batches(await client.metrics())

    batches, calls = batches_after - batches_before, calls_after - calls_before
    assert items_after - items_before == 64
    assert batches <= calls < 64  # some engine call held more than one request; a batch makes ≥ 1 call
    assert buckets_after == buckets_before  # eager engine calls pad nothing, so no bucket is counted
    for (m, Q), result in zip(jobs, results, strict=True):
        raw = redis.hget(memory_key(memories[m].id), "theta")
        theta = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())[None]
        Qt = torch.from_numpy(Q)[None]
        local = engine.read(theta, Qt, Qt != 0)
        assert np.array_equal(np.asarray(result.patterns), local.patterns[0].numpy())
        np.testing.assert_allclose(result.energies, local.energies[0].numpy(), rtol=1e-4, atol=1e-5)
