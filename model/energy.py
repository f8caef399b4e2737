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


class Energy(nn.Module):
    """Base class: `energy(x, θ)` plus its input gradient, with the writable budget as a property.

    Any energy may add the meta-learned quadratic  ½ λ ‖x − μ‖² + ½ ‖L (x − μ)‖²  (`config.quadratic_energy`),
    a Gaussian prior over patterns: centre μ: [D], log λ and, when `config.quadratic_rank` R > 0, the
    precision factor L: [R, D].
    """

    theta_bar: nn.Parameter

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

    def _add_quadratic(self, e: Tensor, x: Tensor) -> Tensor:
        """E [B, M] plus the quadratic when the energy has it (no gradient computed)."""
        return e + self._quadratic(x, with_grad=False)[0] if self.quadratic else e

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


class FCEnergy(Energy):
    """The paper's fully connected energy  E(x) = vᵀ softplus(A · tanh(W x + b) + c)  [+ a quadratic]
    [+ an attractor].

    Writable: W: [H, D] and b: [H] (θ = [vec W, b], P = H·D + H). Meta-learned: A: [G, H], c: [G], v: [G],
    and optionally the quadratic (see Energy) and the attractor (`config.attractor_energy`), a modern Hopfield
    energy whose H slots are the writable rows:

        E_att(x) = −(m/τ) log [exp(τ b₀) + Σ_j exp(τ (b_j − ½ ‖x − ξ_j‖²))],   ξ_j = κ + s w_j,

    κ the quadratic's centre μ (else the middle of the value range); weight m, inverse temperature τ and slot
    scale s meta-learned (log space), and the null slot's logit b₀, which takes over (and the pull vanishes) far
    from every slot. Its input gradient is m Σ_j p_j (x − ξ_j), p = softmax over the null slot and the H slots.
    Patterns of any shape are flattened first: D = prod(input_shape), e.g. C·H·W for images.
    The input gradient is written out by hand (backprop through the three layers), which makes reads
    autograd-free, CUDA-graph capturable and runnable under `torch.inference_mode()`; it is built from
    differentiable ops, so meta-training differentiates through it as usual.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dim = math.prod(config.input_shape)
        hidden, meta_hidden = config.writable_hidden, config.meta_hidden
        self.dim, self.hidden = dim, hidden
        w = torch.randn(hidden, dim) / math.sqrt(dim)
        self.theta_bar = nn.Parameter(torch.cat([w.flatten(), torch.zeros(hidden)]))
        self.A = nn.Parameter(torch.randn(meta_hidden, hidden) / math.sqrt(hidden))
        self.c = nn.Parameter(torch.zeros(meta_hidden))
        self.v = nn.Parameter(torch.full((meta_hidden,), 1.0 / math.sqrt(meta_hidden)))
        self._init_quadratic(config)
        self.attractor = config.attractor_energy
        if self.attractor:
            self.log_attractor_weight = nn.Parameter(torch.tensor(math.log(config.init_attractor_weight)))
            self.log_attractor_temperature = nn.Parameter(torch.tensor(math.log(config.init_attractor_temperature)))
            self.log_slot_scale = nn.Parameter(torch.tensor(math.log(config.init_attractor_slot_scale)))
            self.attractor_threshold = nn.Parameter(torch.tensor(config.init_attractor_threshold))
            self.range_middle = sum(config.value_range) / 2

    def unpack(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """θ: [B, P] -> W: [B, H, D], b: [B, H]."""
        split = self.hidden * self.dim
        return theta[:, :split].view(-1, self.hidden, self.dim), theta[:, split:]

    def _forward(self, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """-> W: [B, H, D], the pre-activations u = W x + b: [B, M, H], h = tanh(u): [B, M, H], z: [B, M, G]."""
        W, b = self.unpack(theta)
        u = torch.baddbmm(b.unsqueeze(1), x.flatten(2), W.transpose(1, 2))
        h = torch.tanh(u)
        z = F.linear(h, self.A, self.c)
        return W, u, h, z

    def energy(self, x: Tensor, theta: Tensor) -> Tensor:
        _, u, _, z = self._forward(x, theta)
        e = F.softplus(z) @ self.v  # [B, M]
        if self.attractor:
            e = e + self._attractor(x, theta, u)[0]
        return self._add_quadratic(e, x)

    def energy_and_grad(self, x: Tensor, theta: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
        W, u, h, z = self._forward(x, theta)
        attraction = self._attractor(x, theta, u) if self.attractor else None
        e, grad = F.softplus(z) @ self.v, self._backward(W, h, z, attraction)
        if attraction is not None:
            e = e + attraction[0]
        if self.quadratic:
            quadratic_e, quadratic_grad = self._quadratic(x, with_grad=True)
            e, grad = e + quadratic_e, grad + quadratic_grad
        return e, grad.view_as(x)

    def grad_x(self, x: Tensor, theta: Tensor, create_graph: bool) -> Tensor:
        """∇ₓE alone (a read step's hot path: the energy is not computed)."""
        W, u, h, z = self._forward(x, theta)
        grad = self._backward(W, h, z, self._attractor(x, theta, u) if self.attractor else None)
        if self.quadratic:
            grad = grad + self._quadratic(x, with_grad=True)[1]
        return grad.view_as(x)

    def _backward(
        self, W: Tensor, h: Tensor, z: Tensor, attraction: tuple[Tensor, Tensor, Tensor] | None = None
    ) -> Tensor:
        """∇ₓE by hand: dE/dz = σ(z)·v, dE/du = (dE/dz · A) ⊙ (1 − h²), ∇ₓE = dE/du · W; with the attractor
        (`attraction`, from `_attractor`), plus m ((1 − p₀)(x − κ) − s Σ_j p_j w_j).  -> [B, M, D]"""
        dz = torch.sigmoid(z) * self.v  # [B, M, G]
        du = (dz @ self.A) * (1.0 - h * h)  # [B, M, H]
        if attraction is None:
            return torch.bmm(du, W)
        _, p, centred = attraction
        weight = self.log_attractor_weight.exp()
        du = du - weight * self.log_slot_scale.exp() * p
        return torch.bmm(du, W) + weight * p.sum(-1, keepdim=True) * centred

    def _attractor(self, x: Tensor, theta: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """E_att: [B, M], the H slots' share of the softmax p: [B, M, H] (the null slot has the rest) and
        x − κ: [B, M, D], from the pre-activations u = W x + b."""
        W, b = self.unpack(theta)
        centre = self.mu if self.quadratic else torch.full_like(W[0, 0], self.range_middle)  # κ: [D]
        scale, temperature = self.log_slot_scale.exp(), self.log_attractor_temperature.exp()
        centred = x.flatten(2) - centre
        # b_j − ½ ‖x − κ − s w_j‖² = b_j + s (u_j − b_j) − s w_j·κ − ½ s² ‖w_j‖² − ½ ‖x − κ‖²
        offset = (1.0 - scale) * b - scale * (W @ centre) - 0.5 * scale**2 * W.pow(2).sum(-1)  # [B, H]
        slots = scale * u + offset.unsqueeze(1) - 0.5 * centred.pow(2).sum(-1, keepdim=True)  # [B, M, H]
        null = self.attractor_threshold.expand(*slots.shape[:-1], 1)
        logits = temperature * torch.cat([null, slots], -1)  # [B, M, 1 + H]
        e = -self.log_attractor_weight.exp() / temperature * torch.logsumexp(logits, -1)
        return e, torch.softmax(logits, -1)[..., 1:], centred


class ConvEnergy(Energy):
    """A small residual convolutional energy for images.

    Writable: the first convolution, F filters of C×k×k plus F biases (P = F·C·k² + F), applied per memory
    as one grouped convolution over the batch. Meta-learned: `residual_blocks` shared 3×3 residual blocks,
    then  E = vᵀ softplus(A · flatten(h) + c)  [+ the quadratic (see Energy), on the flattened image].
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        channels, height, width = config.input_shape
        filters, k = config.writable_hidden, config.kernel_size
        self.channels, self.filters, self.kernel, self.stride = channels, filters, k, config.stride
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
        out_h = (height + 2 * (k // 2) - k) // config.stride + 1
        out_w = (width + 2 * (k // 2) - k) // config.stride + 1
        self.readout = nn.Linear(filters * out_h * out_w, config.meta_hidden)
        self.v = nn.Parameter(torch.full((config.meta_hidden,), 1.0 / math.sqrt(config.meta_hidden)))
        self._init_quadratic(config)

    def energy(self, x: Tensor, theta: Tensor) -> Tensor:
        batch, queries = x.shape[:2]
        split = self.filters * self.channels * self.kernel**2
        weight = theta[:, :split].reshape(batch * self.filters, self.channels, self.kernel, self.kernel)
        bias = theta[:, split:].reshape(batch * self.filters)
        grouped = x.transpose(0, 1).reshape(queries, batch * self.channels, *x.shape[-2:])
        u = F.conv2d(grouped, weight, bias, stride=self.stride, padding=self.kernel // 2, groups=batch)
        h = torch.tanh(u).view(queries, batch, self.filters, *u.shape[-2:]).transpose(0, 1)
        h = h.reshape(batch * queries, self.filters, *u.shape[-2:])  # [B·M, F, H', W']
        for block in self.blocks:
            h = h + block(h)
        z = self.readout(h.flatten(1))  # [B·M, G]
        return self._add_quadratic((F.softplus(z) @ self.v).view(batch, queries), x)


def build_energy(config: ModelConfig) -> Energy:
    """The energy network named by `config.energy`."""
    if config.energy == "fc":
        return FCEnergy(config)
    if config.energy == "conv":
        if len(config.input_shape) != 3:
            raise ValueError(f"conv energy needs input_shape (C, H, W), got {config.input_shape}")
        return ConvEnergy(config)
    raise ValueError(f"unknown energy kind {config.energy!r}")
