"""David Ha's inverted-sine data set and its exact conditional density.

The generative story (Bishop's toy problem, made twice as wiggly by Ha)::

    y ~ U(-10.5, 10.5)
    x = f(y) + N(0, 1),   f(y) = 7 sin(0.75 y) + 0.5 y

We learn y given x, which is multi-modal: for |x| < 10 up to five y's fit.
Because the story is known, so is the exact answer: p(y | x) ∝ φ(x − f(y)) on
[-10.5, 10.5], and the smallest held-out NLL any model can reach, `bayes_nll()`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from .._checks import (
    MAX_SAMPLE_SIZE,
    as_float64_1d,
    as_float_tensor,
    check_finite,
    check_finite_1d,
    check_nonneg_int,
    check_pair,
    check_positive_int,
    check_real,
    resolve_device,
)
from ..mixture import (
    LOG_SQRT_2PI,
    ConditionalLaw,
    check_bias,
    check_generator,
    check_levels,
    invert_cdf,
    normal_log_prob,
)
from ..seeding import derive_seed

__all__ = [
    "MAX_GRID",
    "MAX_GRID_VALUES",
    "QUANTILE_STEPS",
    "Y_HIGH",
    "Y_LOW",
    "ExactLaw",
    "InvertedSine",
    "Splits",
    "bayes_nll",
    "inverted_sine_f",
    "joint_sample",
    "log_normaliser",
    "make_splits",
    "sample_inverted_sine",
    "seeded_sample",
    "true_conditional_density",
    "true_conditional_mean",
    "true_joint_log_density",
    "true_log_density",
]

Y_LOW, Y_HIGH = -10.5, 10.5
#: Most nodes of `bayes_nll`'s grid over x.
MAX_GRID = 1_000_000
#: Most float64 values one grid evaluation may hold at once (400 MB).
MAX_GRID_VALUES = 50_000_000


def inverted_sine_f(y: Tensor) -> Tensor:
    """The noise-free curve f(y) = 7 sin(0.75 y) + 0.5 y, elementwise (y a
    tensor, array or number, finite); a tensor of y's shape."""
    y = check_finite("y", as_float_tensor("y", y))
    return 7.0 * torch.sin(0.75 * y) + 0.5 * y


