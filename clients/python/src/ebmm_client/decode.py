"""JSON -> the typed results of `models` (generated dataclasses), following their type hints.

Fields the server sends that a dataclass does not know are ignored, so a newer server never breaks an
older client; regenerating `models` from the newer spec makes them appear.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(cls: type[T], value: Any) -> T:
    """`value` (parsed JSON) as an instance of `cls`: nested dataclasses, lists, dicts and optionals."""
    return _decode(cls, value)


def _decode(tp: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"{tp.__name__}: expected an object, got {type(value).__name__}")
        hints = _hints(tp)
        known = {f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value}
        return tp(**known)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list and value is not None:
        return [_decode(args[0], item) for item in value]
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        structured = [arg for arg in args if dataclasses.is_dataclass(arg) or typing.get_origin(arg) is list]
        return _decode(structured[0], value) if len(structured) == 1 else value
    return value
