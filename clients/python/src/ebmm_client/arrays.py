"""Matrices on the wire: JSON rows of numbers, or base64 of little-endian float32 with a `shape` (needs numpy)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    import numpy as np

# A matrix [rows][D]: nested sequences of numbers, or a numpy array.
Array: TypeAlias = "Sequence[Sequence[float]] | np.ndarray"
Encoding = Literal["json", "b64"]
B64_DTYPE = "<f4"


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as missing:
        raise ImportError("encoding='b64' needs numpy: pip install 'ebmm-client[numpy]'") from missing
    return numpy


def encode(name: str, array: Array, encoding: Encoding, with_shape: bool = True) -> dict[str, Any]:
    """The body fields of one matrix: {name: rows} or {name_b64: base64, "shape": [rows, D]}."""
    if encoding == "b64":
        values = _numpy().ascontiguousarray(array, dtype=B64_DTYPE)
        fields: dict[str, Any] = {f"{name}_b64": base64.b64encode(values.tobytes()).decode("ascii")}
        if with_shape:
            fields["shape"] = list(values.shape)
        return fields
    tolist = getattr(array, "tolist", None)
    return {name: tolist() if tolist is not None else [list(row) for row in array]}


def decode_b64(data: str, shape: Sequence[int]) -> np.ndarray:
    """A base64 answer as a float32 numpy array of `shape` ([M, D])."""
    numpy = _numpy()
    return numpy.frombuffer(base64.b64decode(data), dtype=B64_DTYPE).reshape(tuple(shape)).astype(numpy.float32)
