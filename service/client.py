"""A small typed client of the memory service (httpx), sync and async, used by the tests and the load benchmark.

    with EBMMClient("http://127.0.0.1:8000", api_key="…") as client:
        memory = client.write("binary128", patterns)             # [N][D] numbers or a numpy array
        result = client.retrieve(memory.id, queries)              # .patterns, .energies, .changed

`api_key` is sent as `Authorization: Bearer <key>`; `encoding="b64"` sends arrays as base64 little-endian float32
instead of JSON numbers.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import numpy as np
import orjson
from pydantic import BaseModel

from service.schemas import Health, MemoryPublic, ModelList, ModelPublic, Readiness, RetrieveResult

Array = Sequence[Sequence[float]] | np.ndarray
Encoding = Literal["json", "b64"]
T = TypeVar("T", bound=BaseModel)


class EBMMError(Exception):
    """An error response: HTTP status plus the service's {"type", "message", "field"}."""

    def __init__(self, status: int, type: str, message: str, field: str | None, headers: httpx.Headers) -> None:
        super().__init__(f"{status} {type}: {message}" + (f" (field {field})" if field else ""))
        self.status, self.type, self.message, self.field, self.headers = status, type, message, field, headers


@dataclass(frozen=True)
class _Call:
    """One HTTP call, independent of sync or async sending."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = dict(self.headers or {})
        content = None
        if self.body is not None:
            headers["content-type"] = "application/json"
            content = orjson.dumps(self.body, option=orjson.OPT_SERIALIZE_NUMPY)
        return http.build_request(self.method, self.path, content=content, headers=headers)


def _arrays(name: str, array: Array, encoding: Encoding, shape_key: bool = True) -> dict[str, Any]:
    if encoding == "b64":
        values = np.ascontiguousarray(array, dtype="<f4")
        out: dict[str, Any] = {f"{name}_b64": base64.b64encode(values.tobytes()).decode()}
        if shape_key:
            out["shape"] = list(values.shape)
        return out
    return {name: array.tolist() if isinstance(array, np.ndarray) else array}


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        error = orjson.loads(response.content)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        error = {"type": "http", "message": response.text, "field": None}
    raise EBMMError(response.status_code, error["type"], error["message"], error.get("field"), response.headers)


def _parse(response: httpx.Response, model: type[T]) -> T:
    return model.model_validate_json(_check(response).content)


class _Calls:
    """The API as `_Call`s; the sync and async clients send them."""

    @staticmethod
    def write(
        model: str,
        patterns: Array,
        ttl_seconds: int | None,
        metadata: dict[str, Any] | None,
        idempotency_key: str | None,
        encoding: Encoding,
    ) -> _Call:
        body: dict[str, Any] = {"model": model, **_arrays("patterns", patterns, encoding)}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if metadata is not None:
            body["metadata"] = metadata
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return _Call("POST", "/memories", body, headers)

    @staticmethod
    def retrieve(
        memory_id: str, queries: Array, known_mask: Array | None, noisy: bool, trace: bool, encoding: Encoding
    ) -> _Call:
        body = _arrays("queries", queries, encoding)
        if known_mask is not None:
            body.update(_arrays("known_mask", known_mask, encoding, shape_key=False))
        if noisy:
            body["noisy"] = True
        if trace:
            body["trace"] = True
        return _Call("POST", f"/memories/{memory_id}/retrieve", body)


class EBMMClient:
    """Synchronous client."""

    def __init__(
        self, base_url: str, api_key: str | None = None, timeout: float = 30.0, http: httpx.Client | None = None
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=_auth(api_key))

    def __enter__(self) -> EBMMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _send(self, call: _Call) -> httpx.Response:
        return self.http.send(call.request(self.http))

    def write(
        self,
        model: str,
        patterns: Array,
        *,
        ttl_seconds: int | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        encoding: Encoding = "json",
    ) -> MemoryPublic:
        call = _Calls.write(model, patterns, ttl_seconds, metadata, idempotency_key, encoding)
        return _parse(self._send(call), MemoryPublic)

    def retrieve(
        self,
        memory_id: str,
        queries: Array,
        known_mask: Array | None = None,
        *,
        noisy: bool = False,
        trace: bool = False,
        encoding: Encoding = "json",
    ) -> RetrieveResult:
        """`noisy=True`: any query entry may be wrong, so nothing is kept fixed; `trace=True`: every state of
        each read too (see RetrieveRequest)."""
        call = _Calls.retrieve(memory_id, queries, known_mask, noisy, trace, encoding)
        return _parse(self._send(call), RetrieveResult)

    def get(self, memory_id: str) -> MemoryPublic:
        return _parse(self._send(_Call("GET", f"/memories/{memory_id}")), MemoryPublic)

    def delete(self, memory_id: str) -> None:
        _check(self._send(_Call("DELETE", f"/memories/{memory_id}")))

    def models(self) -> list[ModelPublic]:
        return _parse(self._send(_Call("GET", "/models")), ModelList).models

    def health(self) -> Health:
        return _parse(self._send(_Call("GET", "/healthz")), Health)

    def ready(self) -> Readiness:
        """Readiness, also when not ready (503)."""
        return Readiness.model_validate_json(self._send(_Call("GET", "/readyz")).content)

    def metrics(self) -> str:
        return _check(self._send(_Call("GET", "/metrics"))).text


class AsyncEBMMClient:
    """Asynchronous client (same methods, awaited)."""

    def __init__(
        self, base_url: str, api_key: str | None = None, timeout: float = 30.0, http: httpx.AsyncClient | None = None
    ) -> None:
        self.http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=_auth(api_key))

    async def __aenter__(self) -> AsyncEBMMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def _send(self, call: _Call) -> httpx.Response:
        return await self.http.send(call.request(self.http))

    async def write(
        self,
        model: str,
        patterns: Array,
        *,
        ttl_seconds: int | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        encoding: Encoding = "json",
    ) -> MemoryPublic:
        call = _Calls.write(model, patterns, ttl_seconds, metadata, idempotency_key, encoding)
        return _parse(await self._send(call), MemoryPublic)

    async def retrieve(
        self,
        memory_id: str,
        queries: Array,
        known_mask: Array | None = None,
        *,
        noisy: bool = False,
        trace: bool = False,
        encoding: Encoding = "json",
    ) -> RetrieveResult:
        """`noisy=True`: any query entry may be wrong, so nothing is kept fixed; `trace=True`: every state of
        each read too (see RetrieveRequest)."""
        call = _Calls.retrieve(memory_id, queries, known_mask, noisy, trace, encoding)
        return _parse(await self._send(call), RetrieveResult)

    async def get(self, memory_id: str) -> MemoryPublic:
        return _parse(await self._send(_Call("GET", f"/memories/{memory_id}")), MemoryPublic)

    async def delete(self, memory_id: str) -> None:
        _check(await self._send(_Call("DELETE", f"/memories/{memory_id}")))

    async def models(self) -> list[ModelPublic]:
        return _parse(await self._send(_Call("GET", "/models")), ModelList).models

    async def health(self) -> Health:
        return _parse(await self._send(_Call("GET", "/healthz")), Health)

    async def ready(self) -> Readiness:
        return Readiness.model_validate_json((await self._send(_Call("GET", "/readyz"))).content)

    async def metrics(self) -> str:
        return _check(await self._send(_Call("GET", "/metrics"))).text
