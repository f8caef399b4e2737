"""Pattern domains: the one home of every rule that differs between binary patterns and images.

A domain says how a read state becomes an answer, how an answer is scored, which values patterns and queries
may hold, which query entries are clamped when a client says nothing, and which corruptions (distortion
families) its queries may suffer. Meta-training, the benchmarks, the engine's write-time self-check and the
service all ask the model's domain (`domain_of(config)`) instead of branching on the domain's name.

Shapes: X, Q, X̂: [B, M, *S] (S = (D,) or (C, H, W)); errors [B, M].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from model.config import ModelConfig
from model.distortions import erase, erase_and_flip, flip, gaussian_noise, occlude, salt_and_pepper
from model.tasks import random_binary_patterns

ArrayLike = TypeVar("ArrayLike", Tensor, np.ndarray)
# corrupt(X, strength, generator) -> (Q, known), both shaped like X
Corrupt = Callable[[Tensor, float, torch.Generator | None], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class DistortionFamily:
    """One kind of query corruption with its standard strength (k entries, block side, σ or fraction).

    The standard strength is what benchmarks and the write-time self-check use; meta-training draws a strength
    uniformly from `train_range` each time, so a model learns the family rather than one size of it.
    `corrupt` also says which entries stay known to be right (erasures, occlusions with the visible pixels
    known); noise families know none, so a read lets every entry move.
    """

    name: str
    strength: float
    train_range: tuple[float, float]
    integer: bool
    corrupt: Corrupt
    describe: Callable[[float], str]

    @property
    def description(self) -> str:
        return self.describe(self.strength)

    def __call__(
        self, X: Tensor, generator: torch.Generator | None = None, strength: float | None = None
    ) -> tuple[Tensor, Tensor]:
        """X: [..., *S] -> (Q, known): the distortion at `strength` (default: the standard one)."""
        return self.corrupt(X, self.strength if strength is None else strength, generator)

    def training_strength(self, generator: torch.Generator) -> float:
        """A strength drawn uniformly from `train_range` (whole numbers for counts)."""
        lo, hi = self.train_range
        if self.integer:
            return float(torch.randint(int(lo), int(hi) + 1, (1,), generator=generator))
        return lo + (hi - lo) * float(torch.rand(1, generator=generator))


def _spread(strength: float, integer: bool) -> tuple[float, float]:
    """The training range of a noise family: a quarter to one and a half times its standard strength."""
    lo, hi = strength / 4, 1.5 * strength
    return (float(max(1, round(lo))), float(round(hi))) if integer else (lo, hi)


class Domain:
    """Rules shared by every model of one pattern domain; subclasses fill them in."""

    kind: str
    metric: str  # the unit of recall_error, as reported to clients
    metric_label: str  # the same, for tables
    error_format: str  # how tables and logs print one recall error
    exact_error: float  # a query counts as recalled exactly when its recall error is below this
    pattern_values: tuple[float, ...] | None  # allowed stored values (None: anything in the value range)
    query_values: tuple[float, ...] | None  # allowed query values (None: anything in the value range)

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.families: dict[str, DistortionFamily] = {f.name: f for f in self._families()}
        names = config.distortions or (self.standard_name,)
        unknown = sorted(set(names) - set(self.families))
        if unknown:
            raise ValueError(f"{config.name}: unknown distortions {unknown}; {self.kind} has {sorted(self.families)}")
        self.trained: tuple[DistortionFamily, ...] = tuple(self.families[name] for name in names)

    standard_name: str

    def _families(self) -> list[DistortionFamily]:
        raise NotImplementedError

    @property
    def standard(self) -> DistortionFamily:
        """The first trained corruption: the one the model's headline figures are measured on."""
        return self.trained[0]

    def sample_training_family(self, generator: torch.Generator) -> DistortionFamily:
        """One of the trained families, uniformly (meta-training draws one per meta-step)."""
        index = int(torch.randint(len(self.trained), (1,), generator=generator))
        return self.trained[index]

    def random_patterns(self, memories: int, count: int, generator: torch.Generator | None = None) -> Tensor:
        """Patterns with no structure, for speed benchmarks: [B, N, *S]."""
        lo, hi = self.config.value_range
        return lo + (hi - lo) * torch.rand(memories, count, *self.config.input_shape, generator=generator)

    def decode(self, X_hat: Tensor) -> Tensor:
        """The answer a client gets from a read state X̂."""
        return X_hat

    def recall_error(self, X_hat: Tensor, X: Tensor) -> Tensor:
        """Per-query error [B, M] of an answer or read state against the stored pattern."""
        raise NotImplementedError

    def changed(self, answers: Tensor, Q: Tensor) -> Tensor:
        """[B, M]: the fraction of each query's entries the answer differs in."""
        raise NotImplementedError

    def default_known(self, Q: ArrayLike) -> ArrayLike | None:
        """The entries a read clamps (bool, shaped like Q, a tensor or array) when a client gives no known_mask
        and does not say its queries are noisy; None: every entry moves."""
        return None


