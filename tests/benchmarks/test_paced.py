"""`ebmm bench paced`'s generator against a stub HTTP server: open loop sends at the offered rate and counts
latency from when each request was due; closed loop sends back to back; non-2xx answers are counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.paced import Plan, drive, paced_table
from benchmarks.wrk_driver import Request

DELAY_S = 0.02  # each stub answer takes this long


class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        time.sleep(DELAY_S)
        self._answer(404 if self.path == "/missing" else 200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def plan(url: str, rate: float, connections: int, seconds: float, path: str = "/retrieve") -> Plan:
    return Plan(url, "key", (Request("POST", path, b'{"queries": [[1]]}'),), rate, connections, seconds, seed=0)


def test_open_loop_sends_the_offered_rate(stub_url: str) -> None:
    share = drive(plan(stub_url, rate=40, connections=4, seconds=1.0))
    assert len(share["latencies_ms"]) == 40  # every scheduled request, none more
    assert share["non_2xx"] == share["errors"] == 0
    assert 0.95 <= share["elapsed_s"] < 1.5  # paced over the second, not sent at once
    assert min(share["latencies_ms"]) >= DELAY_S * 1000


def test_open_loop_counts_latency_from_when_a_request_was_due(stub_url: str) -> None:
    # one connection, 100 req/s offered, 50 req/s served: requests queue, and their wait is latency
    share = drive(plan(stub_url, rate=100, connections=1, seconds=0.5))
    assert len(share["latencies_ms"]) == 50
    assert max(share["latencies_ms"]) > 10 * DELAY_S * 1000


def test_closed_loop_sends_back_to_back(stub_url: str) -> None:
    share = drive(plan(stub_url, rate=0, connections=2, seconds=0.5))
    latencies = share["latencies_ms"]
    assert len(latencies) <= 2 * 0.5 / DELAY_S + 2  # each connection waits for its answer
    # and sends its next request at once: both connections were busy nearly the whole time
    assert sum(latencies) / 1000 >= 0.8 * 2 * 0.5
    assert share["non_2xx"] == 0


def test_non_2xx_answers_are_counted(stub_url: str) -> None:
    share = drive(plan(stub_url, rate=20, connections=2, seconds=0.5, path="/missing"))
    assert share["non_2xx"] == len(share["latencies_ms"]) == 10


def test_table_names_the_maximum_cell() -> None:
    cell = {"per_s": 90.0, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0, "non_2xx": 0, "errors": 0}
    result = {
        "model": "m",
        "workers": 2,
        "cpu_count": 16,
        "cells": [{**cell, "offered_per_s": 100.0}, {**cell, "offered_per_s": None}],
    }
    table = paced_table(result)
    assert list(table.columns[0].cells) == ["100", "max"]
    assert list(table.columns[1].cells) == ["90", "90"]
