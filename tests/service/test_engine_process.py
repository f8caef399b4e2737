"""The engine process: API workers without engines of their own send it their jobs; batches form across workers;
its failure is reported (503, /readyz false), never a hang, and it is started again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ebmm_client import EBMMError
from model.engine import Engine
from service.batch_ops import LocalQueues, ReadJob
from service.batcher import Batcher
from service.engine_link import EngineLink, RemoteModelQueues
from service.engine_process import EngineServer, ping
from service.errors import ApiError
from service.metrics import Metrics
from service.registry import ModelRegistry
from service.request_context import RequestFacts, serving
from service.settings import Settings

from .conftest import BINARY, Bits, ServeProcess


def engine_pids(server: ServeProcess) -> list[int]:
    """The `ebmm engine` processes of the server's process group."""
    assert server.process is not None
    group, pids = os.getpgid(server.process.pid), []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if entry.name.isdigit() and b"engine" in command and os.getpgid(int(entry.name)) == group:
                pids.append(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
    return pids


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{url}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the engine process was not started again"
        time.sleep(0.2)


def test_workers_share_one_engine_process_which_answers_as_the_engine_and_is_restarted(
    checkpoints: Path, tmp_path: Path, engine: Engine, bits: Bits
) -> None:
    patterns = bits.patterns(6)
    queries = bits.erase(patterns, 8)
    theta = engine.write(torch.from_numpy(patterns)[None])
    local = engine.read(theta, torch.from_numpy(queries)[None], torch.from_numpy(queries != 0)[None]).patterns[0]
    with ServeProcess(checkpoints, tmp_path / "data", serve_args=["--workers", "2", "--engine-process"]) as server:
        assert len(engine_pids(server)) == 1
        with server.client() as client:
            memory = client.write(BINARY, patterns)
            assert np.array_equal(np.asarray(client.retrieve(memory.id, queries).patterns), local.numpy())
            assert httpx.get(f"{server.url}/readyz").json()["engine"] is True

            [pid] = engine_pids(server)
            os.kill(pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the group: the workers drain first, not it
            time.sleep(0.5)
            assert engine_pids(server) == [pid]
            assert np.array_equal(np.asarray(client.retrieve(memory.id, queries).patterns), local.numpy())

            os.kill(pid, signal.SIGKILL)
            start = time.monotonic()
            with pytest.raises(EBMMError) as refused:
                client.retrieve(memory.id, queries)
            assert refused.value.status == 503 and refused.value.type == "engine_unavailable"
            assert time.monotonic() - start < 5
            ready = httpx.get(f"{server.url}/readyz")
            assert ready.status_code == 503 and ready.json()["engine"] is False

            wait_ready(server.url)
            assert engine_pids(server) != [pid]
            assert np.array_equal(np.asarray(client.retrieve(memory.id, queries).patterns), local.numpy())


async def test_jobs_of_two_workers_share_a_batch_and_refusals_come_back_as_they_are(
    checkpoints: Path, tmp_path: Path, engine: Engine, bits: Bits
) -> None:
    registry = ModelRegistry.load(checkpoints, "cpu", "eager")
    metrics = Metrics()
    batcher = Batcher(metrics, max_batch=8, max_delay_ms=300, max_queue=64, max_tenant_queue=1, deadline_s=10)
    registry.start(LocalQueues(batcher))
    socket_path = tmp_path / "engine.sock"
    server = await asyncio.start_unix_server(
        EngineServer(registry, metrics.engine_registry).handle, path=str(socket_path)
    )
    links = [EngineLink(socket_path, deadline_s=10), EngineLink(socket_path, deadline_s=10)]
    version = registry.newest(BINARY)
    patterns = bits.patterns(4)
    theta = engine.write(torch.from_numpy(patterns)[None])[0].numpy()
    job = ReadJob(theta, bits.erase(patterns, 8), None)

    async def read(link: EngineLink, tenant: str) -> tuple[object, int | None]:
        with serving(RequestFacts("test", "POST")) as facts:
            outcome = await RemoteModelQueues.of(link, BINARY, version.checkpoint_hash).read.submit(job, tenant)
        return outcome, facts.batch_size

    try:
        (first, first_batch), (second, second_batch) = await asyncio.gather(read(links[0], "a"), read(links[1], "b"))
        assert first_batch == second_batch == 2  # one engine call for the jobs of both connections
        engine_page = {f.name: f for f in text_string_to_metric_families((await links[1].metrics()).decode())}
        assert count(engine_page["ebmm_engine_calls"], model=BINARY, op="read") == 1
        expected = engine.read(torch.from_numpy(theta)[None], torch.from_numpy(job.queries)[None]).patterns[0]
        assert np.array_equal(first.patterns, expected.numpy()) and np.array_equal(second.patterns, first.patterns)
        results = await asyncio.gather(read(links[0], "a"), read(links[1], "a"), return_exceptions=True)
        refused = [r for r in results if isinstance(r, ApiError)]  # tenant "a" may have one job waiting
        assert len(refused) == 1 and refused[0].status == 429 and refused[0].type == "tenant_busy"
        assert refused[0].headers is not None and "Retry-After" in refused[0].headers
    finally:
        for link in links:
            await link.close()
        server.close()
        await batcher.drain()


def test_on_the_cpu_workers_run_their_own_engines_unless_told(checkpoints: Path, tmp_path: Path, bits: Bits) -> None:
    """The engine process is the default on a GPU only: on 2 CPU cores two workers with an engine each served
    42 % more retrieves than two sharing one (README, Performance)."""
    with ServeProcess(checkpoints, tmp_path / "data", serve_args=["--workers", "2"]) as server:
        assert engine_pids(server) == []
        with server.client() as client:
            memory = client.write(BINARY, bits.patterns(4))
            assert client.get(memory.id).num_patterns == 4
        assert httpx.get(f"{server.url}/readyz").json()["engine"] is True


def families(url: str) -> dict[str, Metric]:
    """The metric families of a /metrics page by name; a name given twice on the page fails."""
    page = httpx.get(f"{url}/metrics").raise_for_status().text
    named: dict[str, Metric] = {}
    for family in text_string_to_metric_families(page):
        assert family.name not in named, f"{family.name} is on the page twice"
        named[family.name] = family
    return named


def count(family: Metric, **labels: str) -> float:
    return sum(s.value for s in family.samples if s.name.endswith("_total") and labels.items() <= s.labels.items())


def test_one_worker_runs_the_models_in_an_engine_process_whose_metrics_are_on_the_workers_page(
    checkpoints: Path, tmp_path: Path, bits: Bits
) -> None:
    """One worker by default: the engine gets a GIL of its own, and `/metrics` has the same families as a
    one-process server's (the batcher's and engine's counted by the engine process), plus its process's."""
    one_process = {family.name for family in text_string_to_metric_families(Metrics().exposition().decode())}
    with ServeProcess(checkpoints, tmp_path / "data") as server, server.client() as client:
        [pid] = engine_pids(server)
        assert b"EBMM_TORCH_THREADS=1" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        memory = client.write(BINARY, bits.patterns(4))
        client.retrieve(memory.id, bits.erase(bits.patterns(2), 8))
        page = families(server.url)
        assert one_process <= set(page)
        assert {"ebmm_engine_process_resident_memory_bytes", "ebmm_engine_process_cpu_seconds"} <= set(page)
        assert count(page["ebmm_engine_calls"], model=BINARY, op="write") == 1
        assert count(page["ebmm_engine_calls"], model=BINARY, op="read") == 1
        assert count(page["ebmm_http_requests"], route="/memories", method="POST", status="201") == 1

        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while "ebmm_engine_calls" in (page := families(server.url)):  # no stale engine series while it is down
            assert time.monotonic() < deadline, "the lost engine's series stayed on the page"
            time.sleep(0.05)
        assert count(page["ebmm_http_requests"], route="/memories", method="POST", status="201") == 1
        wait_ready(server.url)
        assert count(families(server.url)["ebmm_engine_calls"], model=BINARY, op="write") == 0  # a new process


def test_the_engine_process_leaves_a_core_per_api_worker() -> None:
    assert Settings(torch_threads=None).engine_process_threads(available=2, workers=1) == 1
    assert Settings(torch_threads=None).engine_process_threads(available=16, workers=4) == 12
    assert Settings(torch_threads=None).engine_process_threads(available=2, workers=4) == 1
    assert Settings(torch_threads=3).engine_process_threads(available=2, workers=1) == 3  # EBMM_TORCH_THREADS


def exited(pid: int) -> bool:
    """Whether process `pid` has exited (gone, or a zombie nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def test_a_supervised_engine_stops_when_the_process_that_started_it_is_killed(
    checkpoints: Path, tmp_path: Path
) -> None:
    """SIGKILL gives `ebmm serve` no chance to stop its engine; the engine notices it was re-parented and exits."""
    socket_path = tmp_path / "engine.sock"
    env = {**os.environ, "EBMM_CHECKPOINT_DIR": str(checkpoints), "EBMM_DEVICE": "cpu", "EBMM_TORCH_THREADS": "1"}
    engine = f"{sys.executable} -m ebmm.cli engine --socket {socket_path} --supervised"
    parent = subprocess.Popen(["sh", "-c", f"{engine} & echo $!; wait"], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while not ping(socket_path):
            assert time.monotonic() < deadline and not exited(pid), "the engine did not start"
            time.sleep(0.2)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while not exited(pid):
            assert time.monotonic() < deadline, "the engine outlived the process that started it"
            time.sleep(0.1)
    finally:
        if not exited(pid):
            os.kill(pid, signal.SIGKILL)
