"""The Grafana dashboard and the alerts' PromQL, checked statically with a PromQL parser (promql-parser).

What the live app exports is checked in test_live_metrics.py; here: the checked-in JSON is what the generator
writes, every query parses and names only contract metrics, means are never a bare `rate(_sum)`, every panel
uses the provisioned datasource, and the `model` variable filters every per-model panel.
"""

from __future__ import annotations

import json

import promql_parser
import pytest

from .conftest import (
    DASHBOARD,
    DATASOURCES,
    Query,
    alert_queries,
    dashboard_panels,
    dashboard_queries,
    load_build_dashboard,
    load_yaml,
    selectors,
)

# The metric contract of service/metrics.py: family -> (type, labels).
CONTRACT = {
    "ebmm_http_requests_total": ("counter", {"route", "method", "status"}),
    "ebmm_http_request_duration_seconds": ("histogram", {"route", "method", "status"}),
    "ebmm_queue_wait_seconds": ("histogram", {"model", "op"}),
    "ebmm_engine_seconds": ("histogram", {"model", "op"}),
    "ebmm_batch_size": ("histogram", {"model", "op"}),
    "ebmm_engine_batches_total": ("counter", {"model", "op", "bucket"}),
    "ebmm_engine_calls_total": ("counter", {"model", "op"}),
    "ebmm_queue_depth": ("gauge", {"model", "op"}),
    "ebmm_rejected_total": ("counter", {"model", "op", "reason"}),
    "ebmm_write_recall_error": ("histogram", {"model", "distortion"}),
    "ebmm_retrieve_energy": ("histogram", {"model"}),
    "ebmm_retrieve_changed_fraction": ("histogram", {"model"}),
    "ebmm_memories_written_total": ("counter", {"model"}),
    "ebmm_memories_deleted_total": ("counter", {"model"}),
    "ebmm_redis_operation_seconds": ("histogram", {"op"}),
    "ebmm_redis_errors_total": ("counter", {"op"}),
    "ebmm_errors_total": ("counter", {"type"}),
    "ebmm_models_loaded": ("gauge", set()),
    "ebmm_tenant_refusals_total": ("counter", {"tenant", "reason"}),
    "ebmm_model_version_memories": ("gauge", {"model", "version"}),
    "ebmm_model_version_loaded": ("gauge", {"model", "version"}),
    "process_cpu_seconds_total": ("counter", set()),  # the API process's (prometheus_client's process collector)
    "process_resident_memory_bytes": ("gauge", set()),
    "ebmm_engine_process_cpu_seconds_total": ("counter", set()),  # the engine process's, on the same page
    "ebmm_engine_process_resident_memory_bytes": ("gauge", set()),
}
PROMETHEUS_METRICS = {"up": {"job", "instance"}}  # made by Prometheus itself for every target


def series_labels() -> dict[str, set[str]]:
    """Every series name a query may use, with its labels (histograms: _bucket with `le`, _sum, _count)."""
    names = dict(PROMETHEUS_METRICS)
    for family, (kind, labels) in CONTRACT.items():
        if kind == "histogram":
            names[f"{family}_bucket"] = labels | {"le"}
            names[f"{family}_sum"] = names[f"{family}_count"] = labels
        else:
            names[family] = labels
    return names


def metric_names(expr: str) -> set[str]:
    return {selector.name for selector in selectors(expr)}


ALL_QUERIES = dashboard_queries() + alert_queries()


def test_checked_in_dashboard_is_what_the_generator_writes() -> None:
    build = load_build_dashboard()
    assert build.DASHBOARD_PATH == DASHBOARD
    assert DASHBOARD.read_text(encoding="utf-8") == build.render(), "run python deploy/grafana/build_dashboard.py"
    assert build.main(["--check"]) == 0


@pytest.mark.parametrize("query", ALL_QUERIES, ids=str)
def test_query_parses_and_names_only_contract_metrics_and_labels(query: Query) -> None:
    known = series_labels()
    found = selectors(query.expr)
    assert found, "a query without a metric selector"
    for selector in found:
        assert selector.name in known, f"{selector.name} is not exported by the service"
        for matcher in selector.matchers.matchers:
            assert matcher.name in known[selector.name], f"{selector.name} has no label {matcher.name}"


@pytest.mark.parametrize("query", ALL_QUERIES, ids=str)
def test_means_divide_sum_by_count(query: Query) -> None:
    """`rate(x_sum)` alone is seconds per second, not a latency: every _sum needs its _count beside it.

    The one exception: the sum of batch sizes counts items served (the queue-saturation alert's denominator).
    """
    names = metric_names(query.expr)
    for name in names - {"ebmm_batch_size_sum"} if query.source.startswith("alert") else names:
        if name.endswith("_sum"):
            assert name.removesuffix("_sum") + "_count" in names
            assert " / " in query.expr


def test_a_query_that_does_not_parse_is_caught() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("histogram_quantile(0.99, sum by (le) (rate(ebmm_engine_seconds_bucket[5m]))")


def test_dashboard_covers_the_whole_contract() -> None:
    used = set().union(*(metric_names(q.expr) for q in dashboard_queries()))
    families = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in used}
    assert families >= set(CONTRACT), f"no panel shows {sorted(set(CONTRACT) - families)}"


def test_latency_panels_show_quantiles_per_route() -> None:
    (panel,) = [p for p in dashboard_panels() if p["title"].startswith("Latency p50 / p95 / p99")]
    exprs = [t["expr"] for t in panel["targets"]]
    assert [e.split(",")[0] for e in exprs] == [f"histogram_quantile({q}" for q in ("0.5", "0.95", "0.99")]
    for expr in exprs:
        call = promql_parser.parse(expr.replace("$__rate_interval", "1m"))
        assert call.func.name == "histogram_quantile"
        assert set(call.args[1].modifier.labels) == {"route", "le"}


def test_every_panel_uses_the_provisioned_datasource_and_the_model_variable() -> None:
    (datasource,) = load_yaml(DATASOURCES)["datasources"]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    (variable,) = dashboard["templating"]["list"]
    assert variable["name"] == "model" and variable["datasource"]["uid"] == datasource["uid"]
    assert "model" in variable["definition"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"]
            expr = target["expr"].replace("$__rate_interval", "1m")
            for selector in selectors(expr):
                labels = series_labels()[selector.name]
                if "model" in labels:
                    matchers = {(m.name, m.value) for m in selector.matchers.matchers}
                    assert ("model", "$model") in matchers, f"{panel['title']}: {selector.name} ignores $model"


def test_panels_do_not_overlap() -> None:
    cells = set()
    for panel in dashboard_panels():
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, panel["title"]
        cells |= mine
    assert len({p["id"] for p in dashboard_panels()}) == len(dashboard_panels())
