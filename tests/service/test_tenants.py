"""Tenants: random 128-bit ids namespaced per tenant, another tenant's id is 404 everywhere, per-tenant quotas."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ebmm_client import EBMMClient, EBMMError
from service.store import TenantKeys

from .conftest import memory_key

ONES = [1.0] * 32
P = 8 * 32 + 8  # θ floats of the tiny binary model


def error_of(call) -> EBMMError:
    with pytest.raises(EBMMError) as info:
        call()
    return info.value


def test_ids_are_random_128_bit_and_stored_under_the_tenant(server, client: EBMMClient, bits) -> None:
    ids = [client.write("tiny", bits.patterns(1)).id for _ in range(20)]
    assert len(set(ids)) == len(ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    redis = server.redis()
    assert all(redis.exists(memory_key(i, "alice")) and not redis.exists(f"ebmm:memory:{i}") for i in ids)


def test_another_tenants_memory_is_404_on_every_route(server, bits) -> None:
    with server.client("alice") as alice, server.client("bob") as bob:
        X = bits.patterns(4)
        memory = alice.write("tiny", X)
        answer = alice.retrieve(memory.id, X)
        unknown = error_of(lambda: bob.get("never-written"))
        for call in (
            lambda: bob.get(memory.id),
            lambda: bob.retrieve(memory.id, X),
            lambda: bob.delete(memory.id),
        ):
            error = error_of(call)
            assert (error.status, error.type) == (404, "not_found")
            assert error.message == unknown.message.replace("never-written", memory.id)  # existence is not revealed
        assert alice.get(memory.id) == memory and alice.retrieve(memory.id, X) == answer


def test_idempotency_keys_are_per_tenant(server, bits) -> None:
    with server.client("alice") as alice, server.client("bob") as bob:
        first = alice.write("tiny", bits.patterns(2), idempotency_key="shared-key")
        other = bob.write("tiny", bits.patterns(2), idempotency_key="shared-key")  # another body: no conflict
        assert other.id != first.id
        assert bob.write("tiny", bits.patterns(1), idempotency_key="k2").id != first.id


def test_memory_quota_is_429_per_tenant_and_freed_by_delete_and_expiry(make_server) -> None:
    with make_server(tenant_max_memories=3) as server, server.client("alice") as alice, server.client("bob") as bob:
        kept = [alice.write("tiny", [ONES]) for _ in range(2)]
        expiring = alice.write("tiny", [ONES], ttl_seconds=1)
        error = error_of(lambda: alice.write("tiny", [ONES]))
        assert (error.status, error.type) == (429, "quota_exceeded") and "EBMM_TENANT_MAX_MEMORIES" in error.message
        assert bob.write("tiny", [ONES]).num_patterns == 1  # bob has his own quota
        alice.delete(kept[0].id)
        alice.write("tiny", [ONES])
        assert error_of(lambda: alice.write("tiny", [ONES])).status == 429
        time.sleep(max(0.0, expiring.expires_at - time.time()) + 0.2)
        alice.write("tiny", [ONES])  # the expired memory no longer counts
        registry = server.app.state.metrics.registry
        refused = {
            tenant: registry.get_sample_value(
                "ebmm_tenant_refusals_total", {"tenant": tenant, "reason": "quota_exceeded"}
            )
            for tenant in ("alice", "bob")
        }
        assert refused == {"alice": 2, "bob": 0}


def test_float_quota_is_413_and_concurrent_writes_cannot_pass_a_quota(make_server) -> None:
    with make_server(tenant_max_floats=3 * P + P // 2, max_delay_ms=5.0) as server, server.client() as alice:
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda _: _write_status(alice), range(8)))
        assert sorted(outcomes) == [201] * 3 + [413] * 5
        error = error_of(lambda: alice.write("tiny", [ONES]))
        assert (error.status, error.type) == (413, "quota_exceeded") and f"holds {3 * P} θ floats" in error.message
        redis = server.redis()
        index, _, floats, _ = TenantKeys("alice").usage()
        assert (redis.zcard(index), int(redis.get(floats))) == (3, 3 * P)


def _write_status(client: EBMMClient) -> int:
    try:
        client.write("tiny", [ONES])
        return 201
    except EBMMError as error:
        return error.status
