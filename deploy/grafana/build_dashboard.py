"""Writes the Grafana dashboard `dashboards/ebmm.json` (checked in; Grafana loads that file as is).

    python deploy/grafana/build_dashboard.py            # rewrite the JSON after editing the panels below
    python deploy/grafana/build_dashboard.py --check    # exit 1 if the checked-in JSON is stale

Plain dicts rather than a dashboard library: the panels are a handful of PromQL expressions, and the output
is the Grafana JSON model a reviewer can read. Latencies are quantiles of the histograms (`histogram_quantile`
over `rate(..._bucket)`) or means as `rate(_sum) / rate(_count)`; never `rate(_sum)` alone. Every metric
named here is exported by `service/metrics.py`; tests/deploy checks that against the live app.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DASHBOARD_PATH = Path(__file__).parent / "dashboards" / "ebmm.json"
DATASOURCE = {"type": "prometheus", "uid": "ebmm-prometheus"}  # deploy/grafana/provisioning/datasources
RATE = "$__rate_interval"
MODEL = 'model=~"$model"'
QUANTILES = (0.5, 0.95, 0.99)


def target(expr: str, legend: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, **extra}


def braces(selector: str) -> str:
    return f"{{{selector}}}" if selector else ""


def quantile_targets(
    metric: str, by: str, selector: str = "", quantiles=QUANTILES, legend: str = "", ref: str = "P"
) -> list[dict[str, Any]]:
    """One `histogram_quantile` target per quantile of a histogram, grouped by the label `by`."""
    return [
        target(
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{braces(selector)}[{RATE}])))",
            f"{legend}{{{{{by}}}}} p{round(q * 100)}",
            f"{ref}{round(q * 100)}",
        )
        for q in quantiles
    ]


def mean_target(metric: str, by: str, selector: str, ref: str, legend: str) -> dict[str, Any]:
    """The mean of a histogram's observations over the rate window: rate(_sum) / rate(_count)."""
    return target(
        f"sum by ({by}) (rate({metric}_sum{braces(selector)}[{RATE}]))"
        f" / sum by ({by}) (rate({metric}_count{braces(selector)}[{RATE}]))",
        legend,
        ref,
    )


def timeseries(title: str, targets: list[dict[str, Any]], unit: str, description: str, **options: Any) -> dict:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        **options,
    }


def stat(title: str, expr: str, description: str, unit: str = "none") -> dict:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr, "", "A", instant=True)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"},
    }


