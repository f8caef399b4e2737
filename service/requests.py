"""Request bodies parsed with orjson (a write's JSON pattern matrix decodes ~6× faster than with `json`), large
ones in a parser process (service.body_parser), and a lean path through FastAPI for well-formed requests.

FastAPI reads a JSON body through `Request.json()`; routes of routers built with `route_class=ORJSONRoute`
get a request whose `json()` uses `service.body_parser.parse_json`, or for a body over
EBMM_PARSE_OFFLOAD_BYTES awaits the app's parser process, so the event loop keeps serving meanwhile.

Every route of these routers needs an API key, and `ORJSONRoute` checks it before the body is read: FastAPI
reads and parses a body before it resolves dependencies, so an anonymous client could otherwise make the
server wait for, read and parse up to EBMM_MAX_BODY_BYTES. The tenant found is left in `request.state`.

The lean path: FastAPI's own handler costs a retrieve about as much Python time as the service's work (its
dependency solver re-derives cache keys and security scopes per request, and it parses the content type with
`email.message`). `ORJSONRoute` instead validates the path, query, header and body parameters with FastAPI's
own field validators and calls the endpoint itself, resolving dependencies that take only the Request, and
the caller's tenant (already authenticated). Any request it does not fully accept (a content type other than
JSON, a body that is not JSON, any validation error) goes through FastAPI's handler unchanged, so errors
are FastAPI's: the lean path only serves what FastAPI would have served the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from json import JSONDecodeError
from typing import Any, get_type_hints

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute

from service.api.deps import caller_tenant
from service.auth import authenticate_headers
from service.body_parser import BodyParser, parse_json, parse_large_body

Resolver = Callable[[Request], Awaitable[Any]]


class ORJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parser: BodyParser = self.app.state.body_parser
            if parser.offloads(body):
                self._json = await asyncio.get_running_loop().run_in_executor(parser.pool, parse_large_body, body)
            else:
                self._json = parse_json(body)
        return self._json


def is_json_content_type(value: str | None) -> bool:
    """application/json or application/*+json, parameters ignored (what FastAPI parses as JSON)."""
    if not value:
        return False
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def _caller_tenant(request: Request) -> str:
    return await caller_tenant(request, None, None)  # ORJSONRoute authenticated the caller: request.state has it


def _resolver(dependency: Dependant) -> Resolver | None:
    """How the lean path resolves one of an endpoint's dependencies, or None when only FastAPI can."""
    if dependency.call is caller_tenant:
        return _caller_tenant
    takes_only_request = dependency.request_param_name is not None and not (
        dependency.path_params
        or dependency.query_params
        or dependency.header_params
        or dependency.cookie_params
        or dependency.body_params
        or dependency.dependencies
    )
    if takes_only_request and asyncio.iscoroutinefunction(dependency.call):
        request_param = dependency.request_param_name
        call = dependency.call
        return lambda request: call(**{request_param: request})
    return None


class LeanCall:
    """An endpoint called without FastAPI's per-request dependency solving (see the module docstring)."""

    def __init__(self, route: APIRoute, resolvers: dict[str, Resolver]) -> None:
        self.dependant = route.dependant
        self.endpoint = route.endpoint
        self.embed_body_fields = route._embed_body_fields
        self.resolvers = resolvers

    @classmethod
    def of(cls, route: APIRoute) -> LeanCall | None:
        """The lean call of `route`, or None when one of its parameters or dependencies needs FastAPI."""
        dependant = route.dependant
        resolvers = {}
        for dependency in dependant.dependencies:
            resolver = _resolver(dependency)
            if resolver is None or dependency.name is None:
                return None
            resolvers[dependency.name] = resolver
        special = (
            dependant.cookie_params,
            dependant.request_param_name,
            dependant.response_param_name,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
            dependant.websocket_param_name,
            dependant.http_connection_param_name,
        )
        returned = get_type_hints(route.endpoint).get("return")
        returns_response = isinstance(returned, type) and issubclass(returned, Response)
        if any(special) or len(dependant.body_params) > 1 or not returns_response:
            return None  # (an endpoint returning data needs FastAPI's response model serialisation)
        return cls(route, resolvers)

    async def arguments(self, request: ORJSONRequest) -> dict[str, Any] | None:
        """The endpoint's keyword arguments, or None when FastAPI's handler must serve the request."""
        dependant = self.dependant
        values, errors = request_params_to_args(dependant.path_params, request.path_params)
        if dependant.query_params:
            query_values, query_errors = request_params_to_args(dependant.query_params, request.query_params)
            values.update(query_values)
            errors += query_errors
        if dependant.header_params:
            header_values, header_errors = request_params_to_args(dependant.header_params, request.headers)
            values.update(header_values)
            errors += header_errors
        if dependant.body_params:
            if not is_json_content_type(request.headers.get("content-type")) or not await request.body():
                return None
            try:
                body = await request.json()
            except (JSONDecodeError, UnicodeDecodeError):
                return None
            body_values, body_errors = await request_body_to_args(dependant.body_params, body, self.embed_body_fields)
            values.update(body_values)
            errors += body_errors
        if errors:
            return None
        for name, resolver in self.resolvers.items():
            values[name] = await resolver(request)
        return values


class ORJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        lean = LeanCall.of(self)

        async def route_handler(plain: Request) -> Response:
            request = ORJSONRequest(plain.scope, plain.receive)
            headers = request.headers
            keys = request.app.state.api_keys
            request.state.tenant = authenticate_headers(keys, headers.get("authorization"), headers.get("x-api-key"))
            arguments = None if lean is None else await lean.arguments(request)
            if arguments is None:
                return await handler(request)
            return await lean.endpoint(**arguments)

        return route_handler
