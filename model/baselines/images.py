"""Classical image memories for the image benchmark, each given a budget of P floats per memory.

- Projection (pseudo-inverse) Hopfield network: W = V Vᵀ, the projection onto the span of the stored images
  (Personnaz et al., 1985). At a budget of P floats it keeps the top r = P // D right singular vectors
  V: [D, r] of the stored set. With the visible pixels clamped, its fixed point is the least-squares fit of
  the visible pixels by the span:  c = argmin ‖k ⊙ (V c − q)‖²,  x̂ = V c  (solved in closed form).
- Modern Hopfield network (Ramsauer et al., 2020): one softmax retrieval over stored images,
  x̂ = Σ_i softmax(−β d_i) x_i with d_i the mean squared distance to x_i over the visible pixels. At a budget
  of P floats it keeps only the first s = P // D images of a set.
- Gaussian prior (a reference that stores nothing): the training split's mean μ and covariance Σ, fitted once;
  the answer is the conditional mean of the hidden pixels given the visible ones,
  x̂_h = μ_h − P_hh⁻¹ P_hv (q_v − μ_v) with P = (Σ + εI)⁻¹. It shows what knowing the data set alone gives,
  which a meta-learned memory also knows.
- Whitened projection (the Gaussian prior plus a projection network in its whitened coordinates): with P½ the
  prior's precision square root, it keeps the top r = P // D right singular vectors of the set's
  z_i = P½ (x_i − μ), as W = B P½: [r, D]; its energy ½ (x − μ)ᵀ (P − WᵀW) (x − μ) is the prior's with the
  stored directions made flat, so a set that fits the rank is recalled exactly and a larger one falls back on
  the prior across what the rank cannot hold. The read minimizes that energy over the hidden pixels in closed
  form (Woodbury: a D_hidden solve per visible-pixel mask, shared, and an r × r one per query).

A query with no known pixel (noise, or an occlusion the client did not mark) is read from all its pixels as
evidence, and nothing is kept fixed; the Gaussian prior then answers with the Wiener estimate
μ + Σ (Σ + s² I)⁻¹ (q − μ) for a given noise variance s².

Shapes: B memories, N stored and M query images of D = C·H·W values; known: [B, M, *S] bool (visible pixels).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch
from torch import Tensor


def evidence(known: Tensor) -> Tensor:
    """[B, M, *S] -> [B, M, D] float: the pixels a query is fitted to: its known ones, or all when none is."""
    flat = known.flatten(2)
    return (flat | ~flat.any(-1, keepdim=True)).to(torch.float32)


def by_mask(known: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
    """known: [R, D] bool -> each distinct visible-pixel mask [D] with the rows [R] bool that have it."""
    masks, which = torch.unique(known, dim=0, return_inverse=True)
    for index, visible in enumerate(masks):
        yield visible, which == index


def _images_in(budget: int, dim: int) -> int:
    """How many D-float vectors a budget of P floats holds (at least one, or the memory is useless)."""
    if budget < dim:
        raise ValueError(f"a budget of {budget} floats holds less than one {dim}-float image")
    return budget // dim


class ProjectionHopfield:
    """The pseudo-inverse rule truncated to rank r = P // D."""

    def __init__(self, budget: int, value_range: tuple[float, float] = (0.0, 1.0), ridge: float = 1e-4) -> None:
        self.budget, self.value_range, self.ridge = budget, value_range, ridge

    def write(self, X: Tensor) -> Tensor:
        """X: [B, N, *S] -> V: [B, D, r], orthonormal columns spanning the top-r subspace of the set."""
        flat = X.flatten(2)
        rank = min(_images_in(self.budget, flat.shape[-1]), *flat.shape[1:])
        _, _, Vh = torch.linalg.svd(flat, full_matrices=False)  # Vh: [B, min(N, D), D]
        return Vh[:, :rank].transpose(1, 2)

    def read(self, V: Tensor, Q: Tensor, known: Tensor) -> Tensor:
        """V: [B, D, r], Q and known: [B, M, *S] -> X̂: [B, M, *S] (visible pixels kept, range clamped)."""
        q, k = Q.flatten(2), evidence(known).to(Q.dtype)
        gram = torch.einsum("bdr,bmd,bds->bmrs", V, k, V)  # Vᵀ diag(k) V: [B, M, r, r]
        rhs = torch.einsum("bdr,bmd->bmr", V, k * q)  # [B, M, r]
        eye = torch.eye(V.shape[-1], dtype=Q.dtype, device=Q.device)
        coefficients = torch.linalg.solve(gram + self.ridge * eye, rhs.unsqueeze(-1)).squeeze(-1)
        fit = torch.einsum("bdr,bmr->bmd", V, coefficients).view_as(Q)
        return torch.where(known, Q, fit.clamp(*self.value_range))


