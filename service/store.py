"""Memories in Redis, namespaced per tenant: one hash per memory holding θ as raw float32 bytes and its metadata,
TTL by Redis expiry, plus each tenant's usage for its quotas. `{tenant}` is a Redis Cluster hash tag, so all
of a tenant's keys share one slot and one script may touch them together.

    ebmm:{<tenant>}:memory:<id>   hash    theta (P·4 bytes, little-endian float32), model, checkpoint_hash,
                                          num_patterns, created_at, expires_at, write_ms, recall_error (JSON),
                                          metadata (JSON)
    ebmm:{<tenant>}:index         zset    memory id -> expiry time (+inf = never): the memory count
    ebmm:{<tenant>}:sizes         hash    memory id -> θ floats
    ebmm:{<tenant>}:floats        string  θ floats of all the tenant's memories
    ebmm:{<tenant>}:idem:<key>    string  "<memory id> <request hash>" while the write is in progress (a TTL bounded
                                          by the request's deadline), then "… done" (EBMM_IDEMPOTENCY_TTL_S, or
                                          the memory's TTL if shorter); deleting the memory deletes it

A write is one Lua script (atomic): drop expired memories from the usage, check both quotas, then store the
hash, its expiry and the usage together, so no reader sees half a memory and concurrent writes cannot pass a
quota. Re-running it for the same id (a retried call) stores the memory once. A delete is one script too.
Every call has a socket timeout and is timed (`ebmm_redis_operation_seconds{op}`); failures become a 503
`redis` error, and the connection pool reconnects by itself once Redis is back. The pool is a blocking one of
EBMM_REDIS_MAX_CONNECTIONS connections: a call waits for a free connection up to EBMM_DEADLINE_S, then gets a
429 `overloaded` with Retry-After (a burst is not a Redis outage). `/readyz` pings over a connection of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, MaxConnectionsError, RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from service.errors import ApiError
from service.metrics import Metrics
from service.tracing import span

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

# KEYS: memory hash, index, sizes, floats[, Idempotency-Key claim]. ARGV: id, floats, now, expiry score, ttl
# ("" = none), max memories, max floats, the claim's in-progress value ("" = no key), the finished claim's TTL
# in ms, then the hash's field/value pairs. Returns {0, count} stored, {1, count} or {2, floats} refused, {3, 0}
# when the claim (expired) was taken by another request meanwhile. Storing marks the claim done, atomically.
PUT_SCRIPT = """
if ARGV[8] ~= '' then
  local claim = redis.call('GET', KEYS[5])
  if claim and claim ~= ARGV[8] and claim ~= ARGV[8] .. ' done' then return {3, 0} end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
for _, id in ipairs(expired) do
  local size = redis.call('HGET', KEYS[3], id)
  if size then redis.call('DECRBY', KEYS[4], size) end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
local count = redis.call('ZCARD', KEYS[2])
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
local new = redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0
if new and count + 1 > tonumber(ARGV[6]) then return {1, count} end
if new and total + tonumber(ARGV[2]) > tonumber(ARGV[7]) then return {2, total} end
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
if ARGV[5] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
if new then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
  redis.call('INCRBY', KEYS[4], ARGV[2])
  count = count + 1
end
if ARGV[8] ~= '' then redis.call('SET', KEYS[5], ARGV[8] .. ' done', 'PX', ARGV[9]) end
return {0, count}
"""

# KEYS: memory hash, index, sizes, floats. ARGV: id. Returns the deleted memory's model, or nil. The memory's
# Idempotency-Key claim (named in its hash; same tenant, same hash slot) is freed with it.
DELETE_SCRIPT = """
local model = redis.call('HGET', KEYS[1], 'model')
local claim = redis.call('HGET', KEYS[1], 'idempotency_claim')
if claim then
  local value = redis.call('GET', claim)
  if value and string.sub(value, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then redis.call('DEL', claim) end
end
local deleted = redis.call('DEL', KEYS[1])
local size = redis.call('HGET', KEYS[3], ARGV[1])
if size then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DECRBY', KEYS[4], size)
end
if deleted == 1 and model then return model end
return false
"""


# KEYS: the claim. ARGV: value, TTL in ms. Claims it (SET NX PX) and returns nil, else {value, its PTTL in ms}.
CLAIM_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"""

# KEYS: the claim. ARGV: value. Deletes the claim only if it still holds that value.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Claim:
    """An existing Idempotency-Key claim: the memory id and request hash it names, whether that write finished,
    and how long the claim lives on (ms; -1 = no expiry, as claims written before expiry existed)."""

    value: str
    memory_id: str
    request_hash: str
    done: bool
    ttl_ms: int

    @classmethod
    def parse(cls, value: str, ttl_ms: int) -> Claim:
        memory_id, _, rest = value.partition(" ")
        request_hash, _, state = rest.partition(" ")
        return cls(value, memory_id, request_hash, state == "done", ttl_ms)


@dataclass(frozen=True)
class TenantKeys:
    """The Redis keys of one tenant (see the module docstring)."""

    tenant: str

    @property
    def prefix(self) -> str:
        return f"ebmm:{{{self.tenant}}}:"

    def memory(self, memory_id: str) -> str:
        return f"{self.prefix}memory:{memory_id}"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}idem:{key}"

    def usage(self, memory_id: str) -> list[str]:
        """The KEYS of the put and delete scripts."""
        return [self.memory(memory_id), f"{self.prefix}index", f"{self.prefix}sizes", f"{self.prefix}floats"]


