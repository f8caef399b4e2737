"""What the meta-learned baselines of Table 1 share: their config, answer rule, loss and checkpoints.

Each learned memory (Memory Networks, MANN, LSTM, differentiable plasticity) is an `nn.Module` with the
AssociativeMemory interface, batched over B memories:

    write(X: [B, N, D] ±1, pattern_mask: [B, N] | None) -> θ: [B, P]     (P ≤ 8,256: the memory state)
    read(θ: [B, P], Q: [B, M, D], known: [B, M, D] | None) -> (X̂: [B, M, D] in [−1, 1], score: [B, M])

A model outputs logits ℓ: [B, M, D] for the bits; the answer is tanh(ℓ / 2) (the expected bit under the
model's Bernoulli output) with known entries clamped to the query. Reads have no energy function; the score
they return in its place is the model's negative log-likelihood of its own answer over the free entries (low
= confident), so they fit the interface the benchmark drives. In eval mode writes and reads keep no graph.

Checkpoints: `model.safetensors` + `config.json` (the LearnedConfig, its `training` entry holding the command).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.nn import functional as F

from model.config import binary128_config
from model.domains import BinaryDomain

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_BUDGET = 128 * 127 // 2 + 128  # 8,256 floats: the paper's Table-1 memory size for every model


@dataclass(frozen=True)
class LearnedConfig:
    """A learned baseline: its kind, pattern size and widths. `memory_slots` × `slot_width` is MANN's memory
    matrix; `lstm_hidden` the width of the LSTM's h and c; `read_steps` the plastic network's updates."""

    kind: str
    name: str
    input_dim: int = 128
    max_patterns: int = 96
    hidden: int = 512  # width of the shared encoder / decoder MLPs
    memory_slots: int = 64  # MANN: 64 slots × 129 = 8,256 floats
    slot_width: int = 129
    lstm_hidden: int = 512
    read_steps: int = 5
    distortion_size: int = 64  # erased bits of the standard query
    flip_bits: int = 16
    distortions: tuple[str, ...] = ("erase", "flip")
    training: dict[str, Any] = field(default_factory=dict)

    def domain(self) -> BinaryDomain:
        """The binary domain with this model's distortion families (the same ones EBMM is trained on)."""
        return BinaryDomain(
            binary128_config(
                name=self.name,
                input_shape=(self.input_dim,),
                max_patterns=self.max_patterns,
                distortion_size=self.distortion_size,
                flip_bits=self.flip_bits,
                distortions=self.distortions,
            )
        )

    def replace(self, **changes: Any) -> LearnedConfig:
        return dataclasses.replace(self, **changes)


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """The encoder / decoder shape every learned baseline uses: Linear, ReLU, Linear."""
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def real_patterns(X: Tensor, pattern_mask: Tensor | None) -> Tensor:
    """X: [B, N, D], pattern_mask: [B, N] -> [B, N] bool (all True without a mask)."""
    if pattern_mask is None:
        return torch.ones(X.shape[:2], dtype=torch.bool, device=X.device)
    return pattern_mask.to(device=X.device, dtype=torch.bool)


