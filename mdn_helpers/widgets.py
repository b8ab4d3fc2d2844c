"""The pi_bias / std_bias explorer: two sliders redrawing MDN samples live.

The random numbers are drawn once: a slider move asks the model for its
biased mixture (a forward pass on a few thousand points, well under a
millisecond of the redraw), re-picks components with the *same* uniform and
normal draws (common random numbers, so points glide instead of jumping),
updates the existing artists and re-renders one figure. Asking the model, not
re-implementing the biases here, keeps the explorer exactly what
`model.sample` draws, for an MDN, an ensemble or a head with eps > 0.
"""
from __future__ import annotations

import time

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from ._checks import check_finite_1d, check_float32_range, check_model, check_nonneg_int, check_positive_int
from .mixture import MixtureParams, check_bias
from .style import COLORS, STYLE, X_LIM, Y_LIM, _pair

PI_BIAS_RANGE = (0.0, 5.0)
STD_BIAS_RANGE = (0.0, 10.0)
#: Most points the explorer redraws (it is a live figure).
MAX_POINTS = 100_000


class BiasExplorer:
    """Cached state for redrawing biased samples of `model` at x (n,).

    `update(pi_bias, std_bias)` redraws the figure `self.fig` in place and
    returns the samples (n,). `data=(x, y)` draws the training data beneath.
    """

    def __init__(self, model, x=None, *, data=None, n: int = 2000, n_means: int = 150, seed: int = 0,
                 figsize=(7.5, 4.8)):
        self._dev = check_model("model", model, "log_params").device
        check_positive_int("n", n, maximum=MAX_POINTS)
        check_positive_int("n_means", n_means, maximum=MAX_POINTS)
        check_nonneg_int("seed", seed)
        gen = torch.Generator().manual_seed(seed)
        if x is None:
            x = torch.rand(n, generator=gen) * (X_LIM[1] - X_LIM[0] - 10) + X_LIM[0] + 5
        self.model = model
        x = check_float32_range("x", check_finite_1d("x", x)).to("cpu", torch.float32)
        if x.shape[0] > MAX_POINTS:
            raise ValueError(f"x must have at most {MAX_POINTS:_} points (a live figure), got {x.shape[0]:_}")
        if data is not None:
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise TypeError(f"data must be a pair (x, y) of (n,) tensors, got {type(data).__name__}")
            data = _pair(*data, "data[0]", "data[1]")
        self._x_means = torch.linspace(X_LIM[0] + 5, X_LIM[1] - 5, n_means)
        k = self._params(x[:1], 0.0, 0.0).mu.shape[-1]
        u = torch.rand(x.shape[0], k, generator=gen).clamp_min(torch.finfo(torch.float32).tiny)
        self._gumbel = -torch.log(-torch.log(u))
        self._eps = torch.randn(x.shape[0], generator=gen)
        means = self._params(self._x_means, 0.0, 0.0).mu
        self.x = x
        self.pi_bias, self.std_bias = 0.0, 0.0
        with matplotlib.rc_context(STYLE):
            # A Figure outside pyplot: the inline backend never shows it on its own.
            self.fig = Figure(figsize=figsize, dpi=80, layout="constrained")
            FigureCanvasAgg(self.fig)
            self.ax = self.fig.subplots()
            if data is not None:
                self.ax.scatter(*data, s=3, color=COLORS["data"], alpha=0.3,
                                linewidths=0, label="data")
            xm = self._x_means[:, None].expand(-1, k).reshape(-1).numpy()
            self._means = self.ax.scatter(xm, means.reshape(-1).numpy(), s=6, marker="s",
                                          linewidths=0, color=COLORS["means"], zorder=3,
                                          label="component means μₖ(x), opacity ∝ √πₖ")
            self._samples = self.ax.scatter(x.numpy(), np.zeros(x.shape[0]), s=4, color=COLORS["model"],
                                            linewidths=0, alpha=0.8, label="samples")
            self.ax.set(xlabel="x", ylabel="y", xlim=X_LIM, ylim=Y_LIM)
            self.ax.legend(loc="upper left", markerscale=2.5)
        self._means_rgba = np.array(to_rgba(COLORS["means"]))
        self.update(0.0, 0.0)

    @torch.no_grad()
    def _params(self, x: torch.Tensor, pi_bias: float, std_bias: float) -> MixtureParams:
        """The model's biased mixture at x, on the CPU: each field (n, k)."""
        p = self.model.log_params(x.to(self._dev), pi_bias, std_bias)
        return MixtureParams(*(t.detach().float().cpu() for t in p))

    def samples(self, pi_bias: float, std_bias: float) -> torch.Tensor:
        """Biased samples at self.x with the cached noise: (n,)."""
        pi_bias, std_bias = check_bias(pi_bias, std_bias)
        p = self._params(self.x, pi_bias, std_bias)
        k = torch.argmax(p.log_pi + self._gumbel, dim=-1, keepdim=True)
        mu = p.mu.gather(-1, k).squeeze(-1)
        sigma = p.log_sigma.gather(-1, k).squeeze(-1).exp()
        return mu + sigma * self._eps

    def update(self, pi_bias: float, std_bias: float) -> torch.Tensor:
        """Redraw for new biases; returns the samples (n,)."""
        y = self.samples(pi_bias, std_bias)
        self.pi_bias, self.std_bias = float(pi_bias), float(std_bias)
        self._samples.set_offsets(np.column_stack([self.x.numpy(), y.numpy()]))
        log_pi_m = self._params(self._x_means, self.pi_bias, 0.0).log_pi
        rgba = np.tile(self._means_rgba, (log_pi_m.numel(), 1))
        rgba[:, 3] = np.clip(log_pi_m.exp().reshape(-1).numpy(), 0.0, 1.0) ** 0.5
        self._means.set_facecolors(rgba)
        self.ax.set_title(f"MDN samples with pi_bias = {self.pi_bias:.2f}, std_bias = {self.std_bias:.2f}")
        return y

    def time_redraw(self, values, repeats: int = 1) -> list[float]:
        """Seconds per (update + full render with the Agg canvas) for each (pi_bias, std_bias)."""
        times = []
        for _ in range(repeats):
            for pb, sb in values:
                t0 = time.perf_counter()
                self.update(pb, sb)
                self.fig.canvas.draw()
                self.fig.canvas.buffer_rgba()
                times.append(time.perf_counter() - t0)
        return times


def bias_explorer(model, x=None, *, data=None, n: int = 2000, seed: int = 0):
    """An ipywidgets box: `pi_bias` (0…5) and `std_bias` (0…10) sliders over a live figure.

    Returns the VBox; its `.explorer` attribute is the `BiasExplorer` behind it.
    The figure is rendered as a PNG into an Output widget on each change.
    """
    import ipywidgets as W
    from IPython.display import display

    ex = BiasExplorer(model, x, data=data, n=n, seed=seed)
    pi = W.FloatSlider(value=0.0, min=PI_BIAS_RANGE[0], max=PI_BIAS_RANGE[1], step=0.1, description="pi_bias",
                       continuous_update=True, readout_format=".1f")
    sd = W.FloatSlider(value=0.0, min=STD_BIAS_RANGE[0], max=STD_BIAS_RANGE[1], step=0.1, description="std_bias",
                       continuous_update=True, readout_format=".1f")
    pi.add_class("mdn-pi-bias")
    sd.add_class("mdn-std-bias")
    out = W.Output()
    out.add_class("mdn-bias-figure")

    def redraw(_=None):
        ex.update(pi.value, sd.value)
        with out:
            out.clear_output(wait=True)
            display(ex.fig)

    pi.observe(redraw, names="value")
    sd.observe(redraw, names="value")
    redraw()
    box = W.VBox([W.HBox([pi, sd]), out])
    box.explorer = ex
    return box
