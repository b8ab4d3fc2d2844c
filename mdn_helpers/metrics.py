"""Scores: held-out NLL, the energy distance that puts both models on one scale,
and the share of points where the exact joint density is negligible.

The energy distance between laws P and Q,

    D(P, Q) = 2 E‖A − B‖ − E‖A − A'‖ − E‖B − B'‖ ≥ 0,  A, A' ~ P;  B, B' ~ Q,

is 0 exactly when P = Q (Székely & Rizzo's squared energy distance D²; note
that `scipy.stats.energy_distance` returns the square root of the 1-d biased
form). `energy_distance` estimates D² itself, without bias (the within-sample
means leave out i = j), so two draws of one law score ≈ 0, sometimes below.

`low_density_share` asks what the energy distance barely sees: how much of a
sample lies where the exact law puts (almost) no mass.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ._checks import (
    as_float_tensor,
    check_finite_1d,
    check_finite_2d,
    check_model,
    check_nonneg_int,
    check_positive_int,
    check_real,
    check_xy,
)
from .datasets.inverted_sine import (
    Y_HIGH,
    Y_LOW,
    inverted_sine_f,
    joint_sample,
    log_normaliser,
    seeded_sample,
    true_joint_log_density,
)
from .mixture import LOG_SQRT_2PI, Mixture, normal_log_prob
from .seeding import derive_seed

if TYPE_CHECKING:
    from .mdn import MDN, MDNEnsemble
    from .slogan import SloganGenerator

#: Most pairwise distances `energy_distance` computes (n·m + n² + m²): about
#: 4 minutes on one CPU core.
MAX_ENERGY_PAIRS = 10**10
#: Most points a side for the energy scores built on it (slogan_energy_distance,
#: mdn_energy_distance, energy_noise_floor): 3 · 50,000² = 7.5e9 distances.
MAX_ENERGY_POINTS = 50_000


@torch.no_grad()
def heldout_nll(model: MDN | MDNEnsemble, x: Tensor, y: Tensor, chunk: int = 50_000) -> float:
    """Mean NLL (nats) of `model` on x (n,) or (n, d) and y (n,) (or (n, d_out)), in chunks to
    bound memory: −log p(y | x) read from ``model.mixture(x)``."""
    dev = check_model("model", model, "mixture").device
    x, y = check_xy(x, y, multi_output=True)
    check_positive_int("chunk", chunk)
    total = 0.0
    for s in range(0, x.shape[0], chunk):
        total += float(model.mixture(x[s : s + chunk].to(dev)).nll(y[s : s + chunk].to(dev)).sum())
    return total / x.shape[0]


def _mean_pairwise(a: Tensor, b: Tensor, chunk: int) -> Tensor:
    """Σ_ij ‖a_i − b_j‖ in float64, in row chunks: a (n, d), b (m, d) → scalar."""
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for s in range(0, a.shape[0], chunk):
        total += torch.cdist(a[s : s + chunk], b, compute_mode="donot_use_mm_for_euclid_dist").sum()
    return total


def energy_distance(a: Tensor, b: Tensor, *, chunk: int = 1024) -> float:
    """Unbiased energy distance between samples a (n, d) and b (m, d), n, m ≥ 2.

    2·mean_ij ‖a_i − b_j‖ − mean_{i≠j} ‖a_i − a_j‖ − mean_{i≠j} ‖b_i − b_j‖.
    1-d input (n,) is taken as (n, 1). Memory is O(chunk · max(n, m)); the
    n·m + n² + m² distances are at most MAX_ENERGY_PAIRS (10^10).
    """
    a, b = as_float_tensor("a", a), as_float_tensor("b", b)
    if a.dim() == 1:
        a = a.unsqueeze(-1)
    if b.dim() == 1:
        b = b.unsqueeze(-1)
    a = check_finite_2d("a", a).double()
    b = check_finite_2d("b", b).double().to(a.device)
    if a.shape[1] != b.shape[1]:  # a mismatch between the two: name both
        raise ValueError(
            f"a and b must have the same number of columns, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    check_positive_int("chunk", chunk)
    n, m = a.shape[0], b.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"a and b need at least 2 rows each, got {n} and {m}")
    pairs = n * m + n * n + m * m
    if pairs > MAX_ENERGY_PAIRS:
        raise ValueError(
            f"energy_distance on {n:_} × {m:_} pairs would take too long ({pairs:.3g} distances, "
            f"n·m + n² + m², more than {MAX_ENERGY_PAIRS:.0e}); use fewer points"
        )
    ab = _mean_pairwise(a, b, chunk) / (n * m)
    aa = _mean_pairwise(a, a, chunk) / (n * (n - 1))  # diagonal terms are 0
    bb = _mean_pairwise(b, b, chunk) / (m * (m - 1))
    return float(2 * ab - aa - bb)


def energy_noise_floor(n: int = 10_000, repeats: int = 5, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the energy distance between two independent
    true draws of n points each, over `repeats` pairs: the score's noise level."""
    check_positive_int("n", n, minimum=2, maximum=MAX_ENERGY_POINTS)
    check_positive_int("repeats", repeats, minimum=2, maximum=1000)
    scores = [
        energy_distance(
            joint_sample(n, derive_seed(seed, f"floor/{r}/a")), joint_sample(n, derive_seed(seed, f"floor/{r}/b"))
        )
        for r in range(repeats)
    ]
    mean = sum(scores) / repeats
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (repeats - 1))
    return mean, sd