@dataclass(frozen=True)
class Quota:
    """Per-tenant limits: memories held, and θ floats held over all of them."""

    max_memories: int
    max_floats: int


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
        """θ as [P] float32; a 409 `corrupt_theta` if its length does not fit the model or a value is not finite."""
        if len(self.theta) != 4 * writable_floats:
            raise corrupt(
                f"memory {self.id} holds {len(self.theta)} bytes of θ; model {self.model} needs {4 * writable_floats}"
            )
        theta = np.frombuffer(self.theta, dtype="<f4")
        if not np.isfinite(theta).all():
            raise corrupt(f"memory {self.id} holds non-finite θ values")
        return theta


class PoolExhausted(ConnectionError):
    """No pooled connection became free within the pool's wait: the service is overloaded, Redis is fine."""


class WaitingPool(redis.BlockingConnectionPool):
    """redis-py's blocking pool, telling "no free connection in time" (PoolExhausted) from Redis being down."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)
        except ConnectionError as exc:
            if isinstance(exc.__cause__, asyncio.TimeoutError):  # the wait for a connection timed out
                raise PoolExhausted(str(exc)) from exc
            raise


def corrupt(message: str) -> ApiError:
    """409: a stored memory that cannot be read (truncated, non-finite or missing fields): write it again."""
    return ApiError(409, "corrupt_theta", f"{message}; write it again")


class MemoryStore:
    """Async access to memories in one Redis (shared by every replica of the service)."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        quota: Quota,
        metrics: Metrics,
        cluster: bool = False,
        max_connections: int = 64,
        pool_wait_s: float = 10.0,
        tracer: Tracer | None = None,
    ) -> None:
        """`cluster`: `url` is a Redis Cluster node. Each operation's keys share the tenant's hash tag
        (`ebmm:{tenant}:…`), so every script runs on one slot and the same code serves both kinds of Redis.
        `max_connections` bounds the pool (per node for a cluster); a call waits up to `pool_wait_s` for one."""
        self.url, self.quota, self.metrics, self.tracer = url, quota, metrics, tracer
        self.pool_wait_s = pool_wait_s
        options: dict[str, Any] = dict(
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=False,
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.005), retries=2),
            # nothing to read back on a (re)connect, neither HELLO (RESP3) nor CLIENT SETINFO: a hung Redis let
            # each time out, inside the reconnect's own retries, so an operation took ~7 timeouts, not 3 tries
            protocol=2,
            driver_info=None,
        )
        if cluster:  # a cluster client keeps a pool per node; over max_connections it refuses (MaxConnectionsError)
            self.redis = RedisCluster.from_url(url, max_connections=max_connections, **options)
            self.probe = self.redis
        else:
            pool = WaitingPool.from_url(url, max_connections=max_connections, timeout=pool_wait_s, **options)
            self.redis = redis.Redis.from_pool(pool)
            probe_pool = WaitingPool.from_url(url, max_connections=1, timeout=timeout_s, **options)
            self.probe = redis.Redis.from_pool(probe_pool)
        self._put = self.redis.register_script(PUT_SCRIPT)
        self._delete = self.redis.register_script(DELETE_SCRIPT)
        self._claim = self.redis.register_script(CLAIM_SCRIPT)
        self._release = self.redis.register_script(RELEASE_SCRIPT)

    async def close(self) -> None:
        await self.redis.aclose()
        if self.probe is not self.redis:
            await self.probe.aclose()

    @asynccontextmanager
    async def _call(self, op: str) -> AsyncIterator[None]:
        start = time.monotonic()
        try:
            with span(self.tracer, f"redis {op}", **{"db.system": "redis"}):
                yield
        except (PoolExhausted, MaxConnectionsError) as exc:
            self.metrics.redis_errors.labels(op).inc()
            message = f"all Redis connections are busy (EBMM_REDIS_MAX_CONNECTIONS); retry later ({op})"
            retry_after = str(max(1, round(self.pool_wait_s / 2)))
            raise ApiError(429, "overloaded", message, headers={"Retry-After": retry_after}) from exc
        except (RedisError, OSError, TimeoutError) as exc:
            self.metrics.redis_errors.labels(op).inc()
            log.warning("Redis %s failed: %s: %s", op, type(exc).__name__, exc)  # details in the log, not the body
            timed_out = isinstance(exc, TimeoutError | RedisTimeout) or "timeout" in str(exc).lower()
            reason = "Timeout: Redis did not answer in time" if timed_out else "Redis is unreachable"
            raise ApiError(503, "redis", f"storage unavailable ({op}): {reason}; retry later") from exc
        finally:
            self.metrics.redis_seconds.labels(op).observe(time.monotonic() - start)

    async def ping(self) -> bool:
        try:
            async with self._call("ping"):
                return bool(await self.probe.ping())
        except ApiError:
            return False

    async def put(
        self,
        tenant: str,
        memory: StoredMemory,
        floats: int,
        ttl_seconds: int | None,
        claim: tuple[str, str, int] | None = None,
    ) -> None:
        """Store a memory of `floats` θ floats within the tenant's quotas: 429 / 413 `quota_exceeded` if over.
        `claim` (Idempotency-Key, its in-progress value, the finished claim's TTL in ms) is marked done with it."""
        keys = TenantKeys(tenant)
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
        script_keys = keys.usage(memory.id)
        if claim is not None:
            script_keys.append(keys.idempotency(claim[0]))
            fields["idempotency_claim"] = keys.idempotency(claim[0])
        args = [
            memory.id,
            floats,
            repr(time.time()),
            "+inf" if memory.expires_at is None else repr(memory.expires_at),
            "" if ttl_seconds is None else ttl_seconds,
            self.quota.max_memories,
            self.quota.max_floats,
            "" if claim is None else claim[1],
            "" if claim is None else claim[2],
            *(item for pair in fields.items() for item in pair),
        ]
        async with self._call("put"):
            refused, used = await self._put(keys=script_keys, args=args)
        if refused == 3:
            raise ApiError(
                409,
                "idempotency_conflict",
                "this write outlived its Idempotency-Key claim and another request took the key; nothing stored",
                "Idempotency-Key",
            )
        if refused == 1:
            message = (
                f"tenant {tenant!r} holds {used} memories, its quota (EBMM_TENANT_MAX_MEMORIES); "
                "delete some or let them expire"
            )
            raise ApiError(429, "quota_exceeded", message)
        if refused == 2:
            message = (
                f"tenant {tenant!r} holds {used} θ floats; {floats} more would pass its quota of "
                f"{self.quota.max_floats} (EBMM_TENANT_MAX_FLOATS); delete some memories or let them expire"
            )
            raise ApiError(413, "quota_exceeded", message)

    async def get(self, tenant: str, memory_id: str) -> StoredMemory | None:
        """The tenant's memory, or None (another tenant's id is simply not there)."""
        async with self._call("get"):
            raw = await self.redis.hgetall(TenantKeys(tenant).memory(memory_id))
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
        except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise corrupt(f"memory {memory_id} is stored in an unreadable form ({type(exc).__name__}: {exc})") from exc

    async def delete(self, tenant: str, memory_id: str) -> str | None:
        """Delete the tenant's memory; its model's name, or None if there was none."""
        async with self._call("delete"):
            model = await self._delete(keys=TenantKeys(tenant).usage(memory_id), args=[memory_id])
        return None if model is None else model.decode()

    async def claim(self, tenant: str, key: str, value: str, ttl_ms: int) -> Claim | None:
        """SET NX PX the Idempotency-Key claim; None when this call claimed it, else the existing claim."""
        async with self._call("claim"):
            existing = await self._claim(keys=[TenantKeys(tenant).idempotency(key)], args=[value, ttl_ms])
        return None if existing is None else Claim.parse(existing[0].decode(), int(existing[1]))

    async def release(self, tenant: str, key: str, value: str) -> None:
        """Drop a claim if it still holds `value` (a write that failed, or a stale one), so a retry can write."""
        async with self._call("claim"):
            await self._release(keys=[TenantKeys(tenant).idempotency(key)], args=[value])
