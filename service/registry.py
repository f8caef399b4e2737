"""The served models and their checkpoint versions.

Layout under EBMM_CHECKPOINT_DIR:

    <dir>/config.json, model.safetensors               a model with one version, labelled "1"
    <dir>/<version>/config.json, model.safetensors     a model with several versions (e.g. 1, 2, … or dates)
    <dir>/retired/<version>/                           versions `ebmm models retire` took out of service

A model's name is its configs' `name` (every version's must agree). Versions sort by label in natural order
(2 < 10); the last is the newest: it is loaded at start-up and takes every write. Each memory records the
checkpoint hash that wrote it and is read by that version, so serving a new checkpoint never orphans a memory.
Older versions load on the first read of one of their memories and at most `max_old_loaded` of them stay
loaded: loading one more unloads the least recently read one that no request is using. A memory whose version
is no longer served gets 409 `checkpoint_retired`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from model.checkpoint import CONFIG_FILE, checkpoint_hash
from model.engine import Engine
from model.theta_precision import ThetaDtype
from model.write_precision import WritePrecision
from service.errors import ApiError

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger(__name__)

FLAT_VERSION = "1"  # the label of a checkpoint stored directly in its model's directory
RETIRED_DIR = "retired"


def natural_key(label: str) -> list[tuple[int, int | str]]:
    """Sort key putting "2" before "10" (digit runs compare as numbers)."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", label) if part]


class Queues(Protocol):
    """A model version's write and read queues: `await queues.read.submit(job, tenant)` -> its outcome."""

    @property
    def write(self) -> Any: ...

    @property
    def read(self) -> Any: ...


class QueueSource(Protocol):
    """Gives loaded versions their queues: this process's batcher (batch_ops.LocalQueues), or the engine process
    (engine_link.EngineLink)."""

    def add(self, model: str, checkpoint_hash: str, engine: Engine) -> Any: ...

    async def remove(self, queues: Any) -> None: ...


@dataclass
class ModelVersion:
    """One checkpoint of a model; `engine` and `queues` are set while it is loaded."""

    model: str
    label: str
    directory: Path
    checkpoint_hash: str
    engine: Engine | None = None
    queues: Queues | None = None
    readers: int = 0  # requests using it now: it is not unloaded under them
    last_read: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


def config_name(directory: Path) -> str:
    """The model name a checkpoint's config.json gives."""
    return str(orjson.loads((directory / CONFIG_FILE).read_bytes())["name"])


def scan_versions(checkpoint_dir: Path) -> dict[str, list[ModelVersion]]:
    """Model name -> its versions, oldest first (see the module docstring); nothing is loaded. A missing
    directory serves nothing (`/readyz` then says so)."""
    models: dict[str, list[ModelVersion]] = {}
    root = Path(checkpoint_dir)
    model_dirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for model_dir in model_dirs:
        if (model_dir / CONFIG_FILE).exists():
            found = [(FLAT_VERSION, model_dir)]
        else:
            found = [(d.name, d) for d in model_dir.iterdir() if d.is_dir() and (d / CONFIG_FILE).exists()]
        if not found:
            continue
        versions = [
            ModelVersion(config_name(d), label, d, checkpoint_hash(d))
            for label, d in sorted(found, key=lambda item: natural_key(item[0]))
        ]
        names = {v.model for v in versions}
        if len(names) > 1:
            raise ValueError(f"the versions under {model_dir} name different models: {sorted(names)}")
        (name,) = names
        if name in models:
            raise ValueError(f"two checkpoint directories under {checkpoint_dir} are named {name!r}")
        models[name] = versions
    return models


class Reading:
    """A request's use of one version (ModelRegistry.reading): loads it if it is not, and keeps it from being
    unloaded until the request is done. A plain object, not a generator: it is on every retrieve's path."""

    __slots__ = ("registry", "version")

    def __init__(self, registry: ModelRegistry, version: ModelVersion) -> None:
        self.registry, self.version = registry, version

    async def __aenter__(self) -> ModelVersion:
        version = self.version
        version.readers += 1
        if version.engine is None:
            try:
                await self.registry._load_on_demand(version)
            except BaseException:
                version.readers -= 1
                raise
        version.last_read = time.monotonic()
        return version

    async def __aexit__(self, *exc: object) -> None:
        self.version.readers -= 1


