r"""The CDF, quantiles, central intervals and CRPS of a batch of 1-d Gaussian
mixtures (`MixtureParams`), in float64.

The weights are softmax(log π) (as in `mixture.mixture_distribution`), so
log π need not be normalised. With z_k = (y − μ_k)/σ_k:

.. math:: F(y) = \sum_k \pi_k \Phi(z_k), \qquad
          \mathrm{CRPS}(F, y) = \sum_k \pi_k A(y - \mu_k, \sigma_k^2)
          - \tfrac12 \sum_{k,l} \pi_k \pi_l A(\mu_k - \mu_l, \sigma_k^2 + \sigma_l^2),

with A(m, s²) = 2 s φ(m/s) + m (2 Φ(m/s) − 1) (Grimit et al. 2006). The
quantile Q(q) solves F(Q) = q by Newton's method safeguarded with bisection
on the bracket [min_k Q_k(q), max_k Q_k(q)] of the components' own quantiles
(F there is ≤ q and ≥ q), at most QUANTILE_ITERATIONS steps.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from ._checks import as_float_tensor, check_finite_1d, check_real
from .mixture import MixtureParams, _check_params, _standardised

#: Most Newton/bisection steps of `mixture_quantile`: enough to halve a
#: bracket of width 1e38 down to float64 resolution; a typical call stops
#: after 5–15 (every row within 1e-14 of q, or its bracket collapsed).
QUANTILE_ITERATIONS = 200
#: Values of the pairwise CRPS term computed at once (32 MB in float64).
CRPS_CHUNK_VALUES = 4_000_000
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_HALF = math.sqrt(0.5)


def _prepared(p) -> tuple[Tensor, Tensor, Tensor]:
    """(π, μ, σ) in float64, each (batch, k), π normalised; errors naming p."""
    p = _check_params(p)
    if p.mu.dim() != 2 or p.mu.shape[0] == 0:
        raise ValueError(f"p's tensors must have shape (batch, k) with batch >= 1, got {tuple(p.mu.shape)}")
    if p.mu.device.type == "meta":
        raise ValueError("p is on the meta device (shapes without values); give tensors on 'cpu' or 'cuda'")
    log_pi, mu, log_sigma = (t.to(torch.float64) for t in p)
    for name, t in (("mu", mu), ("log_sigma", log_sigma)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"p.{name} must be finite, got NaN or infinite values")
    if bool(torch.isnan(log_pi).any()) or bool((log_pi == math.inf).any()):
        raise ValueError("p.log_pi must hold no NaN or +inf (−inf, a zero weight, is allowed)")
    if bool((log_pi == -math.inf).all(-1).any()):
        raise ValueError("p.log_pi has a row whose weights are all zero (every log π is −inf)")
    if log_pi.shape[-1] == 1:
        # one component has weight 1; softmax over a dimension of size 1 gives the same, but on several
        # threads it took 1-10 ms a call on a loaded machine (a LinearGaussian's scorecard: 30 ms, now 2)
        return torch.ones_like(log_pi), mu, log_sigma
    return torch.softmax(log_pi, -1), mu, log_sigma


def _check_y(y, batch: int, device) -> Tensor:
    y = check_finite_1d("y", y)
    if y.shape[0] != batch:
        raise ValueError(f"y must have shape ({batch},) (one value per mixture), got {tuple(y.shape)}")
    return y.to(device=device, dtype=torch.float64)


def _check_levels(name: str, q, batch: int, device) -> Tensor:
    """A probability in (0, 1), as a float or one per row (batch,), as float64 (batch,)."""
    if isinstance(q, numbers.Real) and not isinstance(q, bool):
        v = check_real(name, q)
        if not 0.0 < v < 1.0:
            raise ValueError(f"{name} must be in (0, 1) (exclusive), got {v}")
        return torch.full((batch,), v, dtype=torch.float64, device=device)
    if not isinstance(q, Tensor) and (isinstance(q, bool) or q is None or isinstance(q, (str, bytes))):
        raise TypeError(f"{name} must be a float in (0, 1) or a tensor of them (batch,), got {type(q).__name__}")
    t = as_float_tensor(name, q)
    if t.dim() == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{name} must be a float or have shape ({batch},) (one per row), got {tuple(t.shape)}")
    t = t.to(device=device, dtype=torch.float64)
    if not bool(((t > 0) & (t < 1)).all()):  # also refuses NaN
        bad = t[~((t > 0) & (t < 1))][0].item()
        raise ValueError(f"{name} must be in (0, 1) (exclusive) and not NaN, got {bad}")
    return t


def _inv_sigma(log_sigma: Tensor) -> Tensor:
    """1/σ, kept finite (σ ≥ e^-700; float64 overflows past e^709)."""
    return torch.exp((-log_sigma).clamp(max=700.0))


def _ndtr(z: Tensor) -> Tensor:
    """Φ(z) as erfc(−z/√2)/2: accurate far into the lower tail (torch.special.ndtr is 0 by z = −10)."""
    return 0.5 * torch.special.erfc(z * -_SQRT_HALF)


def _cdf(pi: Tensor, mu: Tensor, log_sigma: Tensor, y: Tensor) -> Tensor:
    z = _standardised(y.unsqueeze(-1) - mu, log_sigma)  # exact for any σ > 0, subnormal ones too
    return (pi * _ndtr(z)).sum(-1).clamp(0.0, 1.0)


def mixture_cdf(p: MixtureParams, y: Tensor) -> Tensor:
    """F(y) = Σ_k π_k Φ((y − μ_k)/σ_k) for each row: y (batch,) → (batch,), float64."""
    pi, mu, log_sigma = _prepared(p)
    return _cdf(pi, mu, log_sigma, _check_y(y, mu.shape[0], mu.device))


@torch.no_grad()
def mixture_quantile(p: MixtureParams, q: float | Tensor) -> Tensor:
    """Q(q), the y with F(y) = q, for each row: q a float in (0, 1) or one per
    row (batch,) → (batch,), float64.

    Monotone in q; |F(Q(q)) − q| ≤ 1e-14 wherever float64 can resolve it
    (where it cannot — a component narrower than the spacing of floats near
    y — the answer is the float where F crosses q). Safeguarded Newton on the
    bracket of the components' quantiles, at most QUANTILE_ITERATIONS steps;
    rows that have converged drop out of the work.
    """
    pi, mu, log_sigma = _prepared(p)
    q = _check_levels("q", q, mu.shape[0], mu.device)
    comp = mu + torch.exp(log_sigma) * torch.special.ndtri(q).unsqueeze(-1)  # each component's own quantile
    lo, hi = comp.min(-1).values, comp.max(-1).values
    x = (pi * comp).sum(-1).clamp(lo, hi)  # a start inside the bracket
    step_old = hi - lo
    inv_sigma = _inv_sigma(log_sigma)
    pdf_w = pi * inv_sigma * math.exp(-_LOG_SQRT_2PI)  # π_k / (σ_k √2π)
    rows = torch.arange(mu.shape[0], device=mu.device)  # the rows still being solved
    work: tuple[Tensor, ...] = (pi, mu, inv_sigma, pdf_w)  # their parameters, compacted as rows converge
    resolution = 4 * torch.finfo(torch.float64).eps
    for _ in range(QUANTILE_ITERATIONS):
        x_a, lo_a, hi_a = x[rows], lo[rows], hi[rows]
        z = (x_a.unsqueeze(-1) - work[1]) * work[2]
        g = (work[0] * _ndtr(z)).sum(-1).clamp(0.0, 1.0) - q[rows]
        f = (work[3] * torch.exp(-0.5 * z * z)).sum(-1)
        lo_a = torch.where(g < 0, x_a, lo_a)
        hi_a = torch.where(g > 0, x_a, hi_a)
        done = (g.abs() <= 1e-14) | (hi_a - lo_a <= resolution * torch.maximum(lo_a.abs(), hi_a.abs()))
        newton = x_a - g / f
        # rtsafe's rule: bisect where Newton leaves the bracket or does not halve the step before last
        use_newton = (
            torch.isfinite(newton) & (newton > lo_a) & (newton < hi_a) & (2 * g.abs() < (step_old[rows] * f).abs())
        )
        x_new = torch.where(done, x_a, torch.where(use_newton, newton, lo_a + 0.5 * (hi_a - lo_a)))
        lo[rows], hi[rows], x[rows], step_old[rows] = lo_a, hi_a, x_new, (x_new - x_a).abs()
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = ~done
            rows, work = rows[keep], tuple(t[keep] for t in work)
    return x


def mixture_interval(p: MixtureParams, level: float | Tensor) -> tuple[Tensor, Tensor]:
    """The central interval of probability `level` in (0, 1) (a float or one
    per row): (Q((1 − level)/2), Q((1 + level)/2)), each (batch,), float64."""
    pi, _, _ = _prepared(p)
    level = _check_levels("level", level, pi.shape[0], pi.device)
    return mixture_quantile(p, (1 - level) / 2), mixture_quantile(p, (1 + level) / 2)


def _a(m: Tensor, s: Tensor) -> Tensor:
    """A(m, s²) = 2 s φ(m/s) + m (2 Φ(m/s) − 1), with s the standard deviation."""
    s = s.clamp_min(1e-300)  # A(0, 0) = 0, not 0/0
    u = m / s
    return 2 * s * torch.exp(-0.5 * u * u - _LOG_SQRT_2PI) + m * (2 * _ndtr(u) - 1)


def mixture_crps(p: MixtureParams, y: Tensor) -> Tensor:
    """The continuous ranked probability score of each row's mixture at y,
    ∫ (F(t) − 1{t ≥ y})² dt, in closed form (Grimit et al. 2006): y (batch,)
    → (batch,), float64, in y's units (lower is better; 0 only for a point
    mass at y). The k² pairwise terms are computed in chunks of at most
    CRPS_CHUNK_VALUES values."""
    pi, mu, log_sigma = _prepared(p)
    y = _check_y(y, mu.shape[0], mu.device)
    sigma = torch.exp(log_sigma)
    first = (pi * _a(y.unsqueeze(-1) - mu, sigma)).sum(-1)
    # the pairwise sum: its diagonal, A(0, 2σ²) = 2σ/√π, plus twice the pairs i < j
    diagonal = (pi * pi * sigma).sum(-1) * (2 / math.sqrt(math.pi))
    batch, k = mu.shape
    i, j = torch.triu_indices(k, k, 1, device=mu.device)
    n_pairs = max(1, i.numel())
    rows = max(1, CRPS_CHUNK_VALUES // n_pairs)
    cols = max(1, min(n_pairs, CRPS_CHUNK_VALUES // rows))  # pairs at once when one row is too big
    off = []
    for r in range(0, batch, rows):
        sl = slice(r, r + rows)
        total: float | Tensor = 0.0
        for c in range(0, i.numel(), cols):
            ii, jj = i[c : c + cols], j[c : c + cols]
            m = mu[sl][:, ii] - mu[sl][:, jj]
            s = torch.hypot(sigma[sl][:, ii], sigma[sl][:, jj])  # no σ² overflow
            total = total + (pi[sl][:, ii] * pi[sl][:, jj] * _a(m, s)).sum(-1)
        off.append(torch.as_tensor(total, dtype=torch.float64, device=mu.device).expand(mu[sl].shape[0]))
    return first - 0.5 * diagonal - torch.cat(off)