@torch.no_grad()
def mdn_joint_sample(model: MDN | MDNEnsemble, n: int = 10_000, seed: int = 0) -> Tensor:
    """n points (x, ŷ) of an MDN's joint, (n, 2) on the CPU: x drawn from the
    data's law, ŷ ~ MDN(x); both streams derived from `seed` (the points
    `mdn_energy_distance` scores)."""
    dev = check_model("model", model, "mixture").device
    check_positive_int("n", n, minimum=2, maximum=MAX_ENERGY_POINTS)
    check_nonneg_int("seed", seed)
    x, _ = seeded_sample(n, derive_seed(seed, "mdn_energy/x"))
    gen = torch.Generator(device=dev).manual_seed(derive_seed(seed, "mdn_energy/y"))
    y_hat = model.mixture(x.to(dev)).sample(generator=gen).cpu()
    return torch.stack([x, y_hat.to(x.dtype)], 1)


@torch.no_grad()
def mdn_energy_distance(model: MDN | MDNEnsemble, n: int = 10_000, seed: int = 0) -> float:
    """Energy distance between the true joint and (x, ŷ), x from the data, ŷ ~ MDN(x).

    Puts the MDN on the same scale as the GAN. Both sides use fresh draws,
    from streams derived from `seed` (the model's side is `mdn_joint_sample`).
    """
    points = mdn_joint_sample(model, n, seed)
    return energy_distance(points, joint_sample(n, derive_seed(seed, "mdn_energy/true")))


@torch.no_grad()
def slogan_energy_distance(generator: SloganGenerator, n: int = 10_000, seed: int = 0) -> float:
    """Energy distance between n points of a SLOGAN generator and n fresh true
    points (x, y), both drawn from streams derived from `seed`."""
    w = check_model("generator", generator, "sample")
    check_positive_int("n", n, minimum=2, maximum=MAX_ENERGY_POINTS)
    check_nonneg_int("seed", seed)
    g = torch.Generator(device=w.device).manual_seed(derive_seed(seed, "slogan_energy/generated"))
    fake = generator.sample(n, generator=g).float().cpu()
    return energy_distance(fake, joint_sample(n, derive_seed(seed, "slogan_energy/true")))


def low_density_share(points, k: float = 3.0) -> float:
    """Share of points (n, 2), columns x and y, where the exact joint density is
    negligible: p(x, y) < φ(k)/21, i.e. |x − f(y)| > k or |y| > 10.5.

    Points drawn from the true law score 2·Φ(−k) on average (0.0027 for
    k = 3), with binomial noise; a model that puts mass between the branches
    of the curve scores more.
    """
    pts = check_finite_2d("points", points, n_cols=2)
    k = check_real("k", k, minimum=0.0, strict=True)
    log_p = true_joint_log_density(pts[:, 0], pts[:, 1])
    threshold = -0.5 * k * k - LOG_SQRT_2PI - math.log(Y_HIGH - Y_LOW)
    return float((log_p < threshold).double().mean())


#: Most values `nll_gap_by_x` holds at once: x-values × y-grid nodes × components.
MAX_GAP_VALUES = 50_000_000


@torch.no_grad()
def nll_gap_by_x(model: MDN | MDNEnsemble, x: Tensor, n_grid: int = 2001) -> Tensor:
    """The model's expected NLL gap to the exact density at each x, in nats:
    KL(p(· | x) ‖ q(· | x)) = ∫ p(y | x) (log p(y | x) − log q(y | x)) dy,
    x (m,) → (m,) float64, ≥ 0 up to quadrature error.

    p is the data set's exact conditional density, q the model's
    (``model.mixture(x)``); the integral is a trapezoid rule on `n_grid` nodes
    over y ∈ [-10.5, 10.5] (where p lives), with p normalised by
    `log_normaliser`. Averaged over x ~ p(x) = Z(x)/21 it is the model's
    expected held-out NLL minus `bayes_nll()`.
    """
    dev = check_model("model", model, "mixture").device
    check_positive_int("n_grid", n_grid, minimum=3, maximum=1_000_000)
    x = check_finite_1d("x", x).to(torch.float64)
    if x.shape[0] == 0:
        raise ValueError("x must not be empty")
    yg = torch.linspace(Y_LOW, Y_HIGH, n_grid, dtype=torch.float64)
    mix = model.mixture(x.float().to(dev))
    m, k = mix.batch_shape[0], mix.k
    if m * n_grid * k > MAX_GAP_VALUES:
        raise ValueError(
            f"x and n_grid make {m:_} × {n_grid:_} × {k} values, more than the {MAX_GAP_VALUES:_} "
            "allowed at once; use fewer x or a smaller n_grid"
        )
    log_p = normal_log_prob(x[:, None] - inverted_sine_f(yg)[None, :], 0.0) - log_normaliser(x)[:, None]
    grid = Mixture(*(t.unsqueeze(1).expand(m, n_grid, k) for t in (mix.log_pi, mix.loc, mix.scale)))
    log_q = grid.log_prob(yg.to(mix.loc).expand(m, n_grid)).double().cpu()
    return torch.trapezoid(log_p.exp() * (log_p - log_q), yg, dim=1)
