"""The batcher on its own: batch closing, per-item results and errors, queue limits, deadlines, draining."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from service.batcher import Batcher, Op
from service.errors import ApiError
from service.metrics import Metrics


def make(
    max_batch: int = 8,
    max_delay_ms: float = 50.0,
    max_queue: int = 100,
    deadline_s: float = 5.0,
    max_tenant_queue: int = 100,
) -> Batcher:
    return Batcher(Metrics(), max_batch, max_delay_ms, max_queue, max_tenant_queue, deadline_s)


async def test_a_batch_closes_when_full_and_each_item_gets_its_own_result() -> None:
    batcher = make(max_batch=4, max_delay_ms=10_000)  # only fullness can close a batch quickly
    sizes: list[int] = []

    def double(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        return [2 * i for i in items]

    queue = batcher.add("m", Op.READ, double)
    results = await asyncio.wait_for(asyncio.gather(*(queue.submit(i, "t") for i in range(8))), 5)
    assert results == [2 * i for i in range(8)] and sizes == [4, 4]
    await batcher.drain()


async def test_a_batch_closes_after_the_delay() -> None:
    batcher = make(max_batch=64, max_delay_ms=20)
    sizes: list[int] = []
    queue = batcher.add("m", Op.READ, lambda items: sizes.append(len(items)) or list(items))
    assert await asyncio.gather(*(queue.submit(i, "t") for i in range(3))) == [0, 1, 2]
    assert sizes == [3]
    await batcher.drain()


async def test_one_bad_item_fails_alone() -> None:
    batcher = make()

    def inverse(items: Sequence[float]) -> list[float]:
        return [1.0 / x for x in items]  # one zero fails the batch; the batcher reruns items one by one

    queue = batcher.add("m", Op.READ, inverse)
    results = await asyncio.gather(*(queue.submit(x, "t") for x in (1.0, 0.0, 4.0)), return_exceptions=True)
    assert results[0] == 1.0 and results[2] == 0.25 and isinstance(results[1], ZeroDivisionError)
    await batcher.drain()


async def test_full_queue_is_429_with_retry_after_and_deadline_is_503() -> None:
    batcher = make(max_batch=1, max_delay_ms=0, max_queue=2, deadline_s=0.3)
    release = threading.Event()
    queue = batcher.add("m", Op.WRITE, lambda items: release.wait(5) and list(items))
    first = asyncio.ensure_future(queue.submit(0, "t"))  # occupies the engine thread
    await asyncio.sleep(0.05)
    waiting = [asyncio.ensure_future(queue.submit(i, "t")) for i in (1, 2)]
    await asyncio.sleep(0.01)
    with pytest.raises(ApiError) as full:
        await queue.submit(3, "t")
    assert full.value.status == 429 and int(full.value.headers["Retry-After"]) >= 1
    for task in (first, *waiting):
        with pytest.raises(ApiError) as late:
            await task
        assert late.value.status == 503 and late.value.type == "deadline"
    release.set()
    registry = batcher.metrics.engine_registry
    for reason, count in (("queue_full", 1), ("deadline", 3)):
        labels = {"model": "m", "op": "write", "reason": reason}
        assert registry.get_sample_value("ebmm_rejected_total", labels) == count
    await batcher.drain()


async def test_drain_finishes_queued_items_and_refuses_new_ones() -> None:
    batcher = make(max_batch=2, max_delay_ms=0)
    queue = batcher.add("m", Op.READ, lambda items: list(items))
    pending = [asyncio.ensure_future(queue.submit(i, "t")) for i in range(5)]
    await asyncio.sleep(0)
    await batcher.drain()
    assert [task.result() for task in pending] == list(range(5))
    with pytest.raises(ApiError, match="shutting down"):
        await queue.submit(9, "t")


def test_engine_calls_are_counted_and_only_graph_calls_by_bucket() -> None:
    metrics = Metrics()
    metrics.count_engine_call("m", Op.READ, False, 9)  # eager: nothing is padded
    metrics.count_engine_call("m", Op.READ, True, 9)  # graph: padded to memory bucket 32
    metrics.count_engine_call("m", Op.READ, True, 1)
    registry = metrics.engine_registry
    assert registry.get_sample_value("ebmm_engine_calls_total", {"model": "m", "op": "read"}) == 3
    counts = {
        bucket: registry.get_sample_value("ebmm_engine_batches_total", {"model": "m", "op": "read", "bucket": bucket})
        for bucket in ("1", "8", "32")
    }
    assert counts == {"1": 1.0, "8": None, "32": 1.0}


async def test_batches_draw_tenants_in_turn() -> None:
    batcher = make(max_batch=4, max_delay_ms=10_000)
    batches: list[list[str]] = []
    queue = batcher.add("m", Op.READ, lambda items: batches.append(list(items)) or list(items))
    burst = [asyncio.ensure_future(queue.submit(f"noisy{i}", "noisy")) for i in range(3)]  # under max_batch
    await asyncio.sleep(0)
    quiet = [asyncio.ensure_future(queue.submit(f"quiet{i}", "quiet")) for i in range(2)]
    await asyncio.wait_for(asyncio.gather(*burst[:2], *quiet), 5)
    assert batches == [["noisy0", "quiet0", "noisy1", "quiet1"]]
    await batcher.drain()  # the last noisy item runs when the queue drains
    assert batches[1:] == [["noisy2"]] and burst[2].result() == "noisy2"


async def test_a_tenant_over_its_share_is_refused_and_only_that_tenant() -> None:
    metrics = Metrics()
    batcher = Batcher(metrics, 64, 10_000, 100, 3, 5.0)  # batches close only when full or drained
    queue = batcher.add("m", Op.READ, lambda items: list(items))
    waiting = [asyncio.ensure_future(queue.submit(i, "noisy")) for i in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(ApiError) as refused:
        await queue.submit(3, "noisy")
    assert (refused.value.status, refused.value.type) == (429, "tenant_busy")
    assert "Retry-After" in (refused.value.headers or {})
    others = [asyncio.ensure_future(queue.submit(i, "quiet")) for i in range(3)]
    await asyncio.sleep(0)
    await batcher.drain()
    assert [w.result() for w in waiting + others] == [0, 1, 2, 0, 1, 2]
    assert metrics.rejected.labels("m", Op.READ, "tenant_busy")._value.get() == 1
