"""Bishop's robot arm (1994): a two-link arm's inverse kinematics, and its exact law.

The generative story::

    θ1 ~ U[0.3, 1.2],  θ2 ~ U[π/2, 3π/2]           (independent; the prior box)
    x = forward(θ) + N(0, s² I),  s = NOISE_SD = 0.01
    forward(θ) = (L1 cos θ1 + L2 cos(θ1 + θ2),  L1 sin θ1 + L2 sin(θ1 + θ2)),  L1 = 0.8, L2 = 0.2

We learn θ given the end effector's position x, which has two branches for most
reachable x: elbow down (θ2 ≤ π) and elbow up (θ2 ≥ π), mirrored about θ2 = π.
The end effector's distance from the base is ρ(θ2) = |forward(θ)| ∈ [0.6, √0.68]
(0.6 at θ2 = π, where the branches meet; √0.68 at θ2 = π/2 and 3π/2).

`ArmExactLaw` gives the exact p(θ | x) = prior(θ) N(x; forward(θ), s² I) / p(x)
by 2-d Gauss–Legendre quadrature on windows that hold all but e^{−k_sd²/2} of
the integrand, and `arm_bayes_nll` the smallest held-out NLL (nats of θ density)
any model can reach. Shapes: x and θ are (n, 2), columns (x1, x2) and (θ1, θ2).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .._checks import (
    MAX_SAMPLE_SIZE,
    as_float_tensor,
    check_finite,
    check_nonneg_int,
    check_positive_int,
    check_real,
)
from ..seeding import derive_seed

__all__ = [
    "L1",
    "L2",
    "LOG_BOX_AREA",
    "NOISE_SD",
    "RHO_MAX",
    "RHO_MIN",
    "SAMPLE_REFINE",
    "THETA1_HIGH",
    "THETA1_LOW",
    "THETA2_HIGH",
    "THETA2_LOW",
    "ArmExactLaw",
    "ArmInverse",
    "ArmSplits",
    "BayesNLL",
    "BranchMeans",
    "arm_bayes_nll",
    "forward",
    "in_box",
    "inverse",
    "make_arm_splits",
    "reach_error",
    "sample_robot_arm",
]


#: Link lengths.
L1, L2 = 0.8, 0.2
#: The prior box: θ1 ~ U[THETA1_LOW, THETA1_HIGH], θ2 ~ U[THETA2_LOW, THETA2_HIGH].
THETA1_LOW, THETA1_HIGH = 0.3, 1.2
THETA2_LOW, THETA2_HIGH = 0.5 * math.pi, 1.5 * math.pi
#: Standard deviation of the Gaussian noise on each coordinate of x.
NOISE_SD = 0.01
#: Reach of the arm inside the prior box: ρ(θ2) = |forward(θ)| lies in [RHO_MIN, RHO_MAX].
RHO_MIN, RHO_MAX = L1 - L2, math.sqrt(L1**2 + L2**2)
#: log of the prior box's area, −log prior(θ) inside it.
LOG_BOX_AREA = math.log((THETA1_HIGH - THETA1_LOW) * (THETA2_HIGH - THETA2_LOW))
_THETA1_MID = 0.5 * (THETA1_LOW + THETA1_HIGH)
#: Most float64 values one chunk of the quadrature may hold at once (per array).
_MAX_CHUNK_VALUES = 4_000_000
#: `ArmExactLaw.sample` refines the θ2 panels this many times.
SAMPLE_REFINE = 4
#: Most rejection rounds of `ArmExactLaw.sample` for θ1 given θ2 (acceptance is ≈ 1).
_MAX_REJECTION_ROUNDS = 100


# ---------------------------------------------------------------- checks


def _check_points(name: str, value) -> Tensor:
    """A finite, non-empty (n, 2) floating tensor (x or θ), or an error naming `name`."""
    t = as_float_tensor(name, value)
    if t.dim() != 2 or t.shape[1] != 2:
        raise ValueError(f"{name} must be of shape (n, 2), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    return check_finite(name, t)


def _check_grid(name: str, value) -> Tensor:
    t = as_float_tensor(name, value)
    if t.dim() != 1 or t.shape[0] == 0:
        raise ValueError(f"{name} must be 1-d and non-empty, got shape {tuple(t.shape)}")
    return check_finite(name, t).to(torch.float64)


def _check_noise_sd(noise_sd) -> float:
    return check_real("noise_sd", noise_sd, minimum=0.0, strict=True)


# ---------------------------------------------------------------- kinematics


def forward(theta: Tensor) -> Tensor:
    """The end effector's position: theta (n, 2) → x (n, 2), in theta's dtype.

    x = (L1 cos θ1 + L2 cos(θ1 + θ2), L1 sin θ1 + L2 sin(θ1 + θ2)).
    """
    theta = _check_points("theta", theta)
    return _forward(theta)


def _forward(theta: Tensor) -> Tensor:
    t1, t12 = theta[..., 0], theta[..., 0] + theta[..., 1]
    return torch.stack([L1 * torch.cos(t1) + L2 * torch.cos(t12), L1 * torch.sin(t1) + L2 * torch.sin(t12)], dim=-1)


def _wrap_theta1(t1: Tensor) -> Tensor:
    """θ1 modulo 2π, in [mid − π, mid + π) around the prior box's middle."""
    return _THETA1_MID + torch.remainder(t1 - _THETA1_MID + math.pi, 2 * math.pi) - math.pi


