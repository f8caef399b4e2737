"""`ebmm serve` as a child process on a free loopback port: how tests, benchmarks and tools start a real server.

    with ServeProcess({"EBMM_CHECKPOINT_DIR": "checkpoints", "EBMM_API_KEYS": keys}) as server:
        httpx.get(f"{server.url}/models", headers=...)

The child gets this process's environment without any `EBMM_*` / `REDIS_URL` setting (or, for benchmarks,
with them but for the keys and Redis URL), plus the given ones, so a developer's shell cannot leak into
tests. It runs in its own process group (its embedded Redis included) so `kill()` takes both down at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    """Poll `url`/readyz until it answers 200; fail when the process exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ebmm serve exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"ebmm serve at {url} did not become ready within {timeout_s:g} s")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


# Settings never inherited: the child has its own keys and its own (embedded) Redis unless told otherwise.
PRIVATE_SETTINGS = ("EBMM_API_KEYS", "EBMM_API_KEYS_FILE", "EBMM_AUTH_DISABLED", "EBMM_REDIS_URL", "REDIS_URL")


def serve_env(settings: Mapping[str, str], inherit_settings: bool = False) -> dict[str, str]:
    """This process's environment plus `settings`. Inherited EBMM_* settings are dropped (tests must not see a
    developer's shell), or with `inherit_settings` kept (a benchmark serves as configured) except the keys
    and the Redis URL."""

    def dropped(name: str) -> bool:
        return name in PRIVATE_SETTINGS or (not inherit_settings and name.startswith("EBMM_"))

    return {**{k: v for k, v in os.environ.items() if not dropped(k)}, **settings}


class ServeProcess:
    """`ebmm serve` in its own process group on a free loopback port, ready on entry, stopped on exit."""

    def __init__(
        self,
        settings: Mapping[str, str],
        inherit_settings: bool = False,
        ready_timeout_s: float = 120.0,
        log_level: str = "warning",
        log_path: Path | None = None,
        root: Path = ROOT,
        serve_args: Sequence[str] = (),
    ) -> None:
        """`log_path`: where the server's output goes (default: this process's); `root`: the checkout it runs
        from (its working directory, so `ebmm` and its packages are imported from there: another git worktree
        serves that commit's code); `serve_args`: more `ebmm serve` options (e.g. `--workers 2`)."""
        self.port = free_port()
        self.root = root
        self.serve_args = list(serve_args)
        self.log_level, self.log_path = log_level, log_path
        self.env = serve_env(settings, inherit_settings)
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServeProcess:
        command = [sys.executable, "-m", "ebmm.cli", "serve", "--port", str(self.port), "--log-level", self.log_level]
        command += self.serve_args
        output = None if self.log_path is None else self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.root, start_new_session=True, stdout=output, stderr=output
            )
        finally:
            if output is not None:
                output.close()  # the child holds its own descriptor
        try:
            wait_ready(self.url, self.process, self.ready_timeout_s)
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        """SIGTERM: the server drains its queues and stops its embedded Redis."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def kill(self) -> None:
        """SIGKILL the API and its embedded Redis at once: nothing gets to flush or save."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