class BudgetedModernHopfield:
    """Softmax retrieval over the first s = P // D stored images (all of them when `budget` is None)."""

    def __init__(self, budget: int | None, beta: float = 1000.0) -> None:
        self.budget, self.beta = budget, beta

    def write(self, X: Tensor) -> Tensor:
        """X: [B, N, *S] -> the kept images [B, s, D]."""
        flat = X.flatten(2)
        slots = flat.shape[1] if self.budget is None else _images_in(self.budget, flat.shape[-1])
        return flat[:, :slots]

    def read(self, stored: Tensor, Q: Tensor, known: Tensor) -> Tensor:
        """stored: [B, s, D], Q and known: [B, M, *S] -> X̂: [B, M, *S] after one update, visible pixels kept."""
        q, k = Q.flatten(2), evidence(known).to(Q.dtype)
        squared = (k * q * q).sum(-1, keepdim=True) - 2 * torch.bmm(k * q, stored.mT) + torch.bmm(k, stored.pow(2).mT)
        distance = squared / k.sum(-1, keepdim=True).clamp_min(1.0)  # [B, M, s]
        retrieved = torch.softmax(-self.beta * distance, dim=-1) @ stored  # [B, M, D]
        return torch.where(known, Q, retrieved.view_as(Q))


class GaussianPrior:
    """The conditional mean under one Gaussian fitted to the training images; writes store nothing."""

    def __init__(
        self,
        train_images: Tensor,
        value_range: tuple[float, float] = (0.0, 1.0),
        ridge: float = 1e-3,
        noise_variance: float = 0.0,
    ) -> None:
        """train_images: [P, *S]; ridge ε keeps the covariance invertible; `noise_variance` s² is what queries
        with no known pixel are denoised for."""
        flat = train_images.flatten(1).double()
        self.mean = flat.mean(0)  # [D]
        eye = torch.eye(flat.shape[1], dtype=torch.float64)
        self.covariance = torch.cov(flat.T) + ridge * eye  # [D, D]
        self.precision = torch.linalg.inv(self.covariance)
        self.wiener_gain = torch.linalg.solve(self.covariance + noise_variance * eye, self.covariance).T  # Σ(Σ+s²I)⁻¹
        self.noise_variance = noise_variance
        self.value_range = value_range
        self._solved: dict[bytes, tuple[Tensor, Tensor]] = {}  # visible-pixel mask -> (P_hh⁻¹, P_hh⁻¹ P_hv)

    @functools.cached_property
    def precision_root(self) -> Tensor:
        """P½: [D, D], the symmetric square root of the precision: z = P½ (x − μ) are the whitened coordinates."""
        values, vectors = torch.linalg.eigh(self.precision)
        return vectors @ torch.diag(values.clamp_min(0.0).sqrt()) @ vectors.T

    def _solve(self, visible: Tensor) -> tuple[Tensor, Tensor]:
        key = visible.cpu().numpy().tobytes()
        if key not in self._solved:
            hidden = ~visible
            inverse = torch.linalg.inv(self.precision[hidden][:, hidden])
            self._solved[key] = inverse, inverse @ self.precision[hidden][:, visible]
        return self._solved[key]

    def hidden_inverse(self, visible: Tensor) -> Tensor:
        """visible: [D] bool -> P_hh⁻¹: [D_hidden, D_hidden], the hidden pixels' posterior covariance (once a mask)."""
        return self._solve(visible)[0]

    def gain(self, visible: Tensor) -> Tensor:
        """visible: [D] bool -> the conditional-mean gain P_hh⁻¹ P_hv: [D_hidden, D_visible] (once per mask)."""
        return self._solve(visible)[1]

    def write(self, X: Tensor) -> None:
        """Nothing of the set is kept."""
        return None

    def read(self, _: None, Q: Tensor, known: Tensor) -> Tensor:
        """Q and known: [B, M, *S] -> X̂: [B, M, *S], the gain solved once per distinct visible-pixel mask."""
        dim = Q[0, 0].numel()
        q, k = Q.double().reshape(-1, dim), known.reshape(-1, dim)  # [B·M, D]
        fit = q.clone()
        for visible, rows in by_mask(k):
            hidden = ~visible
            if not visible.any():  # nothing known: every pixel is a noisy observation
                fit[rows] = self.mean + (q[rows] - self.mean) @ self.wiener_gain.T
                continue
            gain = self.gain(visible)
            centred = q[rows][:, visible] - self.mean[visible]  # [R, V]
            fit[rows.nonzero(), hidden.nonzero().T] = self.mean[hidden] - centred @ gain.T
        answer = fit.clamp(*self.value_range).to(Q.dtype).view_as(Q)
        return torch.where(known, Q, answer)


