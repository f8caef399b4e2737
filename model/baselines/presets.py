"""The learned baselines by name: their classes and the presets `ebmm train --preset NAME` builds."""

from __future__ import annotations

from model.baselines.learned import LearnedConfig, LearnedMemory
from model.baselines.lstm import LSTMMemory
from model.baselines.mann import MANN
from model.baselines.memory_networks import MemoryNetwork
from model.baselines.plasticity import DifferentiablePlasticity

LEARNED_KINDS: dict[str, type[LearnedMemory]] = {
    "memory_networks": MemoryNetwork,
    "mann": MANN,
    "lstm": LSTMMemory,
    "differentiable_plasticity": DifferentiablePlasticity,
}

# preset name -> the Table-1 configuration (128-bit patterns, N ≤ 96, state ≤ 8,256 floats)
LEARNED_PRESETS: dict[str, LearnedConfig] = {
    "memory-networks": LearnedConfig(kind="memory_networks", name="memory-networks"),
    "mann": LearnedConfig(kind="mann", name="mann"),
    "lstm": LearnedConfig(kind="lstm", name="lstm"),
    "differentiable-plasticity": LearnedConfig(kind="differentiable_plasticity", name="differentiable-plasticity"),
}


def build_learned(config: LearnedConfig) -> LearnedMemory:
    """A fresh (untrained) learned baseline of `config.kind`."""
    if config.kind not in LEARNED_KINDS:
        raise ValueError(f"unknown learned baseline {config.kind!r}; choose from {sorted(LEARNED_KINDS)}")
    return LEARNED_KINDS[config.kind](config)
