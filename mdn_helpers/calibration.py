"""The scorecard: how good and how honest a conditional law of y given x is,
on held-out points (x, y).

`scorecard` works on any `mixture.ConditionalLaw`, anything whose
``mixture(x, pi_bias=, std_bias=)`` returns a `Mixture` (or an object with its
scoring methods, ``log_prob(y)``, ``cdf(y)``, ``crps(y)``): `MDN`,
`MDNEnsemble`, `baselines.LinearGaussian` (the linear-Gaussian regression, a
one-component mixture) and `data.ExactLaw`, the data set's true law, which
every model is held against.

* NLL and CRPS: proper scoring rules (Gneiting & Raftery 2007), lower is better.
* PIT: u = F(y | x). For the true law u ~ U(0, 1); a U-shaped histogram means
  intervals too narrow (over-confident), a hump in the middle too wide.
  pit_ks is the Kolmogorov–Smirnov distance of the u's to U(0, 1), with its
  asymptotic p-value (Kolmogorov's distribution, Stephens' correction for n).
* coverage: the share of y inside the central interval of each level;
  y ∈ [Q((1 − l)/2), Q((1 + l)/2)] exactly when (1 − l)/2 ≤ F(y) ≤ (1 + l)/2,
  since F is continuous and increasing, so it is read off the PIT.
* worst_bin_ks: the largest KS distance over equal-count bins of x (the first
  column where x is (n, d)): calibration on average can hide miscalibration
  at some x.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import as_float_tensor, check_finite, check_finite_1d, check_model, check_positive_int
from .mixture import check_bias

#: The central-interval levels whose coverage the scorecard reports.
COVERAGE_LEVELS = (0.5, 0.8, 0.9, 0.95)


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for Kolmogorov's distribution K (the limit of √n·D_n):
    2 Σ_j (−1)^{j−1} exp(−2 j² λ²), or for λ < 1 the series that converges
    fast there, 1 − √(2π)/λ Σ_j exp(−(2j − 1)² π² / (8 λ²))."""
    if lam <= 0:
        return 1.0
    if lam < 1.0:
        s = sum(math.exp(-((2 * j - 1) ** 2) * math.pi**2 / (8 * lam * lam)) for j in range(1, 30))
        return min(1.0, max(0.0, 1.0 - math.sqrt(2 * math.pi) / lam * s))
    s = sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 101))
    return min(1.0, max(0.0, 2 * s))


def ks_uniform(u: Tensor) -> tuple[float, float]:
    """The KS statistic of values u (n,) in [0, 1] against U(0, 1), and its
    asymptotic p-value kolmogorov_sf((√n + 0.12 + 0.11/√n)·D) (Stephens 1970)."""
    u = check_finite_1d("u", u).detach().to(torch.float64).sort().values
    n = u.shape[0]
    i = torch.arange(1, n + 1, dtype=torch.float64, device=u.device)
    d = float(torch.maximum((i / n - u).max(), (u - (i - 1) / n).max()))
    root = math.sqrt(n)
    return d, kolmogorov_sf((root + 0.12 + 0.11 / root) * d)


def check_law(law, name: str = "law") -> None:
    """law is a `ConditionalLaw` (an `MDN`, `MDNEnsemble`, `ExactLaw`,
    `LinearGaussian`), or another object with a ``mixture(x, pi_bias=, std_bias=)``
    method; a TypeError naming `name` otherwise (and a ValueError for a model
    with weights on the meta device)."""
    if isinstance(law, nn.Module):
        check_model(name, law, "mixture")
    elif not callable(getattr(law, "mixture", None)):
        raise TypeError(
            f"{name} must be a conditional law (an MDN, an MDNEnsemble, an ExactLaw or a LinearGaussian, "
            f"with a mixture(x) method), got {type(law).__name__}"
        )


def _check_points(x, y) -> tuple[Tensor, Tensor]:
    """x (n,) or (n, d) and y (n,), finite, non-empty, one length."""
    y = check_finite_1d("y", y)
    x = as_float_tensor("x", x)
    if x.dim() not in (1, 2):
        raise ValueError(f"x must have shape (n,) or (n, d), got {tuple(x.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have one row per point, got {x.shape[0]} and {y.shape[0]}")
    return check_finite("x", x), y


