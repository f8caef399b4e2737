"""Request and response bodies (pydantic v2). Requests forbid unknown fields.

Arrays travel either as JSON numbers (`patterns`, `queries`, `known_mask`: one row of D numbers per pattern)
or as base64 little-endian float32 (`patterns_b64` / `queries_b64` / `known_mask_b64` with `shape` [rows, D]).
D is the model's `input_dim`; image models take each image flattened in C, H, W order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, WrapValidator, model_validator


def _parsed_off_the_loop(value: Any, handler: Any) -> Any:
    """A matrix the parser process already made a float32 array (service.body_parser) is taken as it is."""
    return value if isinstance(value, np.ndarray) else handler(value)


Matrix = list[list[float]]
Encoding = Literal["json", "b64"]
# A request matrix: JSON rows of numbers, or (large bodies) the float32 array the parser process made of them.
RequestMatrix = Annotated[Matrix, WrapValidator(_parsed_off_the_loop)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _one_of(body: BaseModel, plain: str, b64: str, required: bool = True) -> None:
    """Exactly one of the JSON and base64 forms (at most one when not required); base64 needs `shape`."""
    has_plain, has_b64 = getattr(body, plain) is not None, getattr(body, b64) is not None
    if has_plain and has_b64:
        raise ValueError(f"send either {plain} or {b64}, not both")
    if required and not (has_plain or has_b64):
        raise ValueError(f"one of {plain} or {b64} is required")


class MemoryCreate(_Request):
    """Write a memory: N patterns of D numbers (binary models: ±1; image models: in the model's value range)."""

    model: str = Field(min_length=1, max_length=200, examples=["binary128"])
    patterns: RequestMatrix | None = Field(None, description="[N][D] numbers.")
    patterns_b64: str | None = Field(None, description="base64 of N·D little-endian float32, with `shape`.")
    shape: list[int] | None = Field(None, description="[N, D] of `patterns_b64`.", min_length=2, max_length=2)
    ttl_seconds: int | None = Field(None, ge=1, description="Expire the memory after this many seconds.")
    metadata: dict[str, Any] | None = Field(None, description="A small JSON object stored with the memory.")
    self_check: bool = Field(
        True,
        description="false: skip the write-time self-check (`recall_error` is then null). The self-check reads "
        "stored patterns back from every trained corruption and costs the engine several times the write itself "
        "(see README Performance): bulk loads that do not need it write faster without.",
    )

    @model_validator(mode="after")
    def _forms(self) -> Self:
        _one_of(self, "patterns", "patterns_b64")
        return self


class RetrieveRequest(_Request):
    """Read M queries: binary models take ±1 with 0 = unknown; image models take values in their range.

    `known_mask` (same shape, 0/1) marks the entries the read keeps fixed; without it binary models keep
    every non-zero entry and image models keep none. `noisy: true` says entries may be wrong: nothing is kept.
    """

    queries: RequestMatrix | None = Field(None, description="[M][D] numbers.")
    queries_b64: str | None = Field(None, description="base64 of M·D little-endian float32, with `shape`.")
    known_mask: RequestMatrix | None = Field(None, description="[M][D] of 0/1 (1 = keep this entry).")
    known_mask_b64: str | None = Field(None, description="base64 of M·D float32 0/1, with `shape`.")
    shape: list[int] | None = Field(None, description="[M, D] of the base64 arrays.", min_length=2, max_length=2)
    noisy: bool = Field(
        False,
        description="true: any entry of the queries may be wrong (flipped bits, noise), so nothing is kept fixed "
        "and every entry may change (binary: a 0 is still unknown). Not with known_mask.",
    )
    encoding: Encoding = Field(
        "json",
        description="The form of the answer's patterns: 'json' (`patterns`, rows of numbers) or 'b64' "
        "(`patterns_b64`, little-endian float32, with `shape`), whichever form the queries came in.",
    )
    trace: bool = Field(
        False,
        description="true: also return every state of each query's read and its energy (`trace`), for at most "
        "EBMM_MAX_TRACED_QUERIES queries (default 4; more: 422). Off by default: a trace costs one energy "
        "evaluation per step and K + 1 patterns per query.",
    )

    @model_validator(mode="after")
    def _forms(self) -> Self:
        _one_of(self, "queries", "queries_b64")
        _one_of(self, "known_mask", "known_mask_b64", required=False)
        if self.noisy and (self.known_mask is not None or self.known_mask_b64 is not None):
            raise ValueError("noisy queries keep nothing fixed: send known_mask or noisy, not both")
        return self


class DistortionError(BaseModel):
    """The self-check's mean error for one trained corruption."""

    name: str = Field(description="The distortion family, e.g. 'erase', 'flip', 'occlude', 'noise'.")
    distortion: str = Field(description="e.g. 'flip 16 of 128 entries'.")
    mean: float


class RecallError(BaseModel):
    """The write-time self-check: the stored patterns read back from each corruption the model was trained on.

    `mean` and `distortion` are the model's standard (first) one; `by_distortion` lists every one."""

    metric: str = Field(description="'error_bits' (binary models) or 'mse' (image models).")
    mean: float
    distortion: str = Field(description="e.g. 'erase 64 of 128 entries' or 'occlude a 8x8 block'.")
    by_distortion: list[DistortionError] = Field(default_factory=list)


class MemoryPublic(BaseModel):
    """A stored memory's metadata (never θ)."""

    id: str
    model: str
    checkpoint_hash: str
    num_patterns: int
    created_at: float = Field(description="Unix time, seconds.")
    expires_at: float | None = Field(description="Unix time, seconds; null = never.")
    write_ms: float = Field(description="Engine time of the write, milliseconds.")
    recall_error: RecallError | None = Field(description="The write-time self-check; null if written without one.")
    metadata: dict[str, Any] | None = None


class QueryTrace(BaseModel):
    """Every state one query's read passed through, decoded as answers are (binary: ±1; images: in the value
    range), with its energy. A read is K steps of descent from the query, so K + 1 states; a noisy query of a
    model that reads it as rounds of erasures has `rounds` such descents, one after another. The last state is
    the answer."""

    states: Matrix = Field(description="[rounds · (K + 1)][D]: the query (as the read starts it), then each step.")
    energies: list[float] = Field(description="E(state) of each state.")
    rounds: int = Field(description="Descents in the read: 1, or the model's erasure rounds for a noisy query.")


class MemoryList(BaseModel):
    """A page of the tenant's memories, newest first."""

    memories: list[MemoryPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: this is the last page.")


class RetrieveResult(BaseModel):
    """One answer per query: decoded patterns (binary: ±1), energies E(x̂) and the fraction of entries changed;
    with `trace: true` also every state of each read.

    The patterns come as `patterns` (encoding 'json') or as `patterns_b64` with `shape` (encoding 'b64')."""

    patterns: Matrix | None = Field(None, description="[M][D] numbers (encoding 'json').")
    patterns_b64: str | None = Field(None, description="base64 of M·D little-endian float32 (encoding 'b64').")
    shape: list[int] | None = Field(None, description="[M, D] of `patterns_b64`.")
    energies: list[float]
    changed: list[float]
    trace: list[QueryTrace] | None = Field(None, description="With trace: true, one per query; else null.")


class DistortionPublic(BaseModel):
    name: str
    description: str


class VersionPublic(BaseModel):
    """One checkpoint of a model: memories are read by the version that wrote them."""

    version: str = Field(description="The checkpoint directory's label (versions sort naturally; the last is newest).")
    checkpoint_hash: str
    newest: bool = Field(description="true: this version takes every new write.")
    loaded: bool = Field(description="Older versions load on the first read of one of their memories.")
    memories: int = Field(description="Unexpired memories this version wrote, over all tenants.")


class ModelPublic(BaseModel):
    """A served model, described by its newest version, with every version it still serves."""

    name: str
    kind: str = Field(description="The energy network: 'fc', 'conv', 'subspace' or 'spectral'.")
    domain: str = Field(description="'binary' (±1 entries) or 'continuous' (values in value_range).")
    input_shape: list[int]
    input_dim: int = Field(description="D: numbers per pattern (images flattened C, H, W).")
    value_range: list[float]
    writable_floats: int
    write_steps: int = Field(description="T")
    read_steps: int = Field(description="K")
    max_patterns: int
    distortion_size: int
    distortions: list[DistortionPublic] = Field(
        description="The corruptions the model was trained to undo, at the strengths its self-check uses."
    )
    checkpoint_hash: str = Field(description="The newest version's: new memories are written by it.")
    version: str = Field(description="The newest version's label.")
    versions: list[VersionPublic]


class ModelList(BaseModel):
    models: list[ModelPublic]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    redis: bool
    models: int
    engine: bool = Field(description="The engine answers: always true in one process; with an engine process, a ping.")


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None
    request_id: str | None = Field(description="The request's X-Request-Id (also a response header).")


class ErrorBody(BaseModel):
    error: ErrorDetail
