"""Every Prometheus metric of the service and its histogram bucket edges, in one place.

The names and labels are a contract with the Grafana dashboard and alerts (deploy/): do not rename them.
Labels stay low-cardinality: route templates, model names, ops, statuses and error types, never a memory id.
Each app owns its registries, so one process can run several apps (tests, benchmarks).

The batcher's and the engine's families live on a registry of their own (`engine_registry`): with an engine
process (service.engine_process) they are counted there, and an API worker's `/metrics` page shows the engine
process's copy of them (`exposition`) in place of its own, so the page has the same families either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from model.buckets import MEMORY_BUCKETS, memory_bucket
from service.batcher import Op
from service.errors import TENANT_REFUSALS

REDIS_OPS = ("put", "get", "list", "delete", "claim", "versions", "migrate", "ping")
ERROR_TYPES = (
    "unauthorized",
    "validation",
    "not_found",
    "checkpoint_retired",
    "corrupt_theta",
    "too_large",
    "quota_exceeded",
    "idempotency_conflict",
    "queue_full",
    "tenant_busy",
    "overloaded",
    "deadline",
    "unavailable",
    "redis",
    "internal",
)

# HTTP and engine latencies: this model is fast (a batched read is ~1 ms on a CPU), so the edges start at
# 0.5 ms and double-ish up to the 10 s request deadline.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# Redis calls on the same host take tens of microseconds to a few ms (33 KB θ values).
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0)
# Items per engine call: powers of two up to the largest sensible max_batch.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# Write-time self-check: error bits out of D (binary) or MSE (images); 0 is perfect recall, the edges
# resolve the first few bits where capacity is lost and the tail of an over-full memory.
RECALL_ERROR_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
# E(x̂) of a read state: a few units for trained models; negative values occur (learned offsets, the quadratic).
ENERGY_BUCKETS = (-10.0, -1.0, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0)
# Fraction of a query's entries the read changed: 0 = the query was already a stored pattern.
FRACTION_BUCKETS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


class Metrics:
    """The service's metrics on their two registries; see the module docstring for the contract."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()  # HTTP, Redis, writes and reads: what the API process counts
        self.engine_registry = CollectorRegistry()  # the batcher's and the engine's: where the engine runs
        r, e = self.registry, self.engine_registry
        http = ("route", "method", "status")
        self.http_requests = Counter("ebmm_http_requests_total", "HTTP requests.", http, registry=r)
        self.http_duration = Histogram(
            "ebmm_http_request_duration_seconds", "HTTP request latency.", http, buckets=LATENCY_BUCKETS, registry=r
        )
        queue = ("model", "op")
        self.queue_wait = Histogram(
            "ebmm_queue_wait_seconds", "Time from enqueue to engine start.", queue, buckets=LATENCY_BUCKETS, registry=e
        )
        self.engine_seconds = Histogram(
            "ebmm_engine_seconds", "Engine time per batch.", queue, buckets=LATENCY_BUCKETS, registry=e
        )
        self.batch_size = Histogram(
            "ebmm_batch_size", "Items per engine call.", queue, buckets=BATCH_BUCKETS, registry=e
        )
        self.engine_calls = Counter(
            "ebmm_engine_calls_total",
            "Engine calls. A batcher batch (ebmm_batch_size) makes one per group of alike items: reads that clamp "
            "alike, are traced alike and share a query bucket.",
            queue,
            registry=e,
        )
        self.batches = Counter(
            "ebmm_engine_batches_total",
            "Engine calls that replay captured graphs (EBMM_ENGINE_MODE=graph), by the memory bucket they pad to; "
            "eager calls pad nothing and are not counted here.",
            (*queue, "bucket"),
            registry=e,
        )
        self.queue_depth = Gauge("ebmm_queue_depth", "Items waiting for the engine.", queue, registry=e)
        self.rejected = Counter(
            "ebmm_rejected_total", "Requests refused by the batcher.", (*queue, "reason"), registry=e
        )
        self.tenant_refusals = Counter(
            "ebmm_tenant_refusals_total",
            "Requests refused because of their tenant: over its share of a queue, or over its quota. "
            "Tenants are the configured API keys' (a bounded set).",
            ("tenant", "reason"),
            registry=r,
        )
        self.write_recall_error = Histogram(
            "ebmm_write_recall_error",
            "Write-time self-check: mean recall error (bits or MSE) per trained distortion.",
            ("model", "distortion"),
            buckets=RECALL_ERROR_BUCKETS,
            registry=r,
        )
        self.retrieve_energy = Histogram(
            "ebmm_retrieve_energy", "Energy of each retrieved state.", ("model",), buckets=ENERGY_BUCKETS, registry=r
        )
        self.retrieve_changed = Histogram(
            "ebmm_retrieve_changed_fraction",
            "Fraction of a query's entries changed by the read.",
            ("model",),
            buckets=FRACTION_BUCKETS,
            registry=r,
        )
        self.memories_written = Counter("ebmm_memories_written_total", "Memories written.", ("model",), registry=r)
        self.memories_deleted = Counter("ebmm_memories_deleted_total", "Memories deleted.", ("model",), registry=r)
        self.redis_seconds = Histogram(
            "ebmm_redis_operation_seconds", "Redis call latency.", ("op",), buckets=REDIS_BUCKETS, registry=r
        )
        self.redis_errors = Counter("ebmm_redis_errors_total", "Failed Redis calls.", ("op",), registry=r)
        self.errors = Counter("ebmm_errors_total", "Error responses by type.", ("type",), registry=r)
        self.models_loaded = Gauge("ebmm_models_loaded", "Models being served.", registry=r)
        self.version_memories = Gauge(
            "ebmm_model_version_memories",
            "Unexpired memories each checkpoint version of a model wrote (all tenants; refreshed every 30 s).",
            ("model", "version"),
            registry=r,
        )
        self.version_loaded = Gauge(
            "ebmm_model_version_loaded", "1 while a checkpoint version is loaded.", ("model", "version"), registry=r
        )
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds
        for op in REDIS_OPS:
            self.redis_seconds.labels(op)
            self.redis_errors.labels(op)
        for kind in ERROR_TYPES:
            self.errors.labels(kind)

    def exposition(self, engine: bytes | None = None) -> bytes:
        """The /metrics page: this process's families, then the engine's (`engine`: the engine process's page of
        them; default: this process's own engine families)."""
        return generate_latest(self.registry) + (generate_latest(self.engine_registry) if engine is None else engine)

    def count_engine_call(self, model: str, op: Op, padded: bool, size: int) -> None:
        """One engine call of `size` items; `padded`: it ran captured graphs, padded to a memory bucket."""
        self.engine_calls.labels(model, op).inc()
        if padded:
            self.batches.labels(model, op, str(memory_bucket(size))).inc()

    def init_tenants(self, tenants: Iterable[str]) -> None:
        """Create each configured tenant's refusal series at 0 (tenants are the API keys' bounded set)."""
        for tenant in tenants:
            for reason in TENANT_REFUSALS:
                self.tenant_refusals.labels(tenant, reason)

    def init_models(self, models: Mapping[str, Iterable[str]]) -> None:
        """Create every (model, op) series at 0, so dashboards and alerts see them before the first request.

        models: model name -> the distortion families its write-time self-check reports."""
        self.models_loaded.set(len(models))
        for model, distortions in models.items():
            for distortion in distortions:
                self.write_recall_error.labels(model, distortion)
            for op in Op:
                for family in (
                    self.queue_wait,
                    self.engine_seconds,
                    self.batch_size,
                    self.queue_depth,
                    self.engine_calls,
                ):
                    family.labels(model, op)
                for bucket in MEMORY_BUCKETS:
                    self.batches.labels(model, op, str(bucket))
                for reason in ("queue_full", "tenant_busy", "deadline"):
                    self.rejected.labels(model, op, reason)
            for family in (
                self.retrieve_energy,
                self.retrieve_changed,
                self.memories_written,
                self.memories_deleted,
            ):
                family.labels(model)
