"""Reads of whole memories (HGETALL) pipelined: those asked for in the same event-loop turn go to Redis together.

A retrieve's one Redis call cost the event loop more Python time through redis-py than its HTTP parsing
(taking a pooled connection, its retry wrapper, argument checks, sending and parsing, for one command). Under
load many retrieves ask for their memory in the same turn of the loop; `PipelinedReads` collects them and sends
one non-transactional pipeline at the end of the turn, so that cost is paid once per turn. Each caller gets its
own reply, or its own error (a failed pipeline fails every read in it, as it would have failed each).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis, RedisCluster


class PipelinedReads:
    """HGETALL through pipelines of the reads asked for in one event-loop turn."""

    def __init__(self, redis: Redis | RedisCluster) -> None:
        self.redis = redis
        self._waiting: list[tuple[str, asyncio.Future[dict[bytes, bytes]]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[bytes, bytes]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._send)  # after the callbacks already ready in this turn have asked for theirs
        self._waiting.append((key, future))
        return await future

    def _send(self) -> None:
        reads, self._waiting = self._waiting, []
        task = asyncio.get_running_loop().create_task(self._execute(reads))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, reads: list[tuple[str, asyncio.Future[dict[bytes, bytes]]]]) -> None:
        replies: list[Any]
        try:
            pipeline = self.redis.pipeline(transaction=False)
            for key, _ in reads:
                pipeline.hgetall(key)
            replies = await pipeline.execute(raise_on_error=False)
        except BaseException as exc:  # the whole pipeline failed (no connection, timeout, cancelled)
            replies = [exc] * len(reads)
        for (_, future), reply in zip(reads, replies, strict=True):
            if future.done():  # its caller gave up
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)
