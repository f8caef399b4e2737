"""Classical and modern Hopfield networks: the associative-memory baselines of the paper's Table 1.

Each baseline has the EnergyMemory interface, batched over B memories:
`write(X [B, N, D], pattern_mask [B, N] | None) -> θ [B, P]` and
`read(θ, Q [B, M, D], known [B, M, D] | None) -> (X̂ [B, M, D], energy [B, M])`.
"""

from model.baselines.hopfield import HopfieldNetwork
from model.baselines.interface import AssociativeMemory
from model.baselines.modern_hopfield import ModernHopfield
from model.baselines.rules import LEARNING_RULES, hebb, pseudo_inverse, storkey

__all__ = [
    "LEARNING_RULES",
    "AssociativeMemory",
    "HopfieldNetwork",
    "ModernHopfield",
    "hebb",
    "pseudo_inverse",
    "storkey",
]
