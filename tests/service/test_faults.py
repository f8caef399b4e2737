"""Redis faults under traffic: an unreachable or hung Redis gives 503s and /readyz false; when it is back the
service recovers on its own (no restart) and every acknowledged memory is still there."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import httpx

from ebmm_client import EBMMError
from service.schemas import MemoryPublic


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class WriteTraffic:
    """A thread writing small memories back to back, recording each outcome."""

    def __init__(self, server, bits) -> None:
        self.server, self.bits = server, bits
        self.acknowledged: list[MemoryPublic] = []
        self.outcomes: list[tuple[int, str]] = []  # (status, error type or "")
        self.unexpected: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with self.server.client() as client:
            while not self._stop.is_set():
                try:
                    self.acknowledged.append(client.write("tiny", self.bits.patterns(2)))
                    self.outcomes.append((201, ""))
                except EBMMError as error:
                    self.outcomes.append((error.status, error.type))
                except BaseException as error:  # a transport error or a bad body: the test fails on it
                    self.unexpected.append(error)
                    return

    def __enter__(self) -> WriteTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def wait_for(self, status: int, count: int = 1) -> None:
        start = len(self.outcomes)
        wait_until(lambda: [s for s, _ in self.outcomes[start:]].count(status) >= count or bool(self.unexpected))


def test_redis_stopped_mid_traffic_gives_503s_then_recovers_losing_nothing_acknowledged(make_server, bits) -> None:
    with make_server(redis_timeout_s=0.5) as server, server.client() as client:
        embedded = server.app.state.embedded
        with WriteTraffic(server, bits) as traffic:
            traffic.wait_for(201, 5)
            embedded.stop()
            traffic.wait_for(503, 3)
            assert not client.ready().redis and httpx.get(f"{server.url}/readyz").status_code == 503
            down = _error(lambda: client.get(traffic.acknowledged[0].id))
            assert (down.status, down.type) == (503, "redis") and "storage unavailable" in down.message
            embedded.start()  # same data dir, same socket: the pool reconnects by itself
            traffic.wait_for(201, 3)
        assert not traffic.unexpected
        assert set(traffic.outcomes) == {(201, ""), (503, "redis")}
        assert client.ready().status == "ready"
        for memory in traffic.acknowledged:
            assert client.get(memory.id) == memory


def test_hung_redis_times_out_into_503_and_recovers(make_server, bits) -> None:
    with make_server(redis_timeout_s=0.3) as server, server.client() as client:
        memory = client.write("tiny", bits.patterns(2))
        pid = server.app.state.embedded.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            hung = _error(lambda: client.get(memory.id))
            assert (hung.status, hung.type) == (503, "redis") and "Timeout" in hung.message
            assert time.monotonic() - start < 5  # 3 tries of 0.3 s, not a hang
            assert not client.ready().redis
        finally:
            os.kill(pid, signal.SIGCONT)
        assert client.get(memory.id) == memory and client.ready().redis


def _error(call: Callable[[], object]) -> EBMMError:
    try:
        call()
    except EBMMError as error:
        return error
    raise AssertionError("no error")