def sample_inverted_sine(
    n: int,
    *,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> tuple[Tensor, Tensor]:
    """Draw n points of the data set: x, y of shape (n,), float32.

    n is at most MAX_SAMPLE_SIZE (10^8). device: "cpu", "cuda" or a
    torch.device (where the points end up; a generator draws on its own device).
    """
    check_positive_int("n", n, maximum=MAX_SAMPLE_SIZE)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = resolve_device(device)
    gen_device = generator.device if generator is not None else device
    y = torch.rand(n, generator=generator, device=gen_device) * (Y_HIGH - Y_LOW) + Y_LOW
    noise = torch.randn(n, generator=generator, device=gen_device)
    x = inverted_sine_f(y) + noise
    return x.to(device), y.to(device)


def seeded_sample(n: int, seed: int, device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """`sample_inverted_sine` with its own CPU generator seeded by `seed`."""
    check_nonneg_int("seed", seed)
    device = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    x, y = sample_inverted_sine(n, generator=gen)
    return x.to(device), y.to(device)


def joint_sample(n: int, seed: int) -> Tensor:
    """n points (x, y) of the true joint, as (n, 2): `seeded_sample(n, seed)` stacked."""
    x, y = seeded_sample(n, seed)
    return torch.stack([x, y], dim=1)


class InvertedSine(torch.utils.data.Dataset):
    """A fixed draw of the data set as a map-style Dataset of (x_i, y_i) pairs.

    Either give `n` (and a `seed`) to draw, or the tensors `x` and `y` (n,).
    """

    def __init__(
        self, n: int | None = None, *, seed: int = 0, x: Tensor | None = None, y: Tensor | None = None
    ) -> None:
        if (x is None) != (y is None):
            raise ValueError("give both x and y, or neither")
        if x is None:
            if n is None:
                raise ValueError("give n (the number of points) or the tensors x and y")
            x, y = seeded_sample(n, seed)
        else:
            assert y is not None  # x and y are both given or both None (checked above)
            x, y = check_pair(x, y)
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], self.y[i]

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All of it at once: x, y of shape (n,)."""
        return self.x, self.y


class Splits(NamedTuple):
    train: InvertedSine
    val: InvertedSine
    test: InvertedSine


def make_splits(n_train: int = 1000, n_val: int = 1000, n_test: int = 100_000, *, seed: int = 0) -> Splits:
    """Independent train / validation / test draws, each from its own stream of `seed`.

    train is `seeded_sample(n_train, seed)`; val and test are seeded
    derive_seed(seed, "val") and derive_seed(seed, "test"), so changing
    n_train never changes the test set.
    """
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        check_positive_int(name, n, maximum=MAX_SAMPLE_SIZE)
    return Splits(
        InvertedSine(n_train, seed=seed),
        InvertedSine(n_val, seed=derive_seed(seed, "val")),
        InvertedSine(n_test, seed=derive_seed(seed, "test")),
    )


# ---------------------------------------------------------------------------
# The exact answer
# ---------------------------------------------------------------------------


def _check_grid_size(m: int, n: int, what: str) -> None:
    if m * n > MAX_GRID_VALUES:
        raise ValueError(
            f"{what} make a grid of {m:_} × {n:_} values, more than the {MAX_GRID_VALUES:_} "
            "allowed at once; use fewer points"
        )


@functools.cache
def _default_law() -> ExactLaw:
    return ExactLaw()


def log_normaliser(x: Tensor) -> Tensor:
    """log Z(x), Z(x) = ∫_{-10.5}^{10.5} φ(x − f(y)) dy, by `ExactLaw`'s composite
    Gauss–Legendre rule (the one quadrature of the exact law).

    x: (m,) (or a number) → (m,), float64. Z(x)/21 is the marginal density of x.
    """
    return _default_law().log_normaliser(as_float64_1d("x", x))


def true_log_density(x: Tensor, y: Tensor) -> Tensor:
    """log p(y | x) of the data set, pointwise for x, y of shape (n,) (or
    numbers); float64, `ExactLaw.log_prob`. −inf where y lies outside [-10.5, 10.5].
    """
    x = as_float64_1d("x", x)
    y = as_float64_1d("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return _default_law().log_prob(x, y)


def true_joint_log_density(x: Tensor, y: Tensor) -> Tensor:
    """log p(x, y) of the data set's joint law, pointwise; float64, closed form.

    p(x, y) = 1/21 · φ(x − f(y)) for |y| ≤ 10.5 (y uniform, x given y normal
    around f(y) with sd 1), 0 outside: −inf there. x, y: same shape (any),
    finite → a tensor of that shape.
    """
    x = as_float_tensor("x", x)
    y = as_float_tensor("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    x = check_finite("x", x.to(torch.float64))
    y = check_finite("y", y.to(torch.float64))
    log_p = normal_log_prob(x - inverted_sine_f(y), 0.0) - math.log(Y_HIGH - Y_LOW)
    inside = (y >= Y_LOW) & (y <= Y_HIGH)
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def true_conditional_density(x: Tensor, y: Tensor) -> Tensor:
    """p(y | x) on a grid: x of shape (m,), y of shape (n,) → (m, n), float64
    (`ExactLaw.density`). Row i is the density of y given x = x[i]; it integrates to 1 over y.
    """
    return _default_law().density(as_float64_1d("x", x), as_float64_1d("y", y))


def true_conditional_mean(x: Tensor) -> Tensor:
    """E[y | x], the best a least-squares regression can do: x (m,) → (m,),
    float64 (`ExactLaw.mean`)."""
    return _default_law().mean(as_float64_1d("x", x))


def bayes_nll(n_x: int = 1601, x_pad: float = 8.0) -> float:
    """Expected held-out NLL (nats) of the Bayes-optimal model p(y | x).

    H(Y | X) = H(N(0, 1)) + ∫ p(x) log Z(x) dx with p(x) = Z(x) / 21; log Z
    is `log_normaliser`, the outer integral a trapezoid rule on `n_x` nodes
    over x ∈ [min f − x_pad, max f + x_pad].
    """
    check_positive_int("n_x", n_x, minimum=3, maximum=MAX_GRID)
    check_real("x_pad", x_pad, minimum=3.0)  # less cuts off the N(0, 1) tails of p(x)
    f_abs = 7.0 + 0.5 * Y_HIGH
    xg = torch.linspace(-f_abs - x_pad, f_abs + x_pad, n_x, dtype=torch.float64)
    log_z = log_normaliser(xg)
    p_x = log_z.exp() / (Y_HIGH - Y_LOW)
    entropy_noise = 0.5 * math.log(2 * math.pi * math.e)  # of the N(0, 1) noise
    return float(entropy_noise + torch.trapezoid(p_x * log_z, xg))


def _gauss_legendre(order: int) -> tuple[Tensor, Tensor, Tensor]:
    """Gauss–Legendre nodes u (order,) and weights w on [−1, 1], and the matrix
    S (order, order) with S[i, k] = ∫_{−1}^{u_i} ℓ_k(s) ds for the Lagrange
    basis ℓ_k on the nodes: S @ g gives ∫_{−1}^{u_i} of the interpolant of g."""
    import numpy as np

    u, w = np.polynomial.legendre.leggauss(order)
    powers = np.arange(order)
    coef = np.linalg.inv(u[:, None] ** powers[None, :])  # column k: monomial coefficients of ℓ_k
    antider = (u[:, None] ** (powers + 1) - (-1.0) ** (powers + 1)) / (powers + 1)  # ∫_{−1}^{u_i} s^n ds
    return (torch.from_numpy(u), torch.from_numpy(w), torch.from_numpy(antider @ coef))


#: Most Newton/bisection steps of `ExactLaw.quantile` inside a panel.
QUANTILE_STEPS = 60


class ExactLaw(ConditionalLaw):
    """The data set's exact law of y given x, with the models' interface
    (`mixture.ConditionalLaw`): `mixture(x)` is an `ExactConditional`, with
    the scoring methods of a 1-d `Mixture`, so `log_prob`, `cdf`, `quantile`,
    `crps` and `sample` work as a model's, pointwise for x, y (or q) of shape
    (n,), float64. x must be 1-d: the data set has one input.

    The unnormalised density g(t) = exp(−(x − f(t))²/2) on [−10.5, 10.5] is
    integrated by composite Gauss–Legendre: `n_panels` panels of `order`
    nodes (by default 42 panels of width 0.5, 8 nodes each: F within 1e-9 of
    a rule with 10 times as many nodes). This is the package's one quadrature
    for log Z(x) (`log_normaliser`, `true_log_density`, `bayes_nll`, ...).
    F(y) is the sum over the panels below y plus a Gauss–Legendre rule on
    [panel start, y]; `quantile` inverts it inside its panel by Newton's
    method safeguarded with bisection (at most QUANTILE_STEPS steps); `crps`
    uses CRPS = E|Y − y| − ½ E|Y − Y'| with E|Y − Y'| = 2 ∫ F (1 − F) dt.
    Work is done `chunk` x-values at a time (memory O(chunk · n_panels · order)).
    """

    def __init__(self, n_panels: int = 42, order: int = 8, chunk: int = 2048) -> None:
        self.n_panels = check_positive_int("n_panels", n_panels, maximum=100_000)
        self.order = check_positive_int("order", order, minimum=2, maximum=16)
        self.chunk = check_positive_int("chunk", chunk)
        _check_grid_size(self.chunk, self.n_panels * self.order, "chunk, n_panels and order")
        u, w, s = _gauss_legendre(self.order)
        self._h = (Y_HIGH - Y_LOW) / self.n_panels
        self._starts = Y_LOW + self._h * torch.arange(self.n_panels, dtype=torch.float64)  # (P,)
        self._u, self._w, self._s = u, w, s
        self._nodes = (self._starts[:, None] + 0.5 * self._h * (u + 1)).reshape(-1)  # (P·order,)
        self._f_nodes = inverted_sine_f(self._nodes)

    def __repr__(self) -> str:
        return f"ExactLaw(n_panels={self.n_panels}, order={self.order})"

    def mixture(self, x: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0) -> ExactConditional:
        """p(y | x) for each x (n,): an `ExactConditional` (the scoring methods
        of a 1-d `Mixture`). The biases must be 0: the exact law has none."""
        pi_bias, std_bias = check_bias(pi_bias, std_bias)
        if pi_bias != 0.0 or std_bias != 0.0:
            raise ValueError(
                "the exact law has no sampling biases: pi_bias and std_bias must be 0, "
                f"got pi_bias={pi_bias}, std_bias={std_bias}"
            )
        return ExactConditional(self, self._x(x))

    def _x(self, x) -> Tensor:
        t = as_float_tensor("x", x)
        if t.dim() != 1:
            raise ValueError(
                f"x must be 1-d of shape (n,) for the exact law (the data set has one input), "
                f"got shape {tuple(t.shape)}"
            )
        return check_finite_1d("x", t).to(torch.float64)

    def _y(self, x: Tensor, y) -> Tensor:
        y = check_finite_1d("y", y).to(device=x.device, dtype=torch.float64)
        if y.shape != x.shape:
            raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        return y

    def _tables(self, xs: Tensor) -> dict:
        """For xs (m,): g at the nodes (m, P, order), scaled by each row's
        largest value (log_scale, (m,)), so Z never underflows; the integral
        of g over each panel (m, P) and up to each panel's start, cum (m, P + 1),
        cum[:, -1] = Z (in the scaled units)."""
        log_g = -0.5 * (xs[:, None] - self._f_nodes.to(xs.device)) ** 2
        log_scale = log_g.max(dim=1).values
        g = (log_g - log_scale[:, None]).exp().reshape(xs.shape[0], self.n_panels, self.order)
        panel = 0.5 * self._h * (g @ self._w.to(xs.device))
        cum = torch.cat([torch.zeros_like(panel[:, :1]), torch.cumsum(panel, dim=1)], dim=1)
        return dict(g=g, log_scale=log_scale, cum=cum)

    @staticmethod
    def _log_z(t: dict) -> Tensor:
        """log Z(x) = log ∫ φ(x − f(y)) dy from the tables."""
        return t["log_scale"] + t["cum"][:, -1].log() - LOG_SQRT_2PI

    def _panel_of(self, ys: Tensor) -> Tensor:
        return ((ys - Y_LOW) / self._h).floor().long().clamp(0, self.n_panels - 1)

    def _partial(self, xs: Tensor, ys: Tensor, t: dict, moment: bool = False) -> Tensor:
        """∫ from y's panel start to y of g (or of t·g with moment): Gauss–Legendre on [a, y], (m,)."""
        a = self._starts.to(ys.device)[self._panel_of(ys)]
        half = 0.5 * (ys - a)
        nodes = a[:, None] + half[:, None] * (self._u.to(ys.device) + 1)  # (m, order)
        g = (-0.5 * (xs[:, None] - inverted_sine_f(nodes)) ** 2 - t["log_scale"][:, None]).exp()
        if moment:
            g = g * nodes
        return half * (g @ self._w.to(ys.device))

    def _cdf_inside(self, xs: Tensor, ys: Tensor, t: dict) -> Tensor:
        """F(y | x) for y in [−10.5, 10.5]."""
        below = t["cum"].gather(1, self._panel_of(ys)[:, None]).squeeze(1) + self._partial(xs, ys, t)
        return (below / t["cum"][:, -1]).clamp(0.0, 1.0)

    def _first_moment(self, xs: Tensor, t: dict) -> Tensor:
        """∫ t g dt up to each panel's start, (m, P + 1) (scaled as cum)."""
        nodes = self._nodes.to(xs.device).reshape(self.n_panels, self.order)
        first = 0.5 * self._h * ((t["g"] * nodes) @ self._w.to(xs.device))  # ∫ t g per panel
        return torch.cat([torch.zeros_like(first[:, :1]), torch.cumsum(first, dim=1)], dim=1)

    def _each_chunk(self, x: Tensor, other: Tensor | None, fn: Callable[..., Tensor]) -> Tensor:
        """fn(xs, others, tables) over chunks of x, concatenated along the first dimension."""
        parts = []
        for s in range(0, x.shape[0], self.chunk):
            xs = x[s : s + self.chunk]
            parts.append(fn(xs, None if other is None else other[s : s + self.chunk], self._tables(xs)))
        return torch.cat(parts)

    # -- the computations (x float64 (n,), checked) -------------------------------------------------------

    def log_normaliser(self, x: Tensor) -> Tensor:
        """log Z(x) = log ∫_{-10.5}^{10.5} φ(x − f(y)) dy: x (n,) → (n,), float64."""
        return self._each_chunk(self._x(x), None, lambda xs, _, t: self._log_z(t))

    def _log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        def log_p(xs: Tensor, ys: Tensor, t: dict) -> Tensor:
            out = normal_log_prob(xs - inverted_sine_f(ys), 0.0) - self._log_z(t)
            return torch.where((ys >= Y_LOW) & (ys <= Y_HIGH), out, torch.full_like(out, -math.inf))

        return self._each_chunk(x, y, log_p)

    def _cdf(self, x: Tensor, y: Tensor) -> Tensor:
        return self._each_chunk(x, y, lambda xs, ys, t: self._cdf_inside(xs, ys.clamp(Y_LOW, Y_HIGH), t))

    def _mean(self, x: Tensor) -> Tensor:
        return self._each_chunk(x, None, lambda xs, _, t: self._first_moment(xs, t)[:, -1] / t["cum"][:, -1])

    def _quantile(self, x: Tensor, q: Tensor) -> Tensor:
        def solve(xs: Tensor, qs: Tensor, t: dict) -> Tensor:
            cum, z = t["cum"], t["cum"][:, -1]
            target = qs * z
            j = (torch.searchsorted(cum, target[:, None], right=True).squeeze(1) - 1).clamp(0, self.n_panels - 1)
            lo = self._starts.to(xs.device)[j]
            hi = (lo + self._h).clamp(max=Y_HIGH)
            below, above = cum.gather(1, j[:, None]).squeeze(1), cum.gather(1, j[:, None] + 1).squeeze(1)
            y = lo + (hi - lo) * ((target - below) / (above - below)).clamp(0.0, 1.0)  # linear, to start

            def residual(rows: Tensor, yr: Tensor) -> tuple[Tensor, Tensor]:
                tr = {name: v[rows] for name, v in t.items()}
                density = (-0.5 * (xs[rows] - inverted_sine_f(yr)) ** 2 - tr["log_scale"]).exp() / z[rows]
                return self._cdf_inside(xs[rows], yr, tr) - qs[rows], density

            return invert_cdf(residual, y, lo, hi, QUANTILE_STEPS)

        return self._each_chunk(x, q, solve)

    def _crps(self, x: Tensor, y: Tensor) -> Tensor:
        def score(xs: Tensor, ys: Tensor, t: dict) -> Tensor:
            z = t["cum"][:, -1]
            # F at every node: the panels below, plus the interpolant integrated within its panel
            f_nodes = (t["cum"][:, :-1, None] + 0.5 * self._h * t["g"] @ self._s.T.to(xs.device)) / z[:, None, None]
            spread = 0.5 * self._h * ((f_nodes * (1 - f_nodes)) @ self._w.to(xs.device)).sum(1)  # ½E|Y − Y'|
            cum_first = self._first_moment(xs, t)
            yc = ys.clamp(Y_LOW, Y_HIGH)
            f_y = self._cdf_inside(xs, yc, t)
            m_y = (
                cum_first.gather(1, self._panel_of(yc)[:, None]).squeeze(1) + self._partial(xs, yc, t, moment=True)
            ) / z  # E[Y; Y ≤ y]
            mean = cum_first[:, -1] / z
            abs_dev = yc * (2 * f_y - 1) + mean - 2 * m_y  # E|Y − y| for y inside the support
            return abs_dev - spread + (ys - yc).abs()

        return self._each_chunk(x, y, score)

    # -- the public methods not on ConditionalLaw -------------------------------------------------------

    def mean(self, x: Tensor) -> Tensor:
        """E[y | x]: x (n,) → (n,), float64."""
        return self._mean(self._x(x))

    @torch.no_grad()
    def density(self, x: Tensor, y: Tensor) -> Tensor:
        """p(y | x) on a grid: x (m,), y (n,) → (m, n), float64; 0 outside [−10.5, 10.5]."""
        x = self._x(x)
        y = check_finite_1d("y", y).to(device=x.device, dtype=torch.float64)
        _check_grid_size(x.shape[0], y.shape[0], "x and y")
        log_p = normal_log_prob(x[:, None] - inverted_sine_f(y)[None, :], 0.0) - self.log_normaliser(x)[:, None]
        inside = (y >= Y_LOW) & (y <= Y_HIGH)
        return torch.where(inside[None, :], log_p.exp(), torch.zeros_like(log_p))


class ExactConditional:
    """The exact law p(y | x) at each of a batch of x (n,), what
    `ExactLaw.mixture(x)` returns: the scoring methods of a 1-d `Mixture`
    (`log_prob`, `cdf`, `quantile`, `interval`, `crps`, `sample`, `mean`),
    each (n,) float64."""

    d = 1

    def __init__(self, law: ExactLaw, x: Tensor) -> None:
        self.law, self.x = law, x

    def __repr__(self) -> str:
        return f"ExactConditional(batch_shape={tuple(self.batch_shape)}, law={self.law!r})"

    @property
    def batch_shape(self) -> torch.Size:
        return self.x.shape

    def log_prob(self, y: Tensor) -> Tensor:
        """log p(y | x): y (n,) → (n,); −inf outside [−10.5, 10.5]."""
        return self.law._log_prob(self.x, self.law._y(self.x, y))

    def nll(self, y: Tensor) -> Tensor:
        """−log p(y | x), per point: (n,)."""
        return -self.log_prob(y)

    def cdf(self, y: Tensor) -> Tensor:
        """F(y | x) = P(Y ≤ y | x): y (n,) → (n,) in [0, 1]."""
        return self.law._cdf(self.x, self.law._y(self.x, y))

    def quantile(self, q: float | Tensor) -> Tensor:
        """The y with F(y | x) = q: q a float in (0, 1) or (n,) → (n,)."""
        return self.law._quantile(self.x, check_levels("q", q, self.x.shape, self.x.device))

    def interval(self, level: float | Tensor) -> tuple[Tensor, Tensor]:
        """The central interval of probability `level`: (Q((1 − level)/2), Q((1 + level)/2)), each (n,)."""
        level = check_levels("level", level, self.x.shape, self.x.device)
        return self.quantile((1 - level) / 2), self.quantile((1 + level) / 2)

    def crps(self, y: Tensor) -> Tensor:
        """CRPS(F(· | x), y) = ∫ (F(t | x) − 1{t ≥ y})² dt: y (n,) → (n,), in y's units."""
        return self.law._crps(self.x, self.law._y(self.x, y))

    @property
    def mean(self) -> Tensor:
        """E[y | x]: (n,)."""
        return self.law._mean(self.x)

    @torch.no_grad()
    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None) -> Tensor:
        """Draws by the inverse CDF: one per x (n_x,) with n None, else (n, n_x); float64."""
        g = check_generator(generator, self.x.device)
        lead = () if n is None else (check_positive_int("n", n, maximum=MAX_SAMPLE_SIZE),)
        shape = (*lead, *self.x.shape)
        u = torch.rand(shape, generator=g, device=self.x.device, dtype=torch.float64)
        u = u.clamp_min(torch.finfo(torch.float64).tiny)  # F⁻¹ needs q in (0, 1)
        return self.law._quantile(self.x.expand(shape).reshape(-1), u.reshape(-1)).reshape(shape)
