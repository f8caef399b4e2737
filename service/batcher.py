"""Dynamic batching: callers submit one item and await its future; one worker thread runs the engine.

Each (model, op) has a bounded queue and an asyncio task that closes a batch when it holds `max_batch`
items or `max_delay_ms` after its oldest item arrived (never empty), takes what the queue holds (up to
`max_batch`, round-robin over tenants: service.fair_queue), then runs the batch function (which counts the
engine calls it makes: `ebmm_engine_calls_total`) on the single engine thread, so the
event loop never blocks and engine calls never overlap. The batch function returns one result or exception
per item; each item's future gets its own. A full queue refuses at once (429 with Retry-After), and so
does a tenant with `max_tenant_queue` items already waiting in it (only that tenant); an item that waited
past its deadline gets a 503. `max_batch = 1` turns batching off.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

from service.errors import ApiError
from service.fair_queue import FairQueue
from service.request_context import note
from service.tracing import record_span

if TYPE_CHECKING:  # metrics labels its series with Op
    from opentelemetry.trace import Tracer

    from service.metrics import Metrics
    from service.settings import Settings

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")
# run(jobs) -> one outcome or exception per job, in order
BatchFn = Callable[[Sequence[Job]], list[Outcome | BaseException]]


class Op(StrEnum):
    """What a queue's engine calls do: the `op` label of the batcher's metrics."""

    WRITE = "write"
    READ = "read"


@dataclass
class _Item(Generic[Job, Outcome]):
    payload: Job
    tenant: str
    future: asyncio.Future[Outcome]
    enqueued: float = field(default_factory=time.monotonic)
    batch_size: int = 0  # of the engine call that served it, which ran from `started` to `finished`
    started: float = 0.0
    finished: float = 0.0


class BatchQueue(Generic[Job, Outcome]):
    """One (model, op) queue and the task that turns it into engine calls."""

    def __init__(
        self,
        model: str,
        op: Op,
        run: BatchFn[Job, Outcome],
        executor: ThreadPoolExecutor,
        metrics: Metrics,
        max_batch: int,
        max_delay_s: float,
        max_queue: int,
        max_tenant_queue: int,
        deadline_s: float,
        tracer: Tracer | None = None,
    ) -> None:
        self.model, self.op, self.run, self.executor, self.metrics = model, op, run, executor, metrics
        self.tracer = tracer
        self.max_batch, self.max_delay_s = max_batch, max_delay_s
        self.max_queue, self.max_tenant_queue, self.deadline_s = max_queue, max_tenant_queue, deadline_s
        self._items: FairQueue[_Item[Job, Outcome]] = FairQueue()
        self._arrived = asyncio.Event()
        self._closing = False
        self._batch_seconds = 0.01  # running estimate of one batch's engine time, for Retry-After
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{model}-{op}")

    def _reject(self, reason: str, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        self.metrics.rejected.labels(self.model, self.op, reason).inc()
        return ApiError(status, reason, message, headers=headers)

    def _retry_after(self) -> dict[str, str]:
        """Retry-After: about when the batches now waiting will have run."""
        batches_ahead = math.ceil(len(self._items) / self.max_batch)
        return {"Retry-After": str(max(1, math.ceil(batches_ahead * self._batch_seconds)))}

    async def submit(self, payload: Job, tenant: str) -> Outcome:
        """Queue one of `tenant`'s items and wait for its own result (or exception)."""
        if self._closing:
            raise ApiError(503, "unavailable", "the service is shutting down")
        if len(self._items) >= self.max_queue:
            message = f"the {self.model} {self.op} queue is full ({self.max_queue} waiting); retry later"
            raise self._reject("queue_full", 429, message, self._retry_after())
        if self._items.waiting(tenant) >= self.max_tenant_queue:
            message = (
                f"this tenant has {self.max_tenant_queue} {self.model} {self.op} requests waiting "
                "(EBMM_TENANT_MAX_QUEUED); retry later"
            )
            raise self._reject("tenant_busy", 429, message, self._retry_after())
        item = _Item(payload, tenant, asyncio.get_running_loop().create_future())
        self._items.push(tenant, item)
        self.metrics.queue_depth.labels(self.model, self.op).inc()
        if len(self._items) in (1, self.max_batch):  # the first item starts a batch's clock; a full batch closes
            self._arrived.set()
        try:
            return await asyncio.wait_for(item.future, self.deadline_s)  # a timeout or a gone caller cancels it
        except TimeoutError:
            raise self._reject(
                "deadline", 503, f"the {self.model} {self.op} request waited over {self.deadline_s:g} s; retry later"
            ) from None
        finally:
            if item.batch_size:  # it ran: the request's access line and trace say how
                self._report(item)

    def _report(self, item: _Item[Job, Outcome]) -> None:
        """The served item's batch size for its access log line, and its queue and engine spans."""
        note(batch_size=item.batch_size)
        if self.tracer is not None:
            attributes = {"ebmm.model": self.model, "ebmm.op": str(self.op), "ebmm.batch_size": item.batch_size}
            record_span(self.tracer, "engine queue wait", item.enqueued, item.started, attributes)
            record_span(self.tracer, f"engine {self.op}", item.started, item.finished, attributes)

    def _take(self) -> list[_Item[Job, Outcome]]:
        """Up to max_batch items, tenants in turn, skipping those whose caller already gave up."""
        batch: list[_Item[Job, Outcome]] = []
        while self._items and len(batch) < self.max_batch:
            for item in self._items.take(self.max_batch - len(batch)):
                self.metrics.queue_depth.labels(self.model, self.op).dec()
                if not item.future.done():
                    batch.append(item)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._items:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            close_at = min(item.enqueued for item in self._items.heads()) + self.max_delay_s
            while len(self._items) < self.max_batch and not self._closing and (wait := close_at - time.monotonic()) > 0:
                self._arrived.clear()  # woken by the timer, a full batch or drain(), not by every item
                timer = loop.call_later(wait, self._arrived.set)
                await self._arrived.wait()
                timer.cancel()
            batch = self._take()
            if not batch:
                continue
            start = time.monotonic()
            for item in batch:
                self.metrics.queue_wait.labels(self.model, self.op).observe(start - item.enqueued)
            self.metrics.batch_size.labels(self.model, self.op).observe(len(batch))
            results = await loop.run_in_executor(self.executor, self._run_each, [i.payload for i in batch])
            elapsed = time.monotonic() - start
            self._batch_seconds = 0.8 * self._batch_seconds + 0.2 * elapsed
            self.metrics.engine_seconds.labels(self.model, self.op).observe(elapsed)
            for item, result in zip(batch, results, strict=True):
                if item.future.done():
                    continue
                item.batch_size, item.started, item.finished = len(batch), start, start + elapsed
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)

    def _run_each(self, payloads: list[Job]) -> list[Outcome | BaseException]:
        """The batch function on the engine thread; if the batch fails as a whole, each item runs alone."""
        try:
            return self.run(payloads)
        except Exception as exc:
            if len(payloads) == 1:
                return [exc]
        out: list[Outcome | BaseException] = []
        for payload in payloads:
            try:
                out.extend(self.run([payload]))
            except Exception as exc:
                out.append(exc)
        return out

    async def drain(self) -> None:
        """Refuse new items, finish the queued ones, stop the task."""
        self._closing = True
        self._arrived.set()
        await self._task


