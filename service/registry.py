"""The served models: every checkpoint directory under EBMM_CHECKPOINT_DIR, named by its config's `name`."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from model.checkpoint import CONFIG_FILE
from model.engine import Engine
from service.errors import ApiError

log = logging.getLogger(__name__)


class ModelRegistry:
    """name -> Engine, loaded once at start-up (`Engine.from_checkpoint`) on one device."""

    def __init__(self, engines: dict[str, Engine]) -> None:
        self.engines = engines

    @classmethod
    def load(cls, checkpoint_dir: Path, device: str, mode: str = "auto") -> ModelRegistry:
        """Load each `checkpoint_dir/*/config.json` directory; two checkpoints with one name is an error."""
        engines: dict[str, Engine] = {}
        for directory in sorted(p.parent for p in Path(checkpoint_dir).glob(f"*/{CONFIG_FILE}")):
            engine = Engine.from_checkpoint(directory, device, mode)
            name = engine.info.name
            if name in engines:
                raise ValueError(f"two checkpoints under {checkpoint_dir} are named {name!r}")
            engines[name] = engine
            log.info("loaded model %s from %s on %s (%s)", name, directory, engine.device, engine.mode)
        return cls(engines)

    def get(self, name: str, field: str | None = "model") -> Engine:
        """The engine of model `name`, or a 404 naming the served ones."""
        engine = self.engines.get(name)
        if engine is None:
            served = ", ".join(sorted(self.engines)) or "none"
            raise ApiError(404, "not_found", f"unknown model {name!r} (served: {served})", field)
        return engine

    def describe(self) -> list[dict[str, Any]]:
        """The ModelPublic bodies."""
        return [asdict(engine.info) for engine in self.engines.values()]
