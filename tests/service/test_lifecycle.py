"""The process lifecycle: a SIGKILLed server loses no acknowledged memory; SIGTERM stops accepting, serves the
requests already queued in the batcher, then exits cleanly."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from service.embedded_redis import EmbeddedRedis

from .conftest import ServeProcess, memory_key, queue_depth

M = 16


def test_sigkill_loses_no_acknowledged_memory(checkpoints: Path, tmp_path: Path, bits) -> None:
    stored = [bits.patterns(4) for _ in range(2 * M)]
    queries = [bits.erase(X, 8) for X in stored]
    with ServeProcess(checkpoints, tmp_path / "data") as first, first.client() as client:
        with ThreadPoolExecutor(4) as pool:
            memories = list(pool.map(lambda X: client.write("tiny", X), stored[:M]))
            answers = [client.retrieve(m.id, Q) for m, Q in zip(memories, queries[:M], strict=True)]
            memories += pool.map(lambda X: client.write("tiny", X), stored[M:])
        first.kill()  # right after the last 201, API and Redis together
    with ServeProcess(checkpoints, tmp_path / "data") as second, second.client() as client:
        assert [client.get(m.id) for m in memories] == memories
        assert [client.retrieve(m.id, Q) for m, Q in zip(memories[:M], queries[:M], strict=True)] == answers


@pytest.mark.parametrize("engine_process", [True, False], ids=["engine-process", "engine-in-worker"])
def test_sigterm_stops_accepting_drains_queued_batches_and_exits(
    checkpoints: Path, tmp_path: Path, bits, engine_process: bool
) -> None:
    shared = EmbeddedRedis(tmp_path / "redis")
    url = shared.start()
    try:
        # a batch closes only when full (64) or 4 s after its first item, so the writes below wait in the queue
        env = {"REDIS_URL": url, "EBMM_MAX_DELAY_MS": "4000"}
        serve_args = ["--engine-process" if engine_process else "--no-engine-process"]
        log = tmp_path / "serve.log"
        with (
            ServeProcess(checkpoints, tmp_path / "data", serve_args=serve_args, log_path=log, **env) as server,
            server.client() as client,
        ):
            metrics_url = f"{server.url}/metrics"  # the engine process's queue shows there too
            with ThreadPoolExecutor(8) as pool:
                pending = [pool.submit(client.write, "tiny", bits.patterns(3)) for _ in range(8)]
                deadline = time.monotonic() + 3
                while queue_depth(metrics_url) < 8:
                    assert time.monotonic() < deadline, "the writes did not queue up"
                    time.sleep(0.02)
                server.process.send_signal(signal.SIGTERM)
                time.sleep(0.5)
                with pytest.raises(httpx.ConnectError):
                    httpx.get(f"{server.url}/healthz")  # no longer accepting
                assert server.process.poll() is None  # still draining
                written = [future.result() for future in pending]
            assert server.process.wait(timeout=60) == 128 + signal.SIGTERM  # after stopping what it started
        assert "has exited; stopping" not in log.read_text()  # the engine was stopped, not left to notice
        with redis.Redis.from_url(url) as r:
            assert all(r.exists(memory_key(m.id)) for m in written)
    finally:
        shared.stop()
