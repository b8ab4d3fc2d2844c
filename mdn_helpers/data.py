"""David Ha's inverted-sine data set and its exact conditional density.

The generative story (Bishop's toy problem, made twice as wiggly by Ha)::

    y ~ U(-10.5, 10.5)
    x = f(y) + N(0, 1),   f(y) = 7 sin(0.75 y) + 0.5 y

We learn y given x, which is multi-modal: for |x| < 10 up to five y's fit.
Because the story is known, so is the exact answer: p(y | x) ∝ φ(x − f(y)) on
[-10.5, 10.5], and the smallest held-out NLL any model can reach, `bayes_nll()`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ._checks import (MAX_SAMPLE_SIZE, as_float_tensor, check_finite, check_finite_1d, check_inputs, check_nonneg_int,
                      check_positive_int, check_real, resolve_device)
from .loop import derive_seed

Y_LOW, Y_HIGH = -10.5, 10.5
#: Most nodes of the y grid of the exact density's integrals.
MAX_GRID = 1_000_000
#: Most float64 values one grid evaluation may hold at once (400 MB).
MAX_GRID_VALUES = 50_000_000
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


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


class InvertedSine(torch.utils.data.Dataset):
    """A fixed draw of the data set as a map-style Dataset of (x_i, y_i) pairs.

    Either give `n` (and a `seed`) to draw, or the tensors `x` and `y` (n,).
    """

    def __init__(self, n: int | None = None, *, seed: int = 0, x: Tensor | None = None, y: Tensor | None = None):
        if (x is None) != (y is None):
            raise ValueError("give both x and y, or neither")
        if x is None:
            if n is None:
                raise ValueError("give n (the number of points) or the tensors x and y")
            x, y = seeded_sample(n, seed)
        else:
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
    return Splits(InvertedSine(n_train, seed=seed), InvertedSine(n_val, seed=derive_seed(seed, "val")),
                  InvertedSine(n_test, seed=derive_seed(seed, "test")))


def check_pair(x: Tensor, y: Tensor, x_name: str = "x", y_name: str = "y") -> tuple[Tensor, Tensor]:
    """Validate two finite 1-d tensors of one length; return them as float tensors."""
    x = check_finite_1d(x_name, x)
    y = check_finite_1d(y_name, y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} must have the same length, got {x.shape[0]} and {y.shape[0]}")
    return x, y


def check_xy(x: Tensor, y: Tensor, x_name: str = "x", y_name: str = "y",
             n_in: int | None = None) -> tuple[Tensor, Tensor]:
    """Validate inputs x (n,) or (n, d) (d == n_in if given) and a finite 1-d
    target y (n,); return them as float tensors."""
    x = check_inputs(x_name, x, n_in)
    y = check_finite_1d(y_name, y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} must have the same length (rows), got {x.shape[0]} and "
                         f"{y.shape[0]}")
    return x, y


# ---------------------------------------------------------------------------
# The exact answer
# ---------------------------------------------------------------------------

def _as_float64(name: str, value) -> Tensor:
    """A finite float64 tensor, flattened."""
    return check_finite(name, as_float_tensor(name, value).to(torch.float64).reshape(-1))


def _check_grid_size(m: int, n: int, what: str) -> None:
    if m * n > MAX_GRID_VALUES:
        raise ValueError(f"{what} make a grid of {m:_} × {n:_} values, more than the {MAX_GRID_VALUES:_} "
                         "allowed at once; use fewer points")


def _y_grid(n_grid: int, dtype=torch.float64, device="cpu") -> Tensor:
    return torch.linspace(Y_LOW, Y_HIGH, n_grid, dtype=dtype, device=device)


def log_normaliser(x: Tensor, n_grid: int = 4001, chunk: int = 4096) -> Tensor:
    """log Z(x), Z(x) = ∫_{-10.5}^{10.5} φ(x − f(y)) dy, by the trapezoid rule.

    x: (m,) → (m,), float64. Z(x)/21 is the marginal density of x.
    Memory is O(chunk · n_grid); n_grid is at most MAX_GRID.
    """
    check_positive_int("n_grid", n_grid, minimum=3, maximum=MAX_GRID)
    check_positive_int("chunk", chunk)
    x = _as_float64("x", x)
    _check_grid_size(min(chunk, max(x.shape[0], 1)), n_grid, "chunk and n_grid")
    yg = _y_grid(n_grid, device=x.device)
    fy = inverted_sine_f(yg)
    dy = (Y_HIGH - Y_LOW) / (n_grid - 1)
    w = torch.full((n_grid,), dy, dtype=torch.float64, device=x.device)
    w[0] = w[-1] = dy / 2
    log_w = w.log()
    out = torch.empty_like(x)
    for s in range(0, x.shape[0], chunk):
        xs = x[s : s + chunk, None]
        log_phi = -0.5 * (xs - fy) ** 2 - _LOG_SQRT_2PI
        out[s : s + chunk] = torch.logsumexp(log_phi + log_w, dim=1)
    return out


def true_log_density(x: Tensor, y: Tensor, n_grid: int = 4001) -> Tensor:
    """log p(y | x) of the data set, pointwise for x, y of shape (n,); float64.

    −inf where y lies outside [-10.5, 10.5].
    """
    x = _as_float64("x", x)
    y = _as_float64("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    log_p = -0.5 * (x - inverted_sine_f(y)) ** 2 - _LOG_SQRT_2PI - log_normaliser(x, n_grid)
    inside = (y >= Y_LOW) & (y <= Y_HIGH)
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


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
    log_p = -0.5 * (x - inverted_sine_f(y)) ** 2 - _LOG_SQRT_2PI - math.log(Y_HIGH - Y_LOW)
    inside = (y >= Y_LOW) & (y <= Y_HIGH)
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def true_conditional_density(x: Tensor, y: Tensor, n_grid: int = 4001) -> Tensor:
    """p(y | x) on a grid: x of shape (m,), y of shape (n,) → (m, n), float64.

    Row i is the density of y given x = x[i]; it integrates to 1 over y.
    """
    x = _as_float64("x", x)
    y = _as_float64("y", y)
    _check_grid_size(x.shape[0], y.shape[0], "x and y")
    log_p = -0.5 * (x[:, None] - inverted_sine_f(y)[None, :]) ** 2 - _LOG_SQRT_2PI
    log_p = log_p - log_normaliser(x, n_grid)[:, None]
    inside = (y >= Y_LOW) & (y <= Y_HIGH)
    return torch.where(inside[None, :], log_p.exp(), torch.zeros_like(log_p))


def true_conditional_mean(x: Tensor, n_grid: int = 4001) -> Tensor:
    """E[y | x], the best a least-squares regression can do: x (m,) → (m,), float64."""
    check_positive_int("n_grid", n_grid, minimum=3, maximum=MAX_GRID)
    yg = _y_grid(n_grid)
    dens = true_conditional_density(x, yg, n_grid)
    return torch.trapezoid(dens * yg, yg, dim=1)


def bayes_nll(n_grid: int = 2001, n_x: int = 1601, x_pad: float = 8.0) -> float:
    """Expected held-out NLL (nats) of the Bayes-optimal model p(y | x).

    H(Y | X) = H(N(0, 1)) + ∫ p(x) log Z(x) dx with p(x) = Z(x) / 21; the
    outer integral is a trapezoid rule over x ∈ [min f − x_pad, max f + x_pad].
    """
    check_positive_int("n_x", n_x, minimum=3, maximum=MAX_GRID)
    check_real("x_pad", x_pad, minimum=3.0)  # less cuts off the N(0, 1) tails of p(x)
    f_abs = 7.0 + 0.5 * Y_HIGH
    xg = torch.linspace(-f_abs - x_pad, f_abs + x_pad, n_x, dtype=torch.float64)
    log_z = log_normaliser(xg, n_grid)
    p_x = log_z.exp() / (Y_HIGH - Y_LOW)
    entropy_noise = 0.5 * math.log(2 * math.pi * math.e)  # of the N(0, 1) noise
    return float(entropy_noise + torch.trapezoid(p_x * log_z, xg))
