"""The inference engine: the one narrow API the service (and the benchmarks) use.

    engine = Engine.from_checkpoint("checkpoints/binary128", device="auto")
    theta = engine.write(X, pattern_mask)          # X: [B, N, *S] -> θ: [B, P]
    result = engine.read(theta, Q, known)          # Q: [B, M, *S] -> patterns, states, energies
    traced = engine.read(theta, Q, known, trace=True)   # ... and traced.trace: every state of the read, decoded
    errors = engine.self_check(theta, X, pattern_mask)   # {family: [B]} mean recall error per trained distortion

Inputs may live on any device; outputs live on the engine's device. Nothing here keeps an autograd graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from model.checkpoint import checkpoint_hash, load_checkpoint
from model.config import ModelConfig
from model.domains import domain_of
from model.energy import FCEnergy
from model.graphs import GraphedReader, GraphedWriter
from model.memory import EnergyMemory, ReadTrace
from model.tasks import masked_mean
from model.theta_precision import ThetaDtype, at_rest
from model.write_precision import WritePrecision, write_product_dtype

# Patterns per memory the write-time self-check reads back for each corruption after the standard one.
SELF_CHECK_SAMPLE = 16


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' -> cuda when available else cpu; 'cpu' / 'cuda[:i]' as given (cuda without a GPU is an error)."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return device


@dataclass(frozen=True)
class DistortionInfo:
    """A corruption the model was trained to undo, at the strength its self-check uses."""

    name: str
    description: str


@dataclass(frozen=True)
class ModelInfo:
    """What a client needs to know about a served model."""

    name: str
    kind: str  # the energy network: fc or conv
    domain: str
    input_shape: tuple[int, ...]
    input_dim: int
    value_range: tuple[float, float]
    writable_floats: int
    write_steps: int
    read_steps: int
    max_patterns: int
    distortion_size: int
    distortions: tuple[DistortionInfo, ...]
    checkpoint_hash: str


@dataclass(frozen=True)
class StepTrace:
    """The states a traced read passed through, decoded as answers are: patterns [B, M, S, *S] and their
    energies [B, M, S], S = rounds · (K + 1) (see ReadTrace); patterns[:, :, -1] is the read's answer."""

    patterns: Tensor
    energies: Tensor
    rounds: int


@dataclass(frozen=True)
class ReadResult:
    """patterns: decoded answers [B, M, *S]; states: raw read states X̂ [B, M, *S]; energies: E(X̂) [B, M];
    trace: every step of the read (only when asked for)."""

    patterns: Tensor
    states: Tensor
    energies: Tensor
    trace: StepTrace | None = None


class Engine:
    """Batched write / read / self-check for one trained EnergyMemory on one device."""

    def __init__(
        self,
        memory: EnergyMemory,
        weights_hash: str,
        device: str | torch.device = "cpu",
        mode: str = "eager",
        theta_dtype: ThetaDtype = "float32",
        write_precision: WritePrecision = "float32",
    ) -> None:
        """mode: "eager", "graph" (CUDA-graph replay of writes and reads, bucket-padded; CUDA and the FC
        energy only) or "auto" (graph where possible, else eager). theta_dtype: the precision θ is kept at
        between a write and its reads (model.theta_precision); writes return θ rounded to it. write_precision:
        the dtype of a write's products with the meta-learned layers (model.write_precision)."""
        self.device = resolve_device(device)
        self.theta_dtype = theta_dtype
        self.memory = memory.to(self.device).eval().requires_grad_(False)
        self.write_dtype = write_product_dtype(write_precision, self.memory.energy, self.device)
        self.config: ModelConfig = memory.config
        self.domain = domain_of(self.config)
        self.info = ModelInfo(
            name=self.config.name,
            kind=self.config.energy,
            domain=self.config.domain,
            input_shape=tuple(self.config.input_shape),
            input_dim=self.config.input_dim,
            value_range=tuple(self.config.value_range),
            writable_floats=memory.writable_numel,
            write_steps=self.config.write_steps,
            read_steps=self.config.read_steps,
            max_patterns=self.config.max_patterns,
            distortion_size=self.config.distortion_size,
            distortions=tuple(DistortionInfo(f.name, f.description) for f in self.domain.trained),
            checkpoint_hash=weights_hash,
        )
        # A hand-written ∇ₓE needs no autograd, so such reads run in inference mode; graphs are the FC energy's.
        self._reads_without_autograd = self.memory.energy.input_gradient_by_hand
        graph_possible = isinstance(self.memory.energy, FCEnergy) and self.device.type == "cuda"
        if mode not in ("eager", "graph", "auto"):
            raise ValueError(f"engine mode must be eager, graph or auto, not {mode!r}")
        if mode == "graph" and not graph_possible:
            raise ValueError("graph mode needs a CUDA device and the FC energy")
        self.mode = "graph" if mode == "graph" or (mode == "auto" and graph_possible) else "eager"
        graphed = self.mode == "graph"
        self._graphed_reads = GraphedReader(self.memory, self.device) if graphed else None
        self._graphed_writes = GraphedWriter(self.memory, self.device, self.write_dtype) if graphed else None

    @property
    def write_dtype_name(self) -> str:
        """The write products' dtype as results and logs name it: "float32" or "bfloat16"."""
        return str(self.write_dtype).removeprefix("torch.")

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device = "auto",
        mode: str = "eager",
        theta_dtype: ThetaDtype = "float32",
        write_precision: WritePrecision = "float32",
    ) -> Engine:
        return cls(load_checkpoint(path), checkpoint_hash(path), device, mode, theta_dtype, write_precision)

    def write(self, X: Tensor, pattern_mask: Tensor | None = None) -> Tensor:
        """X: [B, N, *S], pattern_mask: [B, N] bool or None -> θ: [B, P], at the engine's θ precision."""
        X = X.to(self.device, torch.float32)
        if pattern_mask is not None:
            pattern_mask = pattern_mask.to(self.device, torch.bool)
        with torch.no_grad():
            if self._graphed_writes is not None:
                theta = self._graphed_writes.write(X, pattern_mask)
            else:
                theta = self.memory.write(X, pattern_mask, product_dtype=self.write_dtype)
        return theta if self.theta_dtype == "float32" else at_rest(theta, self.theta_dtype)

    def read(self, theta: Tensor, Q: Tensor, known: Tensor | None = None, trace: bool = False) -> ReadResult:
        """θ: [B, P], Q: [B, M, *S], known: [B, M, *S] bool (clamped entries) or None.

        With nothing known, a model with `untrusted_read_rounds` reads the query as rounds of erasures
        (EnergyMemory.read_untrusted; eager even in graph mode). `trace=True` also returns every state of the
        read and its energy (eager even in graph mode; one energy evaluation more per step)."""
        theta = theta.to(self.device, torch.float32)
        Q = Q.to(self.device, torch.float32)
        if known is not None:
            known = known.to(self.device, torch.bool)
        recorder = ReadTrace() if trace else None
        if recorder is None and self._graphed_reads is not None and not self.memory.reads_untrusted(known):
            states, energies = self._graphed_reads.read(theta, Q, known)
        else:
            with torch.inference_mode(self._reads_without_autograd), torch.no_grad():
                states, energies = self.memory.read(theta, Q, known, trace=recorder)
        steps = None
        if recorder is not None:
            path = self.domain.decode(torch.stack(recorder.states, dim=2))  # [B, M, S, *S]
            steps = StepTrace(path, torch.stack(recorder.energies, dim=2), recorder.rounds)
        return ReadResult(self.domain.decode(states), states, energies, steps)

    def self_check(
        self, theta: Tensor, X: Tensor, pattern_mask: Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Read the stored patterns back from each trained distortion family at its standard strength:
        {family name: mean recall error per memory [B]}, in the model's training order. The standard family
        reads every pattern; the others, whose reads may cost several times more (untrusted reads), the first
        SELF_CHECK_SAMPLE of each memory."""
        X = X.to(self.device, torch.float32)
        if pattern_mask is None:
            pattern_mask = torch.ones(X.shape[:2], dtype=torch.bool)
        pattern_mask = pattern_mask.to(self.device)
        errors = {}
        for index, family in enumerate(self.domain.trained):
            checked = X if index == 0 else X[:, :SELF_CHECK_SAMPLE]
            Q, known = family(checked.cpu(), generator)
            answer = self.read(theta, Q, known).patterns
            wrong = self.domain.recall_error(answer, checked)  # [B, N']
            errors[family.name] = masked_mean(wrong, pattern_mask[:, : checked.shape[1]], dim=1)  # [B]
        return errors
