"""Issue 16 item 6: slow and oversized clients against the real `ebmm serve`: half-sent headers and stalled
bodies are closed after EBMM_REQUEST_READ_TIMEOUT_S, oversized headers are refused without being read in full,
connections over EBMM_MAX_CONNECTIONS get a 503 at once, and /healthz stays fast meanwhile."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import httpx

from .conftest import KEYS, TENANT, ServeProcess

READ_TIMEOUT_S = 2.0


def _open(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(data)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""  # EOF: the server closed it, without answering
    except (TimeoutError, BlockingIOError):
        return False
    except ConnectionResetError:
        return True


def test_slow_and_oversized_clients(checkpoints: Path, tmp_path: Path) -> None:
    env = {"EBMM_REQUEST_READ_TIMEOUT_S": str(READ_TIMEOUT_S), "EBMM_MAX_HEADER_BYTES": "16384"}
    with ServeProcess(checkpoints, tmp_path / "data", EBMM_MAX_CONNECTIONS="400", **env) as server:
        half_headers = [_open(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(200)]
        key = KEYS[TENANT].encode()
        stalled = b"POST /memories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key
        stalled += b"\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"
        stalled_bodies = [_open(server.port, stalled) for _ in range(50)]
        held = half_headers + stalled_bodies
        worst = 0.0
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(20):  # /healthz while 250 slow clients are held
                start = time.monotonic()
                assert http.get("/healthz").status_code == 200
                worst = max(worst, time.monotonic() - start)
                time.sleep(0.02)
        assert worst < 1.0, worst
        time.sleep(READ_TIMEOUT_S + 0.5)
        for sock in held:
            sock.settimeout(5)  # generous: each should already be closed
        assert all(_closed_by_server(sock) for sock in held)
        for sock in held:
            sock.close()

        # a 1 MB header: refused (400) once it passes the limit, not read in full and answered 401
        big = _open(server.port, b"GET /models HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # closed while we were still sending
            big.sendall(b"a" * (1 << 20))
        big.settimeout(5)
        try:
            answer = big.recv(65536)
        except ConnectionResetError:
            answer = b""
        big.close()
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:100]

    # the connection limit: over it, a new request gets a 503 at once (not a reset, not a hang)
    with ServeProcess(checkpoints, tmp_path / "data", EBMM_MAX_CONNECTIONS="40", **env) as server:
        idle = [_open(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") for _ in range(45)]
        time.sleep(0.3)
        refused = httpx.get(f"{server.url}/healthz", timeout=10)
        assert refused.status_code == 503
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/healthz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
