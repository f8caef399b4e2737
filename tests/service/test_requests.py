"""Request bodies of the /memories routes are parsed by orjson, with `json` as the fallback for its refusals;
well-formed requests take the lean path, the others FastAPI's handler."""

from __future__ import annotations

import math
from types import SimpleNamespace

import fastapi.routing
import httpx
import numpy as np
import orjson
import pytest
import torch
from fastapi.routing import APIRoute

from model.engine import Engine
from service.api.routes.memories import router
from service.body_parser import BodyParser
from service.lean_dispatch import LeanCall, is_json_content_type
from service.requests import ORJSONRequest, ORJSONRoute

from .conftest import BINARY, KEYS, TENANT, Bits, ServerThread


def request_with_body(body: bytes, parser: BodyParser | None = None) -> ORJSONRequest:
    """A request of an app whose parser process takes bodies over `parser.offload_bytes` (default: none)."""

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    app = SimpleNamespace(state=SimpleNamespace(body_parser=parser or BodyParser(10**9)))
    return ORJSONRequest({"type": "http", "method": "POST", "headers": [], "app": app}, receive)


async def test_json_bodies_are_parsed_by_orjson_with_matrices_as_float32_arrays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls, loads = [], orjson.loads
    monkeypatch.setattr("service.body_parser.orjson.loads", lambda body: calls.append(body) or loads(body))
    body = orjson.dumps({"queries": [[1.0, -1.0, 0.0]], "metadata": {"rows": [[1, 2]]}})
    parsed = await request_with_body(body).json()
    assert isinstance(parsed["queries"], np.ndarray) and parsed["queries"].dtype == np.float32
    assert parsed["queries"].tolist() == [[1.0, -1.0, 0.0]] and parsed["metadata"] == {"rows": [[1, 2]]}
    assert calls == [body]
    ragged = await request_with_body(b'{"queries": [[1, -1], [0]]}').json()
    assert ragged == {"queries": [[1, -1], [0]]}  # not a rectangle: left as lists, for validation to name the row


async def test_bodies_orjson_refuses_get_the_json_module_s_reading() -> None:
    parsed = await request_with_body(b'{"patterns": [[1, NaN, Infinity]]}').json()
    first, not_a_number, infinite = parsed["patterns"][0]
    assert first == 1 and math.isnan(not_a_number) and math.isinf(infinite)
    assert await request_with_body(b'{"n": 1000000000000000000001}').json() == {"n": 10**21 + 1}  # exact
    with pytest.raises(ValueError):  # still malformed for both: FastAPI turns it into a 422
        await request_with_body(b'{"model": ').json()


async def test_bodies_over_the_offload_size_are_parsed_in_the_parser_process() -> None:
    parser = BodyParser(offload_bytes=10)
    try:
        parsed = await request_with_body(b'{"queries": [[1, -1, 0]], "noisy": true}', parser).json()
        assert isinstance(parsed["queries"], np.ndarray) and parsed["queries"].dtype == np.float32
        assert parsed["queries"].tolist() == [[1.0, -1.0, 0.0]] and parsed["noisy"] is True
        small = await request_with_body(b'{"q": 1}', parser).json()  # at most 10 bytes: parsed in place
        assert small == {"q": 1}
        with pytest.raises(ValueError):  # the parser's JSONDecodeError comes back: FastAPI answers 422
            await request_with_body(b'{"model": "tiny", ', parser).json()
    finally:
        parser.close()


def test_every_memories_route_uses_the_orjson_route() -> None:
    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    assert routes and all(isinstance(route, ORJSONRoute) for route in routes)


def test_every_memories_route_has_a_lean_call() -> None:
    assert all(LeanCall.of(route) is not None for route in router.routes if isinstance(route, APIRoute))


def test_content_types_fastapi_parses_as_json() -> None:
    accepted = ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json"]
    assert all(is_json_content_type(value) for value in accepted)
    assert not any(is_json_content_type(value) for value in [None, "", "text/plain", "application/jsonx", "text/json"])


def test_well_formed_requests_skip_fastapis_dependency_solver_and_others_keep_its_answers(
    server: ServerThread, engine: Engine, bits: Bits, monkeypatch: pytest.MonkeyPatch
) -> None:
    solved = []
    solve = fastapi.routing.solve_dependencies

    async def counted(**kwargs: object) -> object:
        solved.append(kwargs["request"].url.path)
        return await solve(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    patterns = bits.patterns(4)
    with server.client() as client:
        memory = client.write(BINARY, patterns, metadata={"k": 1}, idempotency_key="lean-1")
        queries = torch.from_numpy(bits.erase(patterns, 8))[None]
        answer = client.retrieve(memory.id, queries[0].numpy())
        local = engine.read(engine.write(torch.from_numpy(patterns)[None]), queries, queries != 0)
        assert np.array_equal(np.asarray(answer.patterns), local.patterns[0].numpy())
        assert client.get(memory.id).metadata == {"k": 1}
        assert memory.id in [m.id for m in client.list_memories(limit=5).memories]
        assert client.write(BINARY, patterns, metadata={"k": 1}, idempotency_key="lean-1").id == memory.id
        assert solved == []  # every one of them served by the lean path
        url, headers = f"{server.url}/memories/{memory.id}/retrieve", {"X-API-Key": KEYS[TENANT]}
        wrong_dims = httpx.post(url, json={"queries": [[1.0, -1.0]]}, headers=headers)
        assert wrong_dims.status_code == 422 and wrong_dims.json()["error"]["field"] == "queries[0]"
        not_json = httpx.post(url, content=b'{"queries": [[1.0]]}', headers={**headers, "content-type": "text/plain"})
        unknown_field = httpx.post(url, json={"queries": [[1.0]], "typo": 1}, headers=headers)
        bad_limit = httpx.get(f"{server.url}/memories", params={"limit": 0}, headers=headers)
        client.delete(memory.id)
    assert not_json.status_code == 422 and unknown_field.status_code == 422 and bad_limit.status_code == 422
    assert unknown_field.json()["error"]["field"] == "typo" and bad_limit.json()["error"]["field"] == "limit"
    assert len(solved) == 3  # the three FastAPI refused, answered by FastAPI's handler
