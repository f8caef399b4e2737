"""Memories in Redis, namespaced per tenant: one hash per memory holding θ as raw float32 bytes and its metadata,
TTL by Redis expiry, plus each tenant's usage for its quotas.

Placement (Redis Cluster): the braces are hash tags. Each memory's big hash has a tag of its own,
`{<tenant>/<id>}` (tenants are `[A-Za-z0-9_.-]`, ids `[A-Za-z0-9_-]`: no `/`, so the tag names one memory of one
tenant), so one tenant's memories spread over every slot and every shard. The small usage records stay under the
tenant's tag `{<tenant>}`, on one slot, so the quota check is one atomic script:

    ebmm:{<tenant>/<id>}:memory   hash    theta (P little-endian floats of theta_dtype: float32, or float16 /
                                          bfloat16 with EBMM_THETA_DTYPE), theta_dtype, model, checkpoint_hash,
                                          num_patterns, created_at, expires_at, write_ms, recall_error (JSON),
                                          metadata (JSON), idempotency_key (the write's key, if any)
    ebmm:{<tenant>}:index         zset    memory id -> expiry time (+inf = never): the memory count
    ebmm:{<tenant>}:sizes         hash    memory id -> θ floats
    ebmm:{<tenant>}:floats        string  θ floats of all the tenant's memories
    ebmm:{<tenant>}:created       zset    memory id -> creation time: the listing, newest first
    ebmm:{<tenant>}:idem:<key>    string  "<memory id> <request hash>" while the write is in progress (a TTL bounded
                                          by the request's deadline), then "… done" (EBMM_IDEMPOTENCY_TTL_S, or
                                          the memory's TTL if shorter); deleting the memory deletes it

A write takes four calls, so that no reader sees half a memory, concurrent writes cannot pass a quota, and a
memory that can be read is always counted:
1. reserve (tenant slot, one script): drop expired memories from the usage, check both quotas, count the memory
   with a provisional expiry (now + the time the next three calls may take, `reservation_s`);
2. store (memory slot): the hash, expiring at that provisional expiry;
3. confirm (tenant slot): the index entry takes the memory's real expiry (refused if the reservation lapsed)
   and the Idempotency-Key claim is marked done;
4. extend (memory slot): the hash takes the memory's real expiry.
A crash before 3 holds the quota only until the provisional expiry (hash and reservation expire together); a crash
between 3 and 4 holds it until the real expiry (the hash is gone, the count stays: never the other way round),
or until a retry with the same Idempotency-Key frees it. A call that fails after 1 deletes what it wrote. Each
step may be re-run for the same id (redis-py retries) and counts the memory once. A delete removes the hash,
then the usage and the claim; a delete re-run after a failure between the two still frees the usage.

Each checkpoint version of a model keeps the set of memories it wrote, so a version still in use is never retired:

    ebmm:{version:<model>:<checkpoint hash>}:memories   zset   "<tenant>/<id>" -> expiry time (+inf = never)

A write adds its memory there before it reserves (a crash leaves it counted, never uncounted: `version_memories`
then checks each member's hash) and a delete removes it after the hash. Writes of one version share that key's
slot: one ZADD per write.

Every call has a socket timeout and is timed (`ebmm_redis_operation_seconds{op}`); failures become a 503
`redis` error, and the connection pool reconnects by itself once Redis is back. The pool is a blocking one of
EBMM_REDIS_MAX_CONNECTIONS connections: a call waits for a free connection up to EBMM_DEADLINE_S, then gets a
429 `overloaded` with Retry-After (a burst is not a Redis outage). `/readyz` pings over a connection of its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
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

from model.theta_precision import THETA_DTYPES, from_bytes
from service.errors import ApiError
from service.metrics import Metrics
from service.pipelined_reads import PipelinedReads

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

# KEYS: index, sizes, floats, created[, Idempotency-Key claim] (tenant slot). ARGV: id, floats, now, provisional
# expiry score, max memories, max floats, the claim's in-progress value ("" = no key), creation time. Returns
# {0, count} reserved, {1, count} or {2, floats} refused, {3, 0} when the claim (expired) was taken by another
# request meanwhile.
RESERVE_SCRIPT = """
if ARGV[7] ~= '' then
  local claim = redis.call('GET', KEYS[5])
  if claim and claim ~= ARGV[7] and claim ~= ARGV[7] .. ' done' then return {3, 0} end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