class Batcher:
    """All queues of the service, sharing one engine thread."""

    def __init__(
        self,
        metrics: Metrics,
        max_batch: int,
        max_delay_ms: float,
        max_queue: int,
        max_tenant_queue: int,
        deadline_s: float,
        tracer: Tracer | None = None,
    ) -> None:
        self.metrics = metrics
        self.options = dict(
            tracer=tracer,
            max_batch=max_batch,
            max_delay_s=max_delay_ms / 1000.0,
            max_queue=max_queue,
            max_tenant_queue=max_tenant_queue,
            deadline_s=deadline_s,
        )
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ebmm-engine")
        self.queues: list[BatchQueue] = []

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics, tracer: Tracer | None = None) -> Batcher:
        """The batcher the EBMM_MAX_BATCH / _MAX_DELAY_MS / _MAX_QUEUE / _TENANT_MAX_QUEUED / _DEADLINE_S settings
        describe (an API process's, or the engine process's)."""
        return cls(
            metrics,
            settings.max_batch,
            settings.max_delay_ms,
            settings.max_queue,
            settings.tenant_max_queued,
            settings.deadline_s,
            tracer,
        )

    def add(self, model: str, op: Op, run: BatchFn[Job, Outcome]) -> BatchQueue[Job, Outcome]:
        """A new queue for `model`'s `op` calls, served by the shared engine thread."""
        queue = BatchQueue(model, op, run, self.executor, self.metrics, **self.options)
        self.queues.append(queue)
        return queue

    async def remove(self, *queues: BatchQueue) -> None:
        """Drain the given queues (their waiting items are served) and stop serving them."""
        await asyncio.gather(*(queue.drain() for queue in queues))
        self.queues = [queue for queue in self.queues if queue not in queues]

    async def drain(self) -> None:
        await asyncio.gather(*(queue.drain() for queue in self.queues))
        self.executor.shutdown(wait=True)
