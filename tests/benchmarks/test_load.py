"""`ebmm bench load` against real servers: the wrk driver and its Lua request mix, the spot checks, the compare
mode (a second server, or a git ref served from a temporary worktree) and the httpx fallback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis
from typer.testing import CliRunner

import benchmarks.load
from benchmarks.checkout import git_worktree
from benchmarks.load import Target, draw_workload, prepare, run_cell, run_load_bench
from benchmarks.spot_check import SpotCheckFailed
from benchmarks.wrk_driver import Request, encode_requests, parse_result, run_wrk_cell, wrk_binary
from ebmm.cli import app
from ebmm_client import EBMMClient
from service import serve_process
from service.serve_process import ROOT
from service.store import TenantKeys
from tests.service.conftest import BINARY, KEYS, TENANT, ServeProcess, memory_key

needs_wrk = pytest.mark.skipif(wrk_binary() is None, reason="wrk is not installed (bash scripts/ensure-wrk.sh)")


def _prepared(url: str, client: EBMMClient, memories: int) -> Target:
    """A target holding `memories` memories of the tiny binary model, its requests encoded, its reference taken."""
    target = Target("A", "test", url, KEYS[TENANT])
    info = next(m for m in client.models() if m.name == BINARY)
    prepare(target, draw_workload(info, memories), client)
    return target


@needs_wrk
def test_wrk_cell_against_ebmm_serve_hits_every_memory(checkpoints: Path, tmp_path: Path) -> None:
    """wrk's numbers are parsed, and the server's access log shows the Lua script spreading the retrieves over
    every memory it was given (each request carries `X-Request-Id: wrk-<line>`)."""
    log = tmp_path / "serve.log"
    with (
        ServeProcess(checkpoints, tmp_path / "data", log_path=log, log_level="info", EBMM_LOG_FORMAT="json") as server,
        server.client() as client,
    ):
        target = _prepared(server.url, client, memories=8)
        cell = run_wrk_cell(server.url, target.requests["retrieve"], connections=4, seconds=1, api_key=KEYS[TENANT])
    assert cell["requests"] > 0 and cell["non_2xx"] == 0 and cell["socket_errors"] == 0
    assert cell["per_s"] == pytest.approx(cell["requests"] / cell["seconds"], rel=0.01)
    assert 0 < cell["p50_ms"] <= cell["p90_ms"] <= cell["p99_ms"]

    memory_of_line = {f"wrk-{k + 1}": r.path.split("/")[2] for k, r in enumerate(target.requests["retrieve"])}
    records = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    served = Counter(
        memory_of_line[r["request_id"]]
        for r in records
        if r.get("logger") == "ebmm.access" and r["request_id"] in memory_of_line and r["status"] == 200
    )
    assert sum(served.values()) >= cell["requests"]  # the server logs each answer before wrk counts it
    assert set(served) == set(memory_of_line.values()) and len(served) == 8


def test_wrk_output_parsing_and_encoding() -> None:
    assert parse_result('Running 1s test\nEBMM_WRK {"requests": 3, "p50_us": 1200}\n') == {
        "requests": 3,
        "p50_us": 1200,
    }
    with pytest.raises(RuntimeError, match="no EBMM_WRK line"):
        parse_result("unable to connect to 127.0.0.1:1 Connection refused\n")
    assert encode_requests([Request("GET", "/healthz"), Request("POST", "/x", b'{"a":1}')]) == (
        b'GET\t/healthz\t\nPOST\t/x\t{"a":1}\n'
    )
    with pytest.raises(ValueError, match="tab or newline"):
        encode_requests([Request("POST", "/x", b"{\n}")])


def test_spot_check_catches_a_rewritten_theta(server, client: EBMMClient) -> None:
    """θ of a probed memory rewritten in Redis between two retrieve cells: the next check fails and names it."""
    target = _prepared(server.url, client, memories=4)
    assert target.spot_check is not None
    target.spot_check.verify("before")
    run_cell("httpx", target, "retrieve", connections=2, seconds=0.3, threads=1)
    probed = target.spot_check.probes[0][0]
    redis = server.redis()
    theta = np.frombuffer(redis.hget(memory_key(probed), "theta"), dtype="<f4")
    redis.hset(memory_key(probed), "theta", (-5 * theta).astype("<f4").tobytes())
    failure = re.escape(f"after the cell: memory {probed} answered a probe differently")
    with pytest.raises(SpotCheckFailed, match=failure):
        target.spot_check.verify("after the cell")


def test_compare_mode_reports_ratios(server, make_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two servers, cells interleaved: each cell's A/B ratios are its req/s and latency quotients."""
    monkeypatch.setenv("EBMM_API_KEY", KEYS[TENANT])
    with make_server() as other:
        other_url = other.url
        result = run_load_bench(server.url, (2,), 1, BINARY, memories=4, compare_url=other_url)
    a, b = result["servers"]
    assert (a["url"], b["url"]) == (server.url, other_url)
    assert a["spot_checks_passed"] == b["spot_checks_passed"] == 2  # before and after the retrieve cell
    assert set(result["compare"]) == {"healthz c2", "write c2", "write_unchecked c2", "retrieve c2"}
    for cell_a, cell_b in zip(a["cells"], b["cells"], strict=True):
        assert cell_a["requests"] > 0 and cell_b["requests"] > 0 and cell_a["non_2xx"] == cell_b["non_2xx"] == 0
        ratios = result["compare"][f"{cell_a['op']} c2"]
        assert ratios["per_s"] == pytest.approx(cell_a["per_s"] / cell_b["per_s"], abs=1e-3)
        assert ratios["p99_ms"] == pytest.approx(cell_a["p99_ms"] / cell_b["p99_ms"], abs=1e-3)
    rate = {c["op"]: c["per_s"] for c in a["cells"]}
    assert a["ratios"]["retrieve/healthz c2"] == pytest.approx(rate["retrieve"] / rate["healthz"], abs=1e-3)
    assert a["ratios"]["write/healthz c2"] == pytest.approx(rate["write"] / rate["healthz"], abs=1e-3)


