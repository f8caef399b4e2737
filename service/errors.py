"""The error model: every failure is an `ApiError` rendered as {"error": {"type", "message", "field", "request_id"}}.

Validation problems name the offending field (`patterns[3][17]`, `known_mask`, `shape`); nothing a client
sends can produce a 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from service.request_context import current_request_id, current_tenant
from service.responses import ORJSONResponse

if TYPE_CHECKING:  # the metrics import the batcher, which raises ApiError
    from service.metrics import Metrics

log = logging.getLogger(__name__)

TENANT_REFUSALS = ("tenant_busy", "quota_exceeded")  # error types that refuse a request because of its tenant


class ApiError(Exception):
    """An error with its HTTP status, a stable `type` (also the `ebmm_errors_total` label) and a message."""

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.field, self.headers = status, type, message, field, headers


def invalid(message: str, field: str) -> ApiError:
    """422: wrong dims, non-finite or out-of-domain values in `field`."""
    return ApiError(422, "validation", message, field)


def too_large(message: str, field: str | None = None) -> ApiError:
    """413: too many patterns or queries, or a body over the limit."""
    return ApiError(413, "too_large", message, field)


def not_found(message: str, field: str | None = None) -> ApiError:
    return ApiError(404, "not_found", message, field)


def error_body(type: str, message: str, field: str | None = None) -> dict[str, dict[str, str | None]]:
    """The error body, naming the request it answers (its X-Request-Id)."""
    return {"error": {"type": type, "message": message, "field": field, "request_id": current_request_id()}}


def _location(loc: tuple[int | str, ...]) -> str:
    """('body', 'patterns', 3, 17) -> 'patterns[3][17]'."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def error_response(metrics: Metrics, error: ApiError) -> Response:
    """An ApiError as its JSON response, counted in `ebmm_errors_total` (every error the service answers), and a
    refusal because of the caller's tenant also in `ebmm_tenant_refusals_total` (wherever it was refused: here, or
    in the engine process's batcher)."""
    metrics.errors.labels(error.type).inc()
    if error.type in TENANT_REFUSALS and (tenant := current_tenant()) is not None:
        metrics.tenant_refusals.labels(tenant, error.type).inc()
    body = error_body(error.type, error.message, error.field)
    return ORJSONResponse(body, status_code=error.status, headers=error.headers)


def http_error(exc: StarletteHTTPException) -> ApiError:
    """Starlette's / FastAPI's HTTPException (routing, body decoding, body size) as the service's ApiError."""
    if exc.status_code == 400:  # FastAPI could not decode the body (e.g. not UTF-8): as for malformed JSON
        return invalid(f"body: {exc.detail}", "body")
    kind = {404: "not_found", 405: "validation", 413: "too_large"}.get(exc.status_code, "validation")
    return ApiError(exc.status_code, kind, str(exc.detail), headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Render ApiError, request validation and routing errors alike; count each in `ebmm_errors_total`."""

    def respond(request: Request, error: ApiError) -> Response:
        return error_response(request.app.state.metrics, error)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return respond(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":  # loc is ("body", character offset)
            position, reason = first["loc"][-1], first.get("ctx", {}).get("error", "invalid")
            return respond(request, invalid(f"body: not valid JSON at character {position}: {reason}", "body"))
        field = _location(tuple(first.get("loc", ())))
        message = f"{field or 'body'}: {first.get('msg', 'invalid')}"
        return respond(request, invalid(message, field or "body"))

    @app.exception_handler(StarletteHTTPException)
    async def http_exception(request: Request, exc: StarletteHTTPException) -> Response:
        return respond(request, http_error(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("500 on %s %s", request.method, request.url.path, exc_info=exc)  # the details go to the log only
        return respond(request, ApiError(500, "internal", "internal error; it has been logged"))
