"""Request bodies of the /memories routes are parsed by orjson, with `json` as the fallback for its refusals."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import orjson
import pytest
from fastapi.routing import APIRoute

from service.api.routes.memories import router
from service.body_parser import BodyParser
from service.requests import ORJSONRequest, ORJSONRoute


def request_with_body(body: bytes, parser: BodyParser | None = None) -> ORJSONRequest:
    """A request of an app whose parser process takes bodies over `parser.offload_bytes` (default: none)."""

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    app = SimpleNamespace(state=SimpleNamespace(body_parser=parser or BodyParser(10**9)))
    return ORJSONRequest({"type": "http", "method": "POST", "headers": [], "app": app}, receive)


async def test_json_bodies_are_parsed_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, loads = [], orjson.loads
    monkeypatch.setattr("service.body_parser.orjson.loads", lambda body: calls.append(body) or loads(body))
    body = orjson.dumps({"queries": [[1.0, -1.0, 0.0]]})
    assert await request_with_body(body).json() == {"queries": [[1.0, -1.0, 0.0]]}
    assert calls == [body]


async def test_bodies_orjson_refuses_get_the_json_module_s_reading() -> None:
    parsed = await request_with_body(b'{"patterns": [[1, NaN, Infinity]]}').json()
    assert parsed["patterns"][0][0] == 1 and math.isnan(parsed["patterns"][0][1]) and parsed["patterns"][0][2] > 1e308
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
