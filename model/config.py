"""Configuration of an Energy-Based Memory Model: one dataclass saved beside the weights as JSON."""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

EnergyKind = Literal["fc", "conv", "subspace", "spectral"]
DomainKind = Literal["binary", "continuous"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: architecture, unrolled-loop lengths and the pattern domain.

    Patterns have shape `input_shape`: `(D,)` or `(C, H, W)` for the FC energy (which flattens them),
    `(C, H, W)` for the conv energy; the subspace and spectral energies flatten them too.
    Only the first layer of the energy is written per memory ("writable"); all else is meta-learned.
    """

    name: str
    energy: EnergyKind = "fc"
    input_shape: tuple[int, ...] = (128,)
    # FC: width of the writable layer W·x + b.  Conv: number of writable filters.  Subspace and spectral:
    # writable directions r.
    writable_hidden: int = 64
    # Spectral: the k strongest directions of the prior the writable ones live in (W: r×k). FC with
    # spectral_prior: the k whitened coordinates its writable layer reads (W: H×k).
    basis_rank: int = 0
    # FC and conv: the spectral energy's prior (the training split's Gaussian in a separable basis, fitted by
    # `ebmm train`) as the prior term, its top `basis_rank` whitened coordinates as the writable layer's input
    # (conv: back on the pixels), and reads in its metric; needs meta_hidden = 2 × writable_hidden
    # (FCEnergy._init_paired_wells, ConvEnergy._init_assigned_wells).
    spectral_prior: bool = False
    # Width of the meta-learned (shared) layer on top; a wide one is what lets few writable floats store much.
    meta_hidden: int = 512
    # Conv only: writable kernel size, stride, zero padding (None: kernel_size // 2), and the number of shared
    # residual blocks.
    kernel_size: int = 3
    stride: int = 2
    conv_padding: int | None = None
    residual_blocks: int = 1
    # Conv with spectral_prior: τ, how many typical windows' whitened norm a written filter still reads before
    # its tanh saturates (ConvEnergy._init_assigned_wells: the wells start as flat, with filters 1 / τ as long
    # and v τ² as deep), so heavy windows stay storable (a saturated well cannot hold them against the prior).
    well_range: float = 1.0
    # Conv with spectral_prior: each write step is projected so that no filter grows past this many times θ̄'s
    # norm for it (EnergyMemory.write; 2: the flat norm of the assigned wells' start), so that a deep well
    # (well_range > 1) is not written past flat into a deep hill; 0: unbounded.
    filter_norm_cap: float = 0.0
    write_steps: int = 5  # T
    read_steps: int = 5  # K
    domain: DomainKind = "binary"
    value_range: tuple[float, float] = (-1.0, 1.0)
    max_patterns: int = 96
    # The standard distortion used for the write-time recall self-check and for training queries:
    # binary models erase `distortion_size` entries, image models occlude a `distortion_size`² block.
    distortion_size: int = 64
    # The corruptions the model is meta-trained to undo and its self-check reports, by family name (see
    # model/domains.py); empty: the domain's standard one (binary: erase, images: occlude). Their strengths:
    # flipped bits, the σ of Gaussian noise and the salt-and-pepper fraction.
    distortions: tuple[str, ...] = ()
    flip_bits: int = 16
    noise_sigma: float = 0.2
    salt_pepper_fraction: float = 0.1
    # Initial values of the learned meta-parameters (all stored in log / logit space).
    init_write_lr: float = 1.0
    init_read_lr: float = 10.0
    init_momentum: float = 0.5
    init_alpha: float = 1e-2
    init_beta: float = 1e-2
    # One learned write rate per writable float and step (Meta-SGD style) instead of one per step.
    per_parameter_write_lr: bool = True
    # Scale the write rates by N^κ for a memory of N patterns, with κ learned (initial value below). The write
    # loss averages over patterns, so each pattern's imprint on θ shrinks as 1/N; without this a model trained
    # over N ∈ [1, 96] overshoots badly at small N (measured: 60 of 64 erased bits wrong at N = 1).
    count_scaled_write_lr: bool = False
    init_write_lr_count_exponent: float = 1.0
    # Add a meta-learned quadratic  ½ λ ‖x − μ‖²  to the energy. Without it the FC energy depends on x only
    # through the H writable projections W·x, so a read can never move x orthogonally to them (a
    # projection Hopfield network's ½‖x‖² − ½‖Ux‖² cannot be expressed).
    quadratic_energy: bool = False
    # With the quadratic term: rank R of a meta-learned precision factor L: [R, D], making the quadratic
    # ½ λ ‖x − μ‖² + ½ ‖L (x − μ)‖², a learned Gaussian prior over patterns (0: isotropic only). The writable
    # layer then only has to store how a memory's set differs from the data set's typical pattern.
    quadratic_rank: int = 0
    # λ₀, the quadratic's initial strength. Images: 0.1. A trained binary model's ∇ₓE is far smaller: adding the
    # term at 0.01 to the shipped binary128 took its erasure error at N = 96 from 3.7 to 15 bits, at 1e-4 to 3.7.
    init_quadratic_strength: float = 0.1
    # Reads with nothing clamped (noise: every entry may be off) get their own learned rates γ_k and momentum:
    # filling a block from clamped context wants large steps on a few entries, denoising small steps on all.
    free_read_rates: bool = False
    # Their number of steps (0: K, like the clamped reads'); denoising every entry may want more than filling a block.
    free_read_steps: int = 0
    # With free_read_rates, also a learned step scale per entry (entry j moves by γ_k · s_j · ∂E/∂x_j): a digit's
    # border pixels, always 0, can settle in one step while its strokes move slowly. Starts at s = 1.
    free_read_entry_rates: bool = False
    # Their initial rate: small, since every entry moves (digits at the clamped reads' 10: the answers saturate
    # at the ends of the range, MSE 0.23 against the noisy query's 0.025, and stay there).
    init_free_read_lr: float = 0.1
    # Read a query with nothing known (noisy: entries may be wrong) as this many rounds of erasure reads, each
    # erasing the `untrusted_read_erased` entries the energy finds most suspect and clamping the rest
    # (EnergyMemory.read_untrusted); 0: one plain read with every entry free.
    untrusted_read_rounds: int = 0
    untrusted_read_erased: int = 32
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def free_steps(self) -> int:
        """The number of steps of a read with nothing clamped (with `free_read_rates`)."""
        return self.free_read_steps or self.read_steps

    @property
    def input_dim(self) -> int:
        """Number of floats in one pattern."""
        return math.prod(self.input_shape)

    def to_json_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config fields: {unknown}")
        fixed = dict(data)
        for key in ("input_shape", "value_range", "distortions"):
            if key in fixed:
                fixed[key] = tuple(fixed[key])
        return cls(**fixed)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def parse_flags(cls, args: list[str]) -> dict[str, Any]:
        """Command-line settings of config fields -> changes: `--write-steps 8`, `--distortions erase,flip`,
        `--quadratic-energy` / `--no-quadratic-energy` (booleans are flags). Tuples take comma-separated values."""
        types = {f.name: f.type for f in dataclasses.fields(cls) if f.name not in ("name", "training")}
        changes: dict[str, Any] = {}
        rest = list(args)
        while rest:
            flag = rest.pop(0)
            name = flag.removeprefix("--").replace("-", "_")
            negated = name.startswith("no_") and types.get(name[3:]) == "bool"
            field = name[3:] if negated else name
            if not flag.startswith("--") or field not in types:
                raise ValueError(f"no such option or model config field: {flag}")
            kind = types[field]
            if kind == "bool":
                changes[field] = not negated
                continue
            if not rest:
                raise ValueError(f"{flag} needs a value")
            value = rest.pop(0)
            if kind.startswith("tuple[str"):
                changes[field] = tuple(value.split(","))
            elif kind.startswith("tuple[float") or kind.startswith("tuple[int"):
                number = float if "float" in kind else int
                changes[field] = tuple(number(v) for v in value.split(","))
            elif kind in ("int", "float"):
                changes[field] = int(value) if kind == "int" else float(value)
            else:
                changes[field] = value
        return changes


def binary128_config(**changes: Any) -> ModelConfig:
    """The paper's Table-1 model: 128-bit ±1 patterns, writable W: 64×128 + b: 64 = 8256 floats.

    Initial meta-parameters sit near the values a first run learned (write rate ≈ 1 at N ≈ 32, read rates
    20–30, momentum 0.8, α and β ≈ 3e-3), which shortens the early phase of training.
    """
    defaults: dict[str, Any] = dict(
        name="binary128",
        count_scaled_write_lr=True,
        init_write_lr=1.0 / 32,
        init_read_lr=20.0,
        init_momentum=0.8,
        init_alpha=3e-3,
        init_beta=3e-3,
    )
    return ModelConfig(**{**defaults, **changes})


def tiny_binary_config(**changes: Any) -> ModelConfig:
    """A tiny binary model for tests and smoke runs: 32-bit patterns, 8×32 + 8 writable floats."""
    defaults = dict(
        name="tiny", input_shape=(32,), writable_hidden=8, meta_hidden=32, max_patterns=8, distortion_size=8
    )
    return ModelConfig(**{**defaults, **changes})


def _image_config(name: str, input_shape: tuple[int, int, int], **changes: Any) -> ModelConfig:
    """An image model: values in [0, 1], up to 64 images per memory (the paper's image sets), queries with a
    block of half the image side occluded (16×16 of 32×32 in the paper)."""
    defaults = dict(
        name=name,
        input_shape=input_shape,
        domain="continuous",
        value_range=(0.0, 1.0),
        max_patterns=64,
        distortion_size=input_shape[-1] // 2,
        meta_hidden=256,
    )
    return ModelConfig(**{**defaults, **changes})


def digits_config(**changes: Any) -> ModelConfig:
    """8×8 digits, FC energy on the 64 pixels: writable W: 16×64 + b: 16 = 1040 floats, the size of 16 images,
    so a memory of 64 images is compressed 4×."""
    return _image_config("digits", (1, 8, 8), **{"writable_hidden": 16, **changes})


def digits_conv_config(**changes: Any) -> ModelConfig:
    """8×8 digits, conv energy at the FC model's budget: 40 writable 5×5 filters + biases = 1040 floats.
    No shared residual block: on CPU each one multiplies the meta-training cost several times."""
    defaults = dict(energy="conv", writable_hidden=40, kernel_size=5, stride=2, residual_blocks=0)
    return _image_config("digits-conv", (1, 8, 8), **{**defaults, **changes})


def subspace_config(name: str, input_shape: tuple[int, int, int], rank: int, **changes: Any) -> ModelConfig:
    """An image model with the subspace energy (model/energy.py): the training split's Gaussian prior,
    meta-learned, with `rank` writable whitened directions made flat (V: rank×D floats, `rank` images' worth).

    Its write is a slow-converging subspace search (a set's weak whitened directions turn last), so it takes
    more, cheaper steps than the FC model's: T = 16 write steps of r·D·N products each, one rate per step scaled
    by N^κ, starting at 0.16 / D (the digits probe's 0.0025: a step's θ-gradient grows with ‖z‖² ≈ D)."""
    dim = math.prod(input_shape)
    defaults: dict[str, Any] = dict(
        energy="subspace",
        writable_hidden=rank,
        write_steps=16,
        per_parameter_write_lr=False,
        count_scaled_write_lr=True,
        init_write_lr=0.16 / dim,
        init_write_lr_count_exponent=0.0,
        init_alpha=1e-4,
        init_beta=1e-3,
    )
    return _image_config(name, input_shape, **{**defaults, **changes})


def digits_subspace_config(**changes: Any) -> ModelConfig:
    """8×8 digits, the subspace energy with r = 16: V: 16×64 = 1024 floats, the size of 16 images; K = 10 read
    steps at rates near what a probe learned (read 0.01, momentum 0.8)."""
    defaults: dict[str, Any] = dict(read_steps=10, init_read_lr=0.01, init_momentum=0.8)
    return subspace_config("digits-subspace", (1, 8, 8), 16, **{**defaults, **changes})


def patches16_config(**changes: Any) -> ModelConfig:
    """16×16×3 natural colour patches, FC energy on the 768 values: writable W: 16×768 + b: 16 = 12 304 floats,
    the size of 16 patches. (The paper's CIFAR images are 32×32; 16×16 keeps CPU meta-training affordable.)"""
    return _image_config("patches16", (3, 16, 16), **{"writable_hidden": 16, **changes})


# The 32×32 presets' memory sizes (images' worth of floats) -> (k, r): the writable rows r over the spectral prior's
# top k whitened directions, shared by the spectral energy (W: r × k) and the FC energy on the prior (W: r × k + r).
GLYPHS32_SHAPES = {4: (128, 32), 16: (256, 64)}
PHOTOS32_SHAPES = {2: (512, 12), 4: (768, 16)}
# The conv presets' writable filters at each size, over the same k: a multiple of the 9 positions.
GLYPHS32_CONV_FILTERS = {4: 18, 16: 63}
PHOTOS32_CONV_FILTERS = {2: 9, 4: 18}
# The photo conv presets' well range τ (ConvEnergy._init_assigned_wells) and filter norm cap (EnergyMemory.write).
# Untrained, block MSE at N = 1 over 512 single-image memories against N = 64 (24 memories): τ = 1 0.94× / 0.72×
# (conv2 / conv4); conv2 at τ = 2 0.53×, with the cap 0.44×, at τ = 3 0.72×, with it 0.49×; conv4 at τ = 1.5 0.41×,
# with it 0.44×, at τ = 2 0.56×, at τ = 3 with it 1.41× (docs/images32-TRAINING.md).
PHOTOS32_CONV_WELLS: dict[int, dict[str, float]] = {
    2: dict(well_range=2.0, filter_norm_cap=2.0),
    4: dict(well_range=1.5, filter_norm_cap=2.0),
}
# The FC and conv presets' reads on the prior: K steps, the initial rate and momentum (see the FC presets).
GLYPHS32_READS: dict[str, Any] = dict(read_steps=20, init_read_lr=0.1, init_momentum=0.8)
PHOTOS32_READS: dict[str, Any] = dict(read_steps=50, init_read_lr=0.0015, init_momentum=0.97)


def spectral_conv_config(
    name: str,
    input_shape: tuple[int, int, int],
    basis: int,
    filters: int,
    kernel: int = 16,
    stride: int = 8,
    well_range: float = 1.0,
    **changes: Any,
) -> ModelConfig:
    """An image model with the conv energy on the spectral prior (`spectral_prior`): `filters` writable
    `kernel`² filters (unpadded, at `stride`) over the prior's top `basis` whitened coordinates back on the
    pixels, each filter assigned one position (ConvEnergy._init_assigned_wells): at 32×32, 16×16 filters at
    stride 8 have 3 × 3 = 9 positions and hold (filters · C · 256 + filters) / D images' worth of floats. Writes
    as the FC energy's on the prior (`spectral_fc_config`), at 0.13 / a² a step, a = k C kernel² / D a window's
    expected ‖x̃‖² (untrained, 18 filters over the top 128 glyph coordinates: at 1e-4 block MSE 0.043 / 0.101 at
    N = 1 / 64, at 2e-4 0.013 / 0.123, the prior's 0.10), and at 0.13 / (τ a)² for a `well_range` τ (filters τ
    times shorter grow by the same fraction)."""
    spread = basis * input_shape[0] * kernel**2 / math.prod(input_shape)
    defaults: dict[str, Any] = dict(
        energy="conv",
        spectral_prior=True,
        basis_rank=basis,
        writable_hidden=filters,
        meta_hidden=2 * filters,
        kernel_size=kernel,
        stride=stride,
        conv_padding=0,
        residual_blocks=0,
        well_range=well_range,
        write_steps=16,
        per_parameter_write_lr=False,
        count_scaled_write_lr=True,
        init_write_lr=0.13 / (spread * well_range) ** 2,
        init_write_lr_count_exponent=0.5,
        init_alpha=3e-2,
        init_beta=1e-3,
    )
    return _image_config(name, input_shape, **{**defaults, **changes})


def glyphs32_conv_config(size: int, **changes: Any) -> ModelConfig:
    """32×32 glyphs, the conv energy at about `size` images' worth of floats: 4 -> 18 filters over the top
    k = 128 coordinates (4,626 floats), 16 -> 63 over the top 256 (16,191); two and seven filters a position.
    Reads as the FC glyph models'."""
    basis, filters = GLYPHS32_SHAPES[size][0], GLYPHS32_CONV_FILTERS[size]
    return spectral_conv_config(f"glyphs32-conv{size}", (1, 32, 32), basis, filters, **{**GLYPHS32_READS, **changes})


def photos32_conv_config(size: int, **changes: Any) -> ModelConfig:
    """32×32 colour photographs, the conv energy at about `size` images' worth of floats: 2 -> 9 filters over
    the top k = 512 coordinates (6,921 floats), 4 -> 18 over the top 768 (13,842); one and two filters a
    position, each with its PHOTOS32_CONV_WELLS. Reads as the FC photo models'."""
    basis, filters = PHOTOS32_SHAPES[size][0], PHOTOS32_CONV_FILTERS[size]
    changes = {**PHOTOS32_READS, **PHOTOS32_CONV_WELLS[size], **changes}
    return spectral_conv_config(f"photos32-conv{size}", (3, 32, 32), basis, filters, **changes)


def spectral_fc_config(
    name: str, input_shape: tuple[int, int, int], basis: int, hidden: int, **changes: Any
) -> ModelConfig:
    """An image model with the paper's FC energy on the spectral prior (`spectral_prior`): W: `hidden` × `basis`
    over the prior's top `basis` whitened coordinates, so it holds (hidden · basis + hidden) / D images' worth of
    floats, as the spectral energy's W of the same shape does. The shared layers start as paired wells
    (FCEnergy._init_paired_wells). Writes: T = 16 steps, one rate per step scaled by N^κ, starting at
    0.13 / k² and κ = 0.5 (a write step grows a row by η κ_fc ‖a‖² / 2 ≈ η k², κ_fc = 2k, ‖a‖² ≈ k; on 32×32
    glyphs, untrained, κ = 1 overshot every N > 1, 0.25 against the prior's 0.10), α = 0.03."""
    defaults: dict[str, Any] = dict(
        energy="fc",
        spectral_prior=True,
        basis_rank=basis,
        writable_hidden=hidden,
        meta_hidden=2 * hidden,
        write_steps=16,
        per_parameter_write_lr=False,
        count_scaled_write_lr=True,
        init_write_lr=0.13 / basis**2,
        init_write_lr_count_exponent=0.5,
        init_alpha=3e-2,
        init_beta=1e-3,
    )
    return _image_config(name, input_shape, **{**defaults, **changes})


def glyphs32_fc_config(size: int, **changes: Any) -> ModelConfig:
    """32×32 glyphs, the FC energy at `size` images' worth of floats: 4 -> H = 32 over the top k = 128
    coordinates (4,128 floats), 16 -> H = 64 over the top 256 (16,448); the spectral presets' shapes. K = 20 read
    steps at 0.1, momentum 0.8, as the spectral glyph models'."""
    basis, hidden = GLYPHS32_SHAPES[size]
    return spectral_fc_config(f"glyphs32-fc{size}", (1, 32, 32), basis, hidden, **{**GLYPHS32_READS, **changes})


def photos32_fc_config(size: int, **changes: Any) -> ModelConfig:
    """32×32 colour photographs, the FC energy at `size` images' worth of floats: 2 -> H = 12 over the top
    k = 512 coordinates (6,156 floats), 4 -> H = 16 over the top 768 (12,304); the spectral presets' shapes.
    K = 50 read steps at 0.0015, momentum 0.97 (untrained, 12,304 floats, 8 memories, N = 1 / 64: as the
    spectral photo models' 100 at 0.001, 0.0016 / 0.0027; 30 at 0.001 stop short, 0.0026 / 0.0033)."""
    basis, hidden = PHOTOS32_SHAPES[size]
    return spectral_fc_config(f"photos32-fc{size}", (3, 32, 32), basis, hidden, **{**PHOTOS32_READS, **changes})


def spectral_config(name: str, input_shape: tuple[int, int, int], basis: int, rank: int, **changes: Any) -> ModelConfig:
    """An image model with the spectral energy (model/energy.py): the training split's Gaussian in a separable
    basis, with `rank` writable directions in its top `basis` whitened ones made flat (W: rank×basis floats).
    Writes as the subspace energy's, T = 16 steps at 0.016 · N (probed on 32×32 glyphs with a dense prior: at
    0.05 N = 64 reads the same, at 0.15 worse, 0.0186 against 0.0156); reads step along the prior's covariance."""
    defaults: dict[str, Any] = dict(
        energy="spectral", basis_rank=basis, init_write_lr=0.016, init_write_lr_count_exponent=1.0
    )
    return subspace_config(name, input_shape, rank, **{**defaults, **changes})


def glyphs32_spectral_config(size: int, **changes: Any) -> ModelConfig:
    """32×32 glyphs, the spectral energy at `size` images' worth of floats: 4 -> 32 directions in the top 128
    (4,096 floats), 16 -> 64 in the top 256 (16,384: a set of 64 fits whole). K = 20 read steps at 0.1 with
    momentum 0.8 reach the closed-form minimum (probed with a dense prior: block MSE 0.0166 against 0.0167 at
    N = 64; at 0.3 they diverge)."""
    basis, rank = GLYPHS32_SHAPES[size]
    defaults: dict[str, Any] = dict(read_steps=20, init_read_lr=0.1, init_momentum=0.8)
    return spectral_config(f"glyphs32-spectral{size}", (1, 32, 32), basis, rank, **{**defaults, **changes})


def photos32_spectral_config(size: int, **changes: Any) -> ModelConfig:
    """32×32 colour photographs, the spectral energy at `size` images' worth of floats: 2 -> 12 directions in
    the top 512 (6,144 floats), 4 -> 16 in the top 768 (12,288). The bases are larger than the glyphs' so a
    single stored photograph comes back nearly whole: at 12,288 floats 24 directions in the top 512 read N = 1
    at 0.51 × their N = 64 error (256 / 16 memories: 0.00047 / 0.00092), 32 in the top 384 at 0.6×, failing
    the rule that N = 1 be at most half; 16 in 768 read 0.00029 / 0.0013 (0.22×). Smooth photographs pin the
    hidden block's edge to the visible pixels, so the prior-metric read is stiffer than the glyphs': K = 100
    steps at 0.001 with momentum 0.97 (at 0.003 they diverge; 4 memories of N = 64, 32 in 384: 0.0017 / 0.0009
    / 0.0009 after 50 / 100 / 150 steps)."""
    basis, rank = PHOTOS32_SHAPES[size]
    defaults: dict[str, Any] = dict(read_steps=100, init_read_lr=0.001, init_momentum=0.97)
    return spectral_config(f"photos32-spectral{size}", (3, 32, 32), basis, rank, **{**defaults, **changes})


def tiny_conv_config(**changes: Any) -> ModelConfig:
    """A tiny conv image model for tests: 8×8 one-channel images, 4 writable 3×3 filters (40 floats)."""
    defaults: dict[str, Any] = dict(
        name="tiny-conv",
        energy="conv",
        input_shape=(1, 8, 8),
        writable_hidden=4,
        meta_hidden=16,
        domain="continuous",
        value_range=(0.0, 1.0),
        max_patterns=8,
        distortion_size=4,
    )
    return ModelConfig(**{**defaults, **changes})


PRESETS = {
    "binary128": binary128_config,
    "tiny": tiny_binary_config,
    "digits": digits_config,
    "digits-conv": digits_conv_config,
    "digits-subspace": digits_subspace_config,
    "patches16": patches16_config,
    # The paper's image scale (32×32, 16×16 block, sets of 64): glyphs32 (1 channel) and photos32 (3 channels),
    # the FC and conv energies on the spectral prior and the spectral energy at two memory sizes each.
    **{f"glyphs32-conv{size}": functools.partial(glyphs32_conv_config, size) for size in (4, 16)},
    **{f"photos32-conv{size}": functools.partial(photos32_conv_config, size) for size in (2, 4)},
    **{f"glyphs32-fc{size}": functools.partial(glyphs32_fc_config, size) for size in (4, 16)},
    **{f"photos32-fc{size}": functools.partial(photos32_fc_config, size) for size in (2, 4)},
    # The spectral energy at two sizes each.
    **{f"glyphs32-spectral{size}": functools.partial(glyphs32_spectral_config, size) for size in (4, 16)},
    **{f"photos32-spectral{size}": functools.partial(photos32_spectral_config, size) for size in (2, 4)},
}
