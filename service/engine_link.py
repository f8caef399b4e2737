"""An API worker's link to the engine process (`ebmm engine`): one engine per device, fed by every API worker.

With `EBMM_ENGINE_SOCKET` set, an API worker runs no engine of its own: each write or read job goes over a Unix
socket to the engine process, whose batcher forms batches across all workers (and whose engine thread never
shares a GIL with HTTP parsing), and the answer comes back the same way. The API worker still loads each
checkpoint on the CPU, for what validating a request needs (the model's info and domain); it never runs it.

Frames are a 4-byte big-endian length and a pickle of `(kind, id, payload)`; the socket lives in a directory
only this user can enter, and both ends are this service's own processes.

    → ("submit", id, (model, checkpoint_hash, op, tenant, job))   ← ("ok", id, (outcome, batch_size))
                                                                  ← ("error", id, (status, type, message, headers))
    → ("ping", id, None)                                          ← ("ok", id, None)
    → ("metrics", id, None)                                       ← ("ok", id, exposition bytes)

Failure is reported, never a hang: a job not answered within EBMM_DEADLINE_S plus a margin gets a 503, and when
the connection drops every job waiting on it gets a 503 at once (`engine_unavailable`); `/readyz` says false
until a new connection (tried again at the next job or readiness check) gets a ping answered.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.batcher import Op
from service.errors import ApiError
from service.request_context import note

if TYPE_CHECKING:
    from model.engine import Engine

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
ANSWER_MARGIN_S = 5.0  # beyond the engine's own deadline (which answers 503 itself) before a job is given up
CONNECT_TIMEOUT_S = 2.0


async def read_frame(reader: asyncio.StreamReader) -> tuple[str, int, Any]:
    """One frame's (kind, id, payload); IncompleteReadError when the other end has gone."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))


def frame(kind: str, request_id: int, payload: Any) -> bytes:
    body = pickle.dumps((kind, request_id, payload), protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def unavailable(reason: str) -> ApiError:
    return ApiError(503, "engine_unavailable", f"the engine process is unavailable ({reason}); retry later")


class EngineLink:
    """One API worker's connection to the engine process, shared by all its requests (multiplexed by id)."""

    def __init__(self, socket_path: Path, deadline_s: float) -> None:
        self.socket_path, self.answer_within_s = socket_path, deadline_s + ANSWER_MARGIN_S
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._closed = False  # by this worker: losing the connection then is no error

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(str(self.socket_path)), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError) as exc:
                raise unavailable(f"cannot connect to {self.socket_path}: {exc}") from exc
            self._writer = writer
            self._reader_task = asyncio.create_task(  # in a context of its own, not the request's that connected
                self._read_answers(reader, writer), name="engine-link", context=contextvars.Context()
            )
            return writer

    async def _read_answers(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                kind, request_id, payload = await read_frame(reader)
                future = self._waiting.pop(request_id, None)
                if future is None or future.done():
                    continue  # its caller gave up
                if kind == "ok":
                    future.set_result(payload)
                else:
                    status, type_, message, headers = payload
                    future.set_exception(ApiError(status, type_, message, headers=headers))
        except (asyncio.IncompleteReadError, OSError, pickle.UnpicklingError) as exc:
            if not self._closed:
                log.error("lost the engine process connection: %s", exc)
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
            waiting, self._waiting = self._waiting, {}
            for future in waiting.values():
                if not future.done():
                    future.set_exception(unavailable("connection lost"))

    async def call(self, kind: str, payload: Any) -> Any:
        """Send one request and wait for its answer (503 `engine_unavailable` if none comes)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._connect()
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            writer.write(frame(kind, request_id, payload))
            await writer.drain()
            return await asyncio.wait_for(future, self.answer_within_s)
        except (OSError, ConnectionError) as exc:
            raise unavailable(f"send failed: {exc}") from exc
        except TimeoutError:
            raise unavailable(f"no answer within {self.answer_within_s:g} s") from None
        finally:
            self._waiting.pop(request_id, None)

    async def ready(self) -> bool:
        """Whether the engine process answers a ping (connecting again if the link was lost)."""
        try:
            await asyncio.wait_for(self.call("ping", None), CONNECT_TIMEOUT_S)
        except (ApiError, TimeoutError):
            return False
        return True

    async def metrics(self) -> bytes:
        """The engine process's Prometheus page of the batcher's and engine's families (empty while it does not
        answer: no series rather than stale ones; `/readyz` says why)."""
        try:
            return await asyncio.wait_for(self.call("metrics", None), CONNECT_TIMEOUT_S)
        except (ApiError, TimeoutError):
            return b""

    def add(self, model: str, checkpoint_hash: str, engine: Engine) -> RemoteModelQueues:
        """The queues of a model version (QueueSource): the engine process's, reached through this link."""
        return RemoteModelQueues.of(self, model, checkpoint_hash)

    async def remove(self, queues: RemoteModelQueues) -> None:
        """Nothing to stop here: the engine process unloads versions by itself (QueueSource)."""

    async def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)


@dataclass(frozen=True)
class RemoteQueue:
    """A batch queue of the engine process, as an API worker submits to it (see BatchQueue.submit)."""

    link: EngineLink
    model: str
    checkpoint_hash: str
    op: Op

    async def submit(self, job: Any, tenant: str) -> Any:
        outcome, batch_size = await self.link.call("submit", (self.model, self.checkpoint_hash, self.op, tenant, job))
        note(batch_size=batch_size)
        return outcome


@dataclass(frozen=True)
class RemoteModelQueues:
    """One model version's write and read queues in the engine process (the API worker's ModelQueues)."""

    write: RemoteQueue  # of WriteJob -> WriteOutcome
    read: RemoteQueue  # of ReadJob -> ReadOutcome

    @classmethod
    def of(cls, link: EngineLink, model: str, checkpoint_hash: str) -> RemoteModelQueues:
        return cls(
            RemoteQueue(link, model, checkpoint_hash, Op.WRITE), RemoteQueue(link, model, checkpoint_hash, Op.READ)
        )
