"""The asynchronous client: the methods of `EBMMClient`, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx

from ebmm_client import calls
from ebmm_client.arrays import Array, Encoding
from ebmm_client.calls import Call
from ebmm_client.models import Health, MemoryPublic, ModelPublic, Readiness
from ebmm_client.results import MemoryPage, Retrieval
from ebmm_client.session import session_headers

T = TypeVar("T")


class AsyncEBMMClient:
    """The memory service over HTTP (httpx.AsyncClient); see `EBMMClient` for the arguments."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http or httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=session_headers(api_key, headers)
        )

    async def __aenter__(self) -> AsyncEBMMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, call: Call[T]) -> T:
        return call.result(await self.http.send(call.request(self.http)))

    async def write(
        self,
        model: str,
        patterns: Array,
        *,
        ttl_seconds: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        encoding: Encoding = "json",
        request_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        self_check: bool = True,
    ) -> MemoryPublic:
        call = calls.write(
            model, patterns, ttl_seconds, metadata, idempotency_key, encoding, request_id, extra, self_check
        )
        return await self.send(call)

    async def retrieve(
        self,
        memory_id: str,
        queries: Array,
        known_mask: Array | None = None,
        *,
        noisy: bool = False,
        trace: bool = False,
        encoding: Encoding = "json",
        request_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Retrieval:
        return await self.send(
            calls.retrieve(memory_id, queries, known_mask, noisy, trace, encoding, request_id, extra)
        )

    async def get(self, memory_id: str, *, request_id: str | None = None) -> MemoryPublic:
        return await self.send(calls.get(memory_id, request_id))

    async def delete(self, memory_id: str, *, request_id: str | None = None) -> None:
        await self.send(calls.delete(memory_id, request_id))

    async def list_memories(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        model: str | None = None,
        request_id: str | None = None,
    ) -> MemoryPage:
        return await self.send(calls.list_memories(limit, cursor, model, request_id))

    async def iter_memories(
        self, *, model: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[MemoryPublic]:
        cursor = None
        while True:
            page = await self.list_memories(limit=page_size, cursor=cursor, model=model)
            for memory in page.memories:
                yield memory
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def models(self, *, request_id: str | None = None) -> list[ModelPublic]:
        return await self.send(calls.models(request_id))

    async def health(self) -> Health:
        return await self.send(calls.health())

    async def ready(self) -> Readiness:
        return await self.send(calls.ready())

    async def metrics(self) -> str:
        return await self.send(calls.metrics())
