r"""Mixture heads for d ≥ 2 outputs: `CholeskyHead`, and Graves' bivariate
parametrisation (σ1, σ2, ρ) as a Cholesky factor.

Component j of a d-dimensional mixture is N(μ_j, L_j L_jᵀ) with L_j lower
triangular and a positive diagonal. The head predicts L_j entry by entry:
the diagonal as exp(B·tanh(raw/B)) (a soft bound, B = LOG_SCALE_BOUND, so
every L_ii lies in [e^−B, e^B] and the NLL stays finite for any raw output),
the entries below it freely. Every Cholesky factor is reached, so the head
can express every covariance matrix with log-diagonal entries within ±B.

For d = 2 this *is* Graves' (2013) bivariate parametrisation:

.. math:: L = \begin{pmatrix} \sigma_1 & 0 \\ \rho\sigma_2 & \sigma_2\sqrt{1-\rho^2} \end{pmatrix},
          \qquad L L^\top = \begin{pmatrix} \sigma_1^2 & \rho\sigma_1\sigma_2 \\
          \rho\sigma_1\sigma_2 & \sigma_2^2 \end{pmatrix},

and `bivariate_scale_tril` / `scale_tril_to_bivariate` convert between the two
(σ1 = L11, σ2 = ‖(L21, L22)‖, ρ = L21/σ2). L_ii is the standard deviation of
y_i given y_1 … y_{i−1} within the component, so log det L = Σ log L_ii.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from ._checks import (
    MAX_WIDTH,
    as_float_tensor,
    check_finite,
    check_finite_2d,
    check_parameter_count,
    check_positive_int,
    check_real,
    check_weights_not_meta,
)
from .mixture import LOG_SQRT_2PI, Y_LIMIT, Z_LIMIT, Mixture, check_bias

__all__ = [
    "LOG_SCALE_BOUND",
    "MAX_COMPONENTS",
    "MAX_DIMENSION",
    "CholeskyHead",
    "bivariate_scale_tril",
    "n_outputs_per_component",
    "scale_tril_to_bivariate",
]


#: The soft bound B on log L_ii, log L_ii = B·tanh(raw/B): the same bound as
#: the 1-d head's (mdn.LOG_SIGMA_BOUND), so L_ii ∈ [e^−10, e^10].
LOG_SCALE_BOUND = 10.0
#: Most mixture components, for every head (mdn.py imports it).
MAX_COMPONENTS = 10_000
#: Largest d: the head's output grows as d²/2 per component.
MAX_DIMENSION = 100


def n_outputs_per_component(d: int) -> int:
    """Raw outputs per component: 1 logit, d locations, d diagonal and d(d−1)/2 off-diagonal entries."""
    return 1 + d + d * (d + 1) // 2


class CholeskyHead(nn.Module):
    """A linear map from features h (batch, n_in) to a mixture of k Gaussians
    over y ∈ R^d (d ≥ 2), each with a full covariance L Lᵀ.

    One ``nn.Linear(n_in, k·(1 + d + d(d+1)/2))``; its output is split, in
    this order, into k logits, k·d locations (component-major: loc[:, j, i]),
    k·d raw diagonal entries and k·d(d−1)/2 off-diagonal entries (component
    j's row-major lower triangle, as ``torch.tril_indices(d, d, -1)``).

    ``L_ii = exp(B·tanh(raw_ii/B))·e^(−std_bias) + eps`` and
    ``L_ij = raw_ij·e^(−std_bias)`` below the diagonal (B = LOG_SCALE_BOUND):
    eps ≥ 0 is a floor under each diagonal entry, added after the bias as the
    1-d head adds it to σ. As L_ii is the conditional standard deviation of
    y_i given y_<i, eps > 0 bounds every component's density by
    (2π)^(−d/2)·eps^(−d) (its log det L ≥ d·log eps), which keeps the NLL
    from running to −∞ on repeated points; it is no floor on every direction's
    spread (a large off-diagonal entry can still make L Lᵀ nearly singular).
    """

    def __init__(self, n_in: int, n_components: int, d: int, eps: float = 0.0) -> None:
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in, maximum=MAX_WIDTH)
        self.n_components = check_positive_int("n_components", n_components, maximum=MAX_COMPONENTS)
        if isinstance(d, numbers.Integral) and not isinstance(d, bool) and d == 1:
            raise ValueError(
                "d must be >= 2 for a CholeskyHead; for one output (d = 1) use the 1-d head, mdn.GaussianMixture1d"
            )
        self.d = check_positive_int("d", d, minimum=2, maximum=MAX_DIMENSION)
        self.eps = check_real("eps", eps, minimum=0.0)
        n_out = self.n_components * n_outputs_per_component(d)
        check_parameter_count("the Cholesky head", (self.n_in + 1) * n_out, "n_in, n_components or d")
        self.lin = nn.Linear(self.n_in, n_out)
        # the strict lower triangle, row-major (torch.tril_indices(d, d, -1)'s order), in plain Python:
        # a checkpoint builds the model on the meta device, where no tensor can be read back
        self._rows = [i for i in range(self.d) for _ in range(i)]
        self._cols = [j for i in range(self.d) for j in range(i)]

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_components={self.n_components}, d={self.d}, eps={self.eps:g}"

    def _check_h(self, h) -> Tensor:
        h = as_float_tensor("h", h)
        check_weights_not_meta(self.lin.weight, "the Cholesky head", "h")
        if h.dim() != 2 or h.shape[1] != self.n_in:
            raise ValueError(f"h must have shape (batch, {self.n_in}), got {tuple(h.shape)}")
        return h.to(self.lin.weight)

    def raw(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The split outputs: logits (batch, k), loc (batch, k, d), log of the
        diagonal before bias and floor, B·tanh(raw/B) (batch, k, d), and the
        off-diagonal entries (batch, k, d(d−1)/2)."""
        k, d = self.n_components, self.d
        out = self.lin(self._check_h(h))
        logits, loc, diag, off = out.split([k, k * d, k * d, k * (d * (d - 1) // 2)], dim=-1)
        batch = out.shape[0]
        log_diag = LOG_SCALE_BOUND * torch.tanh(diag.reshape(batch, k, d) / LOG_SCALE_BOUND)
        return logits, loc.reshape(batch, k, d), log_diag, off.reshape(batch, k, -1)

    def _tril(self, log_diag: Tensor, off: Tensor) -> Tensor:
        """(batch, k, d, d): exp(log_diag) on the diagonal, `off` below it, zeros above."""
        tril = torch.diag_embed(torch.exp(log_diag))
        if self._rows:
            tril[..., self._rows, self._cols] = off  # a fresh tensor: autograd records the write
        return tril

    def mixture(self, h: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0) -> Mixture:
        """The mixture for each row of h (batch, n_in): a `Mixture` with log_pi
        (batch, k), loc (batch, k, d) and scale_tril (batch, k, d, d), biased
        by `Mixture.biased(pi_bias, std_bias)` (weights softmax(log π·(1 +
        pi_bias)), L·e^(−std_bias), so Σ·e^(−2·std_bias)), then floored by eps."""
        pi_bias, std_bias = check_bias(pi_bias, std_bias)
        logits, loc, log_diag, off = self.raw(h)
        m = Mixture.from_logits(logits, loc, scale_tril=self._tril(log_diag, off))
        if pi_bias != 0.0 or std_bias != 0.0:
            m = m.biased(pi_bias, std_bias)
        if self.eps > 0:
            assert m.scale_tril is not None
            floor = torch.eye(self.d, dtype=loc.dtype, device=loc.device) * self.eps
            m = Mixture(m.log_pi, m.loc, scale_tril=m.scale_tril + floor)
        return m

    def nll(self, h: Tensor, y: Tensor) -> Tensor:
        """−log p(y | h) without biases: h (batch, n_in), y (batch, d) → (batch,).

        Equal to ``-self.mixture(h).log_prob(y)`` (up to rounding), but solves
        L z = y − μ by forward substitution on the k·batch small triangles at
        once, with log L_ii taken from the head's output rather than from
        log(exp(·)): for d = 2 this is Graves' closed-form bivariate density.
        Finite, with finite gradients, for any finite y and any raw output
        (each |z_i| is clamped at Z_LIMIT, as in `Mixture.log_prob`)."""
        h = self._check_h(h)
        y = check_finite_2d("y", y, self.d)
        if y.shape[0] != h.shape[0]:
            raise ValueError(f"y must have one row per row of h: h has {h.shape[0]} rows, y has {y.shape[0]}")
        y = y.to(self.lin.weight).clamp(-Y_LIMIT, Y_LIMIT)
        logits, loc, log_diag, off = self.raw(h)
        if self.eps > 0:
            log_diag = torch.logaddexp(log_diag, torch.full_like(log_diag, math.log(self.eps)))
        inv_diag = torch.exp(-log_diag)
        diff = y.unsqueeze(-2) - loc  # (batch, k, d)
        z: list[Tensor] = []
        sq = torch.zeros_like(logits)
        for i in range(self.d):
            r = diff[..., i]
            for p, (row, col) in enumerate(zip(self._rows, self._cols, strict=True)):
                if row == i:
                    r = r - off[..., p] * z[col]
            zi = (r * inv_diag[..., i]).clamp(-Z_LIMIT, Z_LIMIT)
            z.append(zi)
            sq = sq + zi * zi
        comp = -0.5 * sq - log_diag.sum(-1) - self.d * LOG_SQRT_2PI
        return -torch.logsumexp(torch.log_softmax(logits, dim=-1) + comp, dim=-1)

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        return self.nll(h, y)

    @torch.no_grad()
    def sample(
        self, h: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """One y per row of h from the (biased) mixture: (batch, d)."""
        return self.mixture(h, pi_bias, std_bias).sample(generator=generator)


# ---------------------------------------------------------------------------
# Graves' bivariate parametrisation
# ---------------------------------------------------------------------------


def bivariate_scale_tril(log_sigma1: Tensor, log_sigma2: Tensor, rho: Tensor) -> Tensor:
    """Graves' (σ1, σ2, ρ) as the Cholesky factor L = [[σ1, 0], [ρσ2, σ2√(1−ρ²)]],
    so that L Lᵀ = [[σ1², ρσ1σ2], [ρσ1σ2, σ2²]].

    log_sigma1, log_sigma2 (log σ, finite) and rho (in (−1, 1)) broadcast
    together to a shape (…); returns (…, 2, 2) in their common floating dtype.
    """
    ls1 = check_finite("log_sigma1", as_float_tensor("log_sigma1", log_sigma1))
    ls2 = check_finite("log_sigma2", as_float_tensor("log_sigma2", log_sigma2))
    r = as_float_tensor("rho", rho)
    if r.numel() and not bool(((r > -1) & (r < 1)).all()):  # also refuses NaN
        bad = r[~((r > -1) & (r < 1))][0].item()
        raise ValueError(f"rho must be in (-1, 1) (exclusive) and not NaN, got {bad}")
    dtype = torch.promote_types(torch.promote_types(ls1.dtype, ls2.dtype), r.dtype)
    try:
        ls1, ls2, r = torch.broadcast_tensors(ls1.to(dtype), ls2.to(dtype), r.to(dtype))
    except RuntimeError as exc:
        shapes = ", ".join(str(tuple(t.shape)) for t in (ls1, ls2, r))
        raise ValueError(f"log_sigma1, log_sigma2 and rho must broadcast together, got shapes {shapes}") from exc
    s1, s2 = torch.exp(ls1), torch.exp(ls2)
    zero = torch.zeros_like(s1)
    row1 = torch.stack([s1, zero], -1)
    row2 = torch.stack([r * s2, s2 * torch.sqrt((1 - r) * (1 + r))], -1)  # (1−ρ)(1+ρ): exact near |ρ| = 1
    return torch.stack([row1, row2], -2)


def scale_tril_to_bivariate(scale_tril: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Graves' (σ1, σ2, ρ) of Cholesky factors (…, 2, 2) (lower-triangular,
    positive diagonal): σ1 = L11, σ2 = ‖(L21, L22)‖, ρ = L21/σ2; each (…)."""
    t = as_float_tensor("scale_tril", scale_tril)
    if t.dim() < 2 or tuple(t.shape[-2:]) != (2, 2):
        raise ValueError(f"scale_tril must have shape (..., 2, 2), got {tuple(t.shape)}")
    sigma1 = t[..., 0, 0]
    sigma2 = torch.hypot(t[..., 1, 0], t[..., 1, 1])
    return sigma1, sigma2, t[..., 1, 0] / sigma2
