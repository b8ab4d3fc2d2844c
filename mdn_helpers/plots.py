"""Every figure the notebooks and the command line draw, in one style (`style`).

Each function returns its matplotlib Figure and touches no global state: the
style is applied with `matplotlib.rc_context` while the figure is built.
Models are only called here (no training); tensors go in, figures come out.
The values on grids that the heat maps draw are computed in `grids`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torch import nn

from ._checks import check_bool, check_model, check_positive_int, check_real
from .calibration import _check_points, check_law, pit, x_bins
from .datasets.inverted_sine import (
    Y_HIGH,
    Y_LOW,
    ExactLaw,
    log_normaliser,
    true_conditional_density,
    true_conditional_mean,
)
from .grids import critic_color_range, critic_grid, density_grid, true_density_grid
from .loop import History
from .mixture import check_bias
from .seeding import derive_seed
from .style import (
    CMAP,
    COLORS,
    CRITIC_CMAP,
    MAX_CURVE_POINTS,
    MAX_GRID_SIDE,
    MAX_PLOT_POINTS,
    X_LIM,
    Y_LIM,
    _axes,
    _history,
    _np,
    _numbers,
    _pair,
    styled,
)

__all__ = [
    "LiveLossPlot",
    "plot_bias_grid",
    "plot_components",
    "plot_critic",
    "plot_data",
    "plot_density_comparison",
    "plot_gan_densities",
    "plot_loss",
    "plot_nll_gap",
    "plot_pit",
    "plot_regression",
    "plot_samples",
    "plot_slices",
    "plot_slogan_history",
    "plot_true_density",
]


@styled
def plot_data(x, y, *, ax=None, title: str = "The inverted sine: y given x is multi-modal", s: float = 3) -> Figure:
    """Scatter of the data set, x (n,) against y (n,)."""
    x, y = _pair(x, y)
    fig, ax = _axes(ax)
    ax.scatter(x, y, s=s, color=COLORS["data"], alpha=0.6, linewidths=0, label="data")
    ax.set(xlabel="x", ylabel="y", title=title, xlim=X_LIM, ylim=Y_LIM)
    ax.legend(loc="upper left", markerscale=3)
    return fig


@styled
def plot_samples(
    x,
    y,
    x_model,
    y_model,
    *,
    x_biased=None,
    y_biased=None,
    biased_label: str = "MDN, biased",
    ax=None,
    title: str = "Data and samples from the MDN",
) -> Figure:
    """Data (x, y) with model samples (x_model, y_model) on top, and optionally a
    second, biased set of samples; all (n,)."""
    x, y = _pair(x, y)
    x_model, y_model = _pair(x_model, y_model, "x_model", "y_model")
    if x_biased is not None:
        x_biased, y_biased = _pair(x_biased, y_biased, "x_biased", "y_biased")
    fig, ax = _axes(ax)
    ax.scatter(x, y, s=3, color=COLORS["data"], alpha=0.35, linewidths=0, label="data")
    ax.scatter(x_model, y_model, s=3, color=COLORS["model"], alpha=0.6, linewidths=0, label="MDN samples")
    if x_biased is not None:
        ax.scatter(x_biased, y_biased, s=3, color=COLORS["biased"], alpha=0.7, linewidths=0, label=biased_label)
    ax.set(xlabel="x", ylabel="y", title=title, xlim=X_LIM, ylim=Y_LIM)
    ax.legend(loc="upper left", markerscale=3)
    return fig


@styled
def plot_loss(
    history, *, bayes: float | None = None, reference: dict | None = None, ax=None, title: str = "Training the MDN"
) -> Figure:
    """Training loss per step (history["loss"]) and validation NLL (history
    ["val_nll"], if recorded) from a History, with the Bayes limit and other
    reference levels ({label: nats}) as lines. An empty History draws the axes."""
    _history(history)
    if bayes is not None:
        bayes = check_real("bayes", bayes)
    if reference is not None and not isinstance(reference, dict):
        raise TypeError(f"reference must be a dict {{label: nats}}, got {type(reference).__name__}")
    levels = {str(k): check_real(f"reference[{k!r}]", v) for k, v in (reference or {}).items()}
    fig, ax = _axes(ax)
    loss = history.per_step.get("loss", [])
    val = history.evals.get("val_nll", [])
    ax.plot(np.arange(1, len(loss) + 1), loss, color=COLORS["model"], lw=1, label="training NLL")
    if val:
        ax.plot(history.eval_steps, val, color=COLORS["val"], lw=1.5, marker="o", ms=2.5, label="validation NLL")
    if bayes is not None:
        ax.axhline(bayes, color=COLORS["truth"], ls="--", lw=1, label=f"Bayes limit {bayes:.3f}")
    for i, (label, level) in enumerate(levels.items()):
        ax.axhline(level, color="0.5", ls=[":", "-."][i % 2], lw=1, label=f"{label} {level:.2f}")
    shown = [*loss[-200:], *val, *([bayes] if bayes is not None else [])]
    if shown:
        lo = min(shown)
        hi = float(np.percentile(loss, 90)) if loss else max(shown)
        ax.set_ylim(lo - 0.05, max(hi, lo + 0.3) + 0.05)
    ax.set(xlabel="step", ylabel="NLL (nats)", title=title)
    ax.legend(loc="upper right")
    return fig


def _density_panel(ax: Axes, xs: np.ndarray, ys: np.ndarray, dens: np.ndarray, title: str, vmax: float) -> AxesImage:
    im = ax.imshow(
        dens,
        origin="lower",
        aspect="auto",
        extent=(xs[0], xs[-1], ys[0], ys[-1]),
        cmap=CMAP,
        vmin=0,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set(xlabel="x", ylabel="y", title=title)
    ax.grid(False)
    return im


def _lim(name: str, lim) -> tuple[float, float]:
    low, high = _numbers(name, lim, length=2)
    if not low < high:
        raise ValueError(f"{name} must be (low, high) with low < high, got {tuple(lim)!r}")
    return low, high


@styled
def plot_true_density(
    *,
    n: int = 200,
    x_lim: Sequence[float] = X_LIM,
    y_lim: Sequence[float] = Y_LIM,
    scale_x_lim: Sequence[float] | None = None,
    title: str = "The exact p(y | x) of the data set",
) -> Figure:
    """Heat map of the true conditional density on an (n, n) grid over x_lim ×
    y_lim, one column per x. The colour range tops out at the 99.5% quantile of
    the columns with x inside scale_x_lim (None: all columns), so a region
    without data, such as |x| > 12.25 where p(y | x) piles up at y = ±10.5,
    need not set it; brighter values there saturate (the colour bar's arrow)."""
    x_lim, y_lim = _lim("x_lim", x_lim), _lim("y_lim", y_lim)
    xs, ys, true = true_density_grid(x_lim, y_lim, nx=n, ny=n)
    fig, ax = plt.subplots(layout="constrained")
    lo, hi = _lim("scale_x_lim", x_lim if scale_x_lim is None else scale_x_lim)
    inside = (xs >= lo) & (xs <= hi)
    if not inside.any():
        raise ValueError(f"scale_x_lim must overlap x_lim {x_lim}, got {(lo, hi)}")
    vmax = float(np.quantile(true[:, inside], 0.995))
    im = _density_panel(ax, xs, ys, true, title, vmax)
    fig.colorbar(im, ax=ax, label="p(y | x)", extend="max" if float(true.max()) > vmax else "neither")
    return fig


@styled
def plot_density_comparison(
    model,
    *,
    n: int = 200,
    x_lim: Sequence[float] = X_LIM,
    vmax: float | None = None,
    title: str = "Learned and true p(y | x)",
) -> Figure:
    """The model's p(y | x) beside the exact one, on one colour scale, over
    x in `x_lim` (low, high). The colour range is 0 to `vmax`; by default the
    99.5 % quantile of the exact density; a smaller `vmax` shows the broad
    ridges (the colour bar then marks the clipped top with an arrow)."""
    lo, hi = _numbers("x_lim", x_lim, length=2)
    if not lo < hi:
        raise ValueError(f"x_lim must be (low, high) with low < high, got {tuple(x_lim)!r}")
    if vmax is not None:
        vmax = check_real("vmax", vmax, minimum=0.0, strict=True)
    xs, ys, learned = density_grid(model, x_lim=(lo, hi), nx=n, ny=n)
    _, _, true = true_density_grid(x_lim=(lo, hi), nx=n, ny=n)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    top = float(np.quantile(true, 0.995)) if vmax is None else float(vmax)
    _density_panel(axes[0], xs, ys, learned, "MDN", top)
    im = _density_panel(axes[1], xs, ys, true, "exact", top)
    axes[1].set_ylabel("")
    fig.colorbar(im, ax=axes, label="p(y | x)", shrink=0.9, extend="neither" if vmax is None else "max")
    fig.suptitle(title)
    return fig


@styled
def plot_slices(
    model, xs: Sequence[float] = (-8.0, 0.0, 5.0), *, n: int = 400, title: str = "p(y | x) at a few x"
) -> Figure:
    """The learned and the exact conditional density at a few x, one panel each."""
    dev = check_model("model", model, "density").device
    check_positive_int("n", n, minimum=2, maximum=MAX_CURVE_POINTS)
    x_t = torch.tensor(_numbers("xs", xs), dtype=torch.float32)  # one panel each
    ys = torch.linspace(Y_LOW - 2, Y_HIGH + 2, n)
    with torch.no_grad():
        learned = model.density(x_t.to(dev), ys.to(dev)).cpu().numpy()
    true = true_conditional_density(x_t.double(), ys.double()).numpy()
    fig, axes = plt.subplots(1, len(xs), figsize=(3.6 * len(xs), 3.2), sharey=True, layout="constrained")
    for ax, xv, l_row, t_row in zip(np.atleast_1d(axes), xs, learned, true, strict=True):
        ax.plot(ys, t_row, color=COLORS["truth"], lw=1.2, ls="--", label="exact")
        ax.plot(ys, l_row, color=COLORS["model"], lw=1.5, label="MDN")
        ax.set(xlabel="y", title=f"x = {xv:g}")
    np.atleast_1d(axes)[0].set_ylabel("p(y | x)")
    np.atleast_1d(axes)[0].legend(loc="upper left")
    fig.suptitle(title)
    return fig


@styled
def plot_regression(x, y, model, *, n: int = 400, title: str = "Least squares fits the conditional mean") -> Figure:
    """The data, a regression net's prediction and the exact E[y | x]."""
    dev = check_model("model", model).device
    if callable(getattr(model, "mixture", None)):
        raise TypeError(
            f"model must be a regression net, model(x) → (n,), such as a MeanRegressor; got a "
            f"{type(model).__name__} (for an MDN, plot_density_comparison or plot_slices)"
        )
    check_positive_int("n", n, minimum=2, maximum=MAX_CURVE_POINTS)
    x, y = _pair(x, y)
    xs = torch.linspace(*X_LIM, n)
    with torch.no_grad():
        pred = model(xs.to(dev)).cpu()
    fig, ax = _axes(None)
    ax.scatter(x, y, s=3, color=COLORS["data"], alpha=0.4, linewidths=0, label="data")
    ax.plot(
        xs.numpy(), true_conditional_mean(xs).numpy(), color=COLORS["truth"], ls="--", lw=1.5, label="exact E[y | x]"
    )
    ax.plot(xs.numpy(), pred.numpy(), color=COLORS["model"], lw=2, label="MSE-trained net")
    ax.set(xlabel="x", ylabel="y", title=title, xlim=X_LIM, ylim=Y_LIM)
    ax.legend(loc="upper left", markerscale=3)
    return fig


@styled
def plot_bias_grid(
    model,
    *,
    pi_biases: Sequence[float] = (0.0, 2.0, 5.0),
    std_biases: Sequence[float] = (0.0, 1.0, 3.0),
    data=None,
    n: int = 1500,
    seed: int = 0,
    title: str = "Graves' sampling biases: pi_bias (columns), std_bias (rows)",
) -> Figure:
    """A static grid of biased samples, for readers without a live kernel."""
    check_model("model", model, "mixture")
    check_positive_int("n", n, maximum=MAX_PLOT_POINTS)
    pi_biases, std_biases = (
        _numbers("pi_biases", pi_biases, max_length=8),
        _numbers("std_biases", std_biases, max_length=8),
    )
    for pb in pi_biases:
        for sb in std_biases:
            check_bias(pb, sb)
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"data must be a pair (x, y) of (n,) tensors, got {type(data).__name__}")
        data = _pair(data[0], data[1], "data[0]", "data[1]")
    gen = torch.Generator().manual_seed(derive_seed(seed, "bias_grid/x"))
    xs = torch.rand(n, generator=gen) * 30 - 15
    dev = next(model.parameters()).device
    fig, axes = plt.subplots(
        len(std_biases),
        len(pi_biases),
        figsize=(3.3 * len(pi_biases), 2.6 * len(std_biases)),
        sharex=True,
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    for r, sb in enumerate(std_biases):
        for c, pb in enumerate(pi_biases):
            ax = axes[r, c]
            # the same noise in every panel
            g = torch.Generator(device=dev).manual_seed(derive_seed(seed, "bias_grid/noise"))
            with torch.no_grad():
                ys = model.mixture(xs.to(dev), pi_bias=pb, std_bias=sb).sample(generator=g).cpu()
            if data is not None:
                ax.scatter(data[0], data[1], s=1.5, color=COLORS["data"], alpha=0.25, linewidths=0, label="data")
            ax.scatter(xs.numpy(), ys.numpy(), s=1.5, color=COLORS["model"], linewidths=0, label="samples")
            ax.set(xlim=X_LIM, ylim=Y_LIM, title=f"pi_bias={pb:g}, std_bias={sb:g}")
            ax.title.set_fontsize(9)
            if r == len(std_biases) - 1:
                ax.set_xlabel("x")
            if c == 0:
                ax.set_ylabel("y")
    axes[0, 0].legend(loc="upper left", markerscale=4, fontsize=7)
    fig.suptitle(title)
    return fig


@styled
def plot_pit(
    model,
    x,
    y,
    *,
    bins: int = 4,
    hist_bins: int = 20,
    exact: bool = True,
    pi_bias: float = 0.0,
    std_bias: float = 0.0,
    label: str = "MDN",
    title: str = "PIT histograms: flat is calibrated",
) -> Figure:
    """Histograms of the PIT u = F(y | x) of `model` on held-out x (n,) or
    (n, d), y (n,): over all points, then in `bins` equal-count bins of x (the
    first column for (n, d)); with exact=True (x 1-d only) the exact law's
    PIT on the same points drawn beside it, as a black outline. A flat
    histogram at 1 is calibrated; U-shaped, over-confident; a hump, too wide."""
    check_law(model, "model")
    check_positive_int("bins", bins, maximum=12)
    check_positive_int("hist_bins", hist_bins, minimum=2, maximum=200)
    check_bool("exact", exact)
    x, y = _check_points(x, y)
    if y.shape[0] < bins:
        raise ValueError(f"bins must be at most the number of points ({y.shape[0]}), got {bins}")
    if exact and x.dim() != 1:
        raise ValueError(f"exact=True needs x of shape (n,) (the exact law has one input), got {tuple(x.shape)}")
    u_model = pit(model, x, y, pi_bias=pi_bias, std_bias=std_bias).numpy()
    u_exact = pit(ExactLaw(), x, y).numpy() if exact else None
    groups: list[tuple[str, np.ndarray]] = [("all x", np.arange(len(u_model)))]
    key = (x if x.dim() == 1 else x[:, 0]).cpu().numpy()
    for b in x_bins(x, bins):
        idx = b.numpy()
        groups.append((f"x in [{key[idx].min():.1f}, {key[idx].max():.1f}]", idx))
    edges = np.linspace(0, 1, hist_bins + 1)
    fig, axes = plt.subplots(
        1, len(groups), figsize=(2.6 * len(groups) + 0.6, 3.0), sharey=True, layout="constrained", squeeze=False
    )
    top = 2.0
    for ax, (name, idx) in zip(axes[0], groups, strict=True):
        h, _, _ = ax.hist(u_model[idx], bins=edges, density=True, color=COLORS["model"], alpha=0.6, label=label)
        top = max(top, float(h.max()) * 1.1)
        if u_exact is not None:
            he, _, _ = ax.hist(
                u_exact[idx],
                bins=edges,
                density=True,
                histtype="step",
                color=COLORS["truth"],
                lw=1.2,
                label="exact law",
            )
            top = max(top, float(he.max()) * 1.1)
        ax.axhline(1.0, color="0.5", ls=":", lw=1, label="U(0, 1)")
        ax.set(xlabel="PIT u = F(y | x)", title=name, xlim=(0, 1))
        ax.title.set_fontsize(9)
    axes[0, 0].set_ylim(0, top)
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(loc="upper center", fontsize=7)
    fig.suptitle(title)
    return fig


def _faded_line(ax, xs: np.ndarray, ys: np.ndarray, weight: np.ndarray, color, lw: float) -> None:
    """A line whose opacity follows √weight (weight (n,) in [0, 1]), segment by segment."""
    from matplotlib.collections import LineCollection

    pts = np.stack([xs, ys], axis=1)
    rgba = np.tile(np.asarray(color, dtype=float), (len(xs) - 1, 1))
    rgba[:, 3] = np.clip(np.sqrt(0.5 * (weight[:-1] + weight[1:])), 0.02, 1.0)
    # an (n - 1, 2, 2) array of segments, as matplotlib's docs and gallery pass; its stub wants a Sequence
    segments = np.stack([pts[:-1], pts[1:]], axis=1)
    ax.add_collection(LineCollection(segments, colors=rgba, linewidths=lw))  # type: ignore[arg-type]


@styled
def plot_components(
    model,
    *,
    x_lim: Sequence[float] = (-15.0, 15.0),
    n: int = 300,
    data=None,
    title: str = "The mixture's parameters along x",
) -> Figure:
    """Bishop's figure: each component's weight π_k(x), mean μ_k(x) and scale
    σ_k(x) against x, one colour per component (model: an MDN, k ≤ 20).

    Means and scales are drawn with opacity √π_k(x), so components that carry
    no weight at some x fade out there; `data=(x, y)` draws the data beneath
    the means.
    """
    dev = check_model("model", model, "mixture").device
    check_positive_int("n", n, minimum=2, maximum=MAX_CURVE_POINTS)
    lo, hi = _numbers("x_lim", x_lim, length=2)
    if not lo < hi:
        raise ValueError(f"x_lim must be (low, high) with low < high, got {tuple(x_lim)!r}")
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"data must be a pair (x, y) of (n,) tensors, got {type(data).__name__}")
        data = _pair(data[0], data[1], "data[0]", "data[1]")
    x_grid = torch.linspace(lo, hi, n)
    with torch.no_grad():
        mix = model.mixture(x_grid.to(dev))
        pi, mu, sigma = (t.detach().float().cpu().numpy() for t in (mix.log_pi.exp(), mix.loc, mix.log_scale.exp()))
    k = pi.shape[1]
    if k > 20:
        raise ValueError(f"model has {k} components; plot_components draws at most 20 (one colour each)")
    # tab20 comes in dark/light pairs of one hue: take the ten dark ones first, so components 0-9 get
    # ten different hues and only 10-19 repeat a hue (lighter)
    colors = plt.get_cmap("tab20")(np.r_[0:20:2, 1:20:2][:k])
    fig, axes = plt.subplots(
        3, 1, figsize=(7.5, 8.0), sharex=True, layout="constrained", gridspec_kw=dict(height_ratios=(1, 2, 1))
    )
    xs = x_grid.numpy()
    if data is not None:
        axes[1].scatter(*data, s=2, color="0.55", alpha=0.35, linewidths=0, label="data")
    for j in range(k):
        axes[0].plot(xs, pi[:, j], color=colors[j], lw=1.2)
        _faded_line(axes[1], xs, mu[:, j], pi[:, j], colors[j], 2.5)
        _faded_line(axes[2], xs, sigma[:, j], pi[:, j], colors[j], 1.5)
    axes[1].plot([], [], color="0.3", lw=2.5, label="μₖ(x), one colour per component")
    axes[0].set(ylabel="weight πₖ(x)", ylim=(0, 1.02), title=f"Weights of the {k} components")
    axes[1].set(ylabel="mean μₖ(x)", ylim=Y_LIM, title="Means (opacity √πₖ: faint = little weight)")
    axes[1].legend(loc="upper left", markerscale=4)
    axes[2].set(
        xlabel="x",
        ylabel="scale σₖ(x)",
        yscale="log",
        title="Scales (log axis, opacity √πₖ)",
        xlim=(lo, hi),
        ylim=(max(float(sigma.min()), 1e-3) / 1.5, float(sigma.max()) * 1.5),
    )
    fig.suptitle(title)
    return fig


