r"""Mixture density networks for a 1-d target: the head, the model, ensembles.

A mixture density network (Bishop 1994) maps an input to the parameters of a
Gaussian mixture over y:

.. math:: p(y \mid x) = \sum_k \pi_k(x)\, \mathcal N(y;\ \mu_k(x), \sigma_k(x)^2)

and is trained on the negative log-likelihood. Every model returns its
p(y | x) as a `mixture.Mixture` (``model.mixture(x)``), where the maths lives
(log-density in log space, sampling, Graves' biases, CDF, quantiles, CRPS).

Limits: networks are at most MAX_WIDTH (10^5) wide, MAX_LAYERS deep, with
MAX_COMPONENTS components and MAX_PARAMETERS weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from ._checks import (
    MAX_WIDTH,
    as_float_tensor,
    check_finite,
    check_finite_1d,
    check_finite_2d,
    check_float32_range,
    check_parameter_count,
    check_positive_int,
    check_real,
    check_weights_not_meta,
)
from .heads import MAX_COMPONENTS, MAX_DIMENSION, CholeskyHead, n_outputs_per_component
from .mixture import (
    Y_LIMIT,
    Z_LIMIT,
    ConditionalLaw,
    Mixture,
    check_bias,
    normal_log_prob,
)

#: log σ from the head is softly bounded to (−B, B) (B·tanh(raw/B)), which keeps
#: the NLL and its gradients finite for any raw output; inside |raw| < 1.7 it is
#: the identity to within 1 % (3 % at |raw| = 3).
LOG_SIGMA_BOUND = 10.0
#: Most hidden layers (most components: heads.MAX_COMPONENTS).
MAX_LAYERS = 1_000


def check_network_size(
    n_in: int, n_hidden: int, n_components: int, n_layers: int, what: str = "the MDN", n_out: int = 1
) -> None:
    """Each size a positive int within its limit, and the weights within MAX_PARAMETERS."""
    check_positive_int("n_in", n_in, maximum=MAX_WIDTH)
    check_positive_int("n_out", n_out, maximum=MAX_DIMENSION)
    check_positive_int("n_hidden", n_hidden, maximum=MAX_WIDTH)
    check_positive_int("n_components", n_components, maximum=MAX_COMPONENTS)
    check_positive_int("n_layers", n_layers, maximum=MAX_LAYERS)
    count = (
        (n_in + 1) * n_hidden
        + (n_layers - 1) * (n_hidden + 1) * n_hidden
        + (n_hidden + 1) * (3 if n_out == 1 else n_outputs_per_component(n_out)) * n_components
    )
    check_parameter_count(what, count, "n_hidden, n_layers, n_components or n_out")


def _scaling(name: str, value, dtype: torch.dtype | None = None) -> tuple[float, Tensor]:
    """A location (finite) or scale (> 0) as a float and as the buffer it is
    stored in; a ValueError naming it if the buffer's dtype cannot hold it
    (a scale that would become 0, inf or subnormal, a location that would become inf)."""
    scale = name.split("[")[0].endswith("scale")  # x_scale[3] is a scale too
    v = check_real(name, value, minimum=0.0 if scale else None, strict=scale)
    t = torch.tensor(v, dtype=dtype or torch.get_default_dtype(), device="cpu")  # checked here, even in a meta build
    info = torch.finfo(t.dtype)
    if scale and not info.tiny <= float(t) <= info.max:
        raise ValueError(
            f"{name} must be between {info.tiny:.4g} and {info.max:.4g} to be stored in {t.dtype}, got {v}"
        )
    if not scale and not bool(torch.isfinite(t)):
        raise ValueError(f"{name} must be within ±{info.max:.4g} to be stored in {t.dtype}, got {v}")
    return v, t


def _input_scaling(name: str, value: float | Sequence[float], n_in: int) -> tuple[float | list[float], Tensor]:
    """x_loc or x_scale: one number (a 0-d buffer, shared by every feature) or
    a list of n_in numbers, one per feature (an (n_in,) buffer), each checked
    as `_scaling` checks one."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_in:
            raise ValueError(
                f"{name} must be one number or a list of n_in = {n_in} numbers (one per feature), "
                f"got a list of {len(value)}"
            )
        parts = [_scaling(f"{name}[{i}]", v) for i, v in enumerate(value)]
        return [v for v, _ in parts], torch.stack([t for _, t in parts])
    return _scaling(name, value)


