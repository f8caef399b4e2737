"""Request ids, access log lines, process metrics and OpenTelemetry traces, through real servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .conftest import KEYS, TENANT, Bits, ServeProcess, ServerThread

AUTH = {"Authorization": f"Bearer {KEYS[TENANT]}"}


def test_every_response_carries_a_request_id(server: ServerThread, bits: Bits) -> None:
    with httpx.Client(base_url=server.url, headers=AUTH) as http:
        created = http.post("/memories", json={"model": "tiny", "patterns": bits.patterns(2).tolist()})
        generated = created.headers["X-Request-Id"]
        assert len(generated) == 32 and int(generated, 16) >= 0
        other = http.get("/healthz").headers["X-Request-Id"]
        assert other != generated

        mine = http.get(created.headers["Location"], headers={"X-Request-Id": "client-42.a:b_c"})
        assert mine.headers["X-Request-Id"] == "client-42.a:b_c"
        unsafe = http.get("/healthz", headers={"X-Request-Id": "x" * 129}).headers["X-Request-Id"]
        assert len(unsafe) == 32  # not a plain token of at most 128 characters: replaced

        # errors name the request in the body too: a route's 404, a 401, a 422, the body limit's 413
        errors = [
            http.get("/memories/nope", headers={"X-Request-Id": "e1"}),
            httpx.get(f"{server.url}/memories/nope", headers={"X-Request-Id": "e2"}),
            http.post("/memories", json={"model": "tiny"}, headers={"X-Request-Id": "e3"}),
            http.post("/memories", content=b"x" * (300 * 1024), headers={"X-Request-Id": "e4"}),
        ]
        assert [e.status_code for e in errors] == [404, 401, 422, 413]
        assert [e.json()["error"]["request_id"] for e in errors] == ["e1", "e2", "e3", "e4"]
        assert [e.headers["X-Request-Id"] for e in errors] == ["e1", "e2", "e3", "e4"]


def test_metrics_include_the_process(server: ServerThread) -> None:
    families = {line.split()[2] for line in httpx.get(f"{server.url}/metrics").text.splitlines() if "# TYPE" in line}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} <= families


def test_json_logs_give_one_line_per_request_with_its_facts(checkpoints: Path, tmp_path: Path, bits: Bits) -> None:
    log = tmp_path / "server.log"
    with (
        ServeProcess(checkpoints, tmp_path / "data", log_path=log, log_level="info", EBMM_LOG_FORMAT="json") as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        X = bits.patterns(4)
        created = http.post("/memories", json={"model": "tiny", "patterns": X.tolist()}, headers={"X-Request-Id": "w1"})
        memory_id = created.json()["id"]
        http.post(f"/memories/{memory_id}/retrieve", json={"queries": X.tolist()}, headers={"X-Request-Id": "r1"})
        http.get("/memories/missing", headers={"X-Request-Id": "m1"})
    lines = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= line.keys() for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "ebmm.access"}
    write, read, missing = access["w1"], access["r1"], access["m1"]
    assert (write["route"], write["method"], write["status"]) == ("/memories", "POST", 201)
    assert (write["tenant"], write["model"], write["batch_size"]) == (TENANT, "tiny", 1)
    assert (read["route"], read["status"], read["model"], read["batch_size"]) == (
        "/memories/{memory_id}/retrieve",
        200,
        "tiny",
        1,
    )
    assert (missing["status"], missing["tenant"], missing["model"], missing["batch_size"]) == (404, TENANT, None, None)
    assert all(line["latency_ms"] > 0 for line in access.values())
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # the server's own lines are JSON too


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: decodes each export (protobuf) into the server's span list."""

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.server.spans.extend(scope.spans)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    receiver.spans = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()


def test_traces_show_queue_wait_engine_and_redis(make_server, collector, monkeypatch, bits: Bits) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    with make_server(tracing=True) as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        X = bits.patterns(4)
        memory_id = http.post("/memories", json={"model": "tiny", "patterns": X.tolist()}).json()["id"]
        http.post(f"/memories/{memory_id}/retrieve", json={"queries": X.tolist()})
        http.get("/healthz")  # not traced
    # the server's shutdown flushed its spans
    spans = collector.spans
    names = [span.name for span in spans]
    retrieve = next(s for s in spans if s.name == "POST /memories/{memory_id}/retrieve" and not s.parent_span_id)
    children = {s.name for s in spans if s.trace_id == retrieve.trace_id and s.parent_span_id}
    assert {"engine queue wait", "engine read", "redis get"} <= children
    assert {"engine queue wait", "engine write", "redis put"} <= set(names)
    assert not any("healthz" in name for name in names)
    engine = next(s for s in collector.spans if s.name == "engine read")
    assert engine.end_time_unix_nano > engine.start_time_unix_nano >= retrieve.start_time_unix_nano
