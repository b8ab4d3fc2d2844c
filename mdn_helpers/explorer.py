"""The bias explorer's data, and its stand-alone page.

The browser does the explorer's work: `explorer_grid` computes a model's
*unbiased* mixture once on a grid of x (log-weights, means, log-scales before
any floor, and the floor eps per component); `explorer_spec` checks that grid
and packs it (float32, base64) with the data to draw beneath; the JavaScript in
`explorer.js` (one source, read by `explorer_js`) applies Graves' biases exactly
as `Mixture.biased` and `Mixture.floored` do for the MDN head, samples with a seeded generator
and paints the figure. The notebook widget (`widgets.bias_explorer`) and the
page `write_explorer_page` writes both run that script.
"""

from __future__ import annotations

import base64
import json
import math
from importlib import resources
from pathlib import Path
from typing import NamedTuple, cast

import numpy as np
import torch
from torch import Tensor

from ._checks import check_finite_1d, check_float32_range, check_model, check_nonneg_int, check_positive_int
from .mdn import MDN, MDNEnsemble
from .mixture import Mixture
from .seeding import derive_seed
from .style import COLORS, STYLE, X_LIM, Y_LIM, _pair

#: Grid points along x by default, and at most; most grid values (g·k) and points (samples, data).
N_GRID = 400
MAX_GRID = 10_000
MAX_GRID_VALUES = 1_000_000
MAX_POINTS = 100_000
#: The sliders' ranges.
PI_BIAS_RANGE = (0.0, 5.0)
STD_BIAS_RANGE = (0.0, 10.0)
PAGE_NAME = "bias_explorer.html"
#: Below log eps − FLOOR_GAP a scale adds under 1e-21 (relative) to the floor: the pre-floor log-scale is
#: clamped there, so that every number handed over is finite.
FLOOR_GAP = 50.0


class ExplorerGrid(NamedTuple):
    """A model's unbiased mixture on a grid of x, for the explorer.

    x (g,); log_pi, mu, log_sigma (g, k) — log_sigma before any floor; eps (k,),
    the floor under each component's scale (0: none), so that the biased scale is
    ``logaddexp(log_sigma − std_bias, log eps)``.
    """

    x: Tensor
    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor
    eps: Tensor


def explorer_js() -> str:
    """The explorer's JavaScript (an ES module), shipped with the package."""
    return resources.files("mdn_helpers").joinpath("explorer.js").read_text(encoding="utf-8")


def _component_eps(model, k: int) -> Tensor:
    """The floor eps (data units) under each of the model's k components' scales: (k,)."""
    if isinstance(model, MDNEnsemble):
        members = [cast(MDN, m) for m in model.members]
        parts = [torch.full((m.n_components,), float(m.config["eps"])) for m in members]
        return torch.cat(parts).double()
    if isinstance(model, MDN):
        return torch.full((k,), float(model.config["eps"]), dtype=torch.float64)
    return torch.zeros(k, dtype=torch.float64)


def _bias(grid: ExplorerGrid, pi_bias: float, std_bias: float) -> tuple[Tensor, Tensor]:
    """Graves' biases on the grid, then the floor, as the model and the JavaScript apply them
    (`Mixture.biased`, `Mixture.floored`): log π and log σ, (g, k)."""
    mix = Mixture(grid.log_pi, grid.mu, grid.log_sigma).biased(pi_bias, std_bias).floored(grid.eps)
    return mix.log_pi, mix.scale


@torch.no_grad()
def explorer_grid(model, x=None, *, n_grid: int = N_GRID) -> ExplorerGrid:
    """The model's unbiased mixture at x (g,), default `n_grid` points evenly over the explorer's x range.

    The model needs ``mixture(x, pi_bias, std_bias)`` (an `MDN` or `MDNEnsemble`);
    its scale floor eps is read from its config. A ValueError if the grid is not
    finite, or if the model's biased mixture is not what the biases applied to
    this grid give (a model with another floor or bias rule).
    """
    dev = check_model("model", model, "mixture").device
    if x is None:
        n_grid = check_positive_int("n_grid", n_grid, minimum=2, maximum=MAX_GRID)
        x = torch.linspace(X_LIM[0] + 5, X_LIM[1] - 5, n_grid)
    else:
        x = check_float32_range("x", check_finite_1d("x", x))
        if x.shape[0] > MAX_GRID:
            raise ValueError(f"x must have at most {MAX_GRID:_} points (the explorer's grid), got {x.shape[0]:_}")
    x = x.detach().to("cpu", torch.float32)

    def ask(pi_bias: float, std_bias: float) -> list[Tensor]:
        mix = model.mixture(x.to(dev), pi_bias, std_bias)
        return [t.detach().to("cpu", torch.float64) for t in (mix.log_pi, mix.loc, mix.log_scale)]

    log_pi, mu, log_sigma = ask(0.0, 0.0)
    for name, t in (("log_pi", log_pi), ("mu", mu), ("log_sigma", log_sigma)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"model gives non-finite {name} on the grid ({int((~torch.isfinite(t)).sum())} "
                "NaN or infinite values): is it trained, and did training diverge?"
            )
    eps = _component_eps(model, mu.shape[-1])
    if bool((eps > 0).any()):  # undo the floor: log σ₀ = log(σ − eps), kept finite (see FLOOR_GAP)
        log_eps = torch.where(eps > 0, eps, torch.ones_like(eps)).log()
        ratio = torch.exp(log_eps - log_sigma)
        lifted = torch.where(
            ratio < 1, log_sigma + torch.log1p(-ratio.clamp(max=1.0)), torch.full_like(log_sigma, -math.inf)
        )
        log_sigma = torch.where(eps > 0, torch.maximum(lifted, log_eps - FLOOR_GAP), log_sigma)
    grid = ExplorerGrid(x.double(), log_pi, mu, log_sigma, eps)
    # The model's own biased mixture must be this grid with the biases applied (float32 round-off aside).
    want_pi, _, want_sigma = ask(2.0, 3.0)
    got_pi, got_sigma = _bias(grid, 2.0, 3.0)
    if not (
        torch.allclose(got_pi.exp(), want_pi.exp(), rtol=1e-3, atol=1e-6)
        and torch.allclose(got_sigma.exp(), want_sigma.exp(), rtol=1e-3, atol=0)
    ):
        raise ValueError(
            f"model's biased mixture is not Mixture.biased (log_softmax(log π·(1 + pi_bias)), log σ − std_bias) "
            f"(with the floor eps in its config): the explorer cannot show a {type(model).__name__}"
        )
    return grid


