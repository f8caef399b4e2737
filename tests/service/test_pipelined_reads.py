"""Reads asked for in one event-loop turn share one pipeline; each caller gets its own reply or error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from service.embedded_redis import EmbeddedRedis
from service.pipelined_reads import PipelinedReads


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    embedded = EmbeddedRedis(tmp_path / "redis", "everysec")
    try:
        yield embedded.start()
    finally:
        embedded.stop()


async def test_reads_of_one_turn_share_a_pipeline_and_get_their_own_replies(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        for k in range(5):
            await client.hset(f"h{k}", mapping={"k": str(k)})
        pipelines = []
        open_pipeline = client.pipeline
        monkeypatch.setattr(client, "pipeline", lambda **kw: pipelines.append(kw) or open_pipeline(**kw))
        reads = PipelinedReads(client)
        replies = await asyncio.gather(*(reads.hgetall(f"h{k}") for k in (*range(5), "missing")))
        assert replies == [{b"k": str(k).encode()} for k in range(5)] + [{}]
        assert pipelines == [{"transaction": False}]  # one pipeline for the six reads
        assert await reads.hgetall("h3") == {b"k": b"3"} and len(pipelines) == 2  # the next turn: its own
    finally:
        await client.aclose()


async def test_a_read_whose_caller_gave_up_does_not_disturb_the_others(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await client.hset("h", mapping={"k": "v"})
        reads = PipelinedReads(client)
        abandoned = asyncio.ensure_future(reads.hgetall("h"))
        kept = asyncio.ensure_future(reads.hgetall("h"))
        await asyncio.sleep(0)
        abandoned.cancel()
        assert await kept == {b"k": b"v"}
    finally:
        await client.aclose()


async def test_every_read_of_a_failed_pipeline_gets_the_error(tmp_path: Path) -> None:
    client = redis.asyncio.Redis.from_url(f"unix://{tmp_path}/nothing.sock", socket_connect_timeout=0.5)
    try:
        reads = PipelinedReads(client)
        results = await asyncio.gather(reads.hgetall("a"), reads.hgetall("b"), return_exceptions=True)
        assert all(isinstance(result, RedisConnectionError) for result in results)
    finally:
        await client.aclose()