def pit(law, x: Tensor, y: Tensor, *, pi_bias: float = 0.0, std_bias: float = 0.0) -> Tensor:
    """The probability integral transform u = F(y | x) of each point: (n,),
    float64 on the CPU. U(0, 1) when law is the true law of y given x."""
    check_law(law)
    pi_bias, std_bias = check_bias(pi_bias, std_bias)
    x, y = _check_points(x, y)
    with torch.no_grad():
        return law.mixture(x, pi_bias=pi_bias, std_bias=std_bias).cdf(y).to("cpu", torch.float64)


def x_bins(x: Tensor, bins: int) -> list[Tensor]:
    """Indices of `bins` equal-count bins of x (by its first column when x is
    (n, d)), in increasing x: a list of `bins` index tensors."""
    key = x if x.dim() == 1 else x[:, 0]
    order = torch.argsort(key.cpu(), stable=True)
    return list(torch.tensor_split(order, bins))


def scorecard(law, x: Tensor, y: Tensor, *, bins: int = 10, pi_bias: float = 0.0, std_bias: float = 0.0) -> dict:
    """Scores of `law` (a model, a `LinearGaussian` or the `ExactLaw`: a
    `ConditionalLaw`) on held-out points x (n,) or (n, d) and y (n,), read
    from its ``mixture(x, pi_bias, std_bias)`` (the `ExactLaw` refuses biases).

    Returns {"nll": mean −log p (nats), "crps": mean CRPS (y's units),
    "pit_ks", "pit_pvalue": the PIT's KS distance to U(0, 1) and its p-value,
    "coverage": {level: observed share} for COVERAGE_LEVELS, "worst_bin_ks":
    the largest PIT KS distance over `bins` equal-count bins of x (first
    column for (n, d)), "n": the number of points}.
    """
    check_law(law)
    bins = check_positive_int("bins", bins, maximum=10_000)
    pi_bias, std_bias = check_bias(pi_bias, std_bias)
    x, y = _check_points(x, y)
    if y.shape[0] < bins:
        raise ValueError(f"bins must be at most the number of points ({y.shape[0]}), got {bins}")
    with torch.no_grad():
        m = law.mixture(x, pi_bias=pi_bias, std_bias=std_bias)
        nll = -float(m.log_prob(y).double().mean())
        crps = float(m.crps(y).double().mean())
        u = m.cdf(y).to("cpu", torch.float64)
    ks, pvalue = ks_uniform(u)
    coverage = {lvl: float(((u >= (1 - lvl) / 2) & (u <= (1 + lvl) / 2)).double().mean()) for lvl in COVERAGE_LEVELS}
    worst = max(ks_uniform(u[idx])[0] for idx in x_bins(x, bins))
    return dict(
        nll=nll, crps=crps, pit_ks=ks, pit_pvalue=pvalue, coverage=coverage, worst_bin_ks=worst, n=int(y.shape[0])
    )


def scorecard_table(cards: dict) -> str:
    """Scorecards {name: scorecard(...)} as a markdown table, one row each."""
    if not isinstance(cards, dict) or not cards:
        raise TypeError(f"cards must be a non-empty dict {{name: scorecard}}, got {type(cards).__name__}")
    head = (
        "| | NLL (nats) | CRPS | PIT KS | KS p-value | "
        + " | ".join(f"cover {lvl:.0%}" for lvl in COVERAGE_LEVELS)
        + " | worst x-bin KS |"
    )
    rows = [head, "|" + "---|" * (6 + len(COVERAGE_LEVELS))]
    for name, c in cards.items():
        if not isinstance(c, dict) or not {"nll", "crps", "pit_ks", "pit_pvalue", "coverage", "worst_bin_ks"} <= set(c):
            raise TypeError(f"cards[{name!r}] must be a scorecard (the dict `scorecard` returns)")
        cover = " | ".join(f"{100 * c['coverage'][lvl]:.1f} %" for lvl in COVERAGE_LEVELS)
        rows.append(
            f"| {name} | {c['nll']:.3f} | {c['crps']:.4f} | {c['pit_ks']:.4f} | {c['pit_pvalue']:.2g} | "
            f"{cover} | {c['worst_bin_ks']:.4f} |"
        )
    return "\n".join(rows)
