"""Service fixtures: tiny checkpoints, real uvicorn servers on 127.0.0.1 with an embedded redis-server, API keys."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
import torch
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from ebmm_client import EBMMClient
from model.checkpoint import save_checkpoint
from model.config import tiny_binary_config, tiny_conv_config
from model.engine import Engine
from model.memory import EnergyMemory
from service import serve_process
from service.auth import key_digest
from service.main import create_app
from service.settings import Settings
from service.store import TenantKeys

BINARY = "tiny"
CONV = "tiny-conv"
KEYS = {"alice": secrets.token_urlsafe(32), "bob": secrets.token_urlsafe(32)}  # tenant -> its API key, per run
TENANT = "alice"  # the tenant of `server.client()`


def api_keys(keys: dict[str, str]) -> str:
    """The EBMM_API_KEYS value for tenant -> key: `sha256hex:tenant` entries."""
    return ",".join(f"{key_digest(key)}:{tenant}" for tenant, key in keys.items())


def memory_key(memory_id: str, tenant: str = TENANT) -> str:
    """The Redis key of a tenant's memory (to inspect or tamper with what the service stored)."""
    return TenantKeys(tenant).memory(memory_id)


def make_checkpoints(root: Path, seed: int = 0) -> Path:
    """A binary model storing up to 48 patterns of 32 bits, and a small conv image model (8×8, one channel)."""
    torch.manual_seed(seed)
    save_checkpoint(EnergyMemory(tiny_binary_config(max_patterns=48, distortion_size=8)), root / BINARY)
    save_checkpoint(EnergyMemory(tiny_conv_config(name=CONV)), root / CONV)
    return root


class ServerThread:
    """A real uvicorn server for one app, in a thread, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def client(self, tenant: str = TENANT) -> EBMMClient:
        return EBMMClient(self.url, api_key=KEYS[tenant])

    def redis(self) -> redis.Redis:
        """A direct connection to the app's Redis (to inspect or tamper with stored θ)."""
        return redis.Redis.from_url(self.app.state.redis_url)


class ServeProcess(serve_process.ServeProcess):
    """`ebmm serve` with the tiny checkpoints, this run's API keys and its own data dir (see service.serve_process)."""

    def __init__(
        self,
        checkpoints: Path,
        data_dir: Path,
        *,
        log_path: Path | None = None,
        log_level: str = "warning",
        serve_args: Sequence[str] = (),
        **env: str,
    ) -> None:
        settings = {
            "EBMM_CHECKPOINT_DIR": str(checkpoints),
            "EBMM_DATA_DIR": str(data_dir),
            "EBMM_DEVICE": "cpu",
            "EBMM_TORCH_THREADS": "1",
            "EBMM_WRITE_PRECISION": "float32",  # answers compared with the `engine` fixture's
            "EBMM_API_KEYS": api_keys(KEYS),
            **env,
        }
        super().__init__(settings, log_level=log_level, log_path=log_path, serve_args=serve_args)

    def client(self, tenant: str = TENANT) -> EBMMClient:
        return EBMMClient(self.url, api_key=KEYS[tenant])


def queue_depth(metrics_url: str, model: str = "tiny", op: str = "write") -> float:
    """Items waiting in the batcher's (model, op) queue, from a /metrics page."""
    for family in text_string_to_metric_families(httpx.get(metrics_url).text):
        if family.name == "ebmm_queue_depth":
            return sum(s.value for s in family.samples if s.labels == {"model": model, "op": op})
    raise AssertionError(f"no ebmm_queue_depth at {metrics_url}")


def settings_for(checkpoints: Path, data_dir: Path, **changes: object) -> Settings:
    defaults: dict[str, object] = dict(
        checkpoint_dir=checkpoints,
        data_dir=data_dir,
        device="cpu",
        torch_threads=1,
        write_precision="float32",  # answers compared with the `engine` fixture's
        max_delay_ms=20.0,
        max_body_bytes=256 * 1024,
        max_queries=64,
        api_keys=api_keys(KEYS),
    )
    return Settings(**{**defaults, **changes})


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoints(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="session")
def engine(checkpoints: Path) -> Engine:
    """The binary model in-process, to compare the service's answers with (float32 writes, as the test servers
    make them: bfloat16 products round differently with each batch's shape; test_write_precision covers them)."""
    return Engine.from_checkpoint(checkpoints / BINARY, "cpu", write_precision="float32")


@pytest.fixture(scope="session")
def server(checkpoints: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One shared server for the tests that do not restart or reconfigure it."""
    with ServerThread(settings_for(checkpoints, tmp_path_factory.mktemp("data"))) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[EBMMClient]:
    with server.client() as c:
        yield c


@pytest.fixture
def make_server(checkpoints: Path, tmp_path: Path) -> Callable[..., ServerThread]:
    """A not-yet-started server with its own data dir (or the given one) and settings changes."""

    def make(data_dir: Path | None = None, **changes: object) -> ServerThread:
        return ServerThread(settings_for(checkpoints, data_dir or tmp_path / "data", **changes))

    return make


class Bits:
    """Seeded random ±1 patterns and erasures, float32 numpy."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def patterns(self, count: int, dim: int = 32) -> np.ndarray:
        """[count, dim] of ±1."""
        return (self.rng.integers(0, 2, (count, dim)) * 2 - 1).astype(np.float32)

    def erase(self, patterns: np.ndarray, k: int) -> np.ndarray:
        """Zero k random entries of each row (the binary erasure protocol)."""
        out = patterns.copy()
        for row in out:
            row[self.rng.choice(len(row), k, replace=False)] = 0.0
        return out


@pytest.fixture
def bits() -> Bits:
    return Bits()