def test_compare_ref_serves_that_commit(checkpoints: Path, tmp_path: Path) -> None:
    """--compare-ref: the ref is checked out into a temporary worktree, a server runs from it, and the worktree
    is gone afterwards."""
    if shutil.which("git") is None:
        pytest.skip("--compare-ref needs git, which is not installed")
    rev_parse = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if rev_parse.returncode != 0:
        pytest.skip(f"--compare-ref needs a git checkout; {ROOT} is not one: {rev_parse.stderr.strip()}")
    head = rev_parse.stdout
    with git_worktree("HEAD") as (checkout, commit):
        assert commit == head.strip() and (checkout / "ebmm" / "cli.py").is_file()
        settings = {
            "EBMM_CHECKPOINT_DIR": str(checkpoints),
            "EBMM_DATA_DIR": str(tmp_path / "data"),
            "EBMM_DEVICE": "cpu",
            "EBMM_TORCH_THREADS": "1",
            "EBMM_AUTH_DISABLED": "true",
        }
        with serve_process.ServeProcess(settings, root=checkout) as from_ref, EBMMClient(from_ref.url) as client:
            assert Path(os.readlink(f"/proc/{from_ref.process.pid}/cwd")) == checkout
            assert sorted(m.name for m in client.models()) == [BINARY, "tiny-conv"]
    assert not checkout.exists()
    worktrees = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    assert str(checkout) not in worktrees
    with pytest.raises(ValueError, match="no-such-ref"):
        run_load_bench(None, (1,), 1, None, compare_ref="no-such-ref-xyz")


