"""Correctness spot checks of `ebmm bench load`: a server under load answers as it did before the load.

Before any load a few retrieves are answered (the reference). Around each retrieve cell the same retrieves are
asked again and must give the same patterns, and a new memory is written, read back (model and pattern count)
and deleted; a different answer or an error fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ebmm_client import EBMMClient, EBMMError

PROBES = 4


class SpotCheckFailed(RuntimeError):
    """A server under load answered differently from before the load, or failed a spot-check request."""


@dataclass
class SpotCheck:
    """`probes`: (memory id, query [1, D]) retrieves whose answers must not change; `write_patterns`: [N, D] of
    the memory written and read back at each check."""

    client: EBMMClient
    model: str
    probes: list[tuple[str, np.ndarray]]
    write_patterns: np.ndarray
    reference: list[np.ndarray] = field(default_factory=list)
    checks: int = 0

    def take_reference(self) -> None:
        """Record the answers the probes get now (before the load)."""
        self.reference = [self._answer(memory_id, query, "reference") for memory_id, query in self.probes]

    def verify(self, when: str) -> None:
        """Ask the probes again and write one memory back; `when` names the moment in the failure message."""
        for (memory_id, query), expected in zip(self.probes, self.reference, strict=True):
            answer = self._answer(memory_id, query, when)
            if not np.array_equal(answer, expected):
                differ = int((answer != expected).sum())
                raise SpotCheckFailed(
                    f"{when}: memory {memory_id} answered a probe differently from before the load "
                    f"({differ} of {expected.size} entries differ)"
                )
        try:
            written = self.client.write(self.model, self.write_patterns, ttl_seconds=600)
            back = self.client.get(written.id)
            self.client.delete(written.id)
        except EBMMError as error:
            raise SpotCheckFailed(f"{when}: a spot-check write failed: {error}") from error
        if back.model != self.model or back.num_patterns != len(self.write_patterns):
            raise SpotCheckFailed(
                f"{when}: memory {written.id} read back as {back.model} with {back.num_patterns} patterns, "
                f"written as {self.model} with {len(self.write_patterns)}"
            )
        self.checks += 1

    def _answer(self, memory_id: str, query: np.ndarray, when: str) -> np.ndarray:
        try:
            return np.asarray(self.client.retrieve(memory_id, query).patterns, dtype=np.float32)
        except EBMMError as error:
            raise SpotCheckFailed(f"{when}: a spot-check retrieve of memory {memory_id} failed: {error}") from error
