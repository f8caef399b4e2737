"""Request bodies parsed with orjson (a write's JSON pattern matrix decodes ~6× faster than with `json`), large
ones in a parser process (service.body_parser).

FastAPI reads a JSON body through `Request.json()`; routes of routers built with `route_class=ORJSONRoute`
get a request whose `json()` uses `service.body_parser.parse_body` (orjson, matrices as float32 arrays), or
for a body over EBMM_PARSE_OFFLOAD_BYTES awaits it in the app's parser process, so the event loop keeps serving
meanwhile.

Every route of these routers needs an API key, and `ORJSONRoute` checks it before the body is read: FastAPI
reads and parses a body before it resolves dependencies, so an anonymous client could otherwise make the
server wait for, read and parse up to EBMM_MAX_BODY_BYTES. The tenant found is left in `request.state`.

Well-formed requests to these routes do not reach FastAPI's handler at all: service.lean_dispatch serves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from service.auth import authenticate_headers
from service.body_parser import BodyParser, parse_body


class ORJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parser: BodyParser = self.app.state.body_parser
            if parser.offloads(body):
                self._json = await asyncio.get_running_loop().run_in_executor(parser.pool, parse_body, body)
            else:
                self._json = parse_body(body)
        return self._json


def authenticate(request: Request) -> None:
    """Check the caller's API key from the raw headers, before the body is read; its tenant goes to
    `request.state.tenant` (401 without a valid key)."""
    headers = request.headers
    keys = request.app.state.api_keys
    request.state.tenant = authenticate_headers(keys, headers.get("authorization"), headers.get("x-api-key"))


class ORJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route_handler(plain: Request) -> Response:
            request = ORJSONRequest(plain.scope, plain.receive)
            authenticate(request)
            return await handler(request)

        return route_handler
