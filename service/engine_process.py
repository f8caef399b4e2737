"""The engine process (`ebmm engine`): the models, the batcher and the engine thread, serving the API workers'
write and read jobs over a Unix socket (the protocol: service.engine_link).

Jobs from every connected worker go into the same batch queues, so batches form across workers, fairly by
tenant, with the same queue bounds and deadlines as in one process (their 429 / 503 answers travel back as
they are). Its metrics (the batcher's and the engine's families, and its own process's as `ebmm_engine_process_*`)
go to each API worker on request, which shows them on its `/metrics` page.
SIGTERM stops taking connections, serves what is queued and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import torch
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from service.batch_ops import LocalQueues
from service.batcher import Batcher
from service.engine_link import HEADER, frame, read_frame
from service.errors import ApiError
from service.heap import freeze_startup_heap
from service.metrics import Metrics
from service.registry import ModelRegistry
from service.request_context import RequestFacts, serving
from service.settings import Settings

log = logging.getLogger(__name__)

Sender = Callable[[str, int, Any], Awaitable[None]]  # (kind, id, payload): one answer frame to the worker


class EngineServer:
    """Answers the jobs of every connection with the registry's loaded versions and this process's batcher."""

    def __init__(self, registry: ModelRegistry, metrics: CollectorRegistry) -> None:
        self.registry, self.metrics = registry, metrics
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One API worker's connection: each job is answered as soon as it is served, in any order."""

        async def send(kind: str, request_id: int, payload: Any) -> None:  # a Sender
            writer.write(frame(kind, request_id, payload))  # one write per frame: frames never interleave
            await writer.drain()

        try:
            while True:
                kind, request_id, payload = await read_frame(reader)
                if kind == "ping":
                    await send("ok", request_id, None)
                    continue
                if kind == "metrics":
                    await send("ok", request_id, generate_latest(self.metrics))
                    continue
                task = asyncio.create_task(self.answer(send, request_id, payload))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker has gone; its jobs still run, their answers are dropped
        finally:
            writer.close()

    async def answer(self, send: Sender, request_id: int, submitted: tuple[str, str, str, str, Any]) -> None:
        """Serve one submitted (model, checkpoint_hash, op, tenant, job) and send its answer."""
        model, checkpoint_hash, op, tenant, job = submitted
        with serving(RequestFacts(str(request_id), "ENGINE")) as facts:
            try:
                async with self.registry.reading(model, checkpoint_hash, "(an API worker's job)") as version:
                    assert version.queues is not None
                    outcome = await getattr(version.queues, op).submit(job, tenant)
                kind, payload = "ok", (outcome, facts.batch_size)
            except ApiError as exc:
                kind, payload = "error", (exc.status, exc.type, exc.message, exc.headers)
            except Exception as exc:  # an engine failure: the API worker answers it as its own engine's would be
                log.exception("engine job failed")
                kind, payload = "error", (500, "internal", f"engine failure: {type(exc).__name__}", None)
        with contextlib.suppress(ConnectionError):  # the worker has gone
            await send(kind, request_id, payload)


async def watch_parent(parent: int, gone: asyncio.Event, poll_s: float = 1.0) -> None:
    """Set `gone` once process `parent` has exited: this process is then re-parented (even after a SIGKILL,
    which leaves the parent no chance to stop it)."""
    while os.getppid() == parent:
        await asyncio.sleep(poll_s)
    log.warning("the process that started this engine (pid %d) has exited; stopping", parent)
    gone.set()


async def serve_engine(settings: Settings, socket_path: Path, supervised: bool = False) -> None:
    """Load the models, listen on `socket_path` until SIGTERM (or SIGINT), then drain the batcher.

    `supervised` (started by `ebmm serve`): SIGINT is ignored, and the engine stops when `ebmm serve` exits. A
    terminal's Ctrl-C reaches the whole process group, and the engine must outlive the API workers' graceful
    shutdown; `ebmm serve` sends SIGTERM after it, and a killed `ebmm serve` leaves no engine behind."""
    parent = os.getppid()
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    metrics = Metrics()
    registry = await asyncio.to_thread(ModelRegistry.from_settings, settings)
    batcher = Batcher.from_settings(settings, metrics)
    registry.start(LocalQueues(batcher))
    metrics.init_models(registry.trained_distortions())
    ProcessCollector(namespace="ebmm_engine", registry=metrics.engine_registry)
    engine = EngineServer(registry, metrics.engine_registry)
    freeze_startup_heap()
    socket_path.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(engine.handle, path=str(socket_path))
    os.chmod(socket_path, 0o600)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, (lambda: None) if supervised else stop.set)
    watcher = asyncio.create_task(watch_parent(parent, stop)) if supervised else None
    log.info("engine process serving %s on %s", ", ".join(registry.engines), socket_path)
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    server.close()  # no new connections; the open ones get the answers of what is queued
    await asyncio.gather(*engine.tasks, return_exceptions=True)
    await batcher.drain()
    socket_path.unlink(missing_ok=True)


def ping(socket_path: Path, timeout_s: float = 1.0) -> bool:
    """Whether an engine process answers a ping on `socket_path` (blocking; for supervisors and tools)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout_s)
            connection.connect(str(socket_path))
            connection.sendall(frame("ping", 0, None))
            header = connection.recv(HEADER.size, socket.MSG_WAITALL)
            return len(header) == HEADER.size
    except OSError:
        return False


class EngineProcess:
    """`ebmm engine` as a child of `ebmm serve`: started (and ready) before the workers, started again if it
    exits while serving, stopped (SIGTERM: it drains) after them."""

    def __init__(self, torch_threads: int, ready_timeout_s: float = 300.0) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="ebmm-engine-"))  # 0700: only this user reaches the socket
        self.socket_path = self.directory / "engine.sock"
        self.env = {**os.environ, "EBMM_TORCH_THREADS": str(torch_threads)}
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._keep_running, name="engine-monitor", daemon=True)

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "ebmm.cli", "engine", "--socket", str(self.socket_path), "--supervised"]
        self.process = subprocess.Popen(command, env=self.env)
        deadline = time.monotonic() + self.ready_timeout_s
        while not ping(self.socket_path):
            if self.process.poll() is not None:
                raise RuntimeError(f"the engine process exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"the engine process was not ready within {self.ready_timeout_s:g} s")
            time.sleep(0.1)

    def start(self) -> Path:
        """Start it and wait until it answers; its socket's path (for EBMM_ENGINE_SOCKET)."""
        self._spawn()
        self._monitor.start()
        return self.socket_path

    def _keep_running(self) -> None:
        while not self._stopping.is_set():
            assert self.process is not None
            code = self.process.poll()
            if code is not None and not self._stopping.is_set():
                log.error("the engine process exited with %s; starting it again", code)
                try:
                    self._spawn()
                except RuntimeError as exc:
                    log.error("%s; trying again", exc)
            self._stopping.wait(0.5)

    def stop(self) -> None:
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
