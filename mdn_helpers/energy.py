r"""The energy score, the multivariate CRPS (Gneiting & Raftery 2007):

.. math:: \mathrm{ES}(P, y) = \mathbb E\lVert X - y\rVert - \tfrac12\,\mathbb E\lVert X - X'\rVert,
          \qquad X, X' \sim P \text{ independent},

lower is better, in y's units; proper, and for d = 1 it is the CRPS. For a
mixture it has no closed form when d > 1, so `energy_score` estimates it by
Monte Carlo from m draws X_1 … X_m of each mixture, with the unbiased
("fair") estimator

.. math:: \widehat{\mathrm{ES}} = \frac1m \sum_i \lVert X_i - y\rVert
          - \frac12 \binom m2^{-1} \sum_{i<j} \lVert X_i - X_j\rVert,

whose expectation is ES(P, y) exactly: it is scoringrules'
``es_ensemble(y, draws, estimator="fair")``. (The plug-in estimator, their
default "nrg", divides the pair sum by m²/2: it is higher by ½·(pair
mean)/m, biased high by E‖X − X′‖/(2m).)

For a model of p(y | x), score each point under its own conditional law:
``energy_score(law.mixture(x), y)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import as_float_tensor, check_finite, check_positive_int
from .mixture import Mixture, check_generator

__all__ = [
    "ENERGY_CHUNK_VALUES",
    "MAX_ENERGY_SAMPLES",
    "energy_score",
    "energy_score_ensemble",
]


#: Distances computed at once (32 MB in float64): the pair sums run over
#: chunks of rows and of draws of at most this many ‖X_i − X_j‖.
ENERGY_CHUNK_VALUES = 4_000_000
#: Most draws per mixture: the pair sum costs m²/2 distances per mixture.
MAX_ENERGY_SAMPLES = 100_000


def _pair_mean(x: Tensor) -> Tensor:
    """Σ_{i<j} ‖x_i − x_j‖ / C(m, 2) for each row of x (b, m, d) → (b,),
    over blocks of at most ENERGY_CHUNK_VALUES distances."""
    b, m, _ = x.shape
    total = x.new_zeros(b)
    block = max(1, min(m, ENERGY_CHUNK_VALUES // max(1, b * m)))  # draws i per block; rows are chunked by the caller
    for a in range(0, m, block):
        e = min(m, a + block)
        # each i in [a, e) against every j ≥ a; within the block only j > i counts
        dist = torch.cdist(x[:, a:e], x[:, a:], compute_mode="donot_use_mm_for_euclid_dist")  # (b, e − a, m − a)
        inner = torch.triu(dist[:, :, : e - a], diagonal=1).sum((-2, -1))
        total = total + inner + dist[:, :, e - a :].sum((-2, -1))
    return total / (m * (m - 1) / 2)


def energy_score_ensemble(draws: Tensor, y: Tensor) -> Tensor:
    """The fair energy score of an ensemble: draws (…, m, d) with m ≥ 2, y (…, d)
    → (…,), float64. Equal to scoringrules' ``es_ensemble(y, draws, estimator="fair")``.

    For d = 1 give draws (…, m, 1) and y (…, 1): it is then the fair
    ensemble CRPS."""
    x = check_finite("draws", as_float_tensor("draws", draws))
    y = check_finite("y", as_float_tensor("y", y))
    if x.dim() < 2 or x.shape[-2] < 2 or x.shape[-1] < 1:
        raise ValueError(f"draws must have shape (..., m, d) with m >= 2 and d >= 1, got {tuple(x.shape)}")
    want = (*x.shape[:-2], x.shape[-1])
    if tuple(y.shape) != want:
        raise ValueError(f"y must have shape {want} to match draws {tuple(x.shape)}, got {tuple(y.shape)}")
    batch_shape, (m, d) = x.shape[:-2], x.shape[-2:]
    x = x.to(device=y.device, dtype=torch.float64).reshape(-1, m, d)
    y = y.to(torch.float64).reshape(-1, d)
    rows = max(1, ENERGY_CHUNK_VALUES // (m * m))
    out = []
    with torch.no_grad():
        for r in range(0, x.shape[0], rows):
            xs, ys = x[r : r + rows], y[r : r + rows]
            first = torch.linalg.vector_norm(xs - ys.unsqueeze(-2), dim=-1).mean(-1)
            out.append(first - 0.5 * _pair_mean(xs))
    return torch.cat(out).reshape(batch_shape)


def energy_score(
    mixture: Mixture, y: Tensor, *, n_samples: int = 1000, generator: torch.Generator | None = None
) -> Tensor:
    """A Monte Carlo estimate of the energy score of each mixture at y: y
    (batch, d) for d > 1, or (batch,) for d = 1 (then it estimates the CRPS,
    `Mixture.crps`) → (batch,), float64. Any batch shape (…) works likewise.

    Draws ``mixture.to(float64).sample(n_samples, generator=generator)``
    (n_samples ≥ 2, one call) and returns `energy_score_ensemble` of them: an
    unbiased estimate, whose standard error shrinks as 1/√n_samples. The
    pair sum costs n_samples²/2 distances per mixture, computed in chunks of
    ENERGY_CHUNK_VALUES; the draws themselves take batch·n_samples·d float64
    values at once. Not differentiable (the draws are made without gradients).
    """
    if not isinstance(mixture, Mixture):
        raise TypeError(f"mixture must be a Mixture, got {type(mixture).__name__}")
    n = check_positive_int("n_samples", n_samples, minimum=2, maximum=MAX_ENERGY_SAMPLES)
    g = check_generator(generator, mixture.loc.device)
    y = as_float_tensor("y", y)
    want = (*mixture.batch_shape, *mixture.event_shape)
    if tuple(y.shape) != want:
        raise ValueError(f"y must have shape {want} (one value per mixture), got {tuple(y.shape)}")
    y = check_finite("y", y).to(device=mixture.loc.device, dtype=torch.float64)
    draws = mixture.to(torch.float64).sample(n, generator=g)  # (n, …[, d])
    if mixture.d == 1:
        draws, y = draws.unsqueeze(-1), y.unsqueeze(-1)
    draws = draws.movedim(0, -2)  # (…, n, d)
    if not bool(torch.isfinite(draws).all()):
        raise ValueError("the mixture's draws are not all finite: its loc or scales hold NaN or infinite values")
    return energy_score_ensemble(draws, y)