for _, id in ipairs(expired) do
  local size = redis.call('HGET', KEYS[2], id)
  if size then redis.call('DECRBY', KEYS[3], size) end
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[4], id)
end
local count = redis.call('ZCARD', KEYS[1])
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {0, count} end
if count + 1 > tonumber(ARGV[5]) then return {1, count} end
if total + tonumber(ARGV[2]) > tonumber(ARGV[6]) then return {2, total} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[1])
return {0, count + 1}
"""

# KEYS: memory hash (its own slot). ARGV: its provisional TTL in ms, then the hash's field/value pairs.
STORE_SCRIPT = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS: index[, Idempotency-Key claim] (tenant slot). ARGV: id, now, expiry score, the claim's in-progress value
# ("" = no key), the finished claim's TTL in ms. Returns 0 confirmed (the claim marked done), 3 when the claim was
# taken by another request, 4 when the reservation lapsed (expired, or dropped as expired by another write).
CONFIRM_SCRIPT = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= tonumber(ARGV[2]) then return 4 end
if ARGV[4] ~= '' then
  local claim = redis.call('GET', KEYS[2])
  if claim and claim ~= ARGV[4] and claim ~= ARGV[4] .. ' done' then return 3 end
end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4] .. ' done', 'PX', ARGV[5]) end
return 0
"""

# KEYS: memory hash. ARGV: its TTL in ms ("" = never). Marks it confirmed with its real expiry; 0 if it is gone.
EXTEND_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'confirmed', '1')
if ARGV[1] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""

# KEYS: memory hash. Deletes it; returns {1 if it existed, its model, its Idempotency-Key, its checkpoint hash}
# ('' when absent).
DROP_SCRIPT = """
local fields = redis.call('HMGET', KEYS[1], 'model', 'idempotency_key', 'checkpoint_hash')
local deleted = redis.call('DEL', KEYS[1])
return {deleted, fields[1] or '', fields[2] or '', fields[3] or ''}
"""

