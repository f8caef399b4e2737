"""service.store on a real three-node Redis Cluster: a writer killed between reserving its quota (on the tenant's
shard) and storing θ (on the memory's shard) holds that quota only until the reservation's provisional expiry."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.errors import ApiError
from service.metrics import Metrics
from service.store import MemoryStore, Quota, StoredMemory, TenantKeys

from .cluster import Cluster, running_cluster

TENANT = "alice"
FLOATS = 264
RESERVATION_S = 4.0

# A writer that connects, writes once for another tenant (every script it runs then loaded on every node), says "ready",
# and on a line on stdin writes `memory_id` for alice (whose θ store hangs if that memory's shard is stopped).
WRITER = """
import asyncio, sys
from service.metrics import Metrics
from service.store import MemoryStore, Quota, StoredMemory

url, memory_id, reservation_s = sys.argv[1], sys.argv[2], float(sys.argv[3])

async def main():
    store = MemoryStore(url, 60.0, Quota(1, 10**9), Metrics(), cluster=True, reservation_s=reservation_s)
    await store.claim("warm-up", "k", "w 0123456789abcdef", 60_000)
    warm_up = StoredMemory("w", "tiny", "0" * 16, 1, 0.0, None, 1.0, {}, None, bytes(4 * 264))
    await store.put("warm-up", warm_up, 264, claim=("k", "w 0123456789abcdef", 60_000))
    print("ready", flush=True)
    sys.stdin.readline()
    memory = StoredMemory(memory_id, "tiny", "0" * 16, 1, 0.0, None, 1.0, {}, None, bytes(4 * 264))
    claim = ("crash-key", memory_id + " 0123456789abcdef", 60_000)
    await store.claim("alice", *claim)
    await store.put("alice", memory, 264, claim=claim)

asyncio.run(main())
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path, 3) as nodes:
        yield nodes


def memory(memory_id: str) -> StoredMemory:
    return StoredMemory(memory_id, "tiny", "0" * 16, 1, time.time(), None, 1.0, {}, None, bytes(4 * FLOATS))


async def test_a_writer_killed_after_its_reservation_holds_quota_until_the_provisional_expiry(
    cluster: Cluster,
) -> None:
    keys = TenantKeys(TENANT)
    tenant_node = cluster.node_of(keys.index)
    lost = next(
        i for i in iter(lambda: secrets.token_urlsafe(16), None) if cluster.node_of(keys.memory(i)) != tenant_node
    )
    tenant = cluster.node(tenant_node)
    url = f"redis://127.0.0.1:{cluster.ports[tenant_node]}/0"
    command = [sys.executable, "-c", WRITER, url, lost, str(RESERVATION_S)]
    writer = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "ready"
        with cluster.stopped(cluster.node_of(keys.memory(lost))):
            writer.stdin.write("go\n")
            writer.stdin.flush()
            deadline = time.monotonic() + 60
            while tenant.zscore(keys.index, lost) is None:  # reserved; the θ store now hangs on the stopped shard
                assert writer.poll() is None and time.monotonic() < deadline, "the writer never reserved"
                await asyncio.sleep(0.02)
            writer.kill()  # mid-write: its θ store still unanswered
    finally:
        writer.kill()
        writer.wait(timeout=10)
    reserved_until = tenant.zscore(keys.index, lost)
    assert reserved_until <= time.time() + RESERVATION_S  # the provisional expiry, not the memory's (never)
    assert tenant.get(keys.idempotency("crash-key")).decode() == f"{lost} 0123456789abcdef"  # in progress, not done

    store = MemoryStore(cluster.url, 5.0, Quota(1, 10**9), Metrics(), cluster=True)
    try:
        assert await store.get(TENANT, lost) is None
        with pytest.raises(ApiError) as refused:
            await store.put(TENANT, memory(secrets.token_urlsafe(16)), FLOATS)  # the lost write holds the quota
        assert (refused.value.status, refused.value.type) == (429, "quota_exceeded")
        await asyncio.sleep(max(0.0, reserved_until - time.time()) + 0.1)
        written = memory(secrets.token_urlsafe(16))
        await store.put(TENANT, written, FLOATS)  # ... only until the provisional expiry
        assert (await store.get(TENANT, written.id)) is not None
        assert [i.decode() for i in tenant.zrange(keys.index, 0, -1)] == [written.id]
        assert int(tenant.get(keys.usage()[2])) == FLOATS
    finally:
        await store.close()
