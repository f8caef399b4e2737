"""A waiting line shared by tenants that serves them in turn: one tenant's burst cannot starve the others.

Items wait in one FIFO per tenant. `take(n)` draws round-robin, one item per tenant per turn, starting with
the tenant that has waited longest since it was last served; a tenant that got items moves to the back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Per-tenant FIFOs drawn round-robin (see the module docstring)."""

    def __init__(self) -> None:
        self._lines: dict[str, deque[T]] = {}  # in turn order: the next tenant to serve first
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def waiting(self, tenant: str) -> int:
        """How many of `tenant`'s items wait."""
        line = self._lines.get(tenant)
        return len(line) if line else 0

    def heads(self) -> Iterator[T]:
        """Each tenant's oldest item."""
        return (line[0] for line in self._lines.values())

    def push(self, tenant: str, item: T) -> None:
        self._lines.setdefault(tenant, deque()).append(item)
        self._count += 1

    def take(self, limit: int) -> list[T]:
        """Up to `limit` items, round-robin over the tenants in turn order (FIFO within a tenant)."""
        taken: list[T] = []
        served: list[str] = []
        while self._lines and len(taken) < limit:
            for tenant in list(self._lines):
                if len(taken) == limit:
                    break
                line = self._lines[tenant]
                taken.append(line.popleft())
                if tenant not in served:
                    served.append(tenant)
                if not line:
                    del self._lines[tenant]
        for tenant in served:  # served tenants go to the back, in the order they were served
            if tenant in self._lines:
                self._lines[tenant] = self._lines.pop(tenant)
        self._count -= len(taken)
        return taken