def heatmap(title: str, metric: str, selector: str, description: str) -> dict:
    """Distribution over time of a histogram: one row per bucket, counts per interval."""
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [
            target(
                f"sum by (le) (increase({metric}_bucket{braces(selector)}[{RATE}]))",
                "{{le}}",
                "A",
                format="heatmap",
            )
        ],
        "options": {
            "calculate": False,
            "yAxis": {"unit": "short"},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "tooltip": {"show": True, "yHistogram": True},
        },
    }


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def panels() -> list[dict]:
    """The dashboard's rows and panels, top to bottom."""
    return [
        row("Traffic"),
        stat("Replicas up", 'sum(up{job="ebmm-api"})', "API replicas Prometheus scrapes successfully."),
        stat("Models loaded", "sum(ebmm_models_loaded)", "Models served, summed over replicas."),
        stat(
            "Requests / s",
            f"sum(rate(ebmm_http_requests_total[{RATE}]))",
            "All HTTP requests, all replicas.",
            unit="reqps",
        ),
        stat(
            "5xx share",
            f'sum(rate(ebmm_http_requests_total{{status=~"5.."}}[{RATE}]) or vector(0))'
            f" / sum(rate(ebmm_http_requests_total[{RATE}]))",
            "Share of requests answered with a 5xx status (0 when there was none).",
            unit="percentunit",
        ),
        timeseries(
            "Request rate by route and status",
            [target(f"sum by (route, status) (rate(ebmm_http_requests_total[{RATE}]))", "{{route}} {{status}}", "A")],
            "reqps",
            "HTTP requests per second, all replicas.",
        ),
        timeseries(
            "Latency p50 / p95 / p99 by route",
            quantile_targets("ebmm_http_request_duration_seconds", "route"),
            "s",
            "Quantiles of the HTTP request duration histogram per route template.",
        ),
        timeseries(
            "Errors by type",
            [target(f"sum by (type) (rate(ebmm_errors_total[{RATE}]))", "{{type}}", "A")],
            "reqps",
            "Error responses per second by error type (validation, not_found, queue_full, redis, …).",
        ),
        timeseries(
            "Rejected by the batcher (429 queue full, 503 deadline)",
            [
                target(
                    f"sum by (model, op, reason) (rate(ebmm_rejected_total{{{MODEL}}}[{RATE}]))",
                    "{{model}} {{op}} {{reason}}",
                    "A",
                )
            ],
            "reqps",
            "Requests refused before reaching the engine.",
        ),
        timeseries(
            "Refusals per tenant (tenant_busy, quota_exceeded)",
            [
                target(
                    f"sum by (tenant, reason) (rate(ebmm_tenant_refusals_total[{RATE}]))",
                    "{{tenant}} {{reason}}",
                    "A",
                )
            ],
            "reqps",
            "Requests refused because of their tenant: over its share of a queue (EBMM_TENANT_MAX_QUEUED) or "
            "over its quota. Only the noisy tenant should appear here.",
        ),
        row("Batching"),
        heatmap(
            "Batch size distribution",
            "ebmm_batch_size",
            MODEL,
            "Items per engine call (writes and reads of the selected models).",
        ),
        timeseries(
            "Mean batch size",
            [mean_target("ebmm_batch_size", "model, op", MODEL, "A", "{{model}} {{op}}")],
            "short",
            "Mean items per engine call: how well the batcher fills batches under the current load.",
        ),
        timeseries(
            "Batcher batches vs engine calls",
            [
                target(
                    f"sum by (op) (rate(ebmm_batch_size_count{{{MODEL}}}[{RATE}]))",
                    "{{op}} batches",
                    "BATCHES",
                ),
                target(
                    f"sum by (op) (rate(ebmm_engine_calls_total{{{MODEL}}}[{RATE}]))",
                    "{{op}} engine calls",
                    "CALLS",
                ),
            ],
            "ops",
            "Batches the batcher closed and the engine calls they made: a batch of reads that clamp or are traced "
            "differently, or differ in query bucket, makes one call per group.",
        ),
        timeseries(
            "Graph-mode engine calls by bucket",
            [
                target(
                    f"sum by (op, bucket) (rate(ebmm_engine_batches_total{{{MODEL}}}[{RATE}]))",
                    "{{op}} bucket {{bucket}}",
                    "A",
                )
            ],
            "ops",
            "Engine calls replaying captured graphs (EBMM_ENGINE_MODE=graph), by the memory bucket (1, 8, 32, 128, "
            "512) they pad to; empty in eager mode, which pads nothing.",
        ),
        timeseries(
            "Queue wait vs engine time (p50, p95)",
            [
                *quantile_targets("ebmm_queue_wait_seconds", "op", MODEL, (0.5, 0.95), "queue wait ", "QUEUE"),
                *quantile_targets("ebmm_engine_seconds", "op", MODEL, (0.5, 0.95), "engine ", "ENGINE"),
            ],
            "s",
            "Time an item waits for its batch to start vs the engine time of the batch.",
        ),
        timeseries(
            "Queue depth",
            [target(f"sum by (model, op) (ebmm_queue_depth{{{MODEL}}})", "{{model}} {{op}}", "A")],
            "short",
            "Items waiting for the engine, summed over replicas.",
        ),
        row("Model"),
        timeseries(
            "Write-time recall error per model and distortion",
            [
                mean_target(
                    "ebmm_write_recall_error", "model, distortion", MODEL, "MEAN", "{{model}} {{distortion}} mean"
                ),
                *quantile_targets("ebmm_write_recall_error", "model, distortion", MODEL, quantiles=(0.9,)),
            ],
            "short",
            "Self-check at write time, per distortion the model was trained on: error bits (binary) or MSE "
            "(images) when reading back distorted patterns.",
        ),
        timeseries(
            "Retrieve energy E(x̂)",
            quantile_targets("ebmm_retrieve_energy", "model", MODEL, quantiles=(0.5, 0.9)),
            "short",
            "Energy of the retrieved states: low means the query settled in a stored pattern's basin.",
        ),
        timeseries(
            "Retrieve: fraction of entries changed",
            quantile_targets("ebmm_retrieve_changed_fraction", "model", MODEL, quantiles=(0.5, 0.9)),
            "percentunit",
            "Share of a query's entries the read changed.",
        ),
        timeseries(
            "Memories written / deleted",
            [
                target(
                    f"sum by (model) (rate(ebmm_memories_{what}_total{{{MODEL}}}[{RATE}]))",
                    f"{{{{model}}}} {what}",
                    ref,
                )
                for ref, what in (("W", "written"), ("D", "deleted"))
            ],
            "ops",
            "Memories written and deleted per second.",
        ),
        timeseries(
            "Memories per checkpoint version",
            [
                target(
                    f"max by (model, version) (ebmm_model_version_memories{{{MODEL}}})",
                    "{{model}} v{{version}}",
                    "A",
                )
            ],
            "short",
            "Unexpired memories each checkpoint version wrote (all tenants). An old version at 0 can be retired "
            "(`ebmm models retire`).",
        ),
        timeseries(
            "Versions loaded",
            [
                target(
                    f"max by (model, version) (ebmm_model_version_loaded{{{MODEL}}})",
                    "{{model}} v{{version}}",
                    "A",
                )
            ],
            "short",
            "1 while a checkpoint version is loaded on some replica (older versions load on demand).",
        ),
        row("Processes"),
        timeseries(
            "CPU by process",
            [
                target(f"sum by (instance) (rate(process_cpu_seconds_total[{RATE}]))", "API {{instance}}", "API"),
                target(
                    f"sum by (instance) (rate(ebmm_engine_process_cpu_seconds_total[{RATE}]))",
                    "engine {{instance}}",
                    "ENGINE",
                ),
            ],
            "short",
            "CPU cores used by each replica's API worker and by its engine process (the models, the batcher).",
        ),
        timeseries(
            "Resident memory by process",
            [
                target("sum by (instance) (process_resident_memory_bytes)", "API {{instance}}", "API"),
                target(
                    "sum by (instance) (ebmm_engine_process_resident_memory_bytes)", "engine {{instance}}", "ENGINE"
                ),
            ],
            "bytes",
            "Resident memory of each replica's API worker and of its engine process.",
        ),
        row("Redis"),
        timeseries(
            "Redis latency p50 / p99 by operation",
            quantile_targets("ebmm_redis_operation_seconds", "op", quantiles=(0.5, 0.99)),
            "s",
            "Latency of the service's Redis calls.",
        ),
        timeseries(
            "Redis errors by operation",
            [target(f"sum by (op) (rate(ebmm_redis_errors_total[{RATE}]))", "{{op}}", "A")],
            "ops",
            "Failed Redis calls per second.",
        ),
    ]


