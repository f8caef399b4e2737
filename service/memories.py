"""Memory operations behind the routes: validate, batch through the engine, store in / load from Redis.

Every operation is scoped to the caller's tenant: ids, Idempotency-Keys and quotas live in its namespace.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
from typing import Any

import orjson

from model.domains import Domain
from service.arrays import check_patterns, check_queries, known_entries, to_matrix
from service.batch_ops import ModelQueues, ReadJob, WriteJob
from service.errors import ApiError, not_found, too_large
from service.metrics import Metrics
from service.registry import ModelRegistry
from service.schemas import MemoryCreate, RetrieveRequest
from service.settings import Settings
from service.store import Claim, MemoryStore, StoredMemory


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


def recall_error_body(domain: Domain, errors: dict[str, float]) -> dict[str, Any]:
    """The RecallError body: the standard family's mean first, then every trained family's."""
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
        queues: dict[str, ModelQueues],
        metrics: Metrics,
    ) -> None:
        self.settings, self.registry, self.store = settings, registry, store
        self.queues, self.metrics = queues, metrics

    async def create(self, tenant: str, body: MemoryCreate, idempotency_key: str | None) -> dict[str, Any]:
        engine = self.registry.get(body.model)
        info = engine.info
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
            digest = hashlib.sha256(patterns.tobytes() + metadata_bytes + info.name.encode() + b"\0" + asked)
            request_hash = digest.hexdigest()[:16]
            claim_value = f"{memory_id} {request_hash}"
            replayed = await self._claim_or_replay(tenant, idempotency_key, claim_value, request_hash)
            if replayed is not None:
                return replayed
            done_ttl_s = self.settings.idempotency_ttl_s if ttl is None else min(ttl, self.settings.idempotency_ttl_s)
            claim = (idempotency_key, claim_value, done_ttl_s * 1000)
        try:
            outcome = await self.queues[info.name].write.submit(WriteJob(patterns))
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
            )
            orjson.dumps(memory.public())  # the 201 body renders (else this fails here, before anything is stored)
            await self.store.put(tenant, memory, info.writable_floats, ttl, claim)
        except BaseException:
            if claim is not None:  # only if still in progress: a write Redis stored (then failed to answer) stays
                await self.store.release(tenant, claim[0], claim[1])
            raise
        self.metrics.memories_written.labels(info.name).inc()
        for name, mean in outcome.recall_errors.items():
            self.metrics.write_recall_error.labels(info.name, name).observe(mean)
        return memory.public()

    def claim_ttl_ms(self) -> int:
        """How long an in-progress claim lives: the engine deadline plus two bounded Redis calls and a second.
        A write is answered (or has failed) by then, so a claim left by a crash frees itself within this."""
        bound = self.settings.deadline_s + 2 * self.settings.redis_operation_bound_s() + 1.0
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
            if existing.done or existing.ttl_ms < 0:  # deleted / expired, or a claim of an older version: stale
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
        engine = self.registry.get(memory.model, field=None)
        info = engine.info
        if memory.checkpoint_hash != info.checkpoint_hash:
            raise ApiError(
                409,
                "checkpoint_mismatch",
                f"memory {memory_id} was written by checkpoint {memory.checkpoint_hash} of {info.name}; "
                f"the served one is {info.checkpoint_hash}: write it again",
            )
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
        outcome = await self.queues[info.name].read.submit(ReadJob(theta, queries, known, body.trace))
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
        return {"patterns": outcome.patterns, "energies": outcome.energies, "changed": outcome.changed, "trace": trace}

    async def delete(self, tenant: str, memory_id: str) -> None:
        model = await self.store.delete(tenant, memory_id)
        if model is None:
            raise not_found(f"no memory {memory_id!r} (never written, deleted or expired)", "memory_id")
        self.metrics.memories_deleted.labels(model).inc()
