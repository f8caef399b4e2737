"""Issue 16 item 7: the API key is checked before a body is read (an anonymous client cannot make the server
read, parse or wait for one), and large bodies are parsed and validated off the event loop."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import numpy as np
import orjson

from .conftest import KEYS, TENANT


def _send_headers_only(url: str, headers: str, wait_s: float = 5.0) -> bytes:
    """POST /memories declaring a 200 KB body that never comes; what the server answers within `wait_s`."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        request = f"POST /memories HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
        sock.sendall(f"{request}Content-Length: 200000\r\n\r\n".encode())
        sock.sendall(b'{"model": "tiny", "patterns": [')  # a start, then nothing
        try:
            return sock.recv(65536)
        except TimeoutError:
            return b""


def test_the_key_is_checked_before_the_body_is_read(server) -> None:
    for headers in ("", "Authorization: Bearer wrong\r\n", "X-API-Key: wrong\r\n"):
        answer = _send_headers_only(server.url, headers)
        assert answer.startswith(b"HTTP/1.1 401"), (headers, answer[:200])
        assert b'"unauthorized"' in answer
    # a valid key: the server waits for the body, as it should
    assert _send_headers_only(server.url, f"Authorization: Bearer {KEYS[TENANT]}\r\n", wait_s=1.0) == b""


def test_a_large_body_does_not_stall_other_requests(make_server) -> None:
    """A 12 MB JSON write (250 000 rows: refused for its size only after parsing) while /healthz is polled:
    no probe waits as long as the body takes to parse."""
    with make_server(max_body_bytes=32 * 2**20) as server:
        rows = np.where(np.random.default_rng(0).random((250_000, 32)) < 0.5, -1, 1).tolist()
        body = orjson.dumps({"model": "tiny", "patterns": rows})
        headers = {"Authorization": f"Bearer {KEYS[TENANT]}", "Content-Type": "application/json"}
        latencies: list[float] = []
        done = threading.Event()

        def probe() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                while not done.is_set():
                    start = time.monotonic()
                    http.get("/healthz")
                    latencies.append(time.monotonic() - start)
                    time.sleep(0.01)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            time.sleep(0.2)
            start = time.monotonic()
            response = httpx.post(f"{server.url}/memories", content=body, headers=headers, timeout=60)
            took = time.monotonic() - start
        finally:
            done.set()
            prober.join()
        assert response.status_code == 413 and response.json()["error"]["field"] == "patterns"
        assert took > 0.3  # the parse is real work (else this test could not fail)
        assert max(latencies) < max(0.25, took / 3), (max(latencies), took)
