"""What the service knows about the request it is serving: its id, and the facts its access log line reports.

Every request gets an id: the client's `X-Request-Id` when it is a plain token (1–128 of `A-Z a-z 0-9 . _ : -`),
else a new random one. The id comes back as `X-Request-Id` on every response, in every error body
(`error.request_id`) and in every log line written while the request is served (see service.logs).
Route code adds the tenant, the model and the engine batch size as it learns them (`note`); `RequestRecord`
writes one `ebmm.access` log line per request with all of them, and counts it in the HTTP metrics.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # the metrics import the batcher, which notes facts here
    from service.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("ebmm.access")


@dataclass
class RequestFacts:
    """One request's access-log fields; None until known."""

    request_id: str
    method: str
    route: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    tenant: str | None = None
    model: str | None = None
    batch_size: int | None = None


_current: ContextVar[RequestFacts | None] = ContextVar("ebmm_request", default=None)


def current_request_id() -> str | None:
    """The id of the request being served in this context (None outside a request)."""
    facts = _current.get()
    return None if facts is None else facts.request_id


def current_tenant() -> str | None:
    """The tenant of the request being served in this context (None outside a request or before it is known)."""
    facts = _current.get()
    return None if facts is None else facts.tenant


@contextmanager
def serving(facts: RequestFacts) -> Iterator[RequestFacts]:
    """Make `facts` the request served in this context (what `note` adds to and log lines carry)."""
    token = _current.set(facts)
    try:
        yield facts
    finally:
        _current.reset(token)


def note(**facts: str | int) -> None:
    """Record facts (tenant, model, batch_size) about the request being served, for its access log line."""
    current = _current.get()
    if current is not None:
        for name, value in facts.items():
            setattr(current, name, value)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-Id if it is a plain token, else a new random id (32 hex digits)."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and _CLIENT_ID.fullmatch(value):
            return value.decode("ascii")
    return f"{random.getrandbits(128):032x}"  # an id, not a secret: no system call per request


class RequestRecord:
    """Outermost middleware: sets the request's id and facts, returns `X-Request-Id`, then counts the request
    (ebmm_http_requests_total, ebmm_http_request_duration_seconds by route template, method and status) and
    writes its `ebmm.access` line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        facts = RequestFacts(request_id_from(scope["headers"]), scope["method"])
        header = (REQUEST_ID_HEADER, facts.request_id.encode("ascii"))
        recorded = False

        def record() -> None:
            """Count and log the request once: before its last byte is sent (so a client that has the answer
            finds it counted), or when it ends without one."""
            nonlocal recorded
            if recorded:
                return
            recorded = True
            route = scope.get("route")
            # a route's template; a mounted app (the demo page's files) by its mount path
            facts.route = getattr(route, "path", None) or scope.get("root_path") or "unmatched"
            facts.status = facts.status or 500
            elapsed = time.monotonic() - start
            facts.latency_ms = round(1000 * elapsed, 3)
            labels = (facts.route, facts.method, str(facts.status))
            self.metrics.http_requests.labels(*labels).inc()
            self.metrics.http_duration.labels(*labels).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d %.1f ms tenant=%s model=%s batch_size=%s",
                    facts.method,
                    facts.route,
                    facts.status,
                    facts.latency_ms,
                    facts.tenant,
                    facts.model,
                    facts.batch_size,
                    extra=asdict(facts),
                )

        async def identified_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                facts.status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()
            await send(message)

        with serving(facts):
            try:
                await self.app(scope, receive, identified_send)
            finally:
                record()