def test_httpx_fallback_when_wrk_is_missing(server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EBMM_API_KEY", KEYS[TENANT])
    monkeypatch.setenv("PATH", str(tmp_path))  # no wrk on it
    with pytest.raises(FileNotFoundError, match="wrk is not installed"):
        run_load_bench(server.url, (2,), 0.3, BINARY, memories=2, generator="wrk")
    result = run_load_bench(server.url, (2,), 0.3, BINARY, memories=2)
    assert result["generator"] == "httpx" and "wrk is not installed" in result["generator_reason"]
    assert result["wrk_version"] is None
    for cell in result["servers"][0]["cells"]:
        assert cell["requests"] > 0 and cell["non_2xx"] == 0
        assert 0 < cell["p50_ms"] <= cell["p90_ms"] <= cell["p99_ms"]


def test_cli_writes_the_report(server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`ebmm bench load` end to end: the table, and JSON with the command, generator and each server's cells."""
    monkeypatch.setenv("EBMM_API_KEY", KEYS[TENANT])
    out = tmp_path / "load.json"
    args = ["bench", "load", "--url", server.url, "--connections", "2", "--duration", "1", "--memories", "2"]
    result = CliRunner().invoke(app, [*args, "--model", BINARY, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "retrieve" in result.output and "retrieve/healthz c2" in result.output
    report = orjson.loads(out.read_bytes())
    assert report["generator"] == ("wrk" if wrk_binary() else "httpx") and report["compare"] is None
    assert report["wrk_version"] is None or report["wrk_version"].startswith("wrk ")
    assert [c["op"] for c in report["servers"][0]["cells"]] == ["healthz", "write", "write_unchecked", "retrieve"]


def test_cli_refuses_bad_options_with_a_message(server) -> None:
    bad = CliRunner().invoke(app, ["bench", "load", "--url", server.url, "--connections", "1", "--threads", "2"])
    assert bad.exit_code == 2 and "at least --threads (2)" in bad.output
    both = ["--compare-url", server.url, "--compare-ref", "HEAD"]
    assert "not both" in CliRunner().invoke(app, ["bench", "load", "--url", server.url, *both]).output
    for ops in ("retrieve", "healthz,writes"):
        refused = CliRunner().invoke(app, ["bench", "load", "--url", server.url, "--ops", ops])
        assert refused.exit_code == 2 and "--ops takes healthz" in refused.output


def test_ops_choose_the_cells(server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBMM_API_KEY", KEYS[TENANT])
    result = run_load_bench(server.url, (2,), 0.3, BINARY, memories=2, ops=("healthz", "retrieve"))
    assert [cell["op"] for cell in result["servers"][0]["cells"]] == ["healthz", "retrieve"]
    assert set(result["servers"][0]["ratios"]) == {"retrieve/healthz c2"}


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        run_load_bench("http://example.com:8000", (1,), 0.1, None)


@needs_wrk
def test_scale_cells_fill_the_store_through_its_scripts_and_read_every_copy(
    checkpoints: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--stored: the started server's Redis holds exactly that many memories of the tenant at each cell (the
    copies go through MemoryStore.put: quota counters and the listing index count them), the spot checks pass
    on copies, and Redis's memory grows with them."""
    monkeypatch.setenv("EBMM_CHECKPOINT_DIR", str(checkpoints))
    monkeypatch.setenv("EBMM_DEVICE", "cpu")
    counted = []
    fill = benchmarks.load.fill

    async def fill_and_count(redis_url: str, tenant: str, *args: object) -> list[str]:
        ids = await fill(redis_url, tenant, *args)
        with redis.Redis.from_url(redis_url) as connection:
            counted.append(connection.zcard(TenantKeys(tenant).created))
        return ids

    monkeypatch.setattr(benchmarks.load, "fill", fill_and_count)
    result = run_load_bench(None, (2,), 0.5, BINARY, memories=4, stored=(300, 600), ops=("healthz", "retrieve"))
    assert [row["stored"] for row in result["scale"]] == [300, 600] and counted == [300, 600]
    first, second = result["scale"]
    assert first["per_s"] > 0 and first["non_2xx"] == second["non_2xx"] == 0
    assert second["redis_used_mb"] > first["redis_used_mb"]
    with pytest.raises(ValueError, match="--stored"):
        run_load_bench("http://127.0.0.1:1", (1,), 0.1, None, stored=(100,))