@styled
def plot_nll_gap(
    gap, xs, *, marks: Sequence[float] = (), ax=None, title: str = "Where the model loses: NLL gap to the exact density"
) -> Figure:
    """The expected NLL gap at each x (`metrics.nll_gap_by_x`: gap (m,) at xs
    (m,)), with the density of x, p(x) = Z(x)/21, on a second axis and
    optional vertical lines at `marks` (e.g. the turning values of f)."""
    xs_np, gap_np = _pair(xs, gap, "xs", "gap")
    marks = _numbers("marks", marks, max_length=20) if len(marks) else []
    p_x = log_normaliser(torch.as_tensor(xs_np, dtype=torch.float64)).exp().numpy() / (Y_HIGH - Y_LOW)
    fig, ax = _axes(ax, figsize=(8.0, 4.0))
    ax.plot(xs_np, gap_np, color=COLORS["model"], lw=1.5, label="NLL gap at x (nats)")
    for i, m in enumerate(marks):
        ax.axvline(m, color="0.4", ls=":", lw=1, label="turning values of f" if i == 0 else None)
    ax.set(xlabel="x", ylabel="KL(p(y|x) ‖ model) (nats)", title=title, xlim=(xs_np.min(), xs_np.max()))
    ax.set_ylim(bottom=0)
    twin = ax.twinx()
    twin.fill_between(xs_np, p_x, color=COLORS["data"], alpha=0.15, lw=0, label="density of x, p(x)")
    twin.set(ylabel="p(x)", ylim=(0, 2.2 * p_x.max()))
    twin.grid(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper right")
    return fig


class LiveLossPlot:
    """A training callback that redraws the loss curve in place in Jupyter.

    ``fit_mdn(..., callback=LiveLossPlot(bayes=...), eval_every=250)``: the
    figure is shown once and then updated through its display handle, so the
    cell ends with one figure rather than a wall of them.
    """

    def __init__(
        self, *, bayes: float | None = None, reference: dict | None = None, title: str = "Training the MDN"
    ) -> None:
        self.bayes, self.reference, self.title = bayes, reference, title
        self._handle = None

    def __call__(self, step: int, history: History, model: nn.Module) -> None:
        from IPython.display import display

        fig = plot_loss(history, bayes=self.bayes, reference=self.reference, title=f"{self.title} (step {step})")
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)


# --- SLOGAN figures ---
# The GAN half: the critic's heat map, the three density panels of the original
# notebook, and the training history. Same conventions as above: tensors in,
# a Figure out, no training and no global state.


def _first_points(fake, max_points: int) -> np.ndarray:
    """The first max_points rows of (m, 2) points, as numpy (generated points are iid)."""
    pts = _np(fake, "fake")
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"fake must have shape (m, 2), got {tuple(pts.shape)}")
    return pts[:max_points]


@styled
def plot_critic(
    critic,
    x,
    y,
    *,
    fake=None,
    n: int = 100,
    vlim: tuple[float, float] | None = None,
    ax=None,
    title: str = "The critic f around the data and the generated points",
) -> Figure:
    """Heat map of the critic f(x, y) on the original notebook's extent
    (x in [-20, 20], y in [-15, 15]), with the data x, y (n,) on top and
    optionally generated points fake (m, 2).

    vlim: the colour range; None takes the 2nd and 98th percentiles of f at the
    data and generated points (`critic_color_range`; non-finite points are
    left out, as the scatter leaves them out), so the colours resolve the
    region where real and fake meet; values beyond it saturate.
    """
    _xs, _ys, f = critic_grid(critic, X_LIM, Y_LIM, n)
    x, y = _pair(x, y)
    pts = _first_points(fake, 3000) if fake is not None else None
    if vlim is None:
        where = np.stack([x, y], 1) if pts is None else np.concatenate([np.stack([x, y], 1), pts])
        where = where[np.isfinite(where).all(axis=1)]  # scatter skips non-finite points; so does the range
        vlim = critic_color_range(critic, where) if len(where) else (float(f.min()), float(f.max()) + 1e-6)
    vmin, vmax = _numbers("vlim", vlim, length=2)
    if not vmin < vmax:
        raise ValueError(f"vlim must be (low, high) with low < high, got {tuple(vlim)!r}")
    fig, ax = _axes(ax, figsize=(7.2, 4.8))
    im = ax.imshow(
        f,
        origin="lower",
        extent=(*X_LIM, *Y_LIM),
        cmap=CRITIC_CMAP,
        aspect="auto",
        interpolation="bilinear",
        vmin=vmin,
        vmax=vmax,
    )
    # sky blue: visible on both ends of magma, unlike the darker data blue
    ax.scatter(x, y, s=2, color="#56B4E9", alpha=0.9, linewidths=0, label="data")
    if pts is not None:
        # vermillion crosses (the model colour): seen on both the dark and the light end of magma
        ax.scatter(
            pts[:, 0], pts[:, 1], s=5, color=COLORS["model"], marker="x", alpha=0.8, linewidths=0.6, label="generated"
        )
    fig.colorbar(im, ax=ax, label="critic f(x, y)", extend="both")
    ax.set(xlabel="x", ylabel="y", title=title, xlim=X_LIM, ylim=Y_LIM)
    ax.grid(False)
    legend = ax.legend(loc="upper left", markerscale=4, frameon=True, facecolor="0.35")
    for text in legend.get_texts():
        text.set_color("white")
    return fig


@styled
def plot_gan_densities(
    fake,
    x,
    y,
    *,
    max_points: int = 3000,
    levels: int = 10,
    thresh: float = 0.05,
    bw_adjust: float = 0.35,
    gridsize: int = 100,
    title: str = "SLOGAN: generated and data densities",
) -> Figure:
    """The original notebook's three panels: a KDE of the generated points
    fake (m, 2), a KDE of the data x, y (n,), and both as points.

    Each KDE uses the first `max_points` points (iid draws, so a fair
    subsample) on a `gridsize` grid, seaborn's filled contours with `levels`
    iso-proportion levels above `thresh`, and bandwidth Scott × `bw_adjust`.
    """
    import seaborn as sns

    check_positive_int("max_points", max_points, maximum=MAX_PLOT_POINTS)
    check_positive_int("gridsize", gridsize, minimum=2, maximum=MAX_GRID_SIDE)
    pts = _first_points(fake, max_points)
    xd, yd = _pair(x, y)
    xd, yd = xd[:max_points], yd[:max_points]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharex=True, sharey=True, layout="constrained")
    kde = dict(fill=True, levels=levels, thresh=thresh, bw_adjust=bw_adjust, gridsize=gridsize)
    sns.kdeplot(x=pts[:, 0], y=pts[:, 1], color=COLORS["model"], ax=axes[0], **kde)
    sns.kdeplot(x=xd, y=yd, color=COLORS["data"], ax=axes[1], **kde)
    axes[2].scatter(xd, yd, s=2, color=COLORS["data"], alpha=0.6, linewidths=0, label="data")
    axes[2].scatter(pts[:, 0], pts[:, 1], s=3, color=COLORS["model"], alpha=0.4, linewidths=0, label="generated")
    axes[2].legend(loc="upper left", markerscale=4)
    for ax, t in zip(axes, ("Generated density", "Data density", "Data and generated points"), strict=True):
        ax.set(xlabel="x", ylabel="y", title=t, xlim=X_LIM, ylim=Y_LIM)
    fig.suptitle(title)
    return fig