def check_grid(grid) -> ExplorerGrid:
    """`grid` as an ExplorerGrid of float64 CPU tensors, matching shapes, finite values; errors name the field."""
    if not (isinstance(grid, tuple) and len(grid) == 5):
        raise TypeError(
            "grid must be an ExplorerGrid (x, log_pi, mu, log_sigma, eps), as explorer_grid returns, "
            f"got {type(grid).__name__}"
        )
    names = ExplorerGrid._fields
    x = check_finite_1d("grid.x", grid[0])
    g = x.shape[0]
    if g > MAX_GRID:
        raise ValueError(f"grid.x must have at most {MAX_GRID:_} points, got {g:_}")
    fields = [x]
    k = None
    for name, t in zip(names[1:4], grid[1:4], strict=True):
        t = torch.as_tensor(t) if not isinstance(t, Tensor) else t
        if t.dim() != 2 or t.shape[0] != g or t.shape[1] == 0 or (k is not None and t.shape[1] != k):
            want = f"({g}, k)" if k is None else f"({g}, {k})"
            raise ValueError(f"grid.{name} must have shape {want}, one row per grid.x value, got {tuple(t.shape)}")
        k = t.shape[1]
        if not t.is_floating_point():
            raise TypeError(f"grid.{name} must be floating point, got {t.dtype}")
        fields.append(t)
    assert k is not None  # set by the loop over the three (g, k) fields
    eps = torch.as_tensor(grid[4]) if not isinstance(grid[4], Tensor) else grid[4]
    if eps.shape != (k,):
        raise ValueError(f"grid.eps must have shape ({k},), one floor per component, got {tuple(eps.shape)}")
    fields.append(eps)
    if g * k > MAX_GRID_VALUES:
        raise ValueError(f"grid has {g:_} × {k} values per field, more than the {MAX_GRID_VALUES:_} the explorer takes")
    out = []
    for name, t in zip(names, fields, strict=True):
        if t.device.type == "meta":
            raise ValueError(f"grid.{name} is a tensor on the meta device (a shape without values)")
        t = t.detach().to("cpu", torch.float64)
        if not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"grid.{name} must be finite, got {int((~torch.isfinite(t)).sum())} NaN or infinite value(s)"
            )
        check_float32_range(f"grid.{name}", t)
        out.append(t)
    if bool((out[4] < 0).any()):
        raise ValueError(f"grid.eps must be >= 0 (a floor under the scales), got {out[4].min().item()}")
    return ExplorerGrid(*out)


def _b64(t) -> str:
    return base64.b64encode(np.ascontiguousarray(np.asarray(t, dtype="<f4")).tobytes()).decode("ascii")


