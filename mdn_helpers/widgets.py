"""The pi_bias / std_bias explorer in a notebook: two sliders over a canvas drawn in the browser.

The model's mixture is computed once on a grid of x (`explorer.explorer_grid`);
the front end (`explorer.js`, through anywidget) applies the biases, samples
with the same random numbers at every slider position and paints the figure.
The sliders are linked to the canvas in the browser (`ipywidgets.jslink`), so a
slider step never waits for the kernel.
"""

from __future__ import annotations

import anywidget
import ipywidgets as W
import traitlets

from .explorer import N_GRID, PI_BIAS_RANGE, STD_BIAS_RANGE, ExplorerGrid, explorer_grid, explorer_js, explorer_spec
from .mixture import check_bias

__all__ = ["STATIC_TEXT", "BiasExplorerBox", "ExplorerCanvas", "bias_explorer"]

#: The plain-text form of the explorer in a saved notebook (static readers see this, not widget internals).
STATIC_TEXT = "Bias explorer (pi_bias, std_bias sliders): needs a live kernel; see the static grid below"


class ExplorerCanvas(anywidget.AnyWidget):
    """The explorer's canvas: draws `spec` (see `explorer.explorer_spec`) at `pi_bias`, `std_bias`.

    Built from an `ExplorerGrid`, which is checked first (a ValueError naming
    the bad field, never a blank canvas).
    """

    _esm = explorer_js()
    spec = traitlets.Dict().tag(sync=True)
    pi_bias = traitlets.Float(0.0).tag(sync=True)
    std_bias = traitlets.Float(0.0).tag(sync=True)

    def __init__(self, grid: ExplorerGrid, *, data=None, n: int = 2000, seed: int = 0, **kwargs):
        super().__init__(spec=explorer_spec(grid, data=data, n=n, seed=seed), **kwargs)
        self.add_class("mdn-bias-figure")

    @traitlets.validate("pi_bias", "std_bias")
    def _valid_bias(self, proposal):
        value = proposal["value"]
        if proposal["trait"].name == "pi_bias":
            return check_bias(value, 0.0)[0]
        return check_bias(0.0, value)[1]


class BiasExplorerBox(W.VBox):
    """The sliders above the canvas; its plain-text form is a sentence, not the widget tree."""

    def __repr__(self) -> str:
        return STATIC_TEXT


def bias_explorer(model, x=None, *, data=None, n: int = 2000, seed: int = 0, n_grid: int = N_GRID):
    """`pi_bias` (0…5) and `std_bias` (0…10) sliders over the model's samples, redrawn in the browser.

    The mixture is computed at x (g,), default `n_grid` points evenly over
    x ∈ [−15, 15]; n samples are spread evenly over those x values (one per x
    where n = g); `data=(x, y)` is drawn beneath; `seed` fixes the random
    numbers. Returns a VBox of the two FloatSliders (jslinked to the canvas)
    and the canvas; `.canvas` is the `ExplorerCanvas`, `.grid` the grid.
    """
    grid = explorer_grid(model, x, n_grid=n_grid)
    canvas = ExplorerCanvas(grid, data=data, n=n, seed=seed)
    pi = W.FloatSlider(
        value=0.0,
        min=PI_BIAS_RANGE[0],
        max=PI_BIAS_RANGE[1],
        step=0.1,
        description="pi_bias",
        continuous_update=True,
        readout_format=".1f",
    )
    sd = W.FloatSlider(
        value=0.0,
        min=STD_BIAS_RANGE[0],
        max=STD_BIAS_RANGE[1],
        step=0.1,
        description="std_bias",
        continuous_update=True,
        readout_format=".1f",
    )
    pi.add_class("mdn-pi-bias")
    sd.add_class("mdn-std-bias")
    links = [W.jslink((pi, "value"), (canvas, "pi_bias")), W.jslink((sd, "value"), (canvas, "std_bias"))]
    box = BiasExplorerBox([W.HBox([pi, sd]), canvas])
    box.canvas, box.grid, box.links = canvas, grid, links
    return box
