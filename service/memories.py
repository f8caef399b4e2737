"""Memory operations behind the routes: validate, batch through the engine, store in / load from Redis.

Every operation is scoped to the caller's tenant: ids, Idempotency-Keys and quotas live in its namespace.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import secrets
import time
from typing import Any

import orjson

from model.domains import Domain
from model.engine import Engine
from service.arrays import check_patterns, check_queries, known_entries, to_b64, to_matrix
from service.batch_ops import ReadJob, WriteJob
from service.errors import ApiError, invalid, not_found, too_large
from service.metrics import Metrics
from service.registry import ModelRegistry, Queues
from service.request_context import note
from service.schemas import MemoryCreate, RetrieveRequest
from service.settings import Settings
from service.store import Claim, ListCursor, MemoryStore, StoredMemory


def json_depth(value: Any, limit: int) -> int:
    """How deep `value` nests objects and arrays, counting no further than `limit` + 1 (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def new_memory_id() -> str:
    """A random, unguessable id (128 bits)."""
    return secrets.token_urlsafe(16)


def renderable(memory: StoredMemory) -> dict[str, Any] | None:
    """The memory's MemoryPublic body, or None when it cannot be rendered as JSON (metadata planted in Redis
    past the JSON nesting limit): a listing leaves such a memory out, a GET of its id reports it."""
    body = memory.public()
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError:
        return None
    return body


def encode_cursor(cursor: ListCursor | None) -> str | None:
    """A listing position as an opaque URL-safe token."""
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(f"{cursor.created_at!r} {cursor.id}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> ListCursor:
    """The position `encode_cursor` made; a 422 naming `cursor` for anything else."""
    try:
        created_at, memory_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(" ")
        cursor = ListCursor(float(created_at), memory_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid("cursor is not a cursor this service returned (pass next_cursor as it came)", "cursor") from exc
    if not math.isfinite(cursor.created_at) or not cursor.id:
        raise invalid("cursor is not a cursor this service returned (pass next_cursor as it came)", "cursor")
    return cursor


def recall_error_body(domain: Domain, errors: dict[str, float] | None) -> dict[str, Any] | None:
    """The RecallError body: the standard family's mean first, then every trained family's (None: no self-check)."""
    if errors is None:
        return None
    by_distortion = [
        {"name": name, "distortion": domain.families[name].description, "mean": mean} for name, mean in errors.items()
    ]
    standard = by_distortion[0]
    return {
        "metric": domain.metric,
        "mean": standard["mean"],
        "distortion": standard["distortion"],
        "by_distortion": by_distortion,
    }


class MemoryService:
    """The write / retrieve / get / delete logic shared by every route."""

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry,
        store: MemoryStore,
        metrics: Metrics,
    ) -> None:
        self.settings, self.registry, self.store = settings, registry, store
        self.metrics = metrics

    async def create(self, tenant: str, body: MemoryCreate, idempotency_key: str | None) -> dict[str, Any]:
        version = self.registry.newest(body.model)
        engine, queues = version.engine, version.queues
        assert engine is not None and queues is not None  # the newest version is always loaded
        info = engine.info
        note(model=info.name)
        patterns = to_matrix(body.patterns, body.patterns_b64, body.shape, "patterns", info.input_dim)
        if len(patterns) > info.max_patterns:
            raise too_large(
                f"{len(patterns)} patterns; model {info.name} stores at most {info.max_patterns}", "patterns"
            )
        check_patterns(patterns, engine.domain, "patterns" if body.patterns is not None else "patterns_b64")
        ttl = body.ttl_seconds or self.settings.default_ttl_seconds
        if ttl is not None and ttl > self.settings.max_ttl_seconds:
            raise ApiError(422, "validation", f"ttl_seconds must be ≤ {self.settings.max_ttl_seconds}", "ttl_seconds")
        max_depth, max_bytes = self.settings.max_metadata_depth, self.settings.max_metadata_bytes
        if json_depth(body.metadata, max_depth) > max_depth:
            # checked before anything is stored: a memory must render in every response that returns it
            message = f"metadata nests JSON objects and arrays over {max_depth} levels deep"
            raise ApiError(422, "validation", message, "metadata")
        try:
            metadata_bytes = orjson.dumps(body.metadata)
        except orjson.JSONEncodeError as exc:  # an integer over 64 bits
            raise ApiError(422, "validation", f"metadata cannot be stored as JSON: {exc}", "metadata") from exc
        if len(metadata_bytes) > max_bytes:
            message = f"metadata is {len(metadata_bytes)} bytes of JSON; at most {max_bytes}"
            raise too_large(message, "metadata")

        memory_id = new_memory_id()
        claim = None
        if idempotency_key is not None:
            # the whole request: patterns, metadata, model and the asked-for TTL (a retry that changes only the
            # TTL is another request: 422, never a silently dropped TTL)
            asked = b"" if body.ttl_seconds is None else str(body.ttl_seconds).encode()
            asked += b"" if body.self_check else b"\0unchecked"  # (the hash of a checked write is unchanged)
            digest = hashlib.sha256(patterns.tobytes() + metadata_bytes + info.name.encode() + b"\0" + asked)
            request_hash = digest.hexdigest()[:16]
            claim_value = f"{memory_id} {request_hash}"
            replayed = await self._claim_or_replay(tenant, idempotency_key, claim_value, request_hash)
            if replayed is not None:
                return replayed
            done_ttl_s = self.settings.idempotency_ttl_s if ttl is None else min(ttl, self.settings.idempotency_ttl_s)
            claim = (idempotency_key, claim_value, done_ttl_s * 1000)
        try:
            outcome = await queues.write.submit(WriteJob(patterns, body.self_check), tenant)
            now = time.time()
            memory = StoredMemory(
                id=memory_id,
                model=info.name,
                checkpoint_hash=info.checkpoint_hash,
                num_patterns=len(patterns),
                created_at=now,
                expires_at=None if ttl is None else now + ttl,
                write_ms=outcome.engine_ms,
                recall_error=recall_error_body(engine.domain, outcome.recall_errors),
                metadata=body.metadata,
                theta=outcome.theta,
                theta_dtype=outcome.theta_dtype,
            )
            orjson.dumps(memory.public())  # the 201 body renders (else this fails here, before anything is stored)
            await self.store.put(tenant, memory, info.writable_floats, claim)
        except BaseException:
            if claim is not None:  # only if still in progress (a put that failed has removed what it wrote)
                await self.store.release(tenant, claim[0], claim[1])
            raise
        self.metrics.memories_written.labels(info.name).inc()
        for name, mean in (outcome.recall_errors or {}).items():
            self.metrics.write_recall_error.labels(info.name, name).observe(mean)
        return memory.public()

    def claim_ttl_ms(self) -> int:
        """How long an in-progress claim lives: the engine deadline plus four bounded Redis calls (the claim, then
        the write's reserve, store and confirm) and a second. A write is answered (or has failed) by then, so a
        claim left by a crash frees itself within this."""
        bound = self.settings.deadline_s + 4 * self.settings.redis_operation_bound_s() + 1.0
        return math.ceil(bound * 1000)

    async def _claim_or_replay(self, tenant: str, key: str, value: str, request_hash: str) -> dict[str, Any] | None:
        """Claim the Idempotency-Key (None: this request writes), or the memory a write with it stored.

        The same key with another body is a 422. While another request with the key is in progress this one
        waits for it (up to EBMM_DEADLINE_S) and returns its memory; past that, a 409 with Retry-After. A claim
        whose memory was deleted or has expired is freed: the key then writes a new memory."""
        give_up = asyncio.get_running_loop().time() + self.settings.deadline_s
        pause = 0.01
        while True:
            existing: Claim | None = await self.store.claim(tenant, key, value, self.claim_ttl_ms())
            if existing is None:
                return None
            if existing.request_hash != request_hash:
                raise ApiError(
                    422,
                    "idempotency_conflict",
                    "this Idempotency-Key was used for a different request body",
                    "Idempotency-Key",
                )
            memory = await self.store.get(tenant, existing.memory_id)
            if memory is not None:
                return memory.public()
            if existing.done:  # its memory was deleted, expired or lost after its confirm: free what it held
                await self.store.delete(tenant, existing.memory_id, key)
                continue
            if existing.ttl_ms < 0:  # a claim of an older version: stale
                await self.store.release(tenant, key, existing.value)
                continue
            if asyncio.get_running_loop().time() + pause > give_up:
                retry_after = max(1, math.ceil(existing.ttl_ms / 1000))
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "a write with this Idempotency-Key is still in progress; retry later",
                    "Idempotency-Key",
                    headers={"Retry-After": str(retry_after)},
                )
            await asyncio.sleep(pause)
            pause = min(2 * pause, 0.2)

    async def get(self, tenant: str, memory_id: str) -> StoredMemory:
        """The tenant's memory; 404 also for another tenant's id (whether it exists is not revealed)."""
        memory = await self.store.get(tenant, memory_id)
        if memory is None:
            raise not_found(f"no memory {memory_id!r} (never written, deleted or expired)", "memory_id")
        return memory

    async def retrieve(self, tenant: str, memory_id: str, body: RetrieveRequest) -> dict[str, Any]:
        memory = await self.get(tenant, memory_id)
        note(model=memory.model)
        async with self.registry.reading(memory.model, memory.checkpoint_hash, memory_id) as version:
            assert version.engine is not None and version.queues is not None
            return await self._read(tenant, memory, body, version.engine, version.queues)

    async def _read(
        self, tenant: str, memory: StoredMemory, body: RetrieveRequest, engine: Engine, queues: Queues
    ) -> dict[str, Any]:
        """Retrieve with the engine of the version that wrote the memory."""
        info = engine.info
        theta = memory.theta_array(info.writable_floats)
        queries = to_matrix(body.queries, body.queries_b64, body.shape, "queries", info.input_dim)
        if len(queries) > self.settings.max_queries:
            raise too_large(f"{len(queries)} queries; at most {self.settings.max_queries} per request", "queries")
        if body.trace and len(queries) > self.settings.max_traced_queries:
            message = f"trace: true reads at most {self.settings.max_traced_queries} queries; got {len(queries)}"
            raise ApiError(422, "validation", message, "trace")
        check_queries(queries, engine.domain, "queries" if body.queries is not None else "queries_b64")
        mask = None
        if body.known_mask is not None or body.known_mask_b64 is not None:
            mask = to_matrix(body.known_mask, body.known_mask_b64, body.shape, "known_mask", info.input_dim)
        mask_field = "known_mask" if body.known_mask is not None else "known_mask_b64"
        known = known_entries(queries, mask, engine.domain, mask_field, body.noisy)
        outcome = await queues.read.submit(ReadJob(theta, queries, known, body.trace), tenant)
        for energy in outcome.energies.tolist():
            self.metrics.retrieve_energy.labels(info.name).observe(energy)
        for fraction in outcome.changed.tolist():
            self.metrics.retrieve_changed.labels(info.name).observe(fraction)
        trace = None
        if outcome.trace is not None:
            steps = outcome.trace
            trace = [
                {"states": states, "energies": energies, "rounds": steps.rounds}
                for states, energies in zip(steps.patterns, steps.energies, strict=True)
            ]
        patterns: dict[str, Any] = {"patterns": outcome.patterns, "patterns_b64": None, "shape": None}
        if body.encoding == "b64":
            patterns = {"patterns": None, "patterns_b64": to_b64(outcome.patterns), "shape": [*outcome.patterns.shape]}
        return patterns | {"energies": outcome.energies, "changed": outcome.changed, "trace": trace}

    async def list(self, tenant: str, limit: int, cursor: str | None, model: str | None) -> dict[str, Any]:
        """The MemoryList body: a page of the tenant's memories, newest first."""
        if model is not None:
            self.registry.get(model)  # an unknown model is a 404, not an empty list
        page = await self.store.list(tenant, limit, None if cursor is None else decode_cursor(cursor), model)
        return {"memories": [m for m in map(renderable, page.memories) if m], "next_cursor": encode_cursor(page.next)}

    async def delete(self, tenant: str, memory_id: str) -> None:
        model = await self.store.delete(tenant, memory_id)
        if model is None:
            raise not_found(f"no memory {memory_id!r} (never written, deleted or expired)", "memory_id")
        self.metrics.memories_deleted.labels(model).inc()
