"""`ebmm store migrate`: memories written under the layout before each memory had its own Redis slot
(`ebmm:{<tenant>}:memory:<id>`) become readable, listed and counted again, expiry and Idempotency-Key kept."""

from __future__ import annotations

import subprocess
import sys

import httpx
import numpy as np

from model.checkpoint import checkpoint_hash
from service.serve_process import ROOT, serve_env
from service.store import TenantKeys, version_key

from .conftest import BINARY, KEYS, TENANT, Bits, memory_key

AUTH = {"Authorization": f"Bearer {KEYS[TENANT]}"}


def to_old_layout(redis, memory_id: str, version: str) -> None:
    """Rewrite a memory the way the previous layout stored it (and as if the listing and version sets did not exist)."""
    fields = redis.hgetall(memory_key(memory_id))
    ttl_ms = redis.pttl(memory_key(memory_id))
    fields.pop(b"confirmed")
    key = fields.pop(b"idempotency_key", None)
    if key is not None:
        fields[b"idempotency_claim"] = TenantKeys(TENANT).idempotency(key.decode()).encode()
    old_key = f"ebmm:{{{TENANT}}}:memory:{memory_id}"
    redis.hset(old_key, mapping=fields)
    if ttl_ms > 0:
        redis.pexpire(old_key, ttl_ms)
    redis.delete(memory_key(memory_id))
    redis.zrem(TenantKeys(TENANT).created, memory_id)
    redis.zrem(version, f"{TENANT}/{memory_id}")


def migrate(redis_url: str) -> str:
    env = serve_env({"EBMM_REDIS_URL": redis_url})
    done = subprocess.run(
        [sys.executable, "-m", "ebmm.cli", "store", "migrate"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


def test_memories_of_the_old_layout_are_moved_and_readable_again(make_server, checkpoints, bits: Bits) -> None:
    with make_server() as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        redis = server.redis()
        version = version_key(BINARY, checkpoint_hash(checkpoints / BINARY))
        X = bits.patterns(4)
        forever = http.post("/memories", json={"model": BINARY, "patterns": X.tolist()}).json()
        expiring = http.post(
            "/memories",
            json={"model": BINARY, "patterns": X.tolist(), "ttl_seconds": 3600},
            headers={"Idempotency-Key": "k1"},
        ).json()
        answer = http.post(f"/memories/{forever['id']}/retrieve", json={"queries": X.tolist()}).json()
        for memory in (forever, expiring):
            to_old_layout(redis, memory["id"], version)
        assert http.get(f"/memories/{forever['id']}").status_code == 404
        assert http.get("/memories").json()["memories"] == []

        assert migrate(server.app.state.redis_url) == "moved 2 memories to the per-memory layout"
        assert http.get(f"/memories/{forever['id']}").json() == forever
        assert http.get(f"/memories/{expiring['id']}").json() == expiring
        again = http.post(f"/memories/{forever['id']}/retrieve", json={"queries": X.tolist()}).json()
        assert np.array_equal(again["patterns"], answer["patterns"])
        assert [m["id"] for m in http.get("/memories").json()["memories"]] == [expiring["id"], forever["id"]]
        assert 0 < redis.pttl(memory_key(expiring["id"])) <= 3600 * 1000 and redis.pttl(memory_key(forever["id"])) == -1
        assert redis.zcard(version) == 2
        replay = http.post(
            "/memories",
            json={"model": BINARY, "patterns": X.tolist(), "ttl_seconds": 3600},
            headers={"Idempotency-Key": "k1"},
        )
        assert replay.json()["id"] == expiring["id"]
        assert http.delete(f"/memories/{expiring['id']}").status_code == 204
        assert redis.get(TenantKeys(TENANT).idempotency("k1")) is None  # the delete freed the key it names
        assert migrate(server.app.state.redis_url) == "moved 0 memories to the per-memory layout"