def _output_scaling(name: str, value: float | Sequence[float], n_out: int) -> tuple[list[float], Tensor]:
    """y_loc or y_scale of a model with n_out ≥ 2 outputs: a list of n_out numbers
    (one number is repeated), an (n_out,) buffer."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n_out
    if len(values) != n_out:
        raise ValueError(f"{name} must be one number or a list of n_out = {n_out} numbers, got a list of {len(values)}")
    parts = [_scaling(f"{name}[{i}]", v) for i, v in enumerate(values)]
    return [v for v, _ in parts], torch.stack([t for _, t in parts])


def _describe(t: Tensor) -> str:
    """A scaling buffer for a message: one number, or the list of them."""
    return f"{float(t):.4g}" if t.dim() == 0 else "[" + ", ".join(f"{float(v):.4g}" for v in t) + "]"


# ---------------------------------------------------------------------------
# The head
# ---------------------------------------------------------------------------


def training_log_prob(mix: Mixture, y: Tensor) -> Tensor:
    """log p(y) for the head's own 1-d mixtures, the training path: cheaper than
    `Mixture.log_prob` (no guards in z), and the same number wherever both are
    defined.

    It needs no guard there: |log σ| ≤ LOG_SIGMA_BOUND + STD_BIAS_LIMIT = 50, so
    exp(−log σ) is finite, and y is clamped at ±Y_LIMIT so that y − μ is too.
    Neither clamp changes anything below |z| = Z_LIMIT: at |y| = 1e37,
    |z| ≥ 1e37 / e^50 > 1e15 (unless a floor eps > 1e22, in units of y_scale,
    widens σ beyond e^50). z is clamped at ±Z_LIMIT as in `Mixture.log_prob`:
    finite, with finite gradients, for any finite y."""
    z = (y.clamp(-Y_LIMIT, Y_LIMIT).unsqueeze(-1) - mix.loc) * torch.exp(-mix.scale)
    # z may be ±inf here, but from finite factors: the clamp's zero gradient meets finite ones, never 0 · inf
    z = z.clamp(-Z_LIMIT, Z_LIMIT)
    return torch.logsumexp(mix.log_pi + normal_log_prob(z, mix.scale), dim=-1)


class GaussianMixture1d(nn.Module):
    """The seed's mixture head: a linear map from features h (batch, n_in) to
    k mixture logits, k means and k log-scales, as a `Mixture`.

    ``sigma = exp(log_sigma − std_bias) + eps``; eps > 0 puts a floor under the
    scales (`Mixture.floored`: its log taken exactly, as logaddexp(log_sigma,
    log eps)), after Graves' biases (`Mixture.biased`).
    """

    def __init__(self, n_in: int, n_components: int, eps: float = 0.0) -> None:
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in, maximum=MAX_WIDTH)
        self.n_components = check_positive_int("n_components", n_components, maximum=MAX_COMPONENTS)
        check_parameter_count("the mixture head", (self.n_in + 1) * 3 * self.n_components, "n_in or n_components")
        self.eps = check_real("eps", eps, minimum=0.0)
        self.lin = nn.Linear(self.n_in, 3 * self.n_components)

    def _check_h(self, h: Tensor) -> Tensor:
        h = as_float_tensor("h", h)
        check_weights_not_meta(self.lin.weight, "the mixture head", "h")
        if h.dim() != 2 or h.shape[1] != self.n_in:
            raise ValueError(f"h must have shape (batch, {self.n_in}), got {tuple(h.shape)}")
        return h

    def mixture(self, h: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0) -> Mixture:
        """p(y | h) for each row of h (batch, n_in): a 1-d `Mixture` of batch shape
        (batch,), biased (`Mixture.biased`), then floored at eps."""
        pi_bias, std_bias = check_bias(pi_bias, std_bias)
        out = self.lin(self._check_h(h).to(self.lin.weight))
        logits, mu, raw = out.split(self.n_components, dim=-1)
        log_sigma = LOG_SIGMA_BOUND * torch.tanh(raw / LOG_SIGMA_BOUND)
        return Mixture.from_logits(logits, mu, log_sigma).biased(pi_bias, std_bias).floored(self.eps)

    def nll(self, h: Tensor, y: Tensor) -> Tensor:
        """−log p(y | h): h (batch, n_in), y (batch,) → (batch,), by `training_log_prob`."""
        h = self._check_h(h)
        y = _check_y(y, h.shape[0]).to(self.lin.weight)
        return -training_log_prob(self.mixture(h), y)

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        return self.nll(h, y)


def _check_y(y, batch: int) -> Tensor:
    y = check_finite_1d("y", y)
    if y.shape[0] != batch:
        raise ValueError(f"y must have one value per row of x: x has {batch} rows, y has {y.shape[0]}")
    return y


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU}


class MDN(ConditionalLaw, nn.Module):
    """A mixture density network for y given x: an MLP body and a mixture head.

    Scaling is part of the model: the body sees (x − x_loc)/x_scale, the head
    works on (y − y_loc)/y_scale, and every public method speaks data units:
    `mixture(x)` is p(y | x) as a `Mixture`, and the `ConditionalLaw` methods
    (log_prob, cdf, quantile, crps, sample, density) read it. `fit_mdn` sets
    the four from the training data. x_loc and x_scale are one number each,
    or lists of n_in numbers (one per input feature).

    x may be (batch,) or (batch, 1) with n_in = 1, and is (batch, n_in) with
    more features; y is (batch,). With n_out = d ≥ 2 outputs, y is (batch, d),
    the head is a `heads.CholeskyHead` (full covariances), y_loc and y_scale
    are lists of d numbers, and `mixture(x)` is a d-dim `Mixture` (its 1-d
    scores, cdf/quantile/crps, do not apply). The defaults are the network of
    `train.DEFAULT_RECIPE`.
    """

    # the scaling buffers (registered in __init__), each 0-d or (n_in,)
    x_loc: Tensor
    x_scale: Tensor
    y_loc: Tensor
    y_scale: Tensor

    def __init__(
        self,
        n_in: int = 1,
        n_hidden: int = 32,
        n_components: int = 15,
        n_layers: int = 2,
        *,
        activation: str = "tanh",
        eps: float = 0.0,
        x_loc: float | Sequence[float] = 0.0,
        x_scale: float | Sequence[float] = 1.0,
        y_loc: float | Sequence[float] = 0.0,
        y_scale: float | Sequence[float] = 1.0,
        n_out: int = 1,
    ) -> None:
        super().__init__()
        check_network_size(n_in, n_hidden, n_components, n_layers, n_out=n_out)
        self.n_in, self.n_out = int(n_in), int(n_out)
        n_hidden, n_components, n_layers = int(n_hidden), int(n_components), int(n_layers)
        if not isinstance(activation, str) or activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        (x_loc, x_loc_t), (x_scale, x_scale_t) = (
            _input_scaling(k, v, self.n_in) for k, v in (("x_loc", x_loc), ("x_scale", x_scale))
        )
        y_pairs = (("y_loc", y_loc), ("y_scale", y_scale))
        if self.n_out == 1:
            (y_loc, y_loc_t), (y_scale, y_scale_t) = (_scaling(k, v) for k, v in y_pairs)
        else:
            (y_loc, y_loc_t), (y_scale, y_scale_t) = (_output_scaling(k, v, self.n_out) for k, v in y_pairs)
        eps = check_real("eps", eps, minimum=0.0)
        if eps > 0 and self.n_out > 1:
            raise ValueError(f"eps (a floor under σ) applies to one output only; this MDN has n_out = {self.n_out}")
        self.config: dict[str, Any] = dict(
            n_in=self.n_in,
            n_hidden=n_hidden,
            n_components=n_components,
            n_layers=n_layers,
            activation=activation,
            eps=eps,
            x_loc=x_loc,
            x_scale=x_scale,
            y_loc=y_loc,
            y_scale=y_scale,
        )
        if self.n_out > 1:  # a 1-d model's config stays as it was (checkpoints written before n_out load)
            self.config["n_out"] = self.n_out
        layers: list[nn.Module] = []
        width = self.n_in
        for _ in range(n_layers):
            layers += [nn.Linear(width, n_hidden), _ACTIVATIONS[activation]()]
            width = n_hidden
        self.body = nn.Sequential(*layers)
        # eps is in data units; the head works in units of y_scale.
        self.head: GaussianMixture1d | CholeskyHead
        if self.n_out == 1:
            self.head = GaussianMixture1d(n_hidden, n_components, eps=eps / cast(float, y_scale))
        else:
            self.head = CholeskyHead(n_hidden, n_components, self.n_out)
        self.register_buffer("x_loc", x_loc_t)
        self.register_buffer("x_scale", x_scale_t)
        self.register_buffer("y_loc", y_loc_t)
        self.register_buffer("y_scale", y_scale_t)

    @property
    def n_components(self) -> int:
        return self.config["n_components"]

    def _standardised_x(self, x) -> Tensor:
        """(x − x_loc)/x_scale, checked: x of shape (batch,) or (batch, n_in),
        finite, and finite once cast to the model's dtype and standardised."""
        x = as_float_tensor("x", x)
        if x.dim() == 1 and self.n_in == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 2 or x.shape[1] != self.n_in:
            want = "(batch,) or (batch, 1)" if self.n_in == 1 else f"(batch, {self.n_in})"
            raise ValueError(
                f"x must have shape {want} (this model has n_in = {self.n_in} input feature(s)), got {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError("x must not be empty")
        check_weights_not_meta(self.x_loc, "the model", "x")
        z = (x.to(device=self.x_loc.device, dtype=self.x_loc.dtype) - self.x_loc) / self.x_scale
        if not bool(torch.isfinite(z).all()):  # one check (one host sync) for all three causes
            check_finite("x", x)
            if self.x_loc.dtype == torch.float32:
                check_float32_range("x", x)
            raise ValueError(
                f"x is too far from x_loc = {_describe(self.x_loc)} in units of x_scale = "
                f"{_describe(self.x_scale)}: (x − x_loc)/x_scale overflows {self.x_loc.dtype}"
            )
        return z

    def features(self, x: Tensor) -> Tensor:
        """The body's output for x: (batch, n_hidden)."""
        return self.body(self._standardised_x(x))

    def mixture(self, x: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0) -> Mixture:
        """p(y | x) in data units, a 1-d `Mixture` of batch shape (batch,): the
        head's (biased, floored) mixture mapped by y_loc + y_scale · y."""
        return self.head.mixture(self.features(x), pi_bias, std_bias).affine(self.y_loc, self.y_scale)

    def nll(self, x: Tensor, y: Tensor) -> Tensor:
        """−log p(y | x) in nats, per point: (batch,), the training loss's terms.

        Computed in the head's units by `training_log_prob` (cheap, unguarded,
        finite with finite gradients for any finite y: far in the tails z is
        clamped at ±Z_LIMIT, where the NLL is already over 5e29 nats), plus
        log y_scale; `mixture(x).nll(y)` is the same number up to rounding.
        """
        h = self.features(x)
        if isinstance(self.head, CholeskyHead):
            y = check_finite_2d("y", y, self.n_out)
            if y.shape[0] != h.shape[0]:
                raise ValueError(f"y must have one row per row of x: x has {h.shape[0]} rows, y has {y.shape[0]}")
            ys = (y.to(h) - self.y_loc) / self.y_scale
            return self.head.nll(h, ys) + torch.log(self.y_scale).sum()
        y = _check_y(y, h.shape[0]).to(h)
        return torch.log(self.y_scale) - training_log_prob(self.head.mixture(h), (y - self.y_loc) / self.y_scale)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean NLL over the batch (a scalar), the training loss."""
        return self.nll(x, y).mean()


class MDNEnsemble(ConditionalLaw, nn.Module):
    """Several MDNs as one bigger mixture: p(y|x) = (1/M) Σ_m p_m(y|x)
    (`Mixture.concat`). Same interface as `MDN`; its k is the members' k summed.
    """

    def __init__(self, members: list[MDN]) -> None:
        super().__init__()
        if not isinstance(members, (list, tuple)) or not members or not all(isinstance(m, MDN) for m in members):
            raise TypeError(f"members must be a non-empty list of MDN, got {type(members).__name__}")
        n_ins = sorted({m.n_in for m in members})
        if len(n_ins) > 1:
            raise ValueError(
                f"members must all have the same n_in (input features), got n_in = {' and '.join(map(str, n_ins))}"
            )
        devices = sorted({str(m.x_loc.device) for m in members})
        if len(devices) > 1:
            raise ValueError(f"members must all be on one device, got {' and '.join(devices)}")
        self.members = nn.ModuleList(members)
        self.config: dict[str, Any] = {"members": [m.config for m in members]}

    @property
    def n_components(self) -> int:
        return sum(cast(MDN, m).n_components for m in self.members)

    def mixture(self, x: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0) -> Mixture:
        """The members' components side by side, each weighted 1/M; pi_bias
        sharpens the weights of the whole mixture (not each member's), as
        Graves' bias on one mixture of M·k components would."""
        pi_bias, std_bias = check_bias(pi_bias, std_bias)
        parts = [cast(MDN, m).mixture(x, 0.0, std_bias) for m in self.members]
        return Mixture.concat(parts).biased(pi_bias, 0.0)

    def nll(self, x: Tensor, y: Tensor) -> Tensor:
        """−log p(y | x) in nats, per point: (batch,)."""
        mix = self.mixture(x)
        return mix.nll(_check_y(y, mix.batch_shape[0]).to(mix.loc))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean NLL over the batch (a scalar)."""
        return self.nll(x, y).mean()
