"""The lean path: well-formed requests to the `/memories` routes served without FastAPI's per-request machinery.

FastAPI's routing and request handling cost a retrieve about a third of its Python time on the event loop:
a dozen nested ASGI layers, a dependency solver that re-derives cache keys and security scopes per request,
the content type parsed with `email.message`. `LeanDispatch` sits in front of them (inside the request-id,
access-log and body-limit middleware) and serves a request to an `ORJSONRoute` route itself: it matches the
route, authenticates the caller, validates the path, query, header and body parameters with FastAPI's own
field validators (`LeanCall`), and calls the endpoint. The endpoints, their OpenAPI description and their
dependencies stay FastAPI's; the lean path resolves the dependencies that take only the Request, and the
caller's tenant.

A request the lean path does not fully accept (a content type other than JSON, a body that is not JSON, any
validation error) goes on to FastAPI with its body replayed, so errors keep FastAPI's handling exactly: the
lean path only serves what FastAPI would have served the same way. ApiErrors are answered as the app's handler
answers them (service.errors.error_response); anything else propagates to the app's 500 handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from json import JSONDecodeError
from typing import Any, get_type_hints

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import caller_tenant
from service.errors import ApiError, error_response, http_error
from service.metrics import Metrics
from service.requests import ORJSONRequest, ORJSONRoute, authenticate

Resolver = Callable[[Request], Awaitable[Any]]


def is_json_content_type(value: str | None) -> bool:
    """application/json or application/*+json, parameters ignored (what FastAPI parses as JSON)."""
    if not value:
        return False
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def _caller_tenant(request: Request) -> str:
    return await caller_tenant(request, None, None)  # the dispatcher authenticated the caller: request.state has it


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
    """An endpoint called without FastAPI's per-request dependency solving."""

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
        """The endpoint's keyword arguments, or None when FastAPI must serve the request."""
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


def replayed(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the already-read `body` first, then what `receive` gives (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class LeanDispatch:
    """ASGI middleware: serves well-formed requests to the given ORJSONRoute routes by their LeanCall."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self.calls = [
            (route, call)
            for route in routes
            if isinstance(route, ORJSONRoute) and (call := LeanCall.of(route)) is not None
        ]

    def _match(self, scope: Scope) -> tuple[ORJSONRoute, LeanCall, Scope] | None:
        """The route (and its call) that fully matches the request's path and method, with its child scope."""
        for route, call in self.calls:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, call, child_scope
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        matched = self._match(scope)
        if matched is None:
            await self.app(scope, receive, send)
            return
        route, call, child_scope = matched
        scope.update(child_scope)
        scope["route"] = route
        request = ORJSONRequest(scope, receive)
        try:
            authenticate(request)
            arguments = await call.arguments(request)
            if arguments is None:  # FastAPI answers it, from the body as it came
                body = await request.body() if call.dependant.body_params else None
                await self.app(scope, receive if body is None else replayed(body, receive), send)
                return
            response = await call.endpoint(**arguments)
        except ApiError as error:
            response = error_response(self.metrics, error)
        except HTTPException as exc:  # the body limit, while the body streamed in
            response = error_response(self.metrics, http_error(exc))
        await response(scope, receive, send)
