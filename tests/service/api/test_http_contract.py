"""The HTTP contract a client relies on beyond the bodies: Location on 201, answers in the form asked for,
error bodies that match the OpenAPI document. Plain httpx against a real server, no client library."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from ..conftest import KEYS, TENANT, Bits, ServerThread


@pytest.fixture
def http(server: ServerThread):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEYS[TENANT]}"}) as c:
        yield c


def test_a_write_answers_201_with_the_memory_s_location(http: httpx.Client, bits: Bits) -> None:
    created = http.post("/memories", json={"model": "tiny", "patterns": bits.patterns(4).tolist()})
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location == f"/memories/{created.json()['id']}"
    assert http.get(location).json() == created.json()


def test_retrieve_answers_in_base64_when_asked(http: httpx.Client, bits: Bits) -> None:
    X = bits.patterns(8)
    memory_id = http.post("/memories", json={"model": "tiny", "patterns": X.tolist()}).json()["id"]
    Q = bits.erase(X, 8)
    as_json = http.post(f"/memories/{memory_id}/retrieve", json={"queries": Q.tolist()}).json()
    b64_query = {"queries_b64": base64.b64encode(Q.astype("<f4").tobytes()).decode(), "shape": list(Q.shape)}
    as_b64 = http.post(f"/memories/{memory_id}/retrieve", json=b64_query | {"encoding": "b64"}).json()

    assert as_b64["patterns"] is None and as_json["patterns_b64"] is None
    assert as_b64["shape"] == [8, 32]
    decoded = np.frombuffer(base64.b64decode(as_b64["patterns_b64"]), dtype="<f4").reshape(as_b64["shape"])
    assert np.array_equal(decoded, np.asarray(as_json["patterns"], dtype=np.float32))
    assert (as_b64["energies"], as_b64["changed"]) == (as_json["energies"], as_json["changed"])
    # JSON queries can ask for a base64 answer too; an unknown encoding is a 422 naming the field
    mixed = http.post(f"/memories/{memory_id}/retrieve", json={"queries": Q.tolist(), "encoding": "b64"}).json()
    assert mixed["patterns_b64"] == as_b64["patterns_b64"]
    bad = http.post(f"/memories/{memory_id}/retrieve", json={"queries": Q.tolist(), "encoding": "npy"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "encoding"


def test_a_malformed_memory_id_gets_the_documented_error_body(http: httpx.Client, server: ServerThread) -> None:
    spec = server.app.openapi()
    for method in ("get", "delete"):
        documented = spec["paths"]["/memories/{memory_id}"][method]["responses"]["422"]
        assert documented["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
        answer = http.request(method.upper(), "/memories/not%20an%20id")
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "memory_id"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