class ModelRegistry:
    """Model name -> its versions; the newest loaded at start-up, older ones loaded on demand (module docstring)."""

    def __init__(
        self,
        models: dict[str, list[ModelVersion]],
        device: str,
        mode: str,
        max_old_loaded: int,
        theta_dtype: ThetaDtype = "float32",
        write_precision: WritePrecision = "float32",
    ) -> None:
        self.models, self.device, self.mode, self.max_old_loaded = models, device, mode, max_old_loaded
        self.theta_dtype = theta_dtype  # how new memories' θ is stored
        self.write_precision = write_precision
        self.source: QueueSource | None = None

    @classmethod
    def load(
        cls,
        checkpoint_dir: Path,
        device: str,
        mode: str = "auto",
        max_old_loaded: int = 2,
        theta_dtype: ThetaDtype = "float32",
        write_precision: WritePrecision = "float32",
    ) -> ModelRegistry:
        """Scan `checkpoint_dir` and load each model's newest version (blocking: call it off the event loop)."""
        registry = cls(scan_versions(checkpoint_dir), device, mode, max_old_loaded, theta_dtype, write_precision)
        for versions in registry.models.values():
            registry._load_engine(versions[-1])
        return registry

    @classmethod
    def from_settings(cls, settings: Settings, runs_models: bool = True) -> ModelRegistry:
        """`load` with what EBMM_CHECKPOINT_DIR / _DEVICE / _ENGINE_MODE / _MAX_OLD_VERSIONS / _THETA_DTYPE /
        _WRITE_PRECISION say (an API process's, or the engine process's). `runs_models=False`: an API worker of an
        engine process, which needs only the models' info: loaded on the CPU, eager (blocking, as `load`)."""
        return cls.load(
            settings.checkpoint_dir,
            settings.device if runs_models else "cpu",
            settings.engine_mode if runs_models else "eager",
            settings.max_old_versions,
            settings.theta_dtype,
            settings.write_precision,
        )

    def _load_engine(self, version: ModelVersion) -> None:
        version.engine = Engine.from_checkpoint(
            version.directory, self.device, self.mode, self.theta_dtype, self.write_precision
        )
        info = version.engine.info
        log.info(
            "loaded model %s version %s from %s on %s (%s)",
            info.name,
            version.label,
            version.directory,
            version.engine.device,
            version.engine.mode,
        )

    def start(self, source: QueueSource) -> None:
        """Give every loaded version its queues, and versions loaded later theirs, from `source` (in the event
        loop, once the batcher or the engine link exists)."""
        self.source = source
        for version in self.loaded():
            version.queues = source.add(version.model, version.checkpoint_hash, version.engine)

    def loaded(self) -> list[ModelVersion]:
        return [v for versions in self.models.values() for v in versions if v.engine is not None]

    @property
    def engines(self) -> dict[str, Engine]:
        """Model name -> its newest version's engine (the one that writes)."""
        return {name: versions[-1].engine for name, versions in self.models.items() if versions[-1].engine}

    def trained_distortions(self) -> dict[str, list[str]]:
        """Model name -> the distortion families its newest version was trained on (what its self-check reports)."""
        return {name: [d.name for d in engine.info.distortions] for name, engine in self.engines.items()}

    def newest(self, name: str, field: str | None = "model") -> ModelVersion:
        """The version of model `name` that takes writes, or a 404 naming the served models."""
        versions = self.models.get(name)
        if versions is None:
            served = ", ".join(sorted(self.models)) or "none"
            raise ApiError(404, "not_found", f"unknown model {name!r} (served: {served})", field)
        return versions[-1]

    def get(self, name: str, field: str | None = "model") -> Engine:
        """The engine of model `name`'s newest version, or a 404."""
        engine = self.newest(name, field).engine
        assert engine is not None  # the newest is loaded at start-up
        return engine

    def reading(self, name: str, written_by: str, memory_id: str) -> Reading:
        """`async with` it: the loaded version of model `name` with checkpoint hash `written_by`, kept loaded
        while in use; 409 `checkpoint_retired` when no served version has that hash."""
        versions = self.models.get(name, [])
        version = next((v for v in versions if v.checkpoint_hash == written_by), None)
        if version is None:
            served = ", ".join(f"{v.label} ({v.checkpoint_hash})" for v in versions) or "none"
            raise ApiError(
                409,
                "checkpoint_retired",
                f"memory {memory_id} was written by checkpoint {written_by} of {name}, which is no longer served "
                f"(served versions: {served})",
            )
        return Reading(self, version)

    async def _load_on_demand(self, version: ModelVersion) -> None:
        """Load an older version (once, off the event loop), then unload idle old versions over the bound."""
        async with version.lock:
            if version.engine is not None:
                return
            try:
                await asyncio.to_thread(self._load_engine, version)
            except (OSError, ValueError, KeyError) as exc:
                log.error("cannot load %s version %s from %s: %s", version.model, version.label, version.directory, exc)
                message = f"version {version.label} of {version.model} cannot be loaded; it may have been retired"
                raise ApiError(503, "unavailable", message) from exc
            assert self.source is not None and version.engine is not None
            version.queues = self.source.add(version.model, version.checkpoint_hash, version.engine)
        await self._unload_idle_old_versions()

    async def _unload_idle_old_versions(self) -> None:
        old = [v for versions in self.models.values() for v in versions[:-1] if v.engine is not None]
        idle = sorted((v for v in old if v.readers == 0), key=lambda v: v.last_read)
        for version in idle[: max(0, len(old) - self.max_old_loaded)]:
            queues, version.engine, version.queues = version.queues, None, None
            assert self.source is not None and queues is not None
            await self.source.remove(queues)
            log.info("unloaded model %s version %s (least recently read)", version.model, version.label)

    def describe(self, memory_counts: dict[str, int]) -> list[dict[str, Any]]:
        """The ModelPublic bodies: the newest version's info, and every version with its memory count
        (`memory_counts`: checkpoint hash -> memories)."""
        bodies = []
        for versions in self.models.values():
            newest = versions[-1]
            assert newest.engine is not None
            body = asdict(newest.engine.info) | {"version": newest.label}
            body["versions"] = [
                {
                    "version": v.label,
                    "checkpoint_hash": v.checkpoint_hash,
                    "newest": v is newest,
                    "loaded": v.engine is not None,
                    "memories": memory_counts.get(v.checkpoint_hash, 0),
                }
                for v in versions
            ]
            bodies.append(body)
        return bodies