def layout(items: list[dict]) -> list[dict]:
    """Ids and grid positions: rows span the width, stats are 6 wide and 4 high, graphs 12 wide and 8 high."""
    x = y = 0
    line_height = 0
    for panel_id, panel in enumerate(items, start=1):
        width, height = {"row": (24, 1), "stat": (6, 4)}.get(panel["type"], (12, 8))
        if panel["type"] == "row" or x + width > 24:
            x, y, line_height = 0, y + line_height, 0
        panel["id"] = panel_id
        panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
        x, line_height = x + width, max(line_height, height)
        if panel["type"] == "row":
            x, y, line_height = 0, y + height, 0
    return items


def dashboard() -> dict:
    return {
        "uid": "ebmm-service",
        "title": "EBMM memory service",
        "description": "Traffic, batching, model quality and Redis of the EBMM service (deploy/grafana).",
        "tags": ["ebmm"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "model",
                    "label": "model",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {"query": "label_values(ebmm_batch_size_count, model)", "refId": "model"},
                    "definition": "label_values(ebmm_batch_size_count, model)",
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                    "sort": 1,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": layout(panels()),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if DASHBOARD_PATH.read_text(encoding="utf-8") != text:
            print(f"{DASHBOARD_PATH} is stale: run python {Path(__file__).as_posix()}", file=sys.stderr)
            return 1
        return 0
    DASHBOARD_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DASHBOARD_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