class LearnedMemory(nn.Module):
    """Base of the learned baselines: subclasses give `state_floats`, `_write` and `_logits`."""

    def __init__(self, config: LearnedConfig) -> None:
        super().__init__()
        self.config = config
        self.source = ""  # the checkpoint directory it was loaded from, if any

    @staticmethod
    def state_floats(config: LearnedConfig) -> int:
        """P: the floats of one memory's state θ."""
        raise NotImplementedError

    def _write(self, X: Tensor, real: Tensor) -> Tensor:
        """X: [B, N, D], real: [B, N] bool -> θ: [B, P]; padding rows must not change θ."""
        raise NotImplementedError

    def _logits(self, theta: Tensor, Q: Tensor, known: Tensor | None) -> Tensor:
        """θ: [B, P], Q: [B, M, D] -> logits ℓ: [B, M, D] of the stored bits."""
        raise NotImplementedError

    def write(self, X: Tensor, pattern_mask: Tensor | None = None) -> Tensor:
        """X: [B, N, D] ±1, pattern_mask: [B, N] or None -> θ: [B, P]."""
        if X.shape[1] > self.config.max_patterns:
            raise ValueError(f"{self.config.name} stores at most {self.config.max_patterns} patterns, got {X.shape[1]}")
        with torch.set_grad_enabled(self.training and torch.is_grad_enabled()):
            return self._write(X, real_patterns(X, pattern_mask))

    def read(self, theta: Tensor, Q: Tensor, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """θ: [B, P], Q: [B, M, D], known: [B, M, D] bool or None -> (X̂: [B, M, D], score: [B, M])."""
        with torch.set_grad_enabled(self.training and torch.is_grad_enabled()):
            logits = self._logits(theta, Q, known)
            return answer(logits, Q, known), answer_score(logits, Q, known)

    def loss(self, X: Tensor, pattern_mask: Tensor, Q: Tensor, known: Tensor) -> Tensor:
        """The meta-loss of one batch: binary cross-entropy of the logits on the free (unknown) entries of the
        queries of real patterns. X, Q, known: [B, N, D] (each stored pattern queried), pattern_mask: [B, N]."""
        logits = self._logits(self._write(X, real_patterns(X, pattern_mask)), Q, known)
        free = (~known & pattern_mask.unsqueeze(-1)).to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, (X > 0).to(logits.dtype), reduction="none")
        return (bce * free).sum() / free.sum().clamp_min(1.0)


def answer(logits: Tensor, Q: Tensor, known: Tensor | None) -> Tensor:
    """logits, Q: [B, M, D] -> X̂ = tanh(ℓ / 2) = E[bit], with known entries kept at the query's value."""
    expected = torch.tanh(logits / 2)
    return expected if known is None else torch.where(known, Q, expected)


def answer_score(logits: Tensor, Q: Tensor, known: Tensor | None) -> Tensor:
    """[B, M]: −log p(answer) over the free entries, p the model's Bernoulli output (the read's 'energy')."""
    nll = F.softplus(-logits.abs())  # −log σ(|ℓ|): the answer takes each bit's likelier sign
    return (nll if known is None else nll.masked_fill(known, 0.0)).sum(-1)


def save_learned(memory: LearnedMemory, directory: str | Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write weights (as `dtype`: float16 halves a shipped checkpoint, e.g. the LSTM's 6.8 MB) and config
    atomically (temp file + rename); returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().cpu().to(dtype).contiguous() for name, t in memory.state_dict().items()}
    tmp_weights, tmp_config = directory / (WEIGHTS_FILE + ".tmp"), directory / (CONFIG_FILE + ".tmp")
    save_file(tensors, str(tmp_weights), metadata={"format": "ebmm-learned-baseline"})
    tmp_config.write_bytes(orjson.dumps(dataclasses.asdict(memory.config), option=orjson.OPT_INDENT_2))
    tmp_weights.replace(directory / WEIGHTS_FILE)
    tmp_config.replace(directory / CONFIG_FILE)
    return directory


def read_learned_config(directory: str | Path) -> LearnedConfig:
    data = orjson.loads((Path(directory) / CONFIG_FILE).read_bytes())
    data["distortions"] = tuple(data.get("distortions", ()))
    return LearnedConfig(**data)


def load_learned(directory: str | Path) -> LearnedMemory:
    """A learned baseline checkpoint (weights stored in any float type), in float32 and eval mode on the CPU."""
    from model.baselines.presets import build_learned

    memory = build_learned(read_learned_config(directory))
    tensors = load_file(str(Path(directory) / WEIGHTS_FILE))
    memory.load_state_dict({name: tensor.float() for name, tensor in tensors.items()})
    memory.source = str(directory)  # where it was loaded from, for reports
    return memory.eval()


def load_learned_baselines(root: str | Path) -> dict[str, LearnedMemory]:
    """Every learned-baseline checkpoint in the subdirectories of `root`, by kind (e.g. "mann"); {} if none.
    Two checkpoints of one kind is an error."""
    memories: dict[str, LearnedMemory] = {}
    for directory in sorted(p.parent for p in Path(root).glob(f"*/{CONFIG_FILE}")):
        memory = load_learned(directory)
        if memory.config.kind in memories:
            raise ValueError(f"two checkpoints under {root} hold a {memory.config.kind!r} baseline")
        memories[memory.config.kind] = memory
    return memories
