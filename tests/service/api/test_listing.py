"""GET /memories: the tenant's memories newest first, cursor pages, a model filter; never θ, never another
tenant's, never a deleted or expired one. A server of its own, so the tenant's memories are exactly these."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from service.schemas import MemoryPublic

from ..conftest import KEYS, Bits, ServerThread


@pytest.fixture(scope="module")
def listing_server(checkpoints, tmp_path_factory) -> Iterator[ServerThread]:
    from ..conftest import settings_for

    with ServerThread(settings_for(checkpoints, tmp_path_factory.mktemp("listing"))) as server:
        yield server


def http_for(server: ServerThread, tenant: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEYS[tenant]}"})


def all_pages(http: httpx.Client, **params: object) -> tuple[list[dict], int]:
    """Every memory the listing returns, following next_cursor; and how many pages it took."""
    memories, cursor, pages = [], None, 0
    while True:
        page = http.get("/memories", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        memories += body["memories"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return memories, pages


def test_pages_list_every_memory_newest_first_without_theta(listing_server: ServerThread, bits: Bits) -> None:
    image = np.full((2, 64), 0.5, dtype=np.float32).tolist()
    with http_for(listing_server, "alice") as alice, http_for(listing_server, "bob") as bob:
        written = []
        for i in range(7):
            body = {"model": "tiny", "patterns": bits.patterns(2).tolist(), "metadata": {"i": i}}
            written.append(alice.post("/memories", json=body).json())
        written.append(alice.post("/memories", json={"model": "tiny-conv", "patterns": image}).json())
        bob_memory = bob.post("/memories", json={"model": "tiny", "patterns": bits.patterns(2).tolist()}).json()
        alice.delete(f"/memories/{written[3]['id']}")
        expiring = alice.post(
            "/memories", json={"model": "tiny", "patterns": bits.patterns(1).tolist(), "ttl_seconds": 1}
        )
        assert expiring.status_code == 201
        time.sleep(1.2)

        listed, pages = all_pages(alice, limit=3)
        kept = [m for i, m in enumerate(written) if i != 3]
        assert [m["id"] for m in listed] == [m["id"] for m in reversed(kept)]
        assert pages == 3  # 7 memories in pages of 3
        assert listed[-1] == kept[0]  # the same body GET /memories/{id} gives
        assert all(set(m) == set(MemoryPublic.model_fields) for m in listed)

        only_conv, _ = all_pages(alice, model="tiny-conv", limit=2)
        assert [m["id"] for m in only_conv] == [written[7]["id"]]
        assert [m["id"] for m in all_pages(bob)[0]] == [bob_memory["id"]]


def test_listing_parameters_are_checked(listing_server: ServerThread) -> None:
    with http_for(listing_server, "alice") as alice:
        for params, field in (
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
        ):
            answer = alice.get("/memories", params=params)
            assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text
        unknown = alice.get("/memories", params={"model": "nope"})
        assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "model"
    assert httpx.get(f"{listing_server.url}/memories").status_code == 401


def test_unreadable_memories_are_left_out_not_fatal(listing_server: ServerThread, bits: Bits) -> None:
    """One memory missing a field and one whose metadata was planted past the JSON nesting limit: the listing
    leaves both out (a GET of either id reports it) and lists the rest."""
    from ..conftest import memory_key

    deep: dict = {}
    for _ in range(300):
        deep = {"a": deep}
    with http_for(listing_server, "bob") as bob:
        ids = [
            bob.post("/memories", json={"model": "tiny", "patterns": bits.patterns(1).tolist()}).json()["id"]
            for _ in range(4)
        ]
        redis = listing_server.redis()
        redis.hdel(memory_key(ids[1], "bob"), "model")
        redis.hset(memory_key(ids[2], "bob"), "metadata", json.dumps(deep))
        listed, _ = all_pages(bob)
        assert ids[0] in {m["id"] for m in listed} and ids[3] in {m["id"] for m in listed}
        assert not {ids[1], ids[2]} & {m["id"] for m in listed}
        assert bob.get(f"/memories/{ids[1]}").json()["error"]["type"] == "corrupt_theta"