def _elbow_angle(t2: Tensor) -> Tensor:
    """φ(θ2) = atan2(L2 sin θ2, L1 + L2 cos θ2): the end effector's polar angle minus θ1."""
    return torch.atan2(L2 * torch.sin(t2), L1 + L2 * torch.cos(t2))


def in_box(theta: Tensor) -> Tensor:
    """Whether each θ lies in the prior box: theta (n, 2) → (n,) bool."""
    theta = _check_points("theta", theta)
    return _in_box(theta)


def _in_box(theta: Tensor) -> Tensor:
    t1, t2 = theta[..., 0], theta[..., 1]
    return (t1 >= THETA1_LOW) & (t1 <= THETA1_HIGH) & (t2 >= THETA2_LOW) & (t2 <= THETA2_HIGH)


class ArmInverse(NamedTuple):
    """The two noise-free inverse-kinematics solutions of each x.

    down: (n, 2), elbow down, θ2 = arccos(c) ∈ [0, π]; up: (n, 2), elbow up,
    θ2 = 2π − arccos(c) ∈ [π, 2π] (its mirror about π); valid_down, valid_up:
    (n,) bool, the solution exists (0.6 ≤ |x| ≤ 1) and lies in the prior box.
    """

    down: Tensor
    up: Tensor
    valid_down: Tensor
    valid_up: Tensor


def inverse(x: Tensor) -> ArmInverse:
    """Closed-form inverse kinematics: x (n, 2) → `ArmInverse` (two (n, 2) solutions, two (n,) masks).

    cos θ2 = (|x|² − L1² − L2²) / (2 L1 L2), θ1 = atan2(x2, x1) − φ(θ2). For x
    out of reach (|x| < L1 − L2 or > L1 + L2) cos θ2 is clipped to [−1, 1] (the
    solutions of the nearest reachable point on x's ray) and both masks are False.
    θ1 is given modulo 2π nearest the prior box. In x's dtype (float64 inside).
    """
    x = _check_points("x", x)
    xd = x.to(torch.float64)
    r2 = (xd**2).sum(1)
    c = (r2 - L1**2 - L2**2) / (2 * L1 * L2)
    reachable = (c >= -1.0) & (c <= 1.0)
    t2_down = torch.arccos(c.clamp(-1.0, 1.0))
    t2_up = 2 * math.pi - t2_down
    alpha = torch.atan2(xd[:, 1], xd[:, 0])
    down = torch.stack([_wrap_theta1(alpha - _elbow_angle(t2_down)), t2_down], 1)
    up = torch.stack([_wrap_theta1(alpha - _elbow_angle(t2_up)), t2_up], 1)
    return ArmInverse(down.to(x.dtype), up.to(x.dtype), reachable & _in_box(down), reachable & _in_box(up))


def reach_error(x: Tensor, theta: Tensor) -> Tensor:
    """|forward(θ) − x|, how far the arm at θ ends from x: x, theta (n, 2) → (n,), float64."""
    x = _check_points("x", x).to(torch.float64)
    theta = _check_points("theta", theta).to(torch.float64)
    if x.shape != theta.shape:
        raise ValueError(f"x and theta must have the same shape, got {tuple(x.shape)} and {tuple(theta.shape)}")
    return (_forward(theta) - x).norm(dim=1)


# ---------------------------------------------------------------- data


