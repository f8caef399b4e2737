"""uvicorn's h11 protocol with a bound on how long a client may take to send a request, and the options that
bound header size and connections. uvicorn has keep-alive timeouts but no header or body read timeout, and its
default httptools parser accepts headers of any size, so `ebmm serve` runs:

    http=GuardedH11Protocol                  a request (headers and body) must arrive within
                                             EBMM_REQUEST_READ_TIMEOUT_S of its first byte, or of the connection
                                             (else the connection is closed); idle keep-alive: 5 s (uvicorn)
    h11_max_incomplete_event_size            headers over EBMM_MAX_HEADER_BYTES → 400, connection closed
    limit_concurrency                        over EBMM_MAX_CONNECTIONS open connections → 503 at once
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.settings import Settings


@cache
def _read_timeout_s() -> float:
    return Settings().request_read_timeout_s


class GuardedH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request has not fully arrived within the read timeout."""

    read_timeout_s: float | None = None  # None: EBMM_REQUEST_READ_TIMEOUT_S from the environment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._armed_for: object = None

    def _arm(self) -> None:
        self._disarm()
        timeout = self.read_timeout_s if self.read_timeout_s is not None else _read_timeout_s()
        self._armed_for = self.cycle
        self._read_timer = self.loop.call_later(timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.logger.warning("closing a connection whose request did not arrive in time")
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if self._read_timer is not None and cycle is not None and cycle is not self._armed_for and not cycle.more_body:
            self._disarm()  # this request has fully arrived: the app has it

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same bound


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings that bound slow and oversized clients (see the module docstring)."""
    return {
        "http": GuardedH11Protocol,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
    }
