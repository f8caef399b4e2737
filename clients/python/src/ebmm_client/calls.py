"""The API as `Call`s: each says what to send and how to read the answer; the sync and async clients send them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from ebmm_client.arrays import Array, Encoding, encode
from ebmm_client.decode import decode
from ebmm_client.errors import REQUEST_ID_HEADER, EBMMError
from ebmm_client.models import Health, MemoryPublic, ModelList, ModelPublic, Readiness
from ebmm_client.results import MemoryPage, Retrieval

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP call and the reading of its answer, independent of sync or async sending.

    `also_ok`: non-2xx statuses whose body is still a result (readiness answers 503 with its state)."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    also_ok: tuple[int, ...] = ()

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return http.build_request(self.method, self.path, json=self.body, params=self.params, headers=self.headers)

    def result(self, response: httpx.Response) -> T:
        """The typed result, or EBMMError for an error status or an answer this client cannot read."""
        if not (response.is_success or response.status_code in self.also_ok):
            raise EBMMError.from_response(response)
        try:
            return self.read(response)
        except (ValueError, KeyError, TypeError) as unreadable:
            request_id = response.headers.get(REQUEST_ID_HEADER)
            message = f"unreadable answer: {unreadable}"
            raise EBMMError(response.status_code, "invalid_response", message, None, request_id) from unreadable


def _memory(response: httpx.Response) -> MemoryPublic:
    return decode(MemoryPublic, response.json())


def _nothing(response: httpx.Response) -> None:
    return None


def _headers(request_id: str | None, **more: str | None) -> dict[str, str]:
    headers = {REQUEST_ID_HEADER: request_id, **more}
    return {name: value for name, value in headers.items() if value is not None}


def _memory_path(memory_id: str) -> str:
    return f"/memories/{quote(memory_id, safe='')}"


def write(
    model: str,
    patterns: Array,
    ttl_seconds: int | None,
    metadata: Mapping[str, Any] | None,
    idempotency_key: str | None,
    encoding: Encoding,
    request_id: str | None,
    extra: Mapping[str, Any] | None,
    self_check: bool = True,
) -> Call[MemoryPublic]:
    body: dict[str, Any] = {"model": model, **encode("patterns", patterns, encoding)}
    if ttl_seconds is not None:
        body["ttl_seconds"] = ttl_seconds
    if not self_check:
        body["self_check"] = False
    if metadata is not None:
        body["metadata"] = dict(metadata)
    headers = _headers(request_id, **{"Idempotency-Key": idempotency_key})
    return Call("POST", "/memories", _memory, {**body, **(extra or {})}, headers=headers)


def retrieve(
    memory_id: str,
    queries: Array,
    known_mask: Array | None,
    noisy: bool,
    trace: bool,
    encoding: Encoding,
    request_id: str | None,
    extra: Mapping[str, Any] | None,
) -> Call[Retrieval]:
    """With `encoding="b64"` the queries (and mask) go as base64 and the answer is asked for as base64 too."""
    body = encode("queries", queries, encoding)
    if known_mask is not None:
        body.update(encode("known_mask", known_mask, encoding, with_shape=False))
    if noisy:
        body["noisy"] = True
    if trace:
        body["trace"] = True
    if encoding == "b64":
        body["encoding"] = "b64"
    path = f"{_memory_path(memory_id)}/retrieve"
    return Call(
        "POST", path, lambda r: Retrieval.from_json(r.json()), {**body, **(extra or {})}, headers=_headers(request_id)
    )


def get(memory_id: str, request_id: str | None) -> Call[MemoryPublic]:
    return Call("GET", _memory_path(memory_id), _memory, headers=_headers(request_id))


def delete(memory_id: str, request_id: str | None) -> Call[None]:
    return Call("DELETE", _memory_path(memory_id), _nothing, headers=_headers(request_id))


def list_memories(limit: int | None, cursor: str | None, model: str | None, request_id: str | None) -> Call[MemoryPage]:
    params = {
        name: value for name, value in (("limit", limit), ("cursor", cursor), ("model", model)) if value is not None
    }
    return Call(
        "GET", "/memories", lambda r: MemoryPage.from_json(r.json()), params=params, headers=_headers(request_id)
    )


def models(request_id: str | None) -> Call[list[ModelPublic]]:
    return Call("GET", "/models", lambda r: decode(ModelList, r.json()).models, headers=_headers(request_id))


def health() -> Call[Health]:
    return Call("GET", "/healthz", lambda r: decode(Health, r.json()), also_ok=(503,))


def ready() -> Call[Readiness]:
    return Call("GET", "/readyz", lambda r: decode(Readiness, r.json()), also_ok=(503,))


def metrics() -> Call[str]:
    return Call("GET", "/metrics", lambda r: r.text)
