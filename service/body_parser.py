"""Request bodies -> Python objects: orjson where it reads a body exactly, and large bodies in a parser process.

orjson and pydantic hold the GIL while they parse and validate, so a large JSON body (a 12 MB write) would
stall every other request on the event loop, and a worker thread would not help. A body over
`EBMM_PARSE_OFFLOAD_BYTES` is parsed in a separate process instead (`BodyParser`). Either way its pattern /
query / mask matrices are turned into float32 arrays as they are parsed, so that validating them is a type
check (see `service.schemas.Matrix`). A matrix that is not a rectangle of numbers is left as lists, to be validated
(and refused with a message naming the row) as usual.

This module imports no more than it needs: the parser process imports it.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import orjson

DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
LONG_DIGIT_RUN = b"0" * 19
MATRIX_FIELDS = ("patterns", "queries", "known_mask")


def parse_json(body: bytes) -> Any:
    """orjson where it reads the body exactly, else `json` (whose errors FastAPI turns into a 422).

    Bodies orjson refuses (NaN / Infinity literals, numbers beyond float range, malformed JSON) are parsed again
    by `json`, so they get the same validation messages as before. Bodies with a run of 19 or more digits go to
    `json` directly: orjson reads an integer beyond 64 bits as a float, which would silently change a client's
    metadata (`json` keeps it exact, and storing it is then refused with a message).
    """
    if LONG_DIGIT_RUN not in body.translate(DIGITS_AS_ZERO):  # a 10 KB write: ~8 µs (a regex search took ~100)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


def as_float32_matrix(rows: Any) -> np.ndarray | None:
    """A JSON matrix that is a non-empty rectangle of numbers (not booleans) -> float32 [R, D]; else None."""
    if not isinstance(rows, list) or not rows or not all(isinstance(row, list) for row in rows):
        return None
    try:
        array = np.asarray(rows)
    except (ValueError, OverflowError):  # ragged rows
        return None
    if array.ndim != 2 or array.dtype.kind not in "iuf":
        return None
    with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused later as not finite
        return array.astype(np.float32)


def parse_body(body: bytes) -> Any:
    """The parsed body, its matrices as float32 arrays where they can be (on the event loop for small bodies, in
    the parser process for large ones). Validating a float32 array is a type check; validating the same matrix
    as JSON lists cost more than parsing it (a 32×128 write: ~460 µs against ~320 µs for the array)."""
    parsed = parse_json(body)
    if isinstance(parsed, dict):
        for field in MATRIX_FIELDS:
            matrix = as_float32_matrix(parsed.get(field))
            if matrix is not None:
                parsed[field] = matrix
    return parsed


class BodyParser:
    """One parser process (spawned, so it shares no threads or locks with the server), started on first use."""

    def __init__(self, offload_bytes: int) -> None:
        self.offload_bytes = offload_bytes
        self._pool: ProcessPoolExecutor | None = None

    def offloads(self, body: bytes) -> bool:
        return len(body) > self.offload_bytes

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
