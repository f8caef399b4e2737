"""How many memories each served checkpoint version holds (for `GET /models` and the
`ebmm_model_version_memories` gauge, refreshed every VERSION_COUNT_INTERVAL_S), and retiring a version
(`ebmm models retire`), which refuses while memories still use it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from service.errors import ApiError
from service.metrics import Metrics
from service.registry import RETIRED_DIR, ModelRegistry, scan_versions
from service.settings import Settings
from service.store import MemoryStore
from service.store_access import redis_for

log = logging.getLogger(__name__)

VERSION_COUNT_INTERVAL_S = 30.0


async def count_memories(registry: ModelRegistry, store: MemoryStore, metrics: Metrics) -> dict[str, int]:
    """Checkpoint hash -> unexpired memories it wrote, over every version of every model; sets the gauges."""
    counts: dict[str, int] = {}
    for versions in registry.models.values():
        for version in versions:
            counts[version.checkpoint_hash] = await store.version_count(version.model, version.checkpoint_hash)
            metrics.version_memories.labels(version.model, version.label).set(counts[version.checkpoint_hash])
            metrics.version_loaded.labels(version.model, version.label).set(version.engine is not None)
    return counts


async def start_counting(registry: ModelRegistry, store: MemoryStore, metrics: Metrics) -> asyncio.Task[None]:
    """The refresh task, once its first round is done (so the gauges exist before the first request)."""
    first_round = asyncio.Event()

    async def refresh() -> None:
        while True:
            try:
                await count_memories(registry, store, metrics)
            except ApiError as exc:
                log.warning("could not count memories per version: %s", exc.message)
            first_round.set()
            await asyncio.sleep(VERSION_COUNT_INTERVAL_S)

    task = asyncio.get_running_loop().create_task(refresh(), name="ebmm-version-counts")
    await first_round.wait()
    return task


class RetireRefused(Exception):
    """A version that may not be retired (the newest, unknown, or still holding memories without --force)."""


@dataclass(frozen=True)
class Retirement:
    model: str
    version: str
    checkpoint_hash: str
    deleted: int  # memories deleted with --force
    moved_to: Path


async def retire(settings: Settings, model: str, label: str, force: bool = False) -> Retirement:
    """Take version `label` of `model` out of service: refuse while memories still use it (unless `force`, which
    deletes them), then move its directory to `<model dir>/retired/<label>`. Servers stop listing it at their next
    start; until then its memories are gone, so nothing reads it."""
    versions = scan_versions(settings.checkpoint_dir).get(model)
    if versions is None:
        raise RetireRefused(f"no model {model!r} under {settings.checkpoint_dir}")
    version = next((v for v in versions if v.label == label), None)
    if version is None:
        raise RetireRefused(
            f"model {model} has no version {label!r} (versions: {', '.join(v.label for v in versions)})"
        )
    if version is versions[-1]:
        raise RetireRefused(f"version {label} is the newest of {model}: it takes new writes; serve a newer one first")
    async with redis_for(settings) as store:
        in_use = await store.version_memories(model, version.checkpoint_hash, verify=True)
        if in_use and not force:
            raise RetireRefused(
                f"{len(in_use)} memories still use version {label} of {model}; delete them, let them expire, or "
                "retire with --force to delete them"
            )
        for member in in_use:
            tenant, _, memory_id = member.partition("/")
            await store.delete(tenant, memory_id)
    destination = version.directory.parent / RETIRED_DIR / label
    destination.parent.mkdir(exist_ok=True)
    version.directory.rename(destination)
    return Retirement(model, label, version.checkpoint_hash, len(in_use), destination)