def sample_robot_arm(n: int, seed: int, *, noise_sd: float = NOISE_SD) -> tuple[Tensor, Tensor]:
    """Draw n points of the data set with a CPU generator of its own seeded `seed`.

    Returns x, theta, each (n, 2), float32: theta from the prior box, x =
    forward(theta) + N(0, noise_sd² I) (computed in float64, then rounded).
    n is at most MAX_SAMPLE_SIZE (10^8).
    """
    check_positive_int("n", n, maximum=MAX_SAMPLE_SIZE)
    check_nonneg_int("seed", seed)
    noise_sd = _check_noise_sd(noise_sd)
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    low = torch.tensor([THETA1_LOW, THETA2_LOW], dtype=torch.float64)
    high = torch.tensor([THETA1_HIGH, THETA2_HIGH], dtype=torch.float64)
    theta = low + (high - low) * u
    x = _forward(theta) + noise_sd * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return x.to(torch.float32), theta.to(torch.float32)


class ArmSplits(NamedTuple):
    """Independent train / validation / test draws, x and theta (n, 2) float32 each."""

    x_train: Tensor
    theta_train: Tensor
    x_val: Tensor
    theta_val: Tensor
    x_test: Tensor
    theta_test: Tensor


def make_arm_splits(
    n_train: int = 10_000, n_val: int = 5_000, n_test: int = 20_000, *, seed: int = 0, noise_sd: float = NOISE_SD
) -> ArmSplits:
    """Train / validation / test draws, each from its own stream of `seed`.

    train is `sample_robot_arm(n_train, seed)`; val and test are seeded
    derive_seed(seed, "val") and derive_seed(seed, "test"), so changing
    n_train never changes the test set (as `data.make_splits`).
    """
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        check_positive_int(name, n, maximum=MAX_SAMPLE_SIZE)
    check_nonneg_int("seed", seed)
    x_tr, t_tr = sample_robot_arm(n_train, seed, noise_sd=noise_sd)
    x_va, t_va = sample_robot_arm(n_val, derive_seed(seed, "val"), noise_sd=noise_sd)
    x_te, t_te = sample_robot_arm(n_test, derive_seed(seed, "test"), noise_sd=noise_sd)
    return ArmSplits(x_tr, t_tr, x_va, t_va, x_te, t_te)


# ---------------------------------------------------------------- the exact law


def _panel_rule(n_panels: int, order: int) -> tuple[Tensor, Tensor, Tensor]:
    """Composite Gauss–Legendre on [0, 1]: nodes (N,), weights (N,) summing to 1,
    and the cell edges (N + 1,) whose lengths are the weights (each node inside its cell)."""
    u, w = np.polynomial.legendre.leggauss(order)
    starts = np.arange(n_panels) / n_panels
    nodes = (starts[:, None] + 0.5 * (u + 1) / n_panels).reshape(-1)
    weights = np.tile(0.5 * w / n_panels, n_panels)
    edges = np.concatenate([[0.0], np.cumsum(weights)])
    edges[-1] = 1.0
    return torch.from_numpy(nodes), torch.from_numpy(weights), torch.from_numpy(edges)


class _Rule(NamedTuple):
    """The quadrature of a chunk of m x's: branch b (0 down, 1 up), θ2 node j, θ1 node i."""

    theta1: Tensor  # (m, 2, N2, N1)
    theta2: Tensor  # (m, 2, N2)
    log_w: Tensor  # (m, 2, N2, N1): log(quadrature weight × joint density p(θ, x))
    t2_edges: Tensor  # (m, 2, N2 + 1): the θ2 cells of the nodes, for sampling


class BranchMeans(NamedTuple):
    """Per branch (elbow down θ2 ≤ π, elbow up θ2 ≥ π): the posterior mass (n,)
    and the mean of θ given x and the branch (n, 2)."""

    mean_down: Tensor
    mean_up: Tensor
    weight_down: Tensor
    weight_up: Tensor


class ArmExactLaw:
    """The robot arm's exact law of θ given x, in float64 (x, θ: (n, 2)).

    p(θ | x) = prior(θ) N(x; forward(θ), s² I) / p(x). The evidence p(x) and
    the moments are integrated over θ by composite Gauss–Legendre on two
    windows per x, one per branch (θ2 ≤ π and θ2 ≥ π, mirrored):

    * θ2: the θ2 whose reach ρ(θ2) lies within √(d² + k_sd² s²) of |x| (d: the
      distance of |x| from [0.6, √0.68]); outside, the integrand is below
      e^{−k_sd²/2} times its largest value. `n_panels_theta2` panels of `order` nodes.
    * θ1, at each θ2 node: around the θ1 that turns the arm towards x, as far
      as the exponent drops by k_sd²/2 more than at the nearest point of the
      box, clipped to [0.3, 1.2]. `n_panels_theta1` panels of `order` nodes.

    With the defaults (k_sd = 8, 10 × 8 nodes in θ2, 6 × 8 in θ1: 1920 per
    branch) log p(x) is within ~1e-8 of a rule with 20 times as many nodes and
    k_sd = 11, and agrees with a brute-force global grid (tests/test_robot_arm.py).
    `sample` uses SAMPLE_REFINE times as many θ2 panels. Work is done in
    chunks of x (memory O(chunk · nodes)); about 4 ms per x on one core.
    """

    def __init__(
        self,
        noise_sd: float = NOISE_SD,
        *,
        k_sd: float = 8.0,
        n_panels_theta2: int = 10,
        n_panels_theta1: int = 6,
        order: int = 8,
    ) -> None:
        self.noise_sd = _check_noise_sd(noise_sd)
        self.k_sd = check_real("k_sd", k_sd, minimum=3.0)
        self.n_panels_theta2 = check_positive_int("n_panels_theta2", n_panels_theta2, maximum=10_000)
        self.n_panels_theta1 = check_positive_int("n_panels_theta1", n_panels_theta1, maximum=10_000)
        self.order = check_positive_int("order", order, minimum=2, maximum=32)
        self._u2, self._w2, self._e2 = _panel_rule(self.n_panels_theta2, self.order)
        self._fine2 = _panel_rule(SAMPLE_REFINE * self.n_panels_theta2, self.order)
        self._u1, self._w1, _ = _panel_rule(self.n_panels_theta1, self.order)
        n_nodes = 2 * self._u2.shape[0] * self._u1.shape[0]
        self._chunk = max(1, _MAX_CHUNK_VALUES // n_nodes)
        self._log_norm = -LOG_BOX_AREA - math.log(2 * math.pi * self.noise_sd**2)

    def __repr__(self) -> str:
        return (
            f"ArmExactLaw(noise_sd={self.noise_sd}, k_sd={self.k_sd}, n_panels_theta2={self.n_panels_theta2}, "
            f"n_panels_theta1={self.n_panels_theta1}, order={self.order})"
        )

    # -- the windows and nodes

    def _theta2_window(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The elbow-down window [lo, hi] ⊂ [π/2, π] of θ2, (m,) each; the elbow-up one is its mirror."""
        s, r = self.noise_sd, x.norm(dim=1)
        d = (RHO_MIN - r).clamp(min=0) + (r - RHO_MAX).clamp(min=0)
        h = torch.sqrt(d**2 + (self.k_sd * s) ** 2)
        rho_lo, rho_hi = (r - h).clamp(RHO_MIN, RHO_MAX), (r + h).clamp(RHO_MIN, RHO_MAX)

        def t2_of(rho: Tensor) -> Tensor:
            return torch.arccos(((rho**2 - L1**2 - L2**2) / (2 * L1 * L2)).clamp(-1.0, 0.0))

        return t2_of(rho_hi), t2_of(rho_lo)

    def _theta1_window(self, x: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
        """The θ1 window [lo, hi] ⊂ [0.3, 1.2] at each θ2 node: x (m, 2), t2 (m, ...) → (m, ...) each.

        The exponent is −κ(1 − cos(θ1 − ψ)) + const, κ = |x| ρ(θ2) / s², ψ = atan2(x) − φ(θ2).
        """
        shape = (-1,) + (1,) * (t2.dim() - 1)
        r = x.norm(dim=1).reshape(shape)
        alpha = torch.atan2(x[:, 1], x[:, 0]).reshape(shape)
        rho = torch.sqrt(L1**2 + L2**2 + 2 * L1 * L2 * torch.cos(t2))
        psi = _wrap_theta1(alpha - _elbow_angle(t2))
        kappa = (r * rho / self.noise_sd**2).clamp(min=1e-300)
        e = (THETA1_LOW - psi).clamp(min=0) + (psi - THETA1_HIGH).clamp(min=0)
        u_max = torch.arccos((torch.cos(e) - 0.5 * self.k_sd**2 / kappa).clamp(-1.0, 1.0))
        return (psi - u_max).clamp(min=THETA1_LOW), (psi + u_max).clamp(max=THETA1_HIGH)

    def _log_joint(self, x: Tensor, theta1: Tensor, theta2: Tensor) -> Tensor:
        """log prior(θ) + log N(x; forward(θ), s² I) for θ in the box: x (m, 2), θ's (m, ...) → (m, ...)."""
        shape = (-1,) + (1,) * (theta1.dim() - 1)
        t12 = theta1 + theta2
        dx = x[:, 0].reshape(shape) - L1 * torch.cos(theta1) - L2 * torch.cos(t12)
        dy = x[:, 1].reshape(shape) - L1 * torch.sin(theta1) - L2 * torch.sin(t12)
        return self._log_norm - 0.5 * (dx**2 + dy**2) / self.noise_sd**2

    def _rule(self, x: Tensor, fine: bool = False) -> _Rule:
        u2, w2, e2 = self._fine2 if fine else (self._u2, self._w2, self._e2)
        lo, hi = self._theta2_window(x)  # (m,)
        width = (hi - lo)[:, None]
        t2_down = lo[:, None] + width * u2  # (m, N2)
        theta2 = torch.stack([t2_down, 2 * math.pi - t2_down], 1)  # (m, 2, N2)
        log_w2 = torch.log(width * w2)[:, None, :].expand_as(theta2)
        e_down = lo[:, None] + width * e2
        t2_edges = torch.stack([e_down, 2 * math.pi - e_down], 1)
        a, b = self._theta1_window(x, theta2)  # (m, 2, N2)
        theta1 = a[..., None] + (b - a)[..., None] * self._u1  # (m, 2, N2, N1)
        log_w1 = torch.log((b - a)[..., None] * self._w1)  # −inf for an empty window
        t2_full = theta2[..., None].expand_as(theta1)
        log_w = log_w2[..., None] + log_w1 + self._log_joint(x, theta1, t2_full)
        return _Rule(theta1, theta2, log_w, t2_edges)

    def _chunks(self, x: Tensor, fine: bool = False) -> Iterator[tuple[int, Tensor, _Rule]]:
        chunk = max(1, self._chunk // SAMPLE_REFINE) if fine else self._chunk
        for s in range(0, x.shape[0], chunk):
            xs = x[s : s + chunk]
            yield s, xs, self._rule(xs, fine)

    def _x(self, x) -> Tensor:
        return _check_points("x", x).to(torch.float64)

    # -- the public methods

    def log_evidence(self, x: Tensor) -> Tensor:
        """log p(x) = log ∫ prior(θ) N(x; forward(θ), s² I) dθ: x (n, 2) → (n,), float64."""
        x = self._x(x)
        out = torch.empty(x.shape[0], dtype=torch.float64)
        for s, xs, rule in self._chunks(x):
            out[s : s + xs.shape[0]] = torch.logsumexp(rule.log_w.reshape(xs.shape[0], -1), dim=1)
        return out

    def log_prob(self, x: Tensor, theta: Tensor) -> Tensor:
        """log p(θ | x): x, theta (n, 2) → (n,), float64; −inf outside the prior box."""
        x = self._x(x)
        theta = _check_points("theta", theta).to(torch.float64)
        if theta.shape != x.shape:
            raise ValueError(f"x and theta must have the same shape, got {tuple(x.shape)} and {tuple(theta.shape)}")
        log_p = self._log_joint(x, theta[:, 0], theta[:, 1]) - self.log_evidence(x)
        return torch.where(_in_box(theta), log_p, torch.full_like(log_p, -math.inf))

    def branch_means(self, x: Tensor) -> BranchMeans:
        """Each branch's posterior mass (n,) and mean E[θ | x, branch] (n, 2), float64.

        The branches are θ2 ≤ π (down) and θ2 ≥ π (up); near |x| = 0.6 they meet at π.
        """
        x = self._x(x)
        n = x.shape[0]
        means = torch.empty(n, 2, 2, dtype=torch.float64)
        weights = torch.empty(n, 2, dtype=torch.float64)
        for s, xs, rule in self._chunks(x):
            m = xs.shape[0]
            lw = rule.log_w - torch.logsumexp(rule.log_w.reshape(m, -1), dim=1)[:, None, None, None]
            p = lw.exp()  # (m, 2, N2, N1), sums to 1
            w_b = p.sum((2, 3))  # (m, 2)
            m1 = (p * rule.theta1).sum((2, 3))
            m2 = (p.sum(3) * rule.theta2).sum(2)
            safe = w_b.clamp(min=1e-300)
            means[s : s + m] = torch.stack([m1 / safe, m2 / safe], -1)
            weights[s : s + m] = w_b
        return BranchMeans(means[:, 0], means[:, 1], weights[:, 0], weights[:, 1])

    def mean(self, x: Tensor) -> Tensor:
        """E[θ | x], the least-squares answer (between the branches): x (n, 2) → (n, 2), float64."""
        b = self.branch_means(x)
        return b.weight_down[:, None] * b.mean_down + b.weight_up[:, None] * b.mean_up

    def mode(self, x: Tensor) -> Tensor:
        """The heavier branch's mean E[θ | x, branch]: x (n, 2) → (n, 2), float64.

        (Not the density's arg-max: the centre of the more probable elbow position.)
        """
        b = self.branch_means(x)
        return torch.where((b.weight_down >= b.weight_up)[:, None], b.mean_down, b.mean_up)

    def sample(self, x: Tensor, n_per_x: int = 1, seed: int = 0) -> Tensor:
        """Draws of θ given each x: x (n, 2) → (n, n_per_x, 2), float64, from a generator seeded `seed`.

        θ2 is drawn from its marginal p(θ2 | x) taken piecewise constant on the
        θ2 cells of a rule with SAMPLE_REFINE times as many θ2 panels (cells
        under 1/10 of the posterior's θ2 sd; each cell's mass by Gauss–Legendre
        over θ1), then θ1 exactly from p(θ1 | θ2, x) by rejection from a truncated
        normal envelope, using exp(−κ(1 − cos u)) ≤ exp(−κ (1 − U²/12) u²/2) for |u| ≤ U.
        """
        x = self._x(x)
        n_per_x = check_positive_int("n_per_x", n_per_x, maximum=MAX_SAMPLE_SIZE)
        check_nonneg_int("seed", seed)
        if x.shape[0] * n_per_x > MAX_SAMPLE_SIZE:
            raise ValueError(f"x.shape[0] * n_per_x must be <= {MAX_SAMPLE_SIZE:_}, got {x.shape[0] * n_per_x:_}")
        gen = torch.Generator().manual_seed(seed)
        out = torch.empty(x.shape[0], n_per_x, 2, dtype=torch.float64)
        for s, xs, rule in self._chunks(x, fine=True):
            m = xs.shape[0]
            log_m2 = torch.logsumexp(rule.log_w, dim=3).reshape(m, -1)  # θ2 nodes' masses (m, 2·N2)
            cell = torch.multinomial(torch.softmax(log_m2, dim=1), n_per_x, replacement=True, generator=gen)
            n2 = rule.theta2.shape[2]
            branch, j = cell // n2, cell % n2
            edges = rule.t2_edges[torch.arange(m)[:, None], branch]  # (m, n_per_x, N2 + 1)
            left = edges.gather(2, j[..., None]).squeeze(2)
            right = edges.gather(2, (j + 1)[..., None]).squeeze(2)
            t2 = left + (right - left) * torch.rand(m, n_per_x, generator=gen, dtype=torch.float64)
            out[s : s + m, :, 1] = t2
            out[s : s + m, :, 0] = self._sample_theta1(xs, t2, gen)
        return out

    def _sample_theta1(self, x: Tensor, t2: Tensor, gen: torch.Generator) -> Tensor:
        """θ1 ~ p(θ1 | θ2, x) ∝ exp(κ cos(θ1 − ψ)) on the θ1 window: x (m, 2), t2 (m, k) → (m, k)."""
        r = x.norm(dim=1)[:, None]
        alpha = torch.atan2(x[:, 1], x[:, 0])[:, None]
        rho = torch.sqrt(L1**2 + L2**2 + 2 * L1 * L2 * torch.cos(t2))
        psi = _wrap_theta1(alpha - _elbow_angle(t2))
        kappa = (r * rho / self.noise_sd**2).clamp(min=1e-300)
        lo, hi = self._theta1_window(x, t2)
        a, b = lo - psi, hi - psi  # the window in u = θ1 − ψ
        big_u = torch.maximum(a.abs(), b.abs()).clamp(max=math.pi)
        sd = 1.0 / torch.sqrt(kappa * (1 - big_u**2 / 12))
        # draw on the side of the window's nearer tail (−u if the window is right of 0), for accuracy
        flip = a > 0
        za = torch.where(flip, -b, a) / sd
        zb = torch.where(flip, -a, b) / sd
        pa, pb = torch.special.ndtr(za), torch.special.ndtr(zb)
        out = torch.full_like(t2, math.nan)
        todo = torch.ones_like(t2, dtype=torch.bool)
        for _ in range(_MAX_REJECTION_ROUNDS):
            v = torch.rand(t2.shape, generator=gen, dtype=torch.float64)
            z = torch.special.ndtri(pa + v * (pb - pa))
            z = torch.where(torch.isfinite(z) & (pb > pa), z, 0.5 * (za + zb))  # underflowed far tails: the middle
            u = torch.where(flip, -z, z) * sd
            u = torch.minimum(torch.maximum(u, a), b)
            log_accept = -kappa * (1 - torch.cos(u)) + 0.5 * u**2 / sd**2
            accept = todo & (torch.rand(t2.shape, generator=gen, dtype=torch.float64).log() <= log_accept)
            out = torch.where(accept, psi + u, out)
            todo = todo & ~accept
            if not bool(todo.any()):
                break
        return torch.where(todo, psi + u, out)  # after many rounds (never seen): the last proposal

    def density_grid(self, x: Tensor, theta1_grid: Tensor, theta2_grid: Tensor) -> Tensor:
        """p(θ | x) on a grid, for plotting: x (m, 2), theta1_grid (n1,), theta2_grid (n2,)
        → (m, n2, n1), float64: [i, j, k] is the density at θ = (theta1_grid[k], theta2_grid[j])."""
        x = self._x(x)
        g1 = _check_grid("theta1_grid", theta1_grid)
        g2 = _check_grid("theta2_grid", theta2_grid)
        if x.shape[0] * g1.shape[0] * g2.shape[0] > 50_000_000:
            raise ValueError("x, theta1_grid and theta2_grid give more than 50_000_000 values; use smaller grids")
        t1 = g1[None, None, :].expand(x.shape[0], g2.shape[0], -1)
        t2 = g2[None, :, None].expand_as(t1)
        log_p = self._log_joint(x, t1, t2) - self.log_evidence(x)[:, None, None]
        inside = _in_box(torch.stack([t1, t2], -1))
        return torch.where(inside, log_p.exp(), torch.zeros_like(log_p))


# ---------------------------------------------------------------- the Bayes limit


class BayesNLL(NamedTuple):
    """A Monte Carlo estimate of E[−log p(θ | x)] (nats of θ density), its standard error, and n."""

    nll: float
    se: float
    n: int


def arm_bayes_nll(
    n: int = 50_000, seed: int = 0, *, noise_sd: float = NOISE_SD, law: ArmExactLaw | None = None
) -> BayesNLL:
    """The Bayes NLL E[−log p(θ | x)] over the data law, the smallest held-out NLL
    (per point, nats of θ density) any model can reach.

    −log p(θ | x) = log area(box) + log(2π s²) + |x − forward(θ)|² / (2s²) + log p(x);
    the noise term's mean is exactly 1, so the estimate is that constant plus the
    mean of log p(x) over n seeded draws x (`sample_robot_arm(n, seed)`), whose
    standard error is the one reported. (n = 50_000 takes about 10 s on one core.)
    """
    n = check_positive_int("n", n, minimum=2, maximum=MAX_SAMPLE_SIZE)
    check_nonneg_int("seed", seed)
    noise_sd = _check_noise_sd(noise_sd)
    if law is None:
        law = ArmExactLaw(noise_sd)
    elif not isinstance(law, ArmExactLaw):
        raise TypeError(f"law must be an ArmExactLaw or None, got {type(law).__name__}")
    elif law.noise_sd != noise_sd:
        raise ValueError(f"law.noise_sd ({law.noise_sd}) differs from noise_sd ({noise_sd})")
    x, _ = sample_robot_arm(n, seed, noise_sd=noise_sd)
    log_px = law.log_evidence(x.to(torch.float64))
    const = LOG_BOX_AREA + math.log(2 * math.pi * noise_sd**2) + 1.0
    return BayesNLL(const + float(log_px.mean()), float(log_px.std() / math.sqrt(n)), n)
