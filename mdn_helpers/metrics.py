"""Scores on one scale for both models: held-out NLL and the energy distance.

The energy distance between laws P and Q,

    D(P, Q) = 2 E‖A − B‖ − E‖A − A'‖ − E‖B − B'‖ ≥ 0,  A, A' ~ P;  B, B' ~ Q,

is 0 exactly when P = Q. `energy_distance` estimates it without bias (the
within-sample means leave out i = j), so two draws of one law score ≈ 0.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._checks import as_float_tensor, check_finite_2d, check_positive_int
from .data import seeded_sample


def _mean_pairwise(a: Tensor, b: Tensor, chunk: int) -> Tensor:
    """Σ_ij ‖a_i − b_j‖ in float64, in row chunks: a (n, d), b (m, d) → scalar."""
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for s in range(0, a.shape[0], chunk):
        total += torch.cdist(a[s:s + chunk], b, compute_mode="donot_use_mm_for_euclid_dist").sum()
    return total


def energy_distance(a: Tensor, b: Tensor, *, chunk: int = 1024) -> float:
    """Unbiased energy distance between samples a (n, d) and b (m, d), n, m ≥ 2.

    2·mean_ij ‖a_i − b_j‖ − mean_{i≠j} ‖a_i − a_j‖ − mean_{i≠j} ‖b_i − b_j‖.
    1-d input (n,) is taken as (n, 1). Memory is O(chunk · max(n, m)).
    """
    a, b = as_float_tensor("a", a), as_float_tensor("b", b)
    if a.dim() == 1:
        a = a.unsqueeze(-1)
    if b.dim() == 1:
        b = b.unsqueeze(-1)
    a = check_finite_2d("a", a).double()
    b = check_finite_2d("b", b, n_cols=a.shape[1]).double().to(a.device)
    check_positive_int("chunk", chunk)
    n, m = a.shape[0], b.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"a and b need at least 2 rows each, got {n} and {m}")
    ab = _mean_pairwise(a, b, chunk) / (n * m)
    aa = _mean_pairwise(a, a, chunk) / (n * (n - 1))  # diagonal terms are 0
    bb = _mean_pairwise(b, b, chunk) / (m * (m - 1))
    return float(2 * ab - aa - bb)


def joint_sample(n: int, seed: int) -> Tensor:
    """n points (x, y) of the true joint, as (n, 2), from a generator seeded `seed`."""
    x, y = seeded_sample(n, seed)
    return torch.stack([x, y], dim=1)


def energy_noise_floor(n: int = 10_000, repeats: int = 5, seed: int = 10_000) -> tuple[float, float]:
    """Mean and standard deviation of the energy distance between two independent
    true draws of n points each, over `repeats` pairs: the score's noise level."""
    check_positive_int("repeats", repeats, minimum=2)
    scores = [energy_distance(joint_sample(n, seed + 2 * r), joint_sample(n, seed + 2 * r + 1))
              for r in range(repeats)]
    mean = sum(scores) / repeats
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (repeats - 1))
    return mean, sd


@torch.no_grad()
def mdn_energy_distance(model, n: int = 10_000, seed: int = 20_000) -> float:
    """Energy distance between the true joint and (x, ŷ), x from the data, ŷ ~ MDN(x).

    Puts the MDN on the same scale as the GAN. Both sides use fresh draws.
    """
    check_positive_int("n", n, minimum=2)
    dev = next(model.parameters()).device
    x, _ = seeded_sample(n, seed)
    gen = torch.Generator(device=dev).manual_seed(seed + 1)
    y_hat = model.sample(x.to(dev), generator=gen).cpu()
    return energy_distance(torch.stack([x, y_hat], 1), joint_sample(n, seed + 2))
