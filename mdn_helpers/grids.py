"""Values on grids, for drawing: the model's and the exact p(y | x) on an x–y
grid, the SLOGAN critic on one, and the critic's colour range. Numbers only
(numpy arrays out); `plots` draws them.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_model, check_positive_int
from .datasets.inverted_sine import true_conditional_density
from .style import MAX_GRID_SIDE, X_LIM, Y_LIM, _np, _numbers

__all__ = ["critic_color_range", "critic_grid", "density_grid", "true_density_grid"]


def density_grid(
    model, x_lim: tuple[float, float] = X_LIM, y_lim: tuple[float, float] = Y_LIM, nx: int = 200, ny: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x grid (nx,), y grid (ny,), and the model's p(y | x) as (ny, nx)."""
    dev = check_model("model", model, "density").device
    check_positive_int("nx", nx, minimum=2, maximum=MAX_GRID_SIDE)
    check_positive_int("ny", ny, minimum=2, maximum=MAX_GRID_SIDE)
    xs = torch.linspace(*x_lim, nx)
    ys = torch.linspace(*y_lim, ny)
    with torch.no_grad():
        dens = model.density(xs.to(dev), ys.to(dev)).cpu()
    return xs.numpy(), ys.numpy(), dens.T.numpy()


def true_density_grid(
    x_lim: tuple[float, float] = X_LIM, y_lim: tuple[float, float] = Y_LIM, nx: int = 200, ny: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like `density_grid`, for the exact p(y | x) of the data set."""
    check_positive_int("nx", nx, minimum=2, maximum=MAX_GRID_SIDE)
    check_positive_int("ny", ny, minimum=2, maximum=MAX_GRID_SIDE)
    xs = torch.linspace(*x_lim, nx, dtype=torch.float64)
    ys = torch.linspace(*y_lim, ny, dtype=torch.float64)
    return xs.numpy(), ys.numpy(), true_conditional_density(xs, ys).T.numpy()


def critic_grid(critic, xlim=X_LIM, ylim=Y_LIM, n: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The critic on an n × n grid: x grid (n,), y grid (n,), and f as (n, n),
    row i at y[i], column j at x[j] (ready for ``imshow(origin="lower")``)."""
    w = check_model("critic", critic)
    check_positive_int("n", n, minimum=2, maximum=MAX_GRID_SIDE)
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        low, high = _numbers(name, lim, length=2)
        if not low < high:
            raise ValueError(f"{name} must be (low, high) with low < high, got {tuple(lim)!r}")
    xs = torch.linspace(float(xlim[0]), float(xlim[1]), n, dtype=w.dtype)
    ys = torch.linspace(float(ylim[0]), float(ylim[1]), n, dtype=w.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(w.device)
    with torch.no_grad():
        f = critic(pts).reshape(n, n).float().cpu()
    return xs.float().numpy(), ys.float().numpy(), f.numpy()


def critic_color_range(critic, points, q: tuple[float, float] = (2.0, 98.0)) -> tuple[float, float]:
    """The q-th percentiles of the critic f at points (n, 2): a colour range for
    the region that matters (the grid's corners, far from any point, reach
    values that would wash out the data region)."""
    check_model("critic", critic)
    pts = _np(points, "points")
    if pts.ndim != 2 or pts.shape[1] != 2 or not len(pts) or not np.isfinite(pts).all():
        raise ValueError(f"points must be finite and of shape (n, 2), got {tuple(pts.shape)}")
    low, high = _numbers("q", q, length=2)
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"q must be two percentiles 0 <= low < high <= 100, got {tuple(q)!r}")
    w = next(critic.parameters())
    with torch.no_grad():
        f = critic(torch.as_tensor(pts, dtype=w.dtype, device=w.device)).float().cpu().numpy().ravel()
    lo, hi = np.percentile(f, [low, high])
    # a flat critic: a range of 1e-6 relative (at least 1e-6), which stays a range at |f| ~ 1e30
    return float(lo), float(hi) if hi > lo else float(lo) + max(1e-6, 1e-6 * abs(float(lo)))
