"""The project's one plotting style, its palette and limits, and the small
converters every figure uses (tensors or arrays in, numpy out, errors naming
the argument).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

    from .loop import History

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: One palette for the whole project (colour-blind safe, Okabe–Ito).
COLORS = {
    "data": "#0072B2",  # blue
    "model": "#D55E00",  # vermillion
    "biased": "#009E73",  # green
    "truth": "#000000",
    "val": "#E69F00",  # orange
    "means": "#CC79A7",  # purple
}
CMAP = "viridis"  # perceptually uniform, for densities
CRITIC_CMAP = "magma"
X_LIM = (-20.0, 20.0)
Y_LIM = (-15.0, 15.0)
#: Most points along one axis of a heat map or curve (a grid is at most 4 million cells).
MAX_GRID_SIDE = 2000
#: Most points along one curve.
MAX_CURVE_POINTS = 100_000
#: Most model samples one figure draws.
MAX_PLOT_POINTS = 1_000_000

STYLE: dict[RcKeyType, Any] = {
    "figure.figsize": (6.4, 4.4),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "image.cmap": CMAP,
}


def styled(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """Build the figure inside the project's rc_context."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _np(t, name: str = "data") -> np.ndarray:
    """A tensor or array-like as numpy; errors naming `name` for meta tensors and non-numbers."""
    if isinstance(t, torch.Tensor):
        if t.device.type == "meta":
            raise ValueError(
                f"{name} is a tensor on the meta device (a shape without values); give one on 'cpu' or 'cuda'"
            )
        return t.detach().cpu().numpy()
    try:
        if t is None:
            raise TypeError
        return np.asarray(t, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a tensor or array of numbers, got {type(t).__name__}") from exc


def _numbers(name: str, value, *, length: int | None = None, max_length: int = 20) -> list[float]:
    """A short sequence of finite real numbers (`length` of them if given), or errors naming `name`."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or getattr(value, "ndim", 1) != 1:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(value).__name__}")
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: meta tensors have no values
        raise TypeError(f"{name} must be a sequence of numbers, got {value!r:.60}") from exc
    want = f"{length}" if length is not None else f"1 to {max_length}"
    if (
        (length is not None and len(out) != length)
        or not 1 <= len(out) <= max_length
        or not all(math.isfinite(v) for v in out)
    ):
        raise ValueError(f"{name} must be {want} finite numbers, got {value!r:.60}")
    return out


def _pair(x, y, x_name: str = "x", y_name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Two 1-d arrays of one length (points to scatter), or errors naming them."""
    xa, ya = _np(x, x_name), _np(y, y_name)
    for name, a in ((x_name, xa), (y_name, ya)):
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-d of shape (n,), got shape {a.shape}")
    if xa.shape != ya.shape:
        raise ValueError(f"{x_name} and {y_name} must have the same length, got {len(xa)} and {len(ya)}")
    return xa, ya


def _history(history, series: str | None = None) -> History:
    from .loop import History

    if not isinstance(history, History):
        raise TypeError(f"history must be a History (what the trainers return), got {type(history).__name__}")
    if series is not None and series not in history.per_step and series not in history.evals:
        raise ValueError(
            f"history has no {series!r} series (a SLOGAN History has one); recorded: "
            f"{sorted(history.per_step) + sorted(history.evals)}"
        )
    return history


def _axes(ax, figsize=None):
    if ax is None:
        _fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax
