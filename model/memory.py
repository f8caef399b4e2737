"""The Energy-Based Memory Model (Bartunov et al., ICLR 2020): meta-learned writing and reading rules.

Writing (section 3) compresses a set of patterns X into the writable parameters θ by T steps of gradient
descent from the meta-learned initialisation θ̄ on the writing loss

    W(X, θ) = mean_i [ E(x_i; θ) + α ‖∇ₓE(x_i; θ)‖² ] + β ‖θ − θ̄‖²,       θ_{t+1} = θ_t − η_t ⊙ ∇_θ W,

with one learned rate per writable float and step (η_t: [P]), optionally scaled by N^κ (see ModelConfig).

Reading (section 2, appendix A) descends the energy from a query for K steps of projected Nesterov-momentum
gradient descent with learned step sizes γ_k:

    y_k = x_k + ρ v_k,   v_{k+1} = ρ v_k − γ_k ∇ₓE(y_k; θ),   x_{k+1} = proj(x_k + v_{k+1}),

from x₀ = the query, or (`learned_read_start`) with its free entries pulled towards the middle of the range.
With `query_l1_prior` each step also takes the proximal step of τ_k ‖x − q‖₁ on the free entries that carry
a value (soft-thresholding x − q): a prior that the answer differs from the query in few entries, which is
what a query with flipped bits or sparse noise needs, and which the energy alone does not say (a FC energy
depends on x only through the writable projections W x, so changes in their null space cost nothing).

All step sizes, α, β and the momentum ρ are learned in log / logit space. Both loops are batched over B memories.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.config import ModelConfig
from model.energy import Energy, build_energy


def soft_threshold(z: Tensor, threshold: Tensor) -> Tensor:
    """The proximal step of threshold·‖z‖₁: shrink each entry towards 0 by `threshold`, stopping at 0."""
    return torch.sign(z) * (z.abs() - threshold).clamp_min(0.0)


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
            self.log_free_read_lr = nn.Parameter(
                torch.full((config.read_steps,), math.log(config.init_free_read_lr))
            )
            self.free_momentum_logit = nn.Parameter(torch.tensor(math.log(p / (1.0 - p))))
        if config.query_l1_prior:
            self.log_l1_threshold = nn.Parameter(torch.full((config.read_steps,), math.log(config.init_l1_threshold)))
        if config.learned_read_start:
            s = config.init_read_start
            self.read_start_logit = nn.Parameter(torch.tensor(math.log(s / (1.0 - s))))

    @property
    def writable_numel(self) -> int:
        return self.energy.writable_numel

    def project(self, x: Tensor) -> Tensor:
        """proj: clamp onto the model's domain (the box [lo, hi]^D)."""
        lo, hi = self.config.value_range
        return x.clamp(lo, hi)

    def read_start(self, Q: Tensor, free: Tensor | None, create_graph: bool = False) -> Tensor:
        """x₀: the query, or with `learned_read_start` its free entries pulled towards the middle c of the
        value range, c + s·(q − c) with learned s ∈ (0, 1); `free`: [B, M, *S] 0/1 or None (all free)."""
        if not self.config.learned_read_start:
            return Q
        shrink = torch.sigmoid(self.read_start_logit)
        if not create_graph:
            shrink = shrink.detach()
        centre = sum(self.config.value_range) / 2.0
        shrunk = centre + shrink * (Q - centre)
        return shrunk if free is None else Q + free * (shrunk - Q)

    def write(self, X: Tensor, pattern_mask: Tensor | None = None, create_graph: bool = False) -> Tensor:
        """X: [B, N, *S], pattern_mask: [B, N] (True = a real pattern, False = padding) -> θ: [B, P].

        With `create_graph=False` (serving) each step differentiates on a fresh leaf θ and keeps no graph
        across steps; with `create_graph=True` (meta-training) the whole unrolled loop stays differentiable.
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
            with torch.enable_grad():
                if not create_graph:
                    theta = theta.detach().requires_grad_()
                e, grad_x = self.energy.energy_and_grad(X, theta, create_graph=True)
                per_pattern = e + alpha * grad_x.flatten(2).pow(2).sum(-1)  # [B, N]
                loss = (weights * per_pattern).sum() + beta * (theta - theta_bar).pow(2).sum()
                (grad_theta,) = torch.autograd.grad(loss, theta, create_graph=create_graph)
            theta = theta - write_lr[step] * grad_theta
        return theta if create_graph else theta.detach()

    def read(
        self, theta: Tensor, Q: Tensor, known: Tensor | None = None, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """θ: [B, P], Q: [B, M, *S], known: [B, M, *S] bool or None -> (X̂: [B, M, *S], E(X̂): [B, M]).

        `known` clamps entries: they keep their query value and only the others descend the energy
        (the erasure / occlusion protocol of the paper's Table 1). Without it (or with nothing known) every
        entry moves, or, with `untrusted_read_rounds`, the query is read as rounds of erasures (read_untrusted).
        """
        nothing_known = known is None or not bool(known.any())
        if nothing_known and self.config.untrusted_read_rounds > 0:
            return self.read_untrusted(theta, Q, create_graph)
        return self.descend(theta, Q, None if nothing_known else known, create_graph)

    def descend(
        self, theta: Tensor, Q: Tensor, known: Tensor | None = None, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """The paper's read: K steps of projected Nesterov descent from Q, `known` entries clamped.

        With `free_read_rates`, a read with nothing clamped uses its own learned rates and momentum."""
        free_rates = known is None and self.config.free_read_rates
        momentum = torch.sigmoid(self.free_momentum_logit if free_rates else self.momentum_logit)
        read_lr = (self.log_free_read_lr if free_rates else self.log_read_lr).exp()
        if not create_graph:
            momentum, read_lr = momentum.detach(), read_lr.detach()
        free = None if known is None else (~known).to(Q.dtype)
        thresholds = self._l1_thresholds(Q, free, create_graph)  # [K, B, M, *S] or None
        x, velocity = self.read_start(Q, free, create_graph), torch.zeros_like(Q)
        for step in range(self.config.read_steps):
            lookahead = self.project(x + momentum * velocity)
            grad_x = self.energy.grad_x(lookahead, theta, create_graph=create_graph)
            if free is not None:
                grad_x = grad_x * free
            velocity = momentum * velocity - read_lr[step] * grad_x
            x = x + velocity
            if thresholds is not None:
                x = Q + soft_threshold(x - Q, thresholds[step])
            x = self.project(x)
            if known is not None:
                x = torch.where(known, Q, x)
        return x, self.energy.energy(x, theta)

    def read_untrusted(self, theta: Tensor, Q: Tensor, create_graph: bool = False) -> tuple[Tensor, Tensor]:
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
            x, energies = self.descend(theta, torch.where(known, Q, torch.full_like(Q, centre)), known, create_graph)
        return x, energies

    def _l1_thresholds(self, Q: Tensor, free: Tensor | None, create_graph: bool) -> Tensor | None:
        """The L1 query prior's per-step thresholds τ_k on the entries it applies to: free entries that carry a
        value (not the middle of the range, which marks an unknown entry). [K, B, M, *S], or None without it."""
        if not self.config.query_l1_prior:
            return None
        thresholds = self.log_l1_threshold.exp()
        if not create_graph:
            thresholds = thresholds.detach()
        centre = sum(self.config.value_range) / 2.0
        evidence = (centre != Q).to(Q.dtype)
        if free is not None:
            evidence = evidence * free
        return thresholds.view(-1, *([1] * Q.dim())) * evidence

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
            **(
                {"l1_threshold": [float(v) for v in self.log_l1_threshold.detach().exp()]}
                if self.config.query_l1_prior
                else {}
            ),
            **(
                {"read_start": float(torch.sigmoid(self.read_start_logit.detach()))}
                if self.config.learned_read_start
                else {}
            ),
        }
