"""Issue 16 item 1: a write never answers 500 after storing; deeply nested metadata is refused before anything
is stored, and everything stored can be read back."""

from __future__ import annotations

import httpx
import pytest

from .conftest import KEYS, TENANT

ONES = [1.0] * 32


def nested(depth: int) -> dict:
    """{"a": {"a": … {}}}, `depth` objects deep."""
    out: dict = {}
    for _ in range(depth - 1):
        out = {"a": out}
    return out


def stored_ids(server) -> set[bytes]:
    """The tenant's memory ids (compared as sets: other tests' memories may expire meanwhile)."""
    return set(server.redis().zrange(f"ebmm:{{{TENANT}}}:index", 0, -1))


@pytest.mark.parametrize("depth", [64, 65, 200, 253, 254, 255, 400])
def test_nested_metadata_is_stored_and_readable_or_refused_before_storing(server, depth: int) -> None:
    headers = {"Authorization": f"Bearer {KEYS[TENANT]}", "Idempotency-Key": f"deep-{depth}"}
    body = {"model": "tiny", "patterns": [ONES], "metadata": nested(depth)}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        before = stored_ids(server)
        first = http.post("/memories", json=body)
        if depth <= 64:
            assert first.status_code == 201, first.text
            memory_id = first.json()["id"]
            assert http.get(f"/memories/{memory_id}").json()["metadata"] == body["metadata"]
            assert http.post("/memories", json=body).json()["id"] == memory_id  # the retry replays it
            assert stored_ids(server) - before == {memory_id.encode()}
        else:
            assert first.status_code == 422, first.text
            error = first.json()["error"]
            assert (error["type"], error["field"]) == ("validation", "metadata") and "64" in error["message"]
            assert not stored_ids(server) - before  # nothing stored, no quota used
            assert http.post("/memories", json=body).status_code == 422  # a retry with the key: the same answer
            assert http.get("/healthz").status_code == 200  # the keep-alive connection still works


def test_a_memory_whose_response_cannot_render_is_never_stored(server) -> None:
    """Metadata in a list nested deep (arrays count as levels too) is refused like nested objects."""
    deep_list: list = []
    for _ in range(300):
        deep_list = [deep_list]
    headers = {"Authorization": f"Bearer {KEYS[TENANT]}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        before = stored_ids(server)
        response = http.post("/memories", json={"model": "tiny", "patterns": [ONES], "metadata": {"x": deep_list}})
        assert response.status_code == 422 and response.json()["error"]["field"] == "metadata"
        assert not stored_ids(server) - before
