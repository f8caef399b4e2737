"""Replicas sharing one Redis, persistence across a Redis restart, readiness, the metrics contract, the spec."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from ebmm.cli import app as cli
from ebmm_client import EBMMClient, EBMMError
from service.embedded_redis import EmbeddedRedis
from service.main import openapi_json

from .conftest import ServeProcess, memory_key

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_sharing_one_redis_are_replicas(make_server, checkpoints: Path, tmp_path: Path, bits) -> None:
    redis = EmbeddedRedis(tmp_path / "shared")
    url = redis.start()
    try:
        with (
            make_server(redis_url=url) as local,
            local.client() as here,
            ServeProcess(checkpoints, tmp_path / "other", REDIS_URL=url) as other,
            other.client() as there,
        ):
            X = bits.patterns(6)
            written_here = here.write("tiny", X)
            written_there = there.write("tiny", X)
            assert there.get(written_here.id) == written_here
            assert here.get(written_there.id) == written_there
            Q = bits.erase(X, 8)
            assert here.retrieve(written_here.id, Q) == there.retrieve(written_here.id, Q)
            there.delete(written_here.id)
            with pytest.raises(EBMMError, match="404"):
                here.get(written_here.id)
    finally:
        redis.stop()


def test_memories_survive_a_restart(make_server, tmp_path: Path, bits) -> None:
    X = bits.patterns(10)
    Q = bits.erase(X, 8)
    with make_server(tmp_path / "data") as first, first.client() as client:
        memory = client.write("tiny", X, ttl_seconds=3600)
        answer = client.retrieve(memory.id, Q)
    assert (tmp_path / "data" / "appendonly.aof").stat().st_size > 0
    with make_server(tmp_path / "data") as second, second.client() as client:
        assert client.get(memory.id) == memory
        assert client.retrieve(memory.id, Q) == answer
        assert 3590 < second.redis().ttl(memory_key(memory.id)) <= 3600


def test_not_ready_without_redis_and_storage_errors_are_503(make_server, tmp_path: Path) -> None:
    with make_server(redis_url=f"unix://{tmp_path}/nothing.sock", redis_timeout_s=0.5) as server:
        with server.client() as client:
            ready = client.ready()
            assert (ready.status, ready.redis, ready.models) == ("not ready", False, 2)
            with pytest.raises(EBMMError) as info:
                client.get("abc")
            assert (info.value.status, info.value.type) == (503, "redis")
            assert client.health().status == "ok"
        assert httpx.get(f"{server.url}/readyz").status_code == 503


def test_not_ready_without_models(make_server, tmp_path: Path) -> None:
    with make_server(checkpoint_dir=tmp_path / "empty") as server, server.client() as client:
        ready = client.ready()
        assert (ready.redis, ready.models) == (True, 0)
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        with pytest.raises(EBMMError, match="404 not_found"):
            client.write("tiny", [[1.0] * 32])


CONTRACT = {
    "ebmm_http_requests": "counter",
    "ebmm_http_request_duration_seconds": "histogram",
    "ebmm_queue_wait_seconds": "histogram",
    "ebmm_engine_seconds": "histogram",
    "ebmm_batch_size": "histogram",
    "ebmm_engine_batches": "counter",
    "ebmm_engine_calls": "counter",
    "ebmm_queue_depth": "gauge",
    "ebmm_rejected": "counter",
    "ebmm_write_recall_error": "histogram",
    "ebmm_retrieve_energy": "histogram",
    "ebmm_retrieve_changed_fraction": "histogram",
    "ebmm_memories_written": "counter",
    "ebmm_memories_deleted": "counter",
    "ebmm_redis_operation_seconds": "histogram",
    "ebmm_redis_errors": "counter",
    "ebmm_errors": "counter",
    "ebmm_models_loaded": "gauge",
    "ebmm_tenant_refusals": "counter",
    "ebmm_model_version_memories": "gauge",
    "ebmm_model_version_loaded": "gauge",
    "process_open_fds": "gauge",
}


def test_metrics_contract_and_preinitialised_series(make_server) -> None:
    with make_server() as server, server.client() as client:
        client.health()
        families = {f.name: f for f in text_string_to_metric_families(client.metrics())}
    assert {name: families[name].type for name in CONTRACT} == CONTRACT
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    for model in ("tiny", "tiny-conv"):
        for op in ("write", "read"):
            assert samples[("ebmm_queue_depth", (("model", model), ("op", op)))] == 0
            for reason in ("queue_full", "deadline"):
                assert samples[("ebmm_rejected_total", (("model", model), ("op", op), ("reason", reason)))] == 0
        assert samples[("ebmm_memories_written_total", (("model", model),))] == 0
        assert samples[("ebmm_engine_calls_total", (("model", model), ("op", "read")))] == 0
    assert samples[("ebmm_models_loaded", ())] == 2
    for tenant in ("alice", "bob"):
        for reason in ("tenant_busy", "quota_exceeded"):
            assert samples[("ebmm_tenant_refusals_total", (("reason", reason), ("tenant", tenant)))] == 0
    assert samples[("ebmm_model_version_loaded", (("model", "tiny"), ("version", "1")))] == 1
    health = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert samples[("ebmm_http_requests_total", health)] == 1


def test_route_template_labels(server, client: EBMMClient, bits) -> None:
    memory = client.write("tiny", bits.patterns(2))
    client.retrieve(memory.id, bits.patterns(1))
    httpx.get(f"{server.url}/demo/demo.js")  # a file of the mounted demo page: labelled by its mount
    text = client.metrics()
    assert 'route="/memories/{memory_id}/retrieve"' in text and memory.id not in text
    assert 'route="/demo"' in text and "demo.js" not in text


def test_openapi_spec_has_not_drifted(tmp_path: Path) -> None:
    committed = (ROOT / "openapi" / "openapi.json").read_bytes()
    assert openapi_json() == committed, "openapi/openapi.json is stale: run `ebmm openapi`"
    result = CliRunner().invoke(cli, ["openapi", "--out", str(tmp_path / "spec.json")])
    assert result.exit_code == 0 and (tmp_path / "spec.json").read_bytes() == committed


def test_operation_ids_are_stable() -> None:
    spec = orjson.loads(openapi_json())
    ids = sorted(op["operationId"] for path in spec["paths"].values() for op in path.values())
    assert ids == sorted(
        [
            "memories-create",
            "memories-list",
            "memories-retrieve",
            "memories-get",
            "memories-delete",
            "models-list",
            "health-live",
            "health-ready",
            "health-metrics",
        ]
    )
