"""Results the client builds itself (the rest are the generated dataclasses of `models`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ebmm_client.arrays import decode_b64
from ebmm_client.decode import decode
from ebmm_client.models import MemoryPublic, QueryTrace


@dataclass(frozen=True)
class Retrieval:
    """One answer per query of a retrieve.

    patterns: [M][D] lists (JSON answers) or a float32 numpy array [M, D] (base64 answers, `encoding="b64"`);
    energies: [M] E(x̂); changed: [M] fraction of entries the read changed; trace: with `trace=True`, every
    state of each query's read and its energy (else None); extra: answer fields this client does not know, as sent.
    """

    patterns: Any
    energies: list[float]
    changed: list[float]
    trace: list[QueryTrace] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Retrieval:
        rest = dict(body)
        patterns, b64, shape = rest.pop("patterns", None), rest.pop("patterns_b64", None), rest.pop("shape", None)
        if b64 is not None:
            patterns = decode_b64(b64, shape)
        trace = rest.pop("trace", None)
        traces = None if trace is None else decode(list[QueryTrace], trace)
        return cls(patterns, rest.pop("energies"), rest.pop("changed"), traces, rest)


@dataclass(frozen=True)
class MemoryPage:
    """One page of `GET /memories`, newest first; `next_cursor` fetches the next page (None: this was the last)."""

    memories: list[MemoryPublic]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> MemoryPage:
        return cls(decode(list[MemoryPublic], body["memories"]), body.get("next_cursor"))
