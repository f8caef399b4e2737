"""Memories in Redis: one hash per memory holding θ as raw float32 bytes and its metadata, TTL by Redis expiry.

    ebmm:memory:<id>   hash  theta (P·4 bytes, little-endian float32), model, checkpoint_hash, num_patterns,
                             created_at, expires_at, write_ms, recall_error (JSON), metadata (JSON)
    ebmm:idem:<key>    string  "<memory id> <request hash>" (an Idempotency-Key claim, same TTL as the memory)

A memory is written by one MULTI/EXEC (HSET + EXPIRE), so no reader ever sees half of one.
Every call is timed (`ebmm_redis_operation_seconds{op}`); failures become a 503 `redis` error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from service.errors import ApiError
from service.metrics import Metrics

MEMORY_PREFIX = "ebmm:memory:"
IDEMPOTENCY_PREFIX = "ebmm:idem:"


@dataclass(frozen=True)
class StoredMemory:
    """One memory: θ [P] float32 plus what describes it."""

    id: str
    model: str
    checkpoint_hash: str
    num_patterns: int
    created_at: float
    expires_at: float | None
    write_ms: float
    recall_error: dict[str, Any]
    metadata: dict[str, Any] | None
    theta: bytes

    def public(self) -> dict[str, Any]:
        """The MemoryPublic body (no θ)."""
        return {
            "id": self.id,
            "model": self.model,
            "checkpoint_hash": self.checkpoint_hash,
            "num_patterns": self.num_patterns,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "write_ms": self.write_ms,
            "recall_error": self.recall_error,
            "metadata": self.metadata,
        }

    def theta_array(self, writable_floats: int) -> np.ndarray:
        """θ as [P] float32; a 409 `corrupt_theta` if its length does not fit the model."""
        if len(self.theta) != 4 * writable_floats:
            raise ApiError(
                409,
                "corrupt_theta",
                f"memory {self.id} holds {len(self.theta)} bytes of θ; model {self.model} needs {4 * writable_floats}",
            )
        return np.frombuffer(self.theta, dtype="<f4")


class MemoryStore:
    """Async access to memories in one Redis (shared by every replica of the service)."""

    def __init__(self, url: str, timeout_s: float, metrics: Metrics) -> None:
        self.url = url
        self.metrics = metrics
        self.redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=False,
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.005), retries=2),
        )

    async def close(self) -> None:
        await self.redis.aclose()

    @asynccontextmanager
    async def _call(self, op: str) -> AsyncIterator[None]:
        start = time.monotonic()
        try:
            yield
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels(op).inc()
            raise ApiError(503, "redis", f"storage unavailable ({op}): {type(exc).__name__}: {exc}") from exc
        finally:
            self.metrics.redis_seconds.labels(op).observe(time.monotonic() - start)

    async def ping(self) -> bool:
        try:
            async with self._call("ping"):
                return bool(await self.redis.ping())
        except ApiError:
            return False

    async def put(self, memory: StoredMemory, ttl_seconds: int | None) -> None:
        """HSET + EXPIRE in one transaction."""
        fields = {
            "theta": memory.theta,
            "model": memory.model,
            "checkpoint_hash": memory.checkpoint_hash,
            "num_patterns": memory.num_patterns,
            "created_at": repr(memory.created_at),
            "expires_at": "" if memory.expires_at is None else repr(memory.expires_at),
            "write_ms": repr(memory.write_ms),
            "recall_error": orjson.dumps(memory.recall_error),
            "metadata": orjson.dumps(memory.metadata),
        }
        key = MEMORY_PREFIX + memory.id
        async with self._call("put"), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            if ttl_seconds is not None:
                pipe.expire(key, ttl_seconds)
            await pipe.execute()

    async def get(self, memory_id: str) -> StoredMemory | None:
        async with self._call("get"):
            raw = await self.redis.hgetall(MEMORY_PREFIX + memory_id)
        if not raw:
            return None
        try:
            f = {k.decode(): v for k, v in raw.items()}
            expires = f["expires_at"].decode()
            return StoredMemory(
                id=memory_id,
                model=f["model"].decode(),
                checkpoint_hash=f["checkpoint_hash"].decode(),
                num_patterns=int(f["num_patterns"]),
                created_at=float(f["created_at"]),
                expires_at=float(expires) if expires else None,
                write_ms=float(f["write_ms"]),
                recall_error=orjson.loads(f["recall_error"]),
                metadata=orjson.loads(f["metadata"]),
                theta=f["theta"],
            )
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise ApiError(409, "corrupt_theta", f"memory {memory_id} is stored in an unreadable form: {exc}") from exc

    async def delete(self, memory_id: str) -> str | None:
        """Delete a memory; its model's name, or None if there was none."""
        key = MEMORY_PREFIX + memory_id
        async with self._call("delete"), self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "model")
            pipe.delete(key)
            model, deleted = await pipe.execute()
        return model.decode() if deleted and model is not None else None

    async def claim(self, key: str, value: str, ttl_seconds: int | None) -> str | None:
        """SET NX the Idempotency-Key claim; None when this call claimed it, else the existing claim's value."""
        name = IDEMPOTENCY_PREFIX + key
        async with self._call("claim"):
            while not await self.redis.set(name, value, nx=True, ex=ttl_seconds):
                existing = await self.redis.get(name)
                if existing is not None:  # else the claim expired in between: try to take it again
                    return existing.decode()
        return None

    async def release(self, key: str) -> None:
        """Drop a claim whose write failed, so a retry can write."""
        async with self._call("claim"):
            await self.redis.delete(IDEMPOTENCY_PREFIX + key)