class WhitenedProjection:
    """The Gaussian prior plus the pseudo-inverse rule, rank r = P // D, in the prior's whitened coordinates."""

    def __init__(self, prior: GaussianPrior, budget: int) -> None:
        """prior: the training split's Gaussian (its noise variance is the one queries without a known pixel are
        read for)."""
        self.prior, self.budget = prior, budget

    def write(self, X: Tensor) -> Tensor:
        """X: [B, N, *S] -> W: [B, r, D], the top-r whitened directions of the set mapped back (W = B P½)."""
        whitened = (X.flatten(2).double() - self.prior.mean) @ self.prior.precision_root  # [B, N, D]
        rank = min(_images_in(self.budget, whitened.shape[-1]), *whitened.shape[1:])
        _, _, Vh = torch.linalg.svd(whitened, full_matrices=False)
        return Vh[:, :rank] @ self.prior.precision_root

    def read(self, W: Tensor, Q: Tensor, known: Tensor) -> Tensor:
        """W: [B, r, D], Q and known: [B, M, *S] -> X̂: [B, M, *S]: the energy's minimum over the hidden pixels
        (with no known pixel, over all of them, the query a noisy observation of variance s²)."""
        batch, queries = Q.shape[:2]
        dim = Q[0, 0].numel()
        mean = self.prior.mean
        q, k = Q.double().reshape(-1, dim), known.reshape(-1, dim)  # [B·M, D]
        memory_of = torch.arange(batch, device=Q.device).repeat_interleave(queries)  # row -> its memory
        fit = q.clone()
        eye = torch.eye(W.shape[1], dtype=torch.float64)
        for visible, rows in by_mask(k):
            Wr = W[memory_of[rows]]  # [R, r, D]
            if visible.any():  # x_h = μ_h + A_hh⁻¹ (−A_hv c), A = P − WᵀW, by Woodbury around G = P_hh⁻¹
                hidden = ~visible
                inverse, gain = self.prior.hidden_inverse(visible), self.prior.gain(visible)
                W_h, W_v = Wr[:, :, hidden], Wr[:, :, visible]  # [R, r, h], [R, r, v]
                centred = q[rows][:, visible] - mean[visible]  # [R, v]
                through = (W_h.mT @ (W_v @ centred.unsqueeze(-1))).squeeze(-1)  # W_hᵀ W_v c: [R, h]
                first = -centred @ gain.T + through @ inverse  # G (−P_hv c + W_hᵀ W_v c): [R, h]
                WG = W_h @ inverse  # [R, r, h]
                inner = eye - WG @ W_h.mT  # I − W_h G W_hᵀ: [R, r, r]
                correction = torch.linalg.lstsq(inner, (W_h @ first.unsqueeze(-1))).solution.squeeze(-1)
                fit[rows.nonzero(), hidden.nonzero().T] = (
                    mean[hidden] + first + (correction.unsqueeze(1) @ WG).squeeze(1)
                )
            elif self.prior.noise_variance > 0:  # x − μ = (s² A + I)⁻¹ (q − μ), by Woodbury around K = (s² P + I)⁻¹
                variance = self.prior.noise_variance
                shrink = self.prior.wiener_gain  # K = (s² P + I)⁻¹ = Σ (Σ + s² I)⁻¹ (symmetric): [D, D]
                first = (q[rows] - mean) @ shrink  # K (q − μ): [R, D]
                WK = Wr @ shrink  # [R, r, D]
                inner = eye / variance - WK @ Wr.mT  # I / s² − W K Wᵀ
                correction = torch.linalg.lstsq(inner, (Wr @ first.unsqueeze(-1))).solution.squeeze(-1)
                fit[rows] = mean + first + (correction.unsqueeze(1) @ WK).squeeze(1)
        answer = fit.clamp(*self.prior.value_range).to(Q.dtype).view_as(Q)
        return torch.where(known, Q, answer)
