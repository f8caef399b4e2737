"""Every bad request gets its 4xx, a consistent error body and a message naming the field; never a 500."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest

from ebmm_client import EBMMClient

from .conftest import KEYS, TENANT, memory_key

ONES = [1.0] * 32


def b64(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


@pytest.fixture
def http(server) -> httpx.Client:
    with httpx.Client(base_url=server.url, headers={"X-API-Key": KEYS[TENANT]}) as c:
        yield c


@pytest.fixture
def memory_id(client: EBMMClient) -> str:
    return client.write("tiny", [ONES, [-1.0] * 32]).id


def assert_error(response: httpx.Response, status: int, type: str, field: str | None, text: str = "") -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["field"]) == (type, field), error
    assert text in error["message"]


def nested(depth: int) -> dict:
    """{"a": {"a": … {}}}, `depth` objects deep."""
    out: dict = {}
    for _ in range(depth - 1):
        out = {"a": out}
    return out


WRITE_CASES = [
    ({"model": "nope", "patterns": [ONES]}, 404, "not_found", "model", "unknown model 'nope'"),
    ({"model": "tiny", "patterns": [ONES] * 49}, 413, "too_large", "patterns", "at most 48"),
    ({"model": "tiny", "patterns": [ONES, [1.0] * 31]}, 422, "validation", "patterns[1]", "has 31 numbers"),
    ({"model": "tiny", "patterns": [[*ONES[:5], 0.5, *ONES[6:]]]}, 422, "validation", "patterns[0][5]", "0.5"),
    ({"model": "tiny", "patterns": []}, 422, "validation", "patterns", "at least one row"),
    ({"model": "tiny", "patterns": [ONES], "colour": "red"}, 422, "validation", "colour", "Extra inputs"),
    ({"model": "tiny", "patterns": [["a"] * 32]}, 422, "validation", "patterns[0][0]", "number"),
    ({"model": "tiny"}, 422, "validation", "body", "one of patterns or patterns_b64"),
    ({"model": "tiny", "patterns": [ONES], "ttl_seconds": 0}, 422, "validation", "ttl_seconds", ""),
    ({"model": "tiny", "patterns": [ONES], "metadata": {"x": "y" * 5000}}, 413, "too_large", "metadata", "4096"),
    ({"model": "tiny", "patterns": [ONES], "metadata": {"n": 10**30}}, 422, "validation", "metadata", "JSON"),
    ({"model": "tiny", "patterns": [ONES], "metadata": nested(300)}, 422, "validation", "metadata", "JSON"),
    ({"model": "tiny", "patterns_b64": b64(np.ones((2, 32)))}, 422, "validation", "shape", "needs shape"),
    ({"model": "tiny", "patterns_b64": b64(np.ones((2, 32))), "shape": [2, 31]}, 422, "validation", "shape", ""),
    ({"model": "tiny", "patterns_b64": b64(np.ones((2, 32))), "shape": [3, 32]}, 422, "validation", "patterns_b64", ""),
    ({"model": "tiny", "patterns_b64": "***", "shape": [1, 32]}, 422, "validation", "patterns_b64", "base64"),
    (
        {"model": "tiny", "patterns_b64": b64(np.r_[np.ones(3), np.nan, np.ones(28)][None]), "shape": [1, 32]},
        422,
        "validation",
        "patterns_b64[0][3]",
        "not a finite number",
    ),
]


@pytest.mark.parametrize(("body", "status", "type", "field", "text"), WRITE_CASES)
def test_bad_writes(http: httpx.Client, body: dict, status: int, type: str, field: str, text: str) -> None:
    assert_error(http.post("/memories", json=body), status, type, field, text)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_json_numbers(http: httpx.Client, number: str) -> None:
    body = '{"model": "tiny", "patterns": [[' + ", ".join(["1"] * 7 + [number] + ["1"] * 24) + "]]}"
    response = http.post("/memories", content=body, headers={"content-type": "application/json"})
    assert_error(response, 422, "validation", "patterns[0][7]", "not a finite number")


@pytest.mark.parametrize("body", [b'{"model": ', b'{"model": "\xff\xfe"}'], ids=["truncated", "not-utf8"])
def test_malformed_json(http: httpx.Client, body: bytes) -> None:
    response = http.post("/memories", content=body, headers={"content-type": "application/json"})
    assert_error(response, 422, "validation", "body", "")


def test_body_too_large_is_refused_before_parsing(http: httpx.Client) -> None:
    big = b"[" * (300 * 1024)  # not even JSON: the limit answers first
    response = http.post("/memories", content=big, headers={"content-type": "application/json"})
    assert_error(response, 413, "too_large", None, "EBMM_MAX_BODY_BYTES")

    def chunks():  # no Content-Length: the streamed body is counted
        for _ in range(40):
            yield b" " * 8192

    response = http.post("/memories", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "too_large", None, "EBMM_MAX_BODY_BYTES")


def retrieve_cases() -> list[tuple[dict, int, str, str, str]]:
    q = [[1.0] * 16 + [0.0] * 16]
    return [
        ({"queries": [[2.0] * 32]}, 422, "validation", "queries[0][0]", "must be one of -1, 0, 1"),
        ({"queries": [[1.0] * 33]}, 422, "validation", "queries[0]", "has 33 numbers"),
        ({"queries": q, "known_mask": [[1.0] * 32] * 2}, 422, "validation", "known_mask", "shape"),
        ({"queries": q, "known_mask": [[0.5] * 32]}, 422, "validation", "known_mask[0][0]", "one of 0, 1"),
        ({"queries": q, "queries_b64": b64(np.ones((1, 32)))}, 422, "validation", "body", "not both"),
        ({"queries": q * 65}, 413, "too_large", "queries", "at most 64"),
        ({"queries": q * 5, "trace": True}, 422, "validation", "trace", "at most 4 queries; got 5"),
    ]


@pytest.mark.parametrize(("body", "status", "type", "field", "text"), retrieve_cases())
def test_bad_retrieves(
    http: httpx.Client, memory_id: str, body: dict, status: int, type: str, field: str, text: str
) -> None:
    assert_error(http.post(f"/memories/{memory_id}/retrieve", json=body), status, type, field, text)


def test_unknown_memory_and_route(http: httpx.Client) -> None:
    assert_error(http.get("/memories/nothing-here"), 404, "not_found", "memory_id", "no memory")
    assert_error(http.post("/memories/nothing-here/retrieve", json={"queries": [ONES]}), 404, "not_found", "memory_id")
    assert_error(http.delete("/memories/nothing-here"), 404, "not_found", "memory_id")
    assert_error(http.get("/memories/bad%20id!"), 422, "validation", "memory_id", "")
    assert http.get("/nowhere").status_code == 404


def test_memory_written_by_a_checkpoint_no_longer_served_is_a_conflict(
    server, http: httpx.Client, memory_id: str
) -> None:
    server.redis().hset(memory_key(memory_id), "checkpoint_hash", "0123456789abcdef")
    response = http.post(f"/memories/{memory_id}/retrieve", json={"queries": [ONES]})
    assert_error(response, 409, "checkpoint_retired", None, "0123456789abcdef")
    assert http.get(f"/memories/{memory_id}").status_code == 200  # metadata is still readable


def error_count(http: httpx.Client, kind: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'ebmm_errors_total{{type="{kind}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no ebmm_errors_total series for {kind}")


P = 8 * 32 + 8  # θ floats of the tiny binary model
CORRUPTIONS = [
    ("theta", b"\x00" * 12, "12 bytes"),  # truncated
    ("theta", np.full(P, np.nan, dtype="<f4").tobytes(), "non-finite"),
    ("theta", np.r_[np.ones(P - 1), np.inf].astype("<f4").tobytes(), "non-finite"),
    ("theta_dtype", b"float64", "dtype 'float64'"),  # not a dtype the service writes
    ("theta_dtype", b"float16", "bytes of float16"),  # float32 bytes labelled as float16: twice the length
    ("created_at", b"yesterday", "unreadable"),
    ("recall_error", b"{not json", "unreadable"),
]


@pytest.mark.parametrize(("field", "value", "text"), CORRUPTIONS)
def test_corrupt_memory_is_a_counted_conflict_not_a_crash(
    server, http: httpx.Client, client: EBMMClient, field: str, value: bytes, text: str
) -> None:
    corrupted, healthy = (client.write("tiny", [ONES, [-1.0] * 32]).id for _ in range(2))
    server.redis().hset(memory_key(corrupted), field, value)
    before = error_count(http, "corrupt_theta")
    response = http.post(f"/memories/{corrupted}/retrieve", json={"queries": [ONES]})
    assert_error(response, 409, "corrupt_theta", None, text)
    assert error_count(http, "corrupt_theta") == before + 1
    ok = http.post(f"/memories/{healthy}/retrieve", json={"queries": [ONES]})  # the engine worker is still alive
    assert ok.status_code == 200 and ok.json()["patterns"][0] == ONES


def test_missing_fields_are_a_conflict(server, http: httpx.Client, memory_id: str) -> None:
    server.redis().hdel(memory_key(memory_id), "model")
    assert_error(http.get(f"/memories/{memory_id}"), 409, "corrupt_theta", None, "unreadable")


def test_errors_are_counted_by_type(http: httpx.Client) -> None:
    before = error_count(http, "not_found")
    http.get("/memories/nothing-here")
    assert error_count(http, "not_found") == before + 1


def test_error_bodies_are_json(http: httpx.Client) -> None:
    response = http.post("/memories", content=b"model=tiny", headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert json.loads(response.text)["error"]["type"] == "validation"
