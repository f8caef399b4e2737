"""Drive `wrk` (the C load generator, Debian package `wrk`) for one cell of `ebmm bench load`.

A cell is a list of pre-encoded requests, written to a file that `benchmarks/wrk/requests.lua` loads in every wrk
thread and picks from at random per request; its done() prints one `EBMM_WRK {json}` line that is parsed here.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCRIPT = Path(__file__).parent / "wrk" / "requests.lua"
RESULT_PREFIX = "EBMM_WRK "
REQUEST_TIMEOUT_S = 30  # wrk's default (2 s) would count a slow write under load as an error, not a latency


@dataclass(frozen=True)
class Request:
    """One pre-encoded request: `body` None for a GET."""

    method: str
    path: str
    body: bytes | None = None


def wrk_binary() -> str | None:
    """The path of `wrk`, or None when it is not installed."""
    return shutil.which("wrk")


def wrk_version() -> str:
    """wrk's version line, e.g. 'wrk debian/4.1.0-3+b2 [epoll]' (`wrk -v` exits 1 after printing it)."""
    run = subprocess.run([_require_wrk(), "-v"], capture_output=True, text=True, check=False)
    first = (run.stdout or run.stderr).splitlines()[0]
    return first.split(" Copyright")[0].strip()


def _require_wrk() -> str:
    binary = wrk_binary()
    if binary is None:
        raise FileNotFoundError("wrk is not installed (bash scripts/ensure-wrk.sh installs it)")
    return binary


def encode_requests(requests: list[Request]) -> bytes:
    """The request file the Lua script reads: `METHOD<TAB>PATH<TAB>BODY` per line (line k is request wrk-k)."""
    lines = []
    for request in requests:
        body = request.body or b""
        if b"\n" in body or b"\t" in body or "\t" in request.path:
            raise ValueError(f"request {request.path}: a body or path with a tab or newline cannot be sent by wrk")
        lines.append(f"{request.method}\t{request.path}\t".encode() + body)
    return b"\n".join(lines) + b"\n"


def parse_result(output: str) -> dict[str, Any]:
    """The numbers of the script's `EBMM_WRK {json}` line: requests, duration_us, non_2xx, socket_errors,
    timeouts, p50_us/p90_us/p99_us/max_us."""
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            return orjson.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"wrk printed no {RESULT_PREFIX.strip()} line; its output was:\n{output}")


def run_wrk_cell(
    url: str,
    requests: list[Request],
    connections: int,
    seconds: float,
    threads: int = 1,
    api_key: str | None = None,
) -> dict[str, Any]:
    """`wrk` against `url` for `seconds` (rounded up to whole seconds, wrk's unit) with `connections` open
    connections over `threads` threads: req/s, p50/p90/p99 latency in ms, non-2xx responses, socket errors."""
    if connections < threads:
        raise ValueError(f"connections ({connections}) must be at least wrk's threads ({threads})")
    whole_seconds = max(1, math.ceil(seconds))
    with tempfile.TemporaryDirectory(prefix="ebmm-wrk-") as work:
        request_file = Path(work) / "requests.tsv"
        request_file.write_bytes(encode_requests(requests))
        env = {**os.environ, "EBMM_WRK_REQUESTS": str(request_file)}
        env["EBMM_WRK_AUTHORIZATION"] = f"Bearer {api_key}" if api_key else ""
        command = [
            _require_wrk(),
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={whole_seconds}s",
            f"--timeout={REQUEST_TIMEOUT_S}s",
            f"--script={SCRIPT}",
            url,
        ]
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=whole_seconds + 120, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"wrk exited with {run.returncode}: {run.stderr.strip() or run.stdout.strip()}")
    raw = parse_result(run.stdout)
    elapsed = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["socket_errors"] + raw["timeouts"],
        "seconds": round(elapsed, 3),
        "per_s": round(raw["requests"] / elapsed, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
    }