def explorer_spec(grid: ExplorerGrid, *, data=None, n: int = 2000, seed: int = 0) -> dict:
    """What the JavaScript draws from (a JSON-able dict): the checked grid, the data (x, y) to draw beneath,
    n samples spread evenly over the grid's x values, their noise seed, and the package's style."""
    grid = check_grid(grid)
    n = check_positive_int("n", n, maximum=MAX_POINTS)
    seed = check_nonneg_int("seed", seed)
    g, k = grid.mu.shape
    spec = {
        "g": g,
        "k": k,
        "n": n,
        "seed": derive_seed(seed, "explorer/noise") % 2**32,
        "x": _b64(grid.x),
        "log_pi": _b64(grid.log_pi),
        "mu": _b64(grid.mu),
        "log_sigma": _b64(grid.log_sigma),
        "eps": [float(e) for e in grid.eps] if bool((grid.eps > 0).any()) else None,
        "data_n": 0,
        "data_x": None,
        "data_y": None,
        "xlim": list(X_LIM),
        "ylim": list(Y_LIM),
        "xlabel": "x",
        "ylabel": "y",
        "title": "MDN samples",
        "means_label": "component means μₖ(x), opacity ∝ √πₖ",
        "markerscale": 2.5,
        "mean_columns": 150,
        "width": 750,
        "height": 480,
        "colors": {key: COLORS[key] for key in ("data", "model", "means")},
        "style": {
            "titlesize": STYLE["axes.titlesize"],
            "labelsize": STYLE["axes.labelsize"],
            "ticksize": 10,
            "legendsize": STYLE["legend.fontsize"],
            "grid_alpha": STYLE["grid.alpha"],
        },
    }
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"data must be a pair (x, y) of (n,) tensors, got {type(data).__name__}")
        dx, dy = _pair(data[0], data[1], "data[0]", "data[1]")
        for name, a in (("data[0]", dx), ("data[1]", dy)):
            if a.size == 0:
                raise ValueError(f"{name} must not be empty (give data=None to draw no data)")
            if not np.isfinite(a).all():
                raise ValueError(f"{name} must be finite, got {int((~np.isfinite(a)).sum())} NaN or infinite value(s)")
            if np.abs(a).max() > np.finfo(np.float32).max:
                raise ValueError(f"{name} must be representable in float32")
        if dx.size > MAX_POINTS:
            raise ValueError(f"data must have at most {MAX_POINTS:_} points, got {dx.size:_}")
        spec.update(data_n=int(dx.size), data_x=_b64(dx), data_y=_b64(dy))
    return spec


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>MDN bias explorer: pi_bias and std_bias</title>
<style>
body {{ font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 1.5em auto; max-width: 780px; color: #222; }}
h1 {{ font-size: 1.3em; margin-bottom: 0.2em; }}
p {{ line-height: 1.45; }}
.controls {{ display: grid; grid-template-columns: 6em 1fr 3em; gap: 0.4em 0.8em; align-items: center;
             max-width: 560px; }}
.controls label {{ font-family: monospace; font-size: 1.05em; }}
.controls output {{ font-family: monospace; text-align: right; }}
#explorer {{ margin-top: 0.8em; }}
code {{ font-size: 0.95em; }}
</style>
</head>
<body>
<h1>Graves' sampling biases on a mixture density network</h1>
<p>{intro}</p>
<div class="controls">
  <label for="pi_bias">pi_bias</label>
  <input type="range" id="pi_bias" min="{pi_min}" max="{pi_max}" step="0.1" value="0">
  <output id="pi_bias-value" for="pi_bias">0.0</output>
  <label for="std_bias">std_bias</label>
  <input type="range" id="std_bias" min="{sd_min}" max="{sd_max}" step="0.1" value="0">
  <output id="std_bias-value" for="std_bias">0.0</output>
</div>
<div id="explorer"></div>
<script type="application/json" id="mdn-explorer-spec">{spec}</script>
<script type="module">
{js}
mountPage(document.getElementById("explorer"));
</script>
</body>
</html>
"""

INTRO = (
    "Samples from a trained mixture density network p(y | x) with Graves' (2013) biases: "
    "<code>pi_bias</code> sharpens the mixture weights, π = softmax(a·(1 + pi_bias)); "
    "<code>std_bias</code> shrinks every scale, σ = exp(s − std_bias). Everything runs in this page; "
    "the random numbers are drawn once, so samples glide as the sliders move."
)


def explorer_page(grid: ExplorerGrid, *, data=None, n: int = 2000, seed: int = 0) -> str:
    """The stand-alone page as one HTML string: script, data and styles inline, no network request."""
    spec = json.dumps(explorer_spec(grid, data=data, n=n, seed=seed), separators=(",", ":"), ensure_ascii=False)
    js = explorer_js()
    if "</script" in js.lower():
        raise RuntimeError("explorer.js must not contain '</script'")
    return _PAGE.format(
        intro=INTRO,
        spec=spec.replace("</", "<\\/"),
        js=js,
        pi_min=PI_BIAS_RANGE[0],
        pi_max=PI_BIAS_RANGE[1],
        sd_min=STD_BIAS_RANGE[0],
        sd_max=STD_BIAS_RANGE[1],
    )


def write_explorer_page(out, grid: ExplorerGrid, *, data=None, n: int = 2000, seed: int = 0) -> Path:
    """Write `out`/bias_explorer.html (the folder is created) and return its path."""
    page = explorer_page(grid, data=data, n=n, seed=seed)  # everything checked before anything is written
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"out must be a folder, got the file {str(folder)!r}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PAGE_NAME
    path.write_text(page, encoding="utf-8")
    return path


__all__ = [
    "ExplorerGrid",
    "check_grid",
    "explorer_grid",
    "explorer_js",
    "explorer_page",
    "explorer_spec",
    "write_explorer_page",
]
