"""Request arrays -> float32 numpy matrices, validated against a model's input dim and domain.

Every check raises a 422 naming the offending field, down to the element (`patterns[3][17]`).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from model.domains import Domain
from service.errors import invalid

Matrix = list[list[float]] | np.ndarray  # JSON rows, or the float32 array a large body's parser made of them


def to_matrix(rows: Matrix | None, b64: str | None, shape: list[int] | None, field: str, dim: int) -> np.ndarray:
    """The JSON rows or the base64 float32 form of one array -> [R, dim] float32 (R ≥ 1)."""
    if b64 is not None:
        field = f"{field}_b64"
        if shape is None:
            raise invalid(f"{field} needs shape [rows, {dim}]", "shape")
        rows_count, width = shape
        if rows_count < 1 or width != dim:
            raise invalid(f"shape must be [rows ≥ 1, {dim}], got {shape}", "shape")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid(f"{field} is not valid base64: {exc}", field) from exc
        if len(raw) != 4 * rows_count * width:
            raise invalid(f"{field} holds {len(raw)} bytes; shape {shape} needs {4 * rows_count * width}", field)
        return np.frombuffer(raw, dtype="<f4").reshape(rows_count, width).astype(np.float32)
    assert rows is not None
    if not len(rows):
        raise invalid(f"{field} must hold at least one row", field)
    # an array (a large body's) is a rectangle already: every row is as long as the first
    lengths = [rows.shape[1]] if isinstance(rows, np.ndarray) else [len(row) for row in rows]
    for i, length in enumerate(lengths):
        if length != dim:
            raise invalid(f"{field}[{i}] has {length} numbers; the model takes {dim}", f"{field}[{i}]")
    return np.asarray(rows, dtype=np.float32)


def to_b64(array: np.ndarray) -> str:
    """[R, D] numbers -> base64 of their little-endian float32 bytes (the inverse of `to_matrix`'s b64 form)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _first_bad(bad: np.ndarray) -> tuple[int, int]:
    row, col = np.argwhere(bad)[0]
    return int(row), int(col)


def check_values(array: np.ndarray, field: str, allowed: tuple[float, ...] | None, lo: float, hi: float) -> None:
    """Finite, and either one of `allowed` or inside [lo, hi]; the first offending element is named."""
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = _first_bad(bad)
        raise invalid(f"{field}[{row}][{col}] is not a finite number", f"{field}[{row}][{col}]")
    if allowed is not None:
        ok = np.zeros(array.shape, dtype=bool)
        for value in allowed:  # (np.isin costs ~15 µs more on a retrieve's one row)
            ok |= array == value
        bad = ~ok
        what = "one of " + ", ".join(f"{v:g}" for v in allowed)
    else:
        bad = (array < lo) | (array > hi)
        what = f"in [{lo:g}, {hi:g}]"
    if bad.any():
        row, col = _first_bad(bad)
        raise invalid(f"{field}[{row}][{col}] = {array[row, col]:g} must be {what}", f"{field}[{row}][{col}]")


def check_patterns(patterns: np.ndarray, domain: Domain, field: str = "patterns") -> None:
    """Stored patterns: the domain's values (binary: ±1), else inside the model's value range."""
    check_values(patterns, field, domain.pattern_values, *domain.config.value_range)


def check_queries(queries: np.ndarray, domain: Domain, field: str = "queries") -> None:
    """Queries: the domain's query values (binary: ±1 and 0 = unknown), else inside the value range."""
    check_values(queries, field, domain.query_values, *domain.config.value_range)


def known_entries(
    queries: np.ndarray, mask: np.ndarray | None, domain: Domain, field: str, noisy: bool = False
) -> np.ndarray | None:
    """The bool [M, D] of clamped entries: the given 0/1 mask; none for noisy queries (None: all move); else
    the domain's default (binary: query ≠ 0; images: none)."""
    if mask is not None:
        if mask.shape != queries.shape:
            raise invalid(f"{field} has shape {list(mask.shape)}; queries have {list(queries.shape)}", field)
        check_values(mask, field, (0.0, 1.0), 0.0, 1.0)
        return mask.astype(bool)
    return None if noisy else domain.default_known(queries)
