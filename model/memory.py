"""The Energy-Based Memory Model (Bartunov et al., ICLR 2020): meta-learned writing and reading rules.

Writing (section 3) compresses a set of patterns X into the writable parameters θ by T steps of gradient
descent from the meta-learned initialisation θ̄ on the writing loss

    W(X, θ) = mean_i [ E(x_i; θ) + α ‖∇ₓE(x_i; θ)‖² ] + β ‖θ − θ̄‖²,       θ_{t+1} = θ_t − η_t ⊙ ∇_θ W,

with one learned rate per writable float and step (η_t: [P]), optionally scaled by N^κ (see ModelConfig), and
each step projected onto what the energy lets a write reach (Energy.project_written; all of θ but for a conv
energy's `filter_norm_cap`).

Reading (section 2, appendix A) descends the energy from a query for K steps of projected Nesterov-momentum
gradient descent with learned step sizes γ_k:

    y_k = x_k + ρ v_k,   v_{k+1} = ρ v_k − γ_k ∇ₓE(y_k; θ),   x_{k+1} = proj(x_k + v_{k+1}),

from x₀ = the query. An energy with the spectral prior (SpectralEnergy; FCEnergy with `spectral_prior`) reads
in its metric: v_{k+1} = ρ v_k − γ_k Σ ∇ₓE(y_k) on the free entries, with only the last x projected. A query
with nothing known (its entries may be wrong) can instead be read as rounds of erasure reads
(`read_untrusted`): a FC energy on the pixels depends on x only through the writable projections W x, so the
part of a corruption in their null space costs nothing and a plain read cannot remove it.

All step sizes, α, β and the momentum ρ are learned in log / logit space. Both loops are batched over B memories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from model.config import ModelConfig
from model.energy import Energy, build_energy


@dataclass
class ReadTrace:
    """What a read passed through, recorded only when a caller passes one to `read` (the service's opt-in trace).

    Each descent records its start and the state after each of its steps (K + 1 states); a read of rounds
    (read_untrusted) records every round's descent, one after another. states: [B, M, *S] each; energies:
    E(state) [B, M] each. The last state is the read's answer state.
    """

    states: list[Tensor] = field(default_factory=list)
    energies: list[Tensor] = field(default_factory=list)
    rounds: int = 0

    def record(self, x: Tensor, energy: Tensor) -> None:
        self.states.append(x)
        self.energies.append(energy)


class EnergyMemory(nn.Module):
    """An energy network plus the meta-parameters of its writing and reading rules."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.energy: Energy = build_energy(config)
        write_lr_shape = (config.write_steps, self.energy.writable_numel if config.per_parameter_write_lr else 1)
        self.log_write_lr = nn.Parameter(torch.full(write_lr_shape, math.log(config.init_write_lr)))
        self.log_read_lr = nn.Parameter(torch.full((config.read_steps,), math.log(config.init_read_lr)))
        p = config.init_momentum
        self.momentum_logit = nn.Parameter(torch.tensor(math.log(p / (1.0 - p))))
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.init_alpha)))
        self.log_beta = nn.Parameter(torch.tensor(math.log(config.init_beta)))
        if config.count_scaled_write_lr:
            self.write_lr_count_exponent = nn.Parameter(torch.tensor(config.init_write_lr_count_exponent))
        if config.free_read_rates:
            self.log_free_read_lr = nn.Parameter(torch.full((config.free_steps,), math.log(config.init_free_read_lr)))
            self.free_momentum_logit = nn.Parameter(torch.tensor(math.log(p / (1.0 - p))))
        if config.free_read_entry_rates:
            if not config.free_read_rates:
                raise ValueError("free_read_entry_rates needs free_read_rates")
            self.log_free_read_entry_scale = nn.Parameter(torch.zeros(config.input_shape))

    @property
    def writable_numel(self) -> int:
        return self.energy.writable_numel

    def project(self, x: Tensor) -> Tensor:
        """proj: clamp onto the model's domain (the box [lo, hi]^D)."""
        lo, hi = self.config.value_range
        return x.clamp(lo, hi)

    def write(
        self,
        X: Tensor,
        pattern_mask: Tensor | None = None,
        create_graph: bool = False,
        product_dtype: torch.dtype | None = None,
    ) -> Tensor:
        """X: [B, N, *S], pattern_mask: [B, N] (True = a real pattern, False = padding) -> θ: [B, P].

        With `create_graph=False` (serving) no graph is kept across steps (the FC energy computes each step's
        gradient by hand, Energy.write_loss_grad); with `create_graph=True` (meta-training) the whole unrolled
        loop stays differentiable. `product_dtype`: the dtype of the gradient's products with the meta-learned
        layers (None: X's; bfloat16: the FC energy's serving writes only; θ keeps X's dtype).
        """
        batch, count = X.shape[:2]
        if pattern_mask is None:
            pattern_mask = torch.ones(batch, count, dtype=torch.bool, device=X.device)
        mask = pattern_mask.to(X.dtype)
        X = X * mask.view(batch, count, *([1] * (X.dim() - 2)))  # padding never carries values in
        counts = mask.sum(1, keepdim=True).clamp_min(1.0)  # [B, 1]: N of each memory
        weights = mask / counts  # [B, N]: the mean over real patterns
        alpha, beta = self.log_alpha.exp(), self.log_beta.exp()
        write_lr = self.log_write_lr.exp().unsqueeze(1)  # [T, 1, P] or [T, 1, 1]
        if self.config.count_scaled_write_lr:
            write_lr = write_lr * counts.pow(self.write_lr_count_exponent)  # [T, B, P]: η_t · N^κ
        theta_bar = self.energy.theta_bar
        if not create_graph:
            alpha, beta, write_lr, theta_bar = alpha.detach(), beta.detach(), write_lr.detach(), theta_bar.detach()
        theta = theta_bar.expand(batch, -1)
        for step in range(self.config.write_steps):
            grad_theta = self.energy.write_loss_grad(X, weights, theta, alpha, create_graph, product_dtype)
            grad_theta = grad_theta + 2.0 * beta * (theta - theta_bar)  # the β ‖θ − θ̄‖² term
            theta = self.energy.project_written(theta - write_lr[step] * grad_theta)
        return theta if create_graph else theta.detach()

    def read(
        self,
        theta: Tensor,
        Q: Tensor,
        known: Tensor | None = None,
        create_graph: bool = False,
        trace: ReadTrace | None = None,
    ) -> tuple[Tensor, Tensor]:
        """θ: [B, P], Q: [B, M, *S], known: [B, M, *S] bool or None -> (X̂: [B, M, *S], E(X̂): [B, M]).

        `known` clamps entries: they keep their query value and only the others descend the energy
        (the erasure / occlusion protocol of the paper's Table 1). Without it (or with nothing known) every
        entry moves, or, with `untrusted_read_rounds`, the query is read as rounds of erasures (read_untrusted).
        A `trace` records every state and its energy (one more energy evaluation per step; None: nothing).
        """
        if self.reads_untrusted(known):
            return self.read_untrusted(theta, Q, create_graph, trace)
        known = known if known is not None and bool(known.any()) else None
        return self.descend(theta, Q, known, create_graph, trace)

    def reads_untrusted(self, known: Tensor | None) -> bool:
        """Whether `read` takes a query with this `known` as rounds of erasure reads: nothing known, and the
        model has `untrusted_read_rounds`."""
        return self.config.untrusted_read_rounds > 0 and (known is None or not bool(known.any()))

    def descend(
        self,
        theta: Tensor,
        Q: Tensor,
        known: Tensor | None = None,
        create_graph: bool = False,
        trace: ReadTrace | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The paper's read: K steps of projected Nesterov descent from Q, `known` entries clamped.

        With `free_read_rates`, a read with nothing clamped uses its own learned rates, momentum and step count
        (and, with `free_read_entry_rates`, its own step scale per entry)."""
        free_rates = known is None and self.config.free_read_rates
        momentum = torch.sigmoid(self.free_momentum_logit if free_rates else self.momentum_logit)
        read_lr = (self.log_free_read_lr if free_rates else self.log_read_lr).exp()
        steps = self.config.free_steps if free_rates else self.config.read_steps
        entry_scale = None
        if free_rates and self.config.free_read_entry_rates:
            entry_scale = self.log_free_read_entry_scale.exp()  # [*S]
        if not create_graph:
            momentum, read_lr = momentum.detach(), read_lr.detach()
            entry_scale = None if entry_scale is None else entry_scale.detach()
        free = None if known is None else (~known).to(Q.dtype)
        in_prior_metric = self.energy.reads_in_prior_metric
        x, velocity = Q, torch.zeros_like(Q)
        if trace is not None:
            trace.rounds += 1
            trace.record(x, self.energy.energy(x, theta))
        for step in range(steps):
            lookahead = x + momentum * velocity
            lookahead = lookahead if in_prior_metric else self.project(lookahead)
            grad_x = self.energy.grad_x(lookahead, theta, create_graph=create_graph)
            if free is not None:
                grad_x = grad_x * free
            if in_prior_metric:
                grad_x = self.energy.prior_covariance_product(grad_x)
                grad_x = grad_x if free is None else grad_x * free
            if entry_scale is not None:
                grad_x = grad_x * entry_scale
            velocity = momentum * velocity - read_lr[step] * grad_x
            x = x + velocity
            x = x if in_prior_metric and step < steps - 1 else self.project(x)
            if known is not None:
                x = torch.where(known, Q, x)
            if trace is not None:
                trace.record(x, self.energy.energy(x, theta))
        return x, self.energy.energy(x, theta)

    def read_untrusted(
        self, theta: Tensor, Q: Tensor, create_graph: bool = False, trace: ReadTrace | None = None
    ) -> tuple[Tensor, Tensor]:
        """Read a query none of whose entries is known to be right (flipped bits) as rounds of erasure reads.

        Each round suspects the entries the energy would move off the query's value, q·∂E/∂x at the current
        answer (the entries the last round changed first), erases the `untrusted_read_erased` most suspect ones
        (and the query's unknown entries, the middle of the range) and reads again with the others clamped:
        the protocol the model was meta-trained on. The answer is the last round's. Q: [B, M, *S].
        """
        lo, hi = self.config.value_range
        centre = (lo + hi) / 2.0
        shape = Q.shape
        q = Q.flatten(2) - centre  # [B, M, D]: the query's evidence, 0 where unknown
        unknown = q == 0
        erased = min(self.config.untrusted_read_erased, q.shape[-1])
        x = Q
        for _ in range(self.config.untrusted_read_rounds):
            grad = self.energy.grad_x(x, theta, create_graph=False).flatten(2).detach()
            suspicion = q * grad  # > 0: the energy falls if this entry moves away from the query
            changed = (x.flatten(2) - Q.flatten(2)).abs().detach() > (hi - lo) / 2.0  # the last round flipped it
            suspicion = suspicion + changed * (2.0 * suspicion.abs().amax(-1, keepdim=True) + 1.0)
            suspicion = suspicion.masked_fill(unknown, float("-inf"))  # already erased: not part of the budget
            suspects = torch.zeros_like(unknown).scatter_(-1, suspicion.topk(erased, dim=-1).indices, True)
            known = (~suspects & ~unknown).view(shape)
            start = torch.where(known, Q, torch.full_like(Q, centre))
            x, energies = self.descend(theta, start, known, create_graph, trace)
        return x, energies

    def meta_parameters_summary(self) -> dict[str, float | list[float]]:
        """The learned scalars of both rules, for logs and checkpoints' JSON."""
        return {
            "write_lr_mean": [float(v) for v in self.log_write_lr.detach().exp().mean(1)],
            "read_lr": [float(v) for v in self.log_read_lr.detach().exp()],
            "momentum": float(torch.sigmoid(self.momentum_logit.detach())),
            "alpha": float(self.log_alpha.detach().exp()),
            "beta": float(self.log_beta.detach().exp()),
            **(
                {"write_lr_count_exponent": float(self.write_lr_count_exponent.detach())}
                if self.config.count_scaled_write_lr
                else {}
            ),
            **(
                {
                    "free_read_lr": [float(v) for v in self.log_free_read_lr.detach().exp()],
                    "free_momentum": float(torch.sigmoid(self.free_momentum_logit.detach())),
                }
                if self.config.free_read_rates
                else {}
            ),
        }