@styled
def plot_slogan_history(
    history, *, noise_floor: tuple[float, float] | None = None, title: str = "Training the SLOGAN"
) -> Figure:
    """Left: the energy distance to the data at each evaluation of a
    SLOGAN History (history["energy"]), on a symmetric-log scale (the unbiased
    score dips below 0 by noise), with the noise floor's band mean ± 2 sd if
    given as (mean, sd): compute it for the evaluation's size,
    ``energy_noise_floor(history.recipe["n_eval"])``, so band and curve are
    like for like. Right: the critic's Lipschitz ratio |Δf| / ‖r − g‖ over each
    batch's real×fake pairs per generator step: the mean, and the largest
    (history["lip_max"], if recorded), which the penalty holds near 1."""
    _history(history, "energy")
    _history(history, "lip_mean")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), layout="constrained")
    e = np.asarray(history["energy"], dtype=float)
    n_eval = history.recipe.get("n_eval")
    of = f" ({n_eval} points a side)" if n_eval else ""
    axes[0].plot(
        np.asarray(history.eval_steps), e, color=COLORS["model"], marker="o", ms=3, lw=1.5, label="energy distance" + of
    )
    if noise_floor is not None:
        mean, sd = _numbers("noise_floor", noise_floor, length=2)
        axes[0].axhspan(
            mean - 2 * sd, mean + 2 * sd, color="0.5", alpha=0.25, lw=0, label="true vs true draws: mean ± 2 sd"
        )
    axes[0].axhline(0.0, color=COLORS["truth"], lw=0.8)
    axes[0].set_yscale("symlog", linthresh=1e-2)
    axes[0].set(xlabel="generator step", ylabel="energy distance", title="Distance to the data (lower is better)")
    axes[0].legend(loc="upper right")
    steps = np.arange(1, len(history["lip_mean"]) + 1)
    if "lip_max" in history.per_step:
        axes[1].plot(
            steps,
            np.asarray(history["lip_max"], dtype=float),
            color=COLORS["means"],
            lw=0.6,
            label="largest ratio in the batch",
        )
    axes[1].plot(
        steps,
        np.asarray(history["lip_mean"], dtype=float),
        color=COLORS["val"],
        lw=0.8,
        label="mean ratio over the batch's pairs",
    )
    axes[1].axhline(1.0, color=COLORS["truth"], ls="--", lw=1, label="Lipschitz bound 1")
    axes[1].set(xlabel="generator step", ylabel="|f(r) − f(g)| / ‖r − g‖", title="Critic's Lipschitz ratio")
    axes[1].legend(loc="center right", bbox_to_anchor=(1.0, 0.4))  # between the mean and the bound
    fig.suptitle(title)
    return fig