class BinaryDomain(Domain):
    """±1 patterns; queries may hold 0 for an unknown entry. Answers are signs; errors count wrong bits."""

    kind = "binary"
    metric = "error_bits"
    metric_label = "error bits"
    error_format = ".2f"
    exact_error = 0.5
    pattern_values = (-1.0, 1.0)
    query_values = (-1.0, 0.0, 1.0)
    standard_name = "erase"

    def _families(self) -> list[DistortionFamily]:
        c = self.config
        dim, erased, flips = c.input_dim, c.distortion_size, c.flip_bits
        return [
            DistortionFamily(
                "erase",
                erased,
                (erased, erased),
                True,
                lambda X, k, g: erase(X, int(k), g),
                lambda k: f"erase {k:g} of {dim} entries",
            ),
            DistortionFamily(
                "flip",
                flips,
                _spread(flips, True),
                True,
                lambda X, k, g: flip(X, int(k), g),
                lambda k: f"flip {k:g} of {dim} entries",
            ),
            DistortionFamily(
                "mixed",
                flips // 2,
                _spread(flips // 2, True),
                True,
                lambda X, k, g: erase_and_flip(X, erased // 2, int(k), g),
                lambda k: f"erase {erased // 2} and flip {k:g} of {dim} entries",
            ),
        ]

    def random_patterns(self, memories: int, count: int, generator: torch.Generator | None = None) -> Tensor:
        return random_binary_patterns(memories, count, self.config.input_dim, generator)

    def decode(self, X_hat: Tensor) -> Tensor:
        return torch.where(X_hat >= 0, 1.0, -1.0).to(X_hat.dtype)  # 0 is never returned

    def recall_error(self, X_hat: Tensor, X: Tensor) -> Tensor:
        return (torch.sign(X_hat) != X).flatten(2).sum(-1).to(X_hat.dtype)  # a 0 counts as wrong

    def changed(self, answers: Tensor, Q: Tensor) -> Tensor:
        return (answers != Q).flatten(2).to(torch.float32).mean(-1)  # a 0 in the query always changes

    def default_known(self, Q: ArrayLike) -> ArrayLike:
        return Q != 0  # the non-zero entries: 0 marks an unknown bit


class ImageDomain(Domain):
    """Images with values in the model's value range; answers are the read states; errors are MSE per entry."""

    kind = "continuous"
    metric = "mse"
    metric_label = "MSE per pixel"
    error_format = ".5f"
    exact_error = 0.005
    pattern_values = None
    query_values = None
    standard_name = "occlude"

    def _families(self) -> list[DistortionFamily]:
        c = self.config
        lo, hi = c.value_range
        block, sigma, fraction = c.distortion_size, c.noise_sigma, c.salt_pepper_fraction
        mid = (lo + hi) / 2.0
        return [
            DistortionFamily(
                "occlude",
                block,
                (block, block),
                True,
                lambda X, s, g: occlude(X, int(s), fill=mid, generator=g),
                lambda s: f"occlude a {s:g}x{s:g} block",
            ),
            DistortionFamily(
                "occlude-free",
                block,
                (block, block),
                True,
                lambda X, s, g: (occlude(X, int(s), fill=mid, generator=g)[0], torch.zeros_like(X, dtype=torch.bool)),
                lambda s: f"occlude a {s:g}x{s:g} block, nothing known",
            ),
            DistortionFamily(
                "noise",
                sigma,
                _spread(sigma, False),
                False,
                lambda X, s, g: gaussian_noise(X, s, (lo, hi), g),
                lambda s: f"gaussian noise sigma {s:g}",
            ),
            DistortionFamily(
                "salt-pepper",
                fraction,
                _spread(fraction, False),
                False,
                lambda X, s, g: salt_and_pepper(X, s, (lo, hi), g),
                lambda s: f"salt and pepper on {s:g} of the entries",
            ),
        ]

    def recall_error(self, X_hat: Tensor, X: Tensor) -> Tensor:
        return (X_hat - X).flatten(2).pow(2).mean(-1)

    def changed(self, answers: Tensor, Q: Tensor) -> Tensor:
        lo, hi = self.config.value_range
        return ((answers - Q).abs() > 1e-3 * (hi - lo)).flatten(2).to(torch.float32).mean(-1)


def domain_of(config: ModelConfig) -> Domain:
    """The domain object of a model."""
    return BinaryDomain(config) if config.domain == "binary" else ImageDomain(config)