# KEYS: index, sizes, floats, created[, Idempotency-Key claim] (tenant slot). ARGV: id. Frees the memory's usage,
# and the claim if it names this memory.
UNCOUNT_SCRIPT = """
local size = redis.call('HGET', KEYS[2], ARGV[1])
if size then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('DECRBY', KEYS[3], size)
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if KEYS[5] then
  local value = redis.call('GET', KEYS[5])
  if value and string.sub(value, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then redis.call('DEL', KEYS[5]) end
end
return 0
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
    """The Redis keys of one tenant (see the module docstring): its usage under the tag `{<tenant>}`, each memory's
    hash under a tag of its own."""

    tenant: str

    @property
    def prefix(self) -> str:
        return f"ebmm:{{{self.tenant}}}:"

    def memory(self, memory_id: str) -> str:
        return f"ebmm:{{{self.tenant}/{memory_id}}}:memory"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}idem:{key}"

    @property
    def index(self) -> str:
        return f"{self.prefix}index"

    @property
    def created(self) -> str:
        return f"{self.prefix}created"

    def usage(self) -> list[str]:
        """index, sizes, floats, created: the KEYS of the reserve and uncount scripts (all on the tenant's slot)."""
        return [self.index, f"{self.prefix}sizes", f"{self.prefix}floats", self.created]


def version_key(model: str, checkpoint_hash: str) -> str:
    """The set of memories one checkpoint version of `model` wrote (module docstring)."""
    return f"ebmm:{{version:{model}:{checkpoint_hash}}}:memories"


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
    recall_error: dict[str, Any] | None
    metadata: dict[str, Any] | None
    theta: bytes
    theta_dtype: str = "float32"  # as stored (memories written before the field existed: float32)

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
        """θ as [P] float32; a 409 `corrupt_theta` if its dtype is not one this service writes, its length does not
        fit the model, or a value is not finite."""
        if self.theta_dtype not in THETA_DTYPES:
            known = ", ".join(THETA_DTYPES)
            raise corrupt(f"memory {self.id} holds θ of dtype {self.theta_dtype!r}; this service reads {known}")
        itemsize = THETA_DTYPES[self.theta_dtype].itemsize
        if len(self.theta) != itemsize * writable_floats:
            needs, held = itemsize * writable_floats, len(self.theta)
            raise corrupt(
                f"memory {self.id} holds {held} bytes of {self.theta_dtype} θ; model {self.model} needs {needs}"
            )
        theta = from_bytes(self.theta, self.theta_dtype)  # type: ignore[arg-type]
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


LISTED_FIELDS = (
    "model",
    "checkpoint_hash",
    "num_patterns",
    "created_at",
    "expires_at",
    "write_ms",
    "recall_error",
    "metadata",
    "confirmed",
)
LIST_SCAN = 1000  # memories one listing call may look at (a model filter may skip many)
LIST_TIES = 64  # memories created at the very time of a page's last one that the next page can still skip


@dataclass(frozen=True)
class ListCursor:
    """Where a listing page ends: the last memory looked at (newest first: created_at, then id, descending)."""

    created_at: float
    id: str


@dataclass(frozen=True)
class MemoryPage:
    memories: list[StoredMemory]
    next: ListCursor | None


def parse_memory(memory_id: str, fields: dict[str, bytes]) -> StoredMemory | None:
    """A memory from its hash's fields (θ empty when not fetched); None when absent or a write still in progress
    (between reserve and extend); 409 `corrupt_theta` when unreadable."""
    if not fields or fields.get("confirmed") == b"0":
        return None
    try:
        expires = fields["expires_at"].decode()
        return StoredMemory(
            id=memory_id,
            model=fields["model"].decode(),
            checkpoint_hash=fields["checkpoint_hash"].decode(),
            num_patterns=int(fields["num_patterns"]),
            created_at=float(fields["created_at"]),
            expires_at=float(expires) if expires else None,
            write_ms=float(fields["write_ms"]),
            recall_error=orjson.loads(fields["recall_error"]),
            metadata=orjson.loads(fields["metadata"]),
            theta=fields.get("theta", b""),
            theta_dtype=fields.get("theta_dtype", b"float32").decode(),
        )
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise corrupt(f"memory {memory_id} is stored in an unreadable form ({type(exc).__name__}: {exc})") from exc


def listed(memory: StoredMemory, model: str | None) -> bool:
    """Whether a listing shows the memory: unexpired, and of `model` if one is asked for."""
    unexpired = memory.expires_at is None or memory.expires_at > time.time()
    return unexpired and (model is None or memory.model == model)


def ms_until(moment: float) -> str:
    """Milliseconds from now (this process's clock) until `moment` (epoch seconds), as a PEXPIRE argument."""
    return str(max(1, math.ceil((moment - time.time()) * 1000)))


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
        reservation_s: float = 60.0,
        tracer: Tracer | None = None,
    ) -> None:
        """`cluster`: `url` is a Redis Cluster node. Each script's keys share one hash tag (the tenant's, or one
        memory's), so every script runs on one slot and the same code serves both kinds of Redis.
        `max_connections` bounds the pool (per node for a cluster); a call waits up to `pool_wait_s` for one.
        `reservation_s`: how long a write's reservation holds before it must be confirmed (module docstring)."""
        self.url, self.quota, self.metrics, self.tracer = url, quota, metrics, tracer
        self.pool_wait_s, self.reservation_s = pool_wait_s, reservation_s
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
        self._reads = PipelinedReads(self.redis)
        self._reserve = self.redis.register_script(RESERVE_SCRIPT)
        self._store = self.redis.register_script(STORE_SCRIPT)
        self._confirm = self.redis.register_script(CONFIRM_SCRIPT)
        self._extend = self.redis.register_script(EXTEND_SCRIPT)
        self._drop = self.redis.register_script(DROP_SCRIPT)
        self._uncount = self.redis.register_script(UNCOUNT_SCRIPT)
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
            if self.tracer is None:
                yield
            else:
                with self.tracer.start_as_current_span(f"redis {op}", attributes={"db.system": "redis"}):
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
        claim: tuple[str, str, int] | None = None,
    ) -> None:
        """Store a memory of `floats` θ floats within the tenant's quotas: 429 / 413 `quota_exceeded` if over; it
        expires at `memory.expires_at`. `claim` (Idempotency-Key, its in-progress value, the finished claim's TTL in
        ms) is marked done with it. Reserve, store, confirm, extend (module docstring); a failure after the
        reservation deletes what was written (what it cannot delete expires with the reservation)."""
        keys = TenantKeys(tenant)
        fields: dict[str, Any] = {
            "theta": memory.theta,
            "theta_dtype": memory.theta_dtype,
            "model": memory.model,
            "checkpoint_hash": memory.checkpoint_hash,
            "num_patterns": memory.num_patterns,
            "created_at": repr(memory.created_at),
            "expires_at": "" if memory.expires_at is None else repr(memory.expires_at),
            "write_ms": repr(memory.write_ms),
            "recall_error": orjson.dumps(memory.recall_error),
            "metadata": orjson.dumps(memory.metadata),
            "confirmed": "0",
        }
        claim_keys, claim_value, claim_ttl_ms = [], "", ""
        if claim is not None:
            claim_keys, claim_value, claim_ttl_ms = [keys.idempotency(claim[0])], claim[1], str(claim[2])
            fields["idempotency_key"] = claim[0]
        expiry = "+inf" if memory.expires_at is None else repr(memory.expires_at)
        now = time.time()
        reserved_until = now + self.reservation_s
        reserve_args = [memory.id, floats, repr(now), repr(reserved_until)]
        reserve_args += [self.quota.max_memories, self.quota.max_floats, claim_value, repr(memory.created_at)]
        reserved = False
        version = version_key(memory.model, memory.checkpoint_hash)
        member = f"{tenant}/{memory.id}"
        counted = False
        try:
            async with self._call("put"):
                await self.redis.zadd(version, {member: float(expiry)})  # counted before it can exist
                counted = True
                refused, used = await self._reserve(keys=keys.usage() + claim_keys, args=reserve_args)
                if refused == 0:
                    reserved = True
                    pairs = [item for pair in fields.items() for item in pair]
                    await self._store(keys=[keys.memory(memory.id)], args=[ms_until(reserved_until), *pairs])
                    confirm_args = [memory.id, repr(time.time()), expiry, claim_value, claim_ttl_ms]
                    refused = await self._confirm(keys=[keys.index, *claim_keys], args=confirm_args)
                if refused == 0:
                    ttl_ms = "" if memory.expires_at is None else ms_until(memory.expires_at)
                    if not await self._extend(keys=[keys.memory(memory.id)], args=[ttl_ms]):
                        refused = 4
            if refused == 3:
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "this write outlived its Idempotency-Key claim and another request took the key; nothing stored",
                    "Idempotency-Key",
                )
            if refused == 4:
                message = "storage unavailable (put): the write outlived its reservation; nothing stored, retry"
                raise ApiError(503, "redis", message)
            if refused:
                async with self._call("put"):
                    await self.redis.zrem(version, member)
        except BaseException:
            with suppress(ApiError):
                if reserved:
                    await self._remove(tenant, memory.id, None if claim is None else claim[0])
                if counted:
                    async with self._call("put"):
                        await self.redis.zrem(version, member)
            raise
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
            raw = await self._reads.hgetall(TenantKeys(tenant).memory(memory_id))
        return parse_memory(memory_id, {k.decode(): v for k, v in raw.items()})

    async def list(self, tenant: str, limit: int, after: ListCursor | None, model: str | None) -> MemoryPage:
        """The tenant's memories newest first (no θ): up to `limit` created before `after` (or the newest), of
        `model` only if given. A page stops early after `LIST_SCAN` memories of other models; `next` is where
        the following page starts (None: no more). Expired or unreadable memories and writes still in progress
        are left out."""
        keys = TenantKeys(tenant)
        memories: list[StoredMemory] = []
        scanned, top = 0, "+inf" if after is None else repr(after.created_at)
        while len(memories) < limit and scanned < LIST_SCAN:
            chunk = min(LIST_SCAN - scanned, max(limit - len(memories), 16))
            async with self._call("list"):
                # entries at the cursor's own time that were already listed are skipped below
                ids = await self.redis.zrevrangebyscore(
                    keys.created, top, "-inf", start=0, num=chunk + LIST_TIES, withscores=True
                )
            fresh = [(i.decode(), t) for i, t in ids if after is None or t < after.created_at or i.decode() < after.id]
            fresh = fresh[:chunk]
            if not fresh:
                return MemoryPage(memories, None)
            async with self._call("list"):
                rows = await self._fetch_listed(tenant, [memory_id for memory_id, _ in fresh])
            for (memory_id, created_at), row in zip(fresh, rows, strict=True):
                scanned += 1
                after = ListCursor(created_at, memory_id)
                try:
                    memory = parse_memory(memory_id, row)
                except ApiError:  # unreadable: left out here, reported by a GET of its id
                    log.warning("listing leaves out memory %s of tenant %s: unreadable", memory_id, tenant)
                    continue
                if memory is not None and listed(memory, model):
                    memories.append(memory)
                    if len(memories) == limit:
                        break
            top = repr(after.created_at)
        return MemoryPage(memories, after)

    async def _fetch_listed(self, tenant: str, memory_ids: list[str]) -> list[dict[str, bytes]]:
        """Every field but θ of each memory (each hash on its own slot: one pipeline, no transaction)."""
        keys = TenantKeys(tenant)
        pipe = self.redis.pipeline(transaction=False)
        for memory_id in memory_ids:
            pipe.hmget(keys.memory(memory_id), LISTED_FIELDS)
        rows = await pipe.execute()
        return [
            {name: value for name, value in zip(LISTED_FIELDS, row, strict=True) if value is not None} for row in rows
        ]

    async def version_memories(self, model: str, checkpoint_hash: str, verify: bool = False) -> list[str]:
        """The "<tenant>/<id>" of every unexpired memory the version wrote. `verify`: only those whose hash
        exists (a crash can leave a member whose write never finished; slower, for retiring a version)."""
        async with self._call("versions"):
            key = await self._live_version_set(model, checkpoint_hash)
            members = [m.decode() for m in await self.redis.zrange(key, 0, -1)]
        if not verify or not members:
            return members
        async with self._call("versions"):
            pipe = self.redis.pipeline(transaction=False)
            for member in members:
                tenant, _, memory_id = member.partition("/")
                pipe.exists(TenantKeys(tenant).memory(memory_id))
            exists = await pipe.execute()
        return [member for member, there in zip(members, exists, strict=True) if there]

    async def migrate_layout(self) -> int:
        """Move memories stored under the layout before each memory had its own slot (`ebmm:{<tenant>}:memory:<id>`)
        to theirs, keeping their expiry, and add them to the listing and to their version's set; idempotent (a
        memory already moved is skipped). Returns how many moved. Their usage records did not move."""
        moved = 0
        async with self._call("migrate"):
            old_keys = [key.decode() async for key in self.redis.scan_iter(match="ebmm:{*}:memory:*", count=500)]
        for old_key in old_keys:
            tag, _, memory_id = old_key.removeprefix("ebmm:{").partition("}:memory:")
            keys = TenantKeys(tag)
            async with self._call("migrate"):
                fields = await self.redis.hgetall(old_key)
                ttl_ms = await self.redis.pttl(old_key)
                if not fields or ttl_ms == -2:  # expired meanwhile
                    continue
                claim = fields.pop(b"idempotency_claim", None)
                if claim is not None:  # the old layout named the claim's key; the new one names the Idempotency-Key
                    fields[b"idempotency_key"] = claim.decode().removeprefix(keys.idempotency(""))
                fields[b"confirmed"] = b"1"
                expiry = math.inf if ttl_ms < 0 else time.time() + ttl_ms / 1000
                version = version_key(fields[b"model"].decode(), fields[b"checkpoint_hash"].decode())
                await self.redis.zadd(version, {f"{tag}/{memory_id}": expiry})
                await self.redis.hset(keys.memory(memory_id), mapping=fields)
                if ttl_ms > 0:
                    await self.redis.pexpire(keys.memory(memory_id), ttl_ms)
                await self.redis.zadd(keys.created, {memory_id: float(fields[b"created_at"])})
                await self.redis.delete(old_key)
            moved += 1
        return moved

    async def version_count(self, model: str, checkpoint_hash: str) -> int:
        """How many unexpired memories the version wrote (counts a write in progress or lost to a crash)."""
        async with self._call("versions"):
            return await self.redis.zcard(await self._live_version_set(model, checkpoint_hash))

    async def _live_version_set(self, model: str, checkpoint_hash: str) -> str:
        """The version's set of memories, its expired members dropped first; its key."""
        key = version_key(model, checkpoint_hash)
        await self.redis.zremrangebyscore(key, "-inf", repr(time.time()))
        return key

    async def delete(self, tenant: str, memory_id: str, idempotency_key: str | None = None) -> str | None:
        """Delete the tenant's memory, free its usage and its Idempotency-Key claim (the one its hash names, or
        `idempotency_key`); its model's name, or None if there was none. Frees the usage even when the hash is gone
        (a delete or write that failed halfway, a write lost between confirm and extend)."""
        return await self._remove(tenant, memory_id, idempotency_key)

    async def _remove(self, tenant: str, memory_id: str, idempotency_key: str | None) -> str | None:
        keys = TenantKeys(tenant)
        async with self._call("delete"):
            deleted, model, stored_key, written_by = await self._drop(keys=[keys.memory(memory_id)], args=[])
            key = stored_key.decode() or idempotency_key
            claim_keys = [] if key is None else [keys.idempotency(key)]
            await self._uncount(keys=keys.usage() + claim_keys, args=[memory_id])
            if deleted and model:
                await self.redis.zrem(version_key(model.decode(), written_by.decode()), f"{tenant}/{memory_id}")
        return model.decode() if deleted and model else None

    async def claim(self, tenant: str, key: str, value: str, ttl_ms: int) -> Claim | None:
        """SET NX PX the Idempotency-Key claim; None when this call claimed it, else the existing claim."""
        async with self._call("claim"):
            existing = await self._claim(keys=[TenantKeys(tenant).idempotency(key)], args=[value, ttl_ms])
        return None if existing is None else Claim.parse(existing[0].decode(), int(existing[1]))

    async def release(self, tenant: str, key: str, value: str) -> None:
        """Drop a claim if it still holds `value` (a write that failed, or a stale one), so a retry can write."""
        async with self._call("claim"):
            await self._release(keys=[TenantKeys(tenant).idempotency(key)], args=[value])
