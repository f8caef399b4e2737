"""Service settings: one pydantic-settings class, read from `EBMM_*` environment variables (and `REDIS_URL`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.theta_precision import ThetaDtype
from model.write_precision import WritePrecision

LogFormat = Literal["text", "json"]


class Settings(BaseSettings):
    """Everything the service reads from its environment; each field is `EBMM_<NAME>` (see README)."""

    model_config = SettingsConfigDict(env_prefix="EBMM_", populate_by_name=True, extra="ignore")

    checkpoint_dir: Path = Field(Path("checkpoints"), description="Every subdirectory with a config.json is served.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # "graph": CUDA-graph replay of bucket-padded reads (CUDA + fc energy); "auto": graph where possible.
    # Eager by default until the graph path has run on a GPU (tests/model/test_cuda.py skips without one).
    engine_mode: Literal["auto", "eager", "graph"] = "eager"
    torch_threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads of the engine (default: torch's; for the engine process `ebmm serve` starts, "
        "torch's less a core per API worker).",
    )
    engine_socket: Path | None = Field(
        None,
        description="Unix socket of the engine process (`ebmm engine`): API workers send their jobs there and run "
        "no engine of their own. Unset: the engine runs in this process. `ebmm serve --workers N` sets it on a GPU.",
    )
    data_dir: Path = Field(Path("data"), description="Embedded Redis data directory (used when no REDIS_URL).")
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("EBMM_REDIS_URL", "REDIS_URL", "redis_url"),
        description="redis://, rediss:// or unix:// URL of an external Redis; unset = embedded redis-server.",
    )
    redis_cluster: bool = Field(
        False, description="REDIS_URL names a node of a Redis Cluster: discover its slots and follow redirects."
    )
    redis_timeout_s: float = Field(2.0, gt=0, description="Socket timeout of every Redis call.")
    redis_max_connections: int = Field(
        64, ge=1, description="Redis connections per process; a call waits (up to deadline_s) for a free one."
    )
    idempotency_ttl_s: int = Field(
        24 * 3600, ge=1, description="How long a finished write's Idempotency-Key is kept (at most its memory's TTL)."
    )
    max_batch: int = Field(64, ge=1, description="Items per engine call; 1 turns batching off.")
    max_delay_ms: float = Field(2.0, ge=0, description="How long a batch waits for more items after its first.")
    max_queue: int = Field(1024, ge=1, description="Waiting items per (model, op) queue before 429.")
    theta_dtype: ThetaDtype = Field(
        "float32",
        description="How new memories' θ is stored in Redis: float32, or float16 / bfloat16 (half the bytes; reads "
        "use θ at that precision). Memories keep the dtype they were written with.",
    )
    write_precision: WritePrecision = Field(
        "auto",
        description="Dtype of a write's products with the meta-learned layers: float32, bfloat16 (fc models) or auto "
        "(bfloat16 for fc models on CPUs with bfloat16 dot products, float32 elsewhere); README Performance, Engine, "
        "measures what it saves and that recall is unchanged.",
    )
    max_old_versions: int = Field(
        2,
        ge=0,
        description="Older checkpoint versions kept loaded for reading their memories (least recently read "
        "unloaded first).",
    )
    log_format: LogFormat = Field(
        "text", description="Server log lines as 'text' or 'json' (one object per line, request id in each)."
    )
    tracing: bool = Field(
        False, description="Export OpenTelemetry traces over OTLP/HTTP, configured by the standard OTEL_* variables."
    )
    tenant_max_queued: int = Field(
        256, ge=1, description="Waiting items of one tenant per (model, op) queue before that tenant gets 429."
    )
    deadline_s: float = Field(10.0, gt=0, description="A request waiting longer than this for the engine gets 503.")
    max_body_bytes: int = Field(16 * 2**20, ge=1024, description="Larger request bodies get 413 before parsing.")
    parse_offload_bytes: int = Field(
        2**20, ge=0, description="Larger JSON bodies are parsed in a parser process, off the event loop."
    )
    max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="Request line and headers over this get 400 (ebmm serve; h11's limit)."
    )
    request_read_timeout_s: float = Field(
        30.0, gt=0, description="A request's headers and body must arrive within this, else the connection closes."
    )
    max_connections: int = Field(
        1000, ge=1, description="Open connections per process (ebmm serve); beyond it new requests get 503 at once."
    )
    max_queries: int = Field(1024, ge=1, description="Queries per retrieve request; more get 413.")
    max_traced_queries: int = Field(
        4, ge=1, le=64, description="Queries per retrieve with trace: true (every state comes back); more get 422."
    )
    max_metadata_bytes: int = Field(4096, ge=2, description="A memory's metadata as JSON; larger gets 413.")
    max_metadata_depth: int = Field(
        64, ge=1, le=200, description="Nesting of metadata objects and arrays (the object itself is 1); deeper: 422."
    )
    default_ttl_seconds: int | None = Field(None, ge=1, description="TTL of memories written without ttl_seconds.")
    max_ttl_seconds: int = Field(365 * 24 * 3600, ge=1, description="Largest accepted ttl_seconds.")
    api_keys: str | None = Field(
        None, description="`sha256hex:tenant` entries (SHA-256 of each key, never the key), comma or newline separated."
    )
    api_keys_file: Path | None = Field(
        None, description="A file of `sha256hex:tenant` lines (# comments), read at start."
    )
    auth_disabled: bool = Field(False, description="Development only: no keys, every request is tenant 'dev'.")
    tenant_max_memories: int = Field(100_000, ge=1, description="Memories one tenant may hold; more get 429.")
    tenant_max_floats: int = Field(
        250_000_000, ge=1, description="θ floats all of one tenant's memories may hold (1 GB); more get 413."
    )
    embedded_appendfsync: Literal["always", "everysec"] = Field(
        "always", description="fsync policy of the embedded Redis AOF: always = a 201 is on disk (see README)."
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

    def redis_operation_bound_s(self) -> float:
        """The longest one Redis operation may take, retries included, before it is a 503."""
        return 3 * self.redis_timeout_s

    def engine_process_threads(self, available: int, workers: int) -> int:
        """torch threads of the engine process `ebmm serve` starts: EBMM_TORCH_THREADS, else the `available`
        threads (torch's default: the physical cores) less a core per API worker. On 2 cores, one worker and an
        engine process with 2 threads served 0.84× the retrieves of 1 thread (deploy/README.md)."""
        return self.torch_threads or max(1, available - workers)

    def drain_bound_s(self) -> float:
        """The longest a graceful shutdown may wait for a request in flight: the engine deadline plus the five
        bounded Redis calls of a keyed write (claim, reserve, store, confirm, extend). Kubernetes'
        terminationGracePeriodSeconds covers it (deploy/k8s/base/deployment.yaml)."""
        return self.deadline_s + 5 * self.redis_operation_bound_s()

    def write_reservation_s(self) -> float:
        """How long a write's quota reservation holds before it must be confirmed: the write's three Redis calls
        after it, each waiting for a pooled connection (up to deadline_s) and bounded, plus a second."""
        return 3 * (self.deadline_s + self.redis_operation_bound_s()) + 1.0
