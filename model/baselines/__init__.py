"""Associative-memory baselines of the paper's Table 1: classical and modern Hopfield networks, and the learned
memories (Memory Networks, MANN, LSTM, differentiable plasticity; `learned.py` and one module each).

Each baseline has the AssociativeMemory interface, batched over B memories:
`write(X [B, N, D], pattern_mask [B, N] | None) -> θ [B, P]` and
`read(θ, Q [B, M, D], known [B, M, D] | None) -> (X̂ [B, M, D], energy or score [B, M])`.
"""

from model.baselines.hopfield import HopfieldNetwork
from model.baselines.interface import AssociativeMemory
from model.baselines.learned import LearnedConfig, LearnedMemory, load_learned, load_learned_baselines, save_learned
from model.baselines.lstm import LSTMMemory
from model.baselines.mann import MANN
from model.baselines.memory_networks import MemoryNetwork
from model.baselines.modern_hopfield import ModernHopfield
from model.baselines.plasticity import DifferentiablePlasticity
from model.baselines.presets import LEARNED_KINDS, LEARNED_PRESETS, build_learned
from model.baselines.rules import LEARNING_RULES, hebb, pseudo_inverse, storkey

__all__ = [
    "LEARNED_KINDS",
    "LEARNED_PRESETS",
    "LEARNING_RULES",
    "MANN",
    "AssociativeMemory",
    "DifferentiablePlasticity",
    "HopfieldNetwork",
    "LSTMMemory",
    "LearnedConfig",
    "LearnedMemory",
    "MemoryNetwork",
    "ModernHopfield",
    "build_learned",
    "hebb",
    "load_learned",
    "load_learned_baselines",
    "pseudo_inverse",
    "save_learned",
    "storkey",
]
