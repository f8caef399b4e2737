"""The synchronous client."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import httpx

from ebmm_client import calls
from ebmm_client.arrays import Array, Encoding
from ebmm_client.calls import Call
from ebmm_client.models import Health, MemoryPublic, ModelPublic, Readiness
from ebmm_client.results import MemoryPage, Retrieval
from ebmm_client.session import session_headers

T = TypeVar("T")


class EBMMClient:
    """The memory service over HTTP (httpx), one call per method; errors raise `EBMMError`.

    `api_key` goes as `Authorization: Bearer <key>`; `http` replaces the client made here (its base URL and
    headers are then the caller's). Every call takes an optional `request_id` (sent as X-Request-Id).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=session_headers(api_key, headers))

    def __enter__(self) -> EBMMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call[T]) -> T:
        return call.result(self.http.send(call.request(self.http)))

    def write(
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
        """Write patterns [N][D] into a new memory. `self_check=False`: no write-time self-check (recall_error None,
        a faster write). `extra`: body fields this client does not know, sent as given."""
        call = calls.write(
            model, patterns, ttl_seconds, metadata, idempotency_key, encoding, request_id, extra, self_check
        )
        return self.send(call)

    def retrieve(
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
        """Read queries [M][D]. `noisy=True`: any entry may be wrong, nothing is kept fixed. `encoding="b64"`:
        queries go as base64 float32 and the answer's patterns come back as a numpy array [M, D]."""
        return self.send(calls.retrieve(memory_id, queries, known_mask, noisy, trace, encoding, request_id, extra))

    def get(self, memory_id: str, *, request_id: str | None = None) -> MemoryPublic:
        return self.send(calls.get(memory_id, request_id))

    def delete(self, memory_id: str, *, request_id: str | None = None) -> None:
        self.send(calls.delete(memory_id, request_id))

    def list_memories(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        model: str | None = None,
        request_id: str | None = None,
    ) -> MemoryPage:
        """One page of the tenant's memories, newest first (`limit` 1..1000, server default 100)."""
        return self.send(calls.list_memories(limit, cursor, model, request_id))

    def iter_memories(self, *, model: str | None = None, page_size: int | None = None) -> Iterator[MemoryPublic]:
        """Every memory of the tenant, newest first, fetching pages as it goes."""
        cursor = None
        while True:
            page = self.list_memories(limit=page_size, cursor=cursor, model=model)
            yield from page.memories
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def models(self, *, request_id: str | None = None) -> list[ModelPublic]:
        return self.send(calls.models(request_id))

    def health(self) -> Health:
        """Liveness, also when not alive (503)."""
        return self.send(calls.health())

    def ready(self) -> Readiness:
        """Readiness, also when not ready (503)."""
        return self.send(calls.ready())

    def metrics(self) -> str:
        """The Prometheus text of /metrics."""
        return self.send(calls.metrics())
