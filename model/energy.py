"""Energy networks E(x; θ) evaluated for many memories at once.

Every energy splits its parameters in two: the *writable* part θ, held per memory as a batch `θ: [B, P]`
and produced by the writing rule, and the *meta-learned* part, shared by all memories and trained by
meta-learning (Bartunov et al., 2020, section 3). `theta_bar: [P]` is the meta-learned initial θ̄.

Shapes: B memories, M patterns per memory, pattern shape S (`(D,)` or `(C, H, W)`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import ModelConfig
from model.spectral_prior import SpectralPrior


class Energy(nn.Module):
    """Base class: `energy(x, θ)` plus its input gradient, with the writable budget as a property.

    Any energy may add the meta-learned quadratic  ½ λ ‖x − μ‖² + ½ ‖L (x − μ)‖²  (`config.quadratic_energy`),
    a Gaussian prior over patterns: centre μ: [D], log λ and, when `config.quadratic_rank` R > 0, the
    precision factor L: [R, D].
    """

    theta_bar: nn.Parameter
    # The spectral prior (model/spectral_prior.py) of an energy built on one (SpectralEnergy; FCEnergy with
    # `spectral_prior`), else absent or None: what `fit_prior` fits and the metric reads step in.
    prior: SpectralPrior | None
    # Whether ∇ₓE is written out by hand (no autograd), so reads can run under torch.inference_mode().
    input_gradient_by_hand = False

    def _init_quadratic(self, config: ModelConfig) -> None:
        dim = math.prod(config.input_shape)
        self.quadratic = config.quadratic_energy
        if config.quadratic_rank and not self.quadratic:
            raise ValueError("quadratic_rank needs quadratic_energy=True")
        if self.quadratic:
            self.mu = nn.Parameter(torch.full((dim,), sum(config.value_range) / 2))
            self.log_lambda = nn.Parameter(torch.tensor(math.log(config.init_quadratic_strength)))
        self.precision_factor = None
        if self.quadratic and config.quadratic_rank > 0:
            # ‖L v‖² ≈ λ₀ ‖v‖² at the start: as strong as the isotropic part, and not zero (L = 0 gets no gradient)
            scale = math.sqrt(config.init_quadratic_strength / config.quadratic_rank)
            self.precision_factor = nn.Parameter(torch.randn(config.quadratic_rank, dim) * scale)

    def _quadratic(self, x: Tensor, with_grad: bool) -> tuple[Tensor, Tensor | None]:
        """The quadratic ½ λ ‖x − μ‖² + ½ ‖L (x − μ)‖²: [B, M] and, `with_grad`, its input gradient
        (λ I + LᵀL)(x − μ): [B, M, D] (else None), both from one (x − μ) Lᵀ product."""
        centred = x.flatten(2) - self.mu  # [B, M, D]
        strength = self.log_lambda.exp()
        energy = 0.5 * strength * centred.pow(2).sum(-1)
        grad = strength * centred if with_grad else None
        if self.precision_factor is not None:
            projected = centred @ self.precision_factor.T  # [B, M, R]
            energy = energy + 0.5 * projected.pow(2).sum(-1)
            if with_grad:
                grad = grad + projected @ self.precision_factor
        return energy, grad

    def _init_spectral_prior(self, config: ModelConfig) -> None:
        """`prior`: the spectral prior when `config.spectral_prior` (then the energy's only prior, and its top
        `basis_rank` whitened coordinates what the writable layer reads), else None."""
        self.prior = None
        if not config.spectral_prior:
            return
        if config.quadratic_energy:
            raise ValueError(f"the {config.energy} energy takes one prior: quadratic_energy or spectral_prior")
        self.prior = SpectralPrior(config.input_shape, config.value_range)
        if not 0 < config.basis_rank <= self.prior.basis.dim:
            raise ValueError(f"spectral_prior needs 0 < basis_rank ≤ D, got {config.basis_rank}")

    def _prior_energy(self, e: Tensor, x: Tensor, c: Tensor | None) -> Tensor:
        """E [B, M] plus the prior's energy: ½ ‖c‖² given the spectral prior's whitened coordinates c: [B, M, D],
        else the quadratic when the energy has it."""
        return self._add_quadratic(e, x) if c is None else e + 0.5 * c.pow(2).sum(-1)

    def _add_quadratic(self, e: Tensor, x: Tensor) -> Tensor:
        """E [B, M] plus the quadratic when the energy has it (no gradient computed)."""
        return e + self._quadratic(x, with_grad=False)[0] if self.quadratic else e

    @property
    def _spectral_prior(self) -> SpectralPrior | None:
        return getattr(self, "prior", None)

    @property
    def reads_in_prior_metric(self) -> bool:
        """Whether reads step along the prior's covariance times ∇ₓE (`prior_covariance_product`), unprojected
        until the last step (EnergyMemory.descend): the energies with a spectral prior."""
        return self._spectral_prior is not None

    def fit_prior(self, images: Tensor) -> None:
        """Start the meta-learned parameters from a training split's statistics (images: [P, *S]). Only energies
        whose prior has a closed-form fit do (a spectral prior: SpectralPrior.fit; SubspaceEnergy its own); the
        others keep their fixed initial values."""
        if self._spectral_prior is not None:
            self._spectral_prior.fit(images)

    def prior_covariance_product(self, g: Tensor) -> Tensor:
        """Σ g: [B, M, *S], the read's step direction for an energy that `reads_in_prior_metric`."""
        if self._spectral_prior is None:
            raise NotImplementedError(f"{type(self).__name__} does not read in a prior's metric")
        return self._spectral_prior.covariance_product(g)

    @property
    def writable_numel(self) -> int:
        """P: the number of floats written per memory."""
        return self.theta_bar.numel()

    def energy(self, x: Tensor, theta: Tensor) -> Tensor:
        """x: [B, M, *S], θ: [B, P] -> E: [B, M]."""
        raise NotImplementedError

    def energy_and_grad(self, x: Tensor, theta: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
        """E: [B, M] and ∇ₓE: [B, M, *S].

        With `create_graph` the gradient stays differentiable w.r.t. θ, the meta-parameters and `x`
        (needed by the write loss's ‖∇ₓE‖² term and by meta-training). A query that is plain data is
        differentiated on a fresh leaf, so no graph is kept from one step to the next.
        """
        with torch.enable_grad():
            leaf = x if x.requires_grad else x.detach().requires_grad_()
            e = self.energy(leaf, theta)
            (grad,) = torch.autograd.grad(e.sum(), leaf, create_graph=create_graph)
        return e, grad

    def grad_x(self, x: Tensor, theta: Tensor, create_graph: bool) -> Tensor:
        """∇ₓE: [B, M, *S] alone (reading needs no energy values until the last step)."""
        return self.energy_and_grad(x, theta, create_graph)[1]

    def project_written(self, theta: Tensor) -> Tensor:
        """θ: [B, P] after a write step -> θ projected onto what this energy lets a write reach (the whole
        space here; ConvEnergy may bound its filters' norms)."""
        return theta

    def write_loss_grad(
        self,
        X: Tensor,
        weights: Tensor,
        theta: Tensor,
        alpha: Tensor,
        create_graph: bool,
        product_dtype: torch.dtype | None = None,
    ) -> Tensor:
        """∇_θ Σ_i w_i [E(x_i; θ) + α ‖∇ₓE(x_i; θ)‖²], the data part of the writing loss's gradient.
        X: [B, N, *S], weights: [B, N], θ: [B, P] -> [B, P]. By autograd (double backward); with
        `create_graph` the result stays differentiable (meta-training), else θ is taken as a fresh leaf.
        `product_dtype`: the dtype of the products with the meta-learned layers (see FCEnergy); None (X's) only here."""
        if product_dtype not in (None, X.dtype):
            name = type(self).__name__
            raise ValueError(f"{name} computes its write gradient at its inputs' dtype only, not {product_dtype}")
        with torch.enable_grad():
            if not create_graph:
                theta = theta.detach().requires_grad_()
            e, grad_x = self.energy_and_grad(X, theta, create_graph=True)
            per_pattern = e + alpha * grad_x.flatten(2).pow(2).sum(-1)  # [B, N]
            (grad_theta,) = torch.autograd.grad((weights * per_pattern).sum(), theta, create_graph=create_graph)
        return grad_theta


class FCEnergy(Energy):
    """The paper's fully connected energy  E(x) = vᵀ softplus(A · tanh(W f + b) + c)  [+ a prior].

    f is the writable layer's input: the pattern, flattened (D = prod(input_shape), e.g. C·H·W for images), or,
    with `config.spectral_prior`, its k = `basis_rank` strongest whitened coordinates a = c[:k] under the
    training split's Gaussian (model/spectral_prior.py), whose energy ½ ‖c‖² is then the prior term and whose
    metric the reads step in. Writable: W: [H, F] and b: [H] (θ = [vec W, b], P = H·F + H). Meta-learned: A: [G, H],
    c: [G], v: [G], and the prior (the quadratic of Energy, or the spectral one).
    The input gradient is written out by hand (backprop through the three layers), which makes reads
    autograd-free, CUDA-graph capturable and runnable under `torch.inference_mode()`; it is built from
    differentiable ops, so meta-training differentiates through it as usual.
    """

    input_gradient_by_hand = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        hidden, meta_hidden = config.writable_hidden, config.meta_hidden
        self._init_spectral_prior(config)
        dim = config.basis_rank if self.prior is not None else math.prod(config.input_shape)
        self.dim, self.hidden = dim, hidden
        w = torch.randn(hidden, dim) / math.sqrt(dim)
        self.theta_bar = nn.Parameter(torch.cat([w.flatten(), torch.zeros(hidden)]))
        self.A = nn.Parameter(torch.randn(meta_hidden, hidden) / math.sqrt(hidden))
        self.c = nn.Parameter(torch.zeros(meta_hidden))
        self.v = nn.Parameter(torch.full((meta_hidden,), 1.0 / math.sqrt(meta_hidden)))
        self._init_quadratic(config)
        if self.prior is not None:
            self._init_paired_wells()

    def _init_paired_wells(self) -> None:
        """Start the shared layers as one pair of units per writable unit, A = [I; −I], c = 0, v = −κ, so that

            E_fc(a) = −κ Σ_j 2 log(2 cosh(h_j / 2)) ≈ const − (κ / 4) ‖W a‖²   (h = tanh(W a + b) small),

        the prior ½ ‖a‖² lowered along W's rows: a row w is made flat where κ ‖w‖² / 2 = 1, like a written
        direction of the spectral energy, and tanh keeps the well's depth finite where it is steeper. With
        κ = 2k and θ̄'s rows orthogonal, of norm ρ = 1 / (2√k) (a stored pattern's a has norm ≈ √k, so the
        written rows, 2ρ, still sit where tanh is near linear), each of θ̄'s rows is a quarter flat, as the spectral
        energy's are; the writing loss grows the rows it turns towards the set (the α term's ‖∇ₓE‖² is least where
        W's rows span it). Measured on 32×32 glyphs (k = 256, H = 64, untrained): block MSE at N = 1 0.029 against
        the prior's 0.101, where the default random start answers every N from the prior; meta-training from
        the default start had not left it after 550 steps."""
        hidden = self.hidden
        if self.A.shape[0] != 2 * hidden:
            raise ValueError(f"spectral_prior needs meta_hidden = 2 × writable_hidden, got {self.A.shape[0]}")
        rows = torch.linalg.qr(torch.randn(self.dim, hidden))[0].T / (2.0 * math.sqrt(self.dim))  # [H, k]
        with torch.no_grad():
            self.A.copy_(torch.cat([torch.eye(hidden), -torch.eye(hidden)]))
            self.c.zero_()
            self.v.fill_(-2.0 * self.dim)
            self.theta_bar.copy_(torch.cat([rows.flatten(), torch.zeros(hidden)]))

    def unpack(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """θ: [B, P] -> W: [B, H, F], b: [B, H]."""
        split = self.hidden * self.dim
        return theta[:, :split].view(-1, self.hidden, self.dim), theta[:, split:]

    def _inputs(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """x: [B, M, *S] -> the writable layer's input f: [B, M, F] and the spectral prior's whitened
        coordinates c: [B, M, D] (None without it; then f is x flattened)."""
        if self.prior is None:
            return x.flatten(2), None
        c = self.prior.coordinates(x)
        return c[..., : self.dim], c

    def _forward(
        self, f: Tensor, theta: Tensor, product_dtype: torch.dtype | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """f: [B, M, F] -> W: [B, H, F], h: [B, M, H] and z: [B, M, G], the last at `product_dtype` (None: f's)."""
        W, b = self.unpack(theta)
        h = torch.tanh(torch.baddbmm(b.unsqueeze(1), f, W.transpose(1, 2)))  # [B, M, H]
        product_dtype = product_dtype or h.dtype
        z = F.linear(h.to(product_dtype), self.A.to(product_dtype), self.c.to(product_dtype))  # [B, M, G]
        return W, h, z

    def _input_gradient(self, by_input: Tensor, x: Tensor, c: Tensor | None) -> Tensor:
        """The FC layers' ∂E/∂f: [B, M, F] -> ∇ₓE with the prior's part, shaped like x."""
        if c is not None:
            return self.prior.input_gradient(torch.cat([by_input + c[..., : self.dim], c[..., self.dim :]], -1), x)
        if self.quadratic:
            by_input = by_input + self._quadratic(x, with_grad=True)[1]
        return by_input.view_as(x)

    def energy(self, x: Tensor, theta: Tensor) -> Tensor:
        f, c = self._inputs(x)
        _, _, z = self._forward(f, theta)
        return self._prior_energy(F.softplus(z) @ self.v, x, c)  # [B, M]

    def energy_and_grad(self, x: Tensor, theta: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
        f, c = self._inputs(x)
        W, h, z = self._forward(f, theta)
        e = self._prior_energy(F.softplus(z) @ self.v, x, c)
        return e, self._input_gradient(self._backward(W, h, z), x, c)

    def grad_x(self, x: Tensor, theta: Tensor, create_graph: bool) -> Tensor:
        """∇ₓE alone (a read step's hot path: the energy is not computed)."""
        f, c = self._inputs(x)
        return self._input_gradient(self._backward(*self._forward(f, theta)), x, c)

    def write_loss_grad(
        self,
        X: Tensor,
        weights: Tensor,
        theta: Tensor,
        alpha: Tensor,
        create_graph: bool,
        product_dtype: torch.dtype | None = None,
    ) -> Tensor:
        """The writing loss's data gradient (see Energy); for serving (not `create_graph`) written out by hand,
        no autograd graph. With u = W f + b, h = tanh u, z = A h + c, s = σ(z) ⊙ v, a = Aᵀ s, du = a ⊙ (1 − h²),
        g = ∂E/∂f = Wᵀ du + π (π the prior's part, which no θ enters) and r = 2α m ⊙ g, m the metric that
        ‖∇ₓE‖² takes in f (1 on the pixels; s[:k]² on the spectral prior's whitened coordinates):

            ∂/∂W = Σ_i w_i [ (du + γ) fᵀ + du rᵀ ],   ∂/∂b = Σ_i w_i (du + γ),
            γ = [ Aᵀ (σ'(z) ⊙ v ⊙ A (δ ⊙ (1 − h²))) − 2 h ⊙ a ⊙ δ ] ⊙ (1 − h²),   δ = W r,

        γ being the α term's path through du. Meta-training keeps autograd (the same value, differentiable).

        `product_dtype` (by hand only; None: X's dtype) is the dtype of the four [B·N, H] × [H, G] products with
        the meta-learned A and of the [B, N, G] tensors between them, most of a write's work: bfloat16 halves their
        time on CPUs with bfloat16 dot products (float32 accumulation); everything of width H or D keeps X's dtype."""
        if create_graph:
            return super().write_loss_grad(X, weights, theta, alpha, create_graph, product_dtype)
        with torch.no_grad():
            return self._write_loss_grad_by_hand(X, weights, theta, alpha, product_dtype)

    def _write_loss_grad_by_hand(
        self, X: Tensor, weights: Tensor, theta: Tensor, alpha: Tensor, product_dtype: torch.dtype | None
    ) -> Tensor:
        f, c = self._inputs(X)  # [B, N, F]
        W, h, z = self._forward(f, theta, product_dtype)
        A = self.A.to(z.dtype)
        A_v = A * self.v.to(z.dtype).unsqueeze(1)  # diag(v) A: [G, H], so that a = σ(z) diag(v) A
        sigma = torch.sigmoid_(z)  # [B, N, G] (z is not needed again)
        a = (sigma @ A_v).to(h.dtype)  # Aᵀ s: [B, N, H]
        squashed = h.square().neg_().add_(1.0)  # 1 − h²
        du = a * squashed
        g = torch.bmm(du, W)  # [B, N, F]
        if c is not None:
            g += f
            g *= self.prior.gradient_metric(self.dim)
        elif self.quadratic:
            g += self._quadratic(X, with_grad=True)[1]
        r = g.mul_(2.0 * alpha)
        delta = torch.bmm(r, W.transpose(1, 2))  # [B, N, H]
        curvature = sigma.addcmul_(sigma, sigma, value=-1.0)  # σ'(z) = σ (1 − σ): [B, N, G], σ done with
        pulled = (((delta * squashed).to(z.dtype) @ A.T).mul_(curvature) @ A_v).to(h.dtype)  # [B, N, H]
        gamma = torch.addcmul(pulled, h * a, delta, value=-2.0).mul_(squashed)
        weighted = weights.unsqueeze(-1)
        through_u = gamma.add_(du).mul_(weighted)  # w (du + γ): [B, N, H]
        grad_W = torch.bmm(through_u.transpose(1, 2), f).baddbmm_(du.mul_(weighted).transpose(1, 2), r)
        return torch.cat([grad_W.flatten(1), through_u.sum(1)], dim=1)

    def _backward(self, W: Tensor, h: Tensor, z: Tensor) -> Tensor:
        """The FC layers' ∂E/∂f by hand: dE/dz = σ(z)·v, dE/du = (dE/dz · A) ⊙ (1 − h²), ∂E/∂f = dE/du · W.
        -> [B, M, F]"""
        dz = torch.sigmoid(z) * self.v  # [B, M, G]
        du = (dz @ self.A) * (1.0 - h * h)  # [B, M, H]
        return torch.bmm(du, W)


class ConvEnergy(Energy):
    """A small residual convolutional energy for images.

    Writable: the first convolution, F filters of C×k×k plus F biases (P = F·C·k² + F), applied per memory
    as one grouped convolution over the batch. Meta-learned: `residual_blocks` shared 3×3 residual blocks,
    then  E = vᵀ softplus(A · flatten(h) + c)  [+ a prior].

    The convolution reads the image, or, with `config.spectral_prior`, the spectral prior's whitened field
    x̃ = Uᵀ [c[:k], 0] (model/spectral_prior.py; k = `basis_rank`): the image's k strongest whitened coordinates
    back in pixel space, whose energy ½ ‖c‖² is then the prior term and whose metric the reads step in. The
    other prior is the quadratic of Energy.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        channels, height, width = config.input_shape
        filters, k = config.writable_hidden, config.kernel_size
        self.channels, self.filters, self.kernel, self.stride = channels, filters, k, config.stride
        self.padding = k // 2 if config.conv_padding is None else config.conv_padding
        self._init_spectral_prior(config)
        self.basis_rank = config.basis_rank
        w = torch.randn(filters, channels, k, k) / math.sqrt(channels * k * k)
        self.theta_bar = nn.Parameter(torch.cat([w.flatten(), torch.zeros(filters)]))
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(filters, filters, 3, padding=1),
                nn.Softplus(),
                nn.Conv2d(filters, filters, 3, padding=1),
            )
            for _ in range(config.residual_blocks)
        )
        out_h = (height + 2 * self.padding - k) // config.stride + 1
        out_w = (width + 2 * self.padding - k) // config.stride + 1
        self.positions = out_h * out_w
        self.readout = nn.Linear(filters * self.positions, config.meta_hidden)
        self.v = nn.Parameter(torch.full((config.meta_hidden,), 1.0 / math.sqrt(config.meta_hidden)))
        self._init_quadratic(config)
        self.filter_norm_cap = config.filter_norm_cap
        if self.prior is not None:
            self._init_assigned_wells(config.well_range)

    def _init_assigned_wells(self, well_range: float) -> None:
        """Start the shared layers as one pair of units per filter, each filter assigned a position p(f) = f mod P
        of its P output positions (P ≤ F gives every position a filter):

            z = [h_{f, p(f)}; −h_{f, p(f)}]_f,  c = 0,  v = −κ   =>   E_conv ≈ const − (κ / 4) Σ_f h_{f, p(f)}²,

        the prior ½ ‖x̃‖² lowered along each filter at its position, as FCEnergy._init_paired_wells lowers it
        along W's rows, with κ = 2 a τ² and filters of norm 1 / (2τ√a), a = k · C k² / D the expected ‖x̃‖² over a
        window and τ = `well_range`: a filter is flat (κ ‖w‖² / 2 = 1) at twice its start, where a window τ√a
        long reaches tanh's knee (u = 1). Photographs' windows are heavy-tailed (an image's whitened norm up to
        5× the median): at τ = 1 the heaviest saturate and are read back from the prior. Sharing one readout
        unit pair by every position of a filter instead (A = [I; −I] over all F·P units) makes each written
        filter flatten all its translates: measured on 32×32 glyphs, 18 filters of 16×16, stride 8, untrained,
        block MSE at N = 1 0.07 against the prior's 0.10, assigned 0.013."""
        filters, positions = self.filters, self.positions
        if self.readout.out_features != 2 * filters:
            raise ValueError(f"spectral_prior needs meta_hidden = 2 × writable_hidden, got {self.readout.out_features}")
        window = self.channels * self.kernel**2
        spread = self.basis_rank * window / self.prior.basis.dim  # a
        pairs = torch.zeros(filters, filters * positions)
        pairs[torch.arange(filters), torch.arange(filters) * positions + torch.arange(filters) % positions] = 1.0
        w = torch.randn(filters, window)
        w = w / w.norm(dim=1, keepdim=True) / (2.0 * well_range * math.sqrt(spread))
        with torch.no_grad():
            self.readout.weight.copy_(torch.cat([pairs, -pairs]))
            self.readout.bias.zero_()
            self.v.fill_(-2.0 * spread * well_range**2)
            self.theta_bar.copy_(torch.cat([w.flatten(), torch.zeros(filters)]))

    def unpack(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """θ: [B, P] -> the filters, flattened: [B, F, C k²], and their biases: [B, F]."""
        split = self.filters * self.channels * self.kernel**2
        return theta[:, :split].view(-1, self.filters, split // self.filters), theta[:, split:]

    def project_written(self, theta: Tensor) -> Tensor:
        """θ: [B, P] with each filter's norm clipped to `filter_norm_cap` times θ̄'s for it (0: unchanged)."""
        if not self.filter_norm_cap:
            return theta
        filters, biases = self.unpack(theta)
        limit = self.filter_norm_cap * self.unpack(self.theta_bar.unsqueeze(0))[0][0].norm(dim=-1)  # [F]
        scale = (limit / filters.norm(dim=-1).clamp_min(torch.finfo(theta.dtype).tiny)).clamp(max=1.0)
        return torch.cat([(filters * scale.unsqueeze(-1)).flatten(1), biases], 1)

    def _inputs(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """x: [B, M, C, H, W] -> the convolution's input, shaped like x (x, or with the spectral prior its
        whitened field x̃), and the prior's whitened coordinates c: [B, M, D] (None without it)."""
        if self.prior is None:
            return x, None
        c = self.prior.coordinates(x)
        return self.prior.whitened_field(c, self.basis_rank).view_as(x), c

    def energy(self, x: Tensor, theta: Tensor) -> Tensor:
        batch, queries = x.shape[:2]
        image, c = self._inputs(x)
        filters, biases = self.unpack(theta)
        weight = filters.reshape(batch * self.filters, self.channels, self.kernel, self.kernel)
        bias = biases.reshape(batch * self.filters)
        grouped = image.transpose(0, 1).reshape(queries, batch * self.channels, *x.shape[-2:])
        u = F.conv2d(grouped, weight, bias, stride=self.stride, padding=self.padding, groups=batch)
        h = torch.tanh(u).view(queries, batch, self.filters, *u.shape[-2:]).transpose(0, 1)
        h = h.reshape(batch * queries, self.filters, *u.shape[-2:])  # [B·M, F, H', W']
        for block in self.blocks:
            h = h + block(h)
        z = self.readout(h.flatten(1))  # [B·M, G]
        return self._prior_energy((F.softplus(z) @ self.v).view(batch, queries), x, c)


def _flattened(V: Tensor, z: Tensor, ridge: float) -> tuple[Tensor, Tensor, Tensor]:
    """V: [B, r, k] and coordinates z: [B, M, k] -> G = V Vᵀ + εI: [B, r, r], a = G⁻¹ V z: [B, r, M] (so
    Π_V z = Vᵀ a) and the residual (I − Π_V) z: [B, M, k]: what of z the written row space does not flatten."""
    gram = V @ V.mT + ridge * torch.eye(V.shape[1], dtype=V.dtype, device=V.device)
    coefficients = torch.linalg.solve(gram, V @ z.mT)
    return gram, coefficients, z - coefficients.mT @ V


class RowSpaceEnergy(Energy):
    """An energy ½ zᵀ (I − Π_V) z + (terms free of V) in coordinates z = S (x − μ) of a fixed linear S, with
    Π_V = Vᵀ (V Vᵀ + εI)⁻¹ V the projection onto the writable V's row space (`_flattened`): the subspace and
    spectral energies. Its ∇ₓE is Sᵀ (I − Π_V) z plus V-free terms, written out by hand, and so is the serving
    write's θ-gradient (`write_loss_grad`)."""

    input_gradient_by_hand = True

    def _write_terms(self, X: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """X: [B, N, *S] -> V: [B, r, k], `_flattened`'s G, a and r = (I − Π_V) z, and q = S Sᵀ r: [B, N, k]."""
        raise NotImplementedError

    def write_loss_grad(
        self,
        X: Tensor,
        weights: Tensor,
        theta: Tensor,
        alpha: Tensor,
        create_graph: bool,
        product_dtype: torch.dtype | None = None,
    ) -> Tensor:
        """The writing loss's data gradient (see Energy). For serving (not `create_graph`) written out by hand
        from `_write_terms`' V, G, a, r and q, with b = G⁻¹ V q:

            ∂E/∂V = −a rᵀ,   ∂‖∇ₓE‖²/∂V = −2 [ a (q − Vᵀ b)ᵀ + b rᵀ ],

        summed over the set with weights w: [B, N] -> [B, r·k]. Meta-training keeps autograd (the same value,
        differentiable)."""
        if create_graph or product_dtype not in (None, X.dtype):
            return super().write_loss_grad(X, weights, theta, alpha, create_graph, product_dtype)
        with torch.no_grad():
            V, gram, a, r, q = self._write_terms(X, theta)
            b = torch.linalg.solve(gram, V @ q.mT)  # [B, r, N]
            weighted_a, weighted_b = a * weights.unsqueeze(1), b * weights.unsqueeze(1)
            grad = -weighted_a @ r - 2.0 * alpha * (weighted_a @ (q - b.mT @ V) + weighted_b @ r)
            return grad.flatten(1)


class SubspaceEnergy(RowSpaceEnergy):
    """A Gaussian prior whose stored directions are made flat:  E(x) = ½ zᵀ (I − Π_V) z,  z = S (x − μ).

    z are the prior's whitened coordinates (meta-learned S: [D, D] and μ: [D], started at the training split's
    Gaussian by `fit_prior`); writable: V: [r, D] (θ = vec V, P = r·D), and Π_V = Vᵀ (V Vᵀ + εI)⁻¹ V projects
    onto its row space. Where V's rows span a stored pattern's z the energy is (nearly) 0, its minimum: the
    writing loss's E(x_i) term turns the row space towards the set's whitened span (its r strongest directions
    when the set has more). E depends on V's row space only, not its scale, so write steps cannot blow θ up.
    ∇ₓE = Sᵀ (I − Π_V) z is written out by hand (autograd-free reads). The classical memory with this energy,
    solved in closed form, is model.baselines.images.WhitenedProjection.
    """

    ridge = 1e-6  # ε, relative to V's scale (θ̄'s rows are unit vectors)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dim, rank = math.prod(config.input_shape), config.writable_hidden
        self.dim, self.rank = dim, rank
        self.theta_bar = nn.Parameter(torch.linalg.qr(torch.randn(dim, rank))[0].T.flatten())  # orthonormal rows
        self.mu = nn.Parameter(torch.full((dim,), sum(config.value_range) / 2))
        self.whitening = nn.Parameter(torch.eye(dim))

    def fit_prior(self, images: Tensor) -> None:
        """μ and S start at the Gaussian of `images` (the Gaussian-prior baseline's fit): μ their mean, S = P½."""
        from model.baselines.images import GaussianPrior  # training only: serving never loads the baselines

        prior = GaussianPrior(images)
        with torch.no_grad():
            self.mu.copy_(prior.mean)
            self.whitening.copy_(prior.precision_root)

    def _whitened(self, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """V: [B, r, D], G: [B, r, r], z: [B, M, D], a: [B, r, M] and the residual (I − Π_V) z: [B, M, D]."""
        V = theta.view(-1, self.rank, self.dim)
        z = (x.flatten(2) - self.mu) @ self.whitening.T
        return V, z, *_flattened(V, z, self.ridge)

    def energy(self, x: Tensor, theta: Tensor) -> Tensor:
        _, z, *_, residual = self._whitened(x, theta)
        return 0.5 * (z * residual).sum(-1)  # [B, M]

    def energy_and_grad(self, x: Tensor, theta: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
        _, z, *_, residual = self._whitened(x, theta)
        return 0.5 * (z * residual).sum(-1), (residual @ self.whitening).view_as(x)

    def grad_x(self, x: Tensor, theta: Tensor, create_graph: bool) -> Tensor:
        return (self._whitened(x, theta)[-1] @ self.whitening).view_as(x)

    def _write_terms(self, X: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        V, _, gram, a, r = self._whitened(X, theta)
        return V, gram, a, r, (r @ self.whitening) @ self.whitening.T  # q = S Sᵀ r, as rows: [B, N, D]


class SpectralEnergy(RowSpaceEnergy):
    """The subspace energy in the prior's spectral basis: stored directions are written in the k strongest
    whitened directions of the data set only, so a budget of P floats holds r = P / k of them instead of P / D.

    The prior is the training split's Gaussian, diagonal in a separable orthonormal basis U
    (model/spectral_prior.py; fitted by `fit_prior`): with the whitened coordinates c = s ⊙ U (x − μ) (largest
    variance first) and their first k the memory's a = c[:k],

        E(x) = ½ ‖c[k:]‖² + ½ aᵀ (I − Π_W) a,   Π_W = Wᵀ (W Wᵀ + εI)⁻¹ W,

    the prior's energy ½ ‖c‖² with the written row space of W: [r, k] (θ = vec W, P = r·k) made flat.
    A set of N ≤ r patterns is held exactly in the basis (the rest of each pattern comes from the prior), so a
    set of 64 32×32 glyphs fits in 64 directions of the top k = 256 at 16,384 floats, where the subspace
    energy's 16 full-width directions hold only the set's 16 strongest (measured: block MSE 0.016 against 0.068).

    Unlike the subspace energy's, W's row norms matter: a row of norm t is flat by t² / (t² + ε). θ̄'s rows have
    norm 0.1 against ε = 0.03, so a row the write leaves alone stays mostly the prior's (a quarter flat), while
    the writing loss grows the rows it turns towards the set (measured on 32×32 glyphs at 16,384 floats: unit
    rows with a tiny ε made N = 1 read 0.0085 through 63 random flat directions, these 0.0046, the closed form's).

    Reads descend in the prior's metric (`reads_in_prior_metric`): each step moves along Σ ∇ₓE restricted to
    the free entries (the prior's covariance is well conditioned where the energy is not: a projected plain
    read of 32×32 glyphs needs ~400 steps, this one ~20), unprojected until the last step (the box-constrained
    minimum recalls glyphs worse than the clipped unconstrained one: 0.020 against 0.017).
    """

    ridge = 0.03  # ε: see the class docstring

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.prior = SpectralPrior(config.input_shape, config.value_range)
        dim, rank, basis = self.prior.basis.dim, config.writable_hidden, config.basis_rank
        if not 0 < rank <= basis <= dim:
            raise ValueError(f"spectral energy needs 0 < r ≤ k ≤ D, got r = {rank}, k = {basis}, D = {dim}")
        self.rank, self.basis_rank = rank, basis
        self.theta_bar = nn.Parameter(0.1 * torch.linalg.qr(torch.randn(basis, rank))[0].T.flatten())  # rows ⟂

    def _terms(self, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """W: [B, r, k], G: [B, r, r], coefficients [B, r, M], the memory's residual (I − Π_W) a: [B, M, k], its
        coordinates a: [B, M, k] and the rest of c: [B, M, D − k]."""
        W = theta.view(-1, self.rank, self.basis_rank)
        c = self.prior.coordinates(x)
        a, rest = c[..., : self.basis_rank], c[..., self.basis_rank :]
        gram, coefficients, residual = _flattened(W, a, self.ridge)
        return W, gram, coefficients, residual, a, rest

    def _energy_of(self, residual: Tensor, a: Tensor, rest: Tensor) -> Tensor:
        """E: [B, M] from `_terms`' (I − Π_W) a, a and c[k:]."""
        return 0.5 * (rest.pow(2).sum(-1) + (a * residual).sum(-1))

    def _grad_of(self, residual: Tensor, rest: Tensor, x: Tensor) -> Tensor:
        """∇ₓE = Uᵀ (s ⊙ [(I − Π_W) a, c[k:]]), shaped like x."""
        return self.prior.input_gradient(torch.cat([residual, rest], -1), x)

    def energy(self, x: Tensor, theta: Tensor) -> Tensor:
        *_, residual, a, rest = self._terms(x, theta)
        return self._energy_of(residual, a, rest)

    def grad_x(self, x: Tensor, theta: Tensor, create_graph: bool) -> Tensor:
        *_, residual, _, rest = self._terms(x, theta)
        return self._grad_of(residual, rest, x)

    def energy_and_grad(self, x: Tensor, theta: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
        *_, residual, a, rest = self._terms(x, theta)
        return self._energy_of(residual, a, rest), self._grad_of(residual, rest, x)

    def _write_terms(self, X: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Only the memory's term depends on W, with S = diag(s[:k]) on a: q = s[:k]² ⊙ r."""
        W, gram, a, r, *_ = self._terms(X, theta)
        return W, gram, a, r, r * self.prior.gradient_metric(self.basis_rank)


def build_energy(config: ModelConfig) -> Energy:
    """The energy network named by `config.energy`."""
    if config.energy == "fc":
        return FCEnergy(config)
    if config.energy == "subspace":
        return SubspaceEnergy(config)
    if config.energy == "spectral":
        return SpectralEnergy(config)
    if config.energy == "conv":
        if len(config.input_shape) != 3:
            raise ValueError(f"conv energy needs input_shape (C, H, W), got {config.input_shape}")
        return ConvEnergy(config)
    raise ValueError(f"unknown energy kind {config.energy!r}")
