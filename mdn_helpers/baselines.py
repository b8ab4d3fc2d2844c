r"""The baselines an MDN is measured against: the least-squares regression net
(`MeanRegressor`, one number per x), and the linear-Gaussian, with the
scorecard's interface:

.. math:: y \mid x \sim \mathcal N(a + x^\top b,\ s^2)

fitted by least squares for (a, b) and the mean squared residual for s² (both
maximum likelihood), in closed form (`fit_linear_gaussian`). A
`LinearGaussian` is a `ConditionalLaw` whose `mixture(x)` has one
component, so its `log_prob`, `cdf`, `quantile`, `crps` and `density` are
the `Mixture` methods the MDN's go through; `calibration.scorecard` and
`plots.plot_pit` take it as they take a model. Everything is float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._checks import (
    MAX_WIDTH,
    as_float_tensor,
    check_finite,
    check_float32_range,
    check_inputs,
    check_parameter_count,
    check_positive_int,
    check_real,
    check_xy,
)
from .mdn import MAX_LAYERS, _describe, _input_scaling, _scaling
from .mixture import ConditionalLaw, Mixture

#: `fit_linear_gaussian` refuses a residual sd at most this times max |y|:
#: an exact fit up to float64 rounding, no noise to model.
EXACT_FIT = 1e-12


class LinearGaussian(ConditionalLaw):
    """y | x ~ N(coef[0] + x @ coef[1:], sd²): coef (d + 1,) (the intercept,
    then one slope per input feature), sd > 0. x is (n,) for d = 1 or (n, d);
    every method returns float64 (n,) (`density`: (m, n), for d = 1)."""

    def __init__(self, coef: Tensor, sd: float) -> None:
        coef = as_float_tensor("coef", coef)
        if coef.dim() != 1 or coef.shape[0] < 2:
            raise ValueError(
                f"coef must have shape (d + 1,) with d >= 1 (an intercept, then one slope per "
                f"feature), got shape {tuple(coef.shape)}"
            )
        self.coef = check_finite("coef", coef.detach().to("cpu", torch.float64).clone())
        self.sd = check_real("sd", sd, minimum=0.0, strict=True)
        self.n_in = self.coef.shape[0] - 1

    def __repr__(self) -> str:
        return f"LinearGaussian(coef={[round(float(c), 6) for c in self.coef]}, sd={self.sd:.6g})"

    def mean(self, x: Tensor) -> Tensor:
        """E[y | x] = coef[0] + x @ coef[1:]: (n,)."""
        x = check_inputs("x", x, self.n_in).to("cpu", torch.float64)
        m = self.coef[0] + x.reshape(x.shape[0], self.n_in) @ self.coef[1:]
        if not bool(torch.isfinite(m).all()):
            raise ValueError("x is too large: the mean coef[0] + x @ coef[1:] overflows float64")
        return m

    def mixture(self, x: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0) -> Mixture:
        """The law as a one-component `Mixture` (float64, batch shape (n,)):
        μ = mean(x), log σ = log sd; std_bias shrinks sd as it does a model's
        scales (`Mixture.biased`), pi_bias changes nothing (one weight)."""
        mu = self.mean(x).unsqueeze(-1)
        mix = Mixture(torch.zeros_like(mu), mu, torch.full_like(mu, math.log(self.sd)))
        return mix.biased(pi_bias, std_bias)


def fit_linear_gaussian(x: Tensor, y: Tensor) -> LinearGaussian:
    """The maximum-likelihood linear-Gaussian law of y (n,) given x (n,) or
    (n, d): (a, b) by least squares (`torch.linalg.lstsq` on [1, x], float64),
    sd² the mean squared residual. Needs n ≥ d + 2 points and residuals that
    are not all zero (sd > EXACT_FIT · max |y|)."""
    x, y = check_xy(x, y)
    x, y = x.to("cpu", torch.float64), y.to("cpu", torch.float64)
    n = x.shape[0]
    d = 1 if x.dim() == 1 else x.shape[1]
    if n < d + 2:
        raise ValueError(
            f"x and y need at least d + 2 = {d + 2} points for {d} feature(s) (a line and a noise level), got {n}"
        )
    design = torch.cat([torch.ones(n, 1, dtype=torch.float64), x.reshape(n, d)], 1)
    scale = design.abs().amax(0).clamp_min(1.0)  # columns scaled to at most 1: no overflow inside lstsq
    coef = torch.linalg.lstsq(design / scale, y[:, None]).solution[:, 0] / scale
    resid = y - design @ coef
    if not (bool(torch.isfinite(coef).all()) and bool(torch.isfinite(resid).all())):
        raise ValueError("x and y are too large to fit in float64 (the least-squares solution overflows); rescale them")
    sd = float(torch.linalg.vector_norm(resid)) / math.sqrt(n)  # the root mean square, without squaring
    if not sd > EXACT_FIT * float(y.abs().max()) or sd == 0:
        raise ValueError(
            f"y is fitted exactly by a line in x (every residual is 0 up to rounding, sd = {sd:.3g}): "
            "a Gaussian noise level needs some residual"
        )
    return LinearGaussian(coef, sd)


class MeanRegressor(nn.Module):
    """The baseline an MDN replaces: an MLP trained by least squares, which
    predicts one number per x, the conditional mean E[y | x].
    x (batch,) or (batch, n_in) → (batch,); x_loc, x_scale as in `MDN`."""

    # the scaling buffers (registered in __init__), as in `MDN`
    x_loc: Tensor
    x_scale: Tensor
    y_loc: Tensor
    y_scale: Tensor

    def __init__(
        self,
        n_hidden: int = 64,
        n_layers: int = 2,
        *,
        n_in: int = 1,
        x_loc: float | Sequence[float] = 0.0,
        x_scale: float | Sequence[float] = 1.0,
        y_loc: float = 0.0,
        y_scale: float = 1.0,
    ) -> None:
        super().__init__()
        n_hidden = check_positive_int("n_hidden", n_hidden, maximum=MAX_WIDTH)
        n_layers = check_positive_int("n_layers", n_layers, maximum=MAX_LAYERS)
        n_in = check_positive_int("n_in", n_in, maximum=MAX_WIDTH)
        check_parameter_count(
            "the regressor",
            (n_in + 1) * n_hidden + (n_layers - 1) * (n_hidden + 1) * n_hidden + n_hidden + 1,
            "n_hidden, n_layers or n_in",
        )
        scaling = {k: _input_scaling(k, v, n_in) for k, v in (("x_loc", x_loc), ("x_scale", x_scale))}
        scaling |= {k: _scaling(k, v) for k, v in (("y_loc", y_loc), ("y_scale", y_scale))}
        self.n_in = n_in
        self.config: dict[str, Any] = dict(
            n_hidden=n_hidden,
            n_layers=n_layers,
            n_in=n_in,
            **{k: scaling[k][0] for k in ("x_loc", "x_scale", "y_loc", "y_scale")},
        )
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(n_layers):
            layers += [nn.Linear(width, n_hidden), nn.Tanh()]
            width = n_hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))
        for name, (_, t) in scaling.items():
            self.register_buffer(name, t)

    def forward(self, x: Tensor) -> Tensor:
        x = check_inputs("x", x, self.n_in)
        if x.dim() == 1:
            x = x.unsqueeze(-1)
        z = (x.to(self.x_loc) - self.x_loc) / self.x_scale
        if not bool(torch.isfinite(z).all()):
            if self.x_loc.dtype == torch.float32:
                check_float32_range("x", x)
            raise ValueError(
                f"x is too far from x_loc = {_describe(self.x_loc)} in units of x_scale = "
                f"{_describe(self.x_scale)}: (x − x_loc)/x_scale overflows {self.x_loc.dtype}"
            )
        return self.net(z).squeeze(-1) * self.y_scale + self.y_loc
