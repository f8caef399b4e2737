"""Issue 16 item 3: Idempotency-Key claims expire, are freed by DELETE and by a crash (after a bounded time),
concurrent duplicates wait for the first write and get its memory, and `ttl_seconds` is part of the request."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ebmm_client import EBMMClient, EBMMError
from service.store import TenantKeys

from .conftest import KEYS, TENANT, ServeProcess, memory_key, queue_depth


def claim_key(key: str, tenant: str = TENANT) -> str:
    return TenantKeys(tenant).idempotency(key)


def test_a_finished_claim_expires_and_delete_frees_the_key(server, client: EBMMClient, bits) -> None:
    X = bits.patterns(3)
    first = client.write("tiny", X, idempotency_key="rel-delete")
    ttl_ms = server.redis().pttl(claim_key("rel-delete"))
    assert 0 < ttl_ms <= 24 * 3600 * 1000  # EBMM_IDEMPOTENCY_TTL_S: no claim lives for ever
    assert client.write("tiny", X, idempotency_key="rel-delete").id == first.id
    client.delete(first.id)
    assert server.redis().get(claim_key("rel-delete")) is None
    again = client.write("tiny", X, idempotency_key="rel-delete")  # documented: the key writes a new memory
    assert again.id != first.id and client.get(again.id) == again
    with pytest.raises(EBMMError) as gone:
        client.get(first.id)
    assert gone.value.status == 404


def test_a_claim_whose_memory_expired_writes_again(server, client: EBMMClient, bits) -> None:
    X = bits.patterns(2)
    first = client.write("tiny", X, ttl_seconds=1, idempotency_key="rel-expire")
    assert 0 < server.redis().pttl(claim_key("rel-expire")) <= 1000  # the claim expires with its memory
    server.redis().delete(memory_key(first.id))  # expired (as Redis would, without waiting)
    again = client.write("tiny", X, ttl_seconds=1, idempotency_key="rel-expire")
    assert again.id != first.id


def test_ttl_seconds_is_part_of_the_request(client: EBMMClient, bits) -> None:
    X = bits.patterns(2)
    first = client.write("tiny", X, ttl_seconds=100, idempotency_key="rel-ttl")
    assert client.write("tiny", X, ttl_seconds=100, idempotency_key="rel-ttl").id == first.id
    for other_ttl in (200, None):
        with pytest.raises(EBMMError) as conflict:
            client.write("tiny", X, ttl_seconds=other_ttl, idempotency_key="rel-ttl")
        assert (conflict.value.status, conflict.value.type) == (422, "idempotency_conflict")


def test_concurrent_duplicates_wait_for_the_first_and_get_its_memory(make_server, bits) -> None:
    X = bits.patterns(2)
    with make_server(max_delay_ms=400) as server, server.client() as client:  # each write waits 0.4 s in the batcher
        before = server.redis().zcard(f"ebmm:{{{TENANT}}}:index")
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda _: client.write("tiny", X, idempotency_key="rel-dup"), range(12)))
        assert len({m.id for m in results}) == 1
        assert server.redis().zcard(f"ebmm:{{{TENANT}}}:index") == before + 1


def test_claims_left_by_a_crash_free_themselves(checkpoints: Path, tmp_path: Path, bits) -> None:
    """SIGKILL of the API (and its Redis) with 16 writes in flight: every retry with those keys writes, after at
    most the in-progress claim's lifetime (deadline + four Redis bounds + 1 s = 7 s here), once each."""
    stored = [bits.patterns(2) for _ in range(16)]
    env = {"EBMM_DEADLINE_S": "3", "EBMM_REDIS_TIMEOUT_S": "0.25"}
    with ServeProcess(checkpoints, tmp_path / "data", EBMM_MAX_DELAY_MS="2500", **env) as first:
        pool = ThreadPoolExecutor(16)
        with first.client() as client:
            for i, X in enumerate(stored):
                pool.submit(client.write, "tiny", X, idempotency_key=f"crash-{i}")
            deadline = time.monotonic() + 10
            while queue_depth(f"{first.url}/metrics") < 16:  # all 16 claimed and queued, none stored
                assert time.monotonic() < deadline, "the writes did not queue up"
                time.sleep(0.02)
            first.kill()
        pool.shutdown(wait=True)
    with ServeProcess(checkpoints, tmp_path / "data", **env) as second:
        headers = {"Authorization": f"Bearer {KEYS[TENANT]}"}
        with httpx.Client(base_url=second.url, headers=headers, timeout=30) as http:
            ids = []
            give_up = time.monotonic() + 30
            for i, X in enumerate(stored):
                while True:
                    response = http.post(
                        "/memories",
                        json={"model": "tiny", "patterns": X.tolist()},
                        headers={"Idempotency-Key": f"crash-{i}"},
                    )
                    if response.status_code != 409:
                        break
                    assert response.headers["Retry-After"].isdigit()  # still in progress: documented, bounded
                    assert time.monotonic() < give_up, "the claims never freed themselves"
                    time.sleep(0.2)
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            for i, X in enumerate(stored):  # and now each key replays its memory
                replay = http.post(
                    "/memories",
                    json={"model": "tiny", "patterns": X.tolist()},
                    headers={"Idempotency-Key": f"crash-{i}"},
                )
                assert replay.json()["id"] == ids[i]
