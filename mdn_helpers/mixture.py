r"""`Mixture`: a batch of Gaussian mixtures over y ∈ R^d, the value every model
returns and every score reads; `ConditionalLaw`: what a model of p(y | x) offers.

A mixture holds log-weights ``log_pi`` (…, k), locations ``loc`` (…, k) in
1-d or (…, k, d), and scales: ``log_scale`` = log σ (…, k) in 1-d, or a
Cholesky factor ``scale_tril`` (…, k, d, d) for d > 1 (lower-triangular,
positive diagonal: component j is N(loc_j, L_j L_jᵀ)). "…" is any batch shape,
usually (batch,).

.. math:: \log p(y) = \operatorname{logsumexp}_k\big(\log \pi_k - \tfrac12 \lVert z_k\rVert^2
          - \textstyle\sum_i \log L_{k,ii} - \tfrac d2 \log 2\pi\big), \qquad z_k = L_k^{-1}(y - \mu_k),

in 1-d z_k = (y − μ_k)/σ_k. Graves' sampling biases (2013) live in one place,
`Mixture.biased`: ``π = softmax(log π · (1 + pi_bias))`` sharpens the weights
towards the largest, the scales shrink by ``e^(−std_bias)``.

In 1-d a mixture also has a CDF, quantiles, central intervals and the CRPS
(closed form, Grimit et al. 2006):

.. math:: F(y) = \sum_k \pi_k \Phi(z_k), \qquad
          \mathrm{CRPS}(F, y) = \sum_k \pi_k A(y - \mu_k, \sigma_k^2)
          - \tfrac12 \sum_{k,l} \pi_k \pi_l A(\mu_k - \mu_l, \sigma_k^2 + \sigma_l^2),

with A(m, s²) = 2 s φ(m/s) + m (2 Φ(m/s) − 1).

Dtypes: ``log_prob``, ``sample``, ``mean`` and ``variance`` compute in the
mixture's own dtype (a model's float32: they are what training
differentiates); ``cdf``, ``quantile``, ``interval`` and ``crps`` compute and
return float64 (evaluation scores, whose tails float32 would round away).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal, Normal

from ._checks import as_float_tensor, check_finite, check_finite_1d, check_positive_int, check_real

#: log √(2π), the constant of every Gaussian log-density here.
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
#: |z| = |y − μ|/σ is clamped at this in the log-density: beyond it −log p is
#: over 5e29 nats (no point is that unlikely in any use), and z² still fits float32.
Z_LIMIT = 1e15
#: A model's head clamps (standardised) y at this, which keeps y − μ finite;
#: beyond it every z is past Z_LIMIT anyway.
Y_LIMIT = 1e37
#: |std_bias| beyond this scales σ by more than e^40 either way: no longer a bias.
STD_BIAS_LIMIT = 40.0
#: pi_bias multiplies the log-weights by 1 + pi_bias; at 1000 any weight gap of
#: 0.1 nats already becomes e^-100 (one-hot in float32), and far beyond it the
#: product overflows to inf and the mixture turns to NaN.
PI_BIAS_LIMIT = 1000.0
#: Most Newton/bisection steps of `Mixture.quantile`: enough to halve a
#: bracket of width 1e38 down to float64 resolution; a typical call stops
#: after 5–15 (every row within 1e-14 of q, or its bracket collapsed).
QUANTILE_ITERATIONS = 200
#: Values of the CRPS's pairwise term computed at once (32 MB in float64).
CRPS_CHUNK_VALUES = 4_000_000
#: Most values `ConditionalLaw.density` may hold at once: m x-values × n y-values × k components.
MAX_DENSITY_VALUES = 50_000_000
_SQRT_HALF = math.sqrt(0.5)


def normal_log_prob(z: Tensor, log_sigma: Tensor | float) -> Tensor:
    """log N(y; μ, σ²) from z = (y − μ)/σ and log σ: −z²/2 − log σ − log √(2π)."""
    return -0.5 * z * z - log_sigma - LOG_SQRT_2PI


def check_bias(pi_bias, std_bias) -> tuple[float, float]:
    """pi_bias in [−1, 1000] (−1 gives equal weights, > 0 sharpens); |std_bias| ≤ 40."""
    std_bias = check_real("std_bias", std_bias)
    if abs(std_bias) > STD_BIAS_LIMIT:
        raise ValueError(f"std_bias must be within ±{STD_BIAS_LIMIT:g}, got {std_bias}")
    pi_bias = check_real("pi_bias", pi_bias, minimum=-1.0)
    if pi_bias > PI_BIAS_LIMIT:
        raise ValueError(f"pi_bias must be in [-1, {PI_BIAS_LIMIT:g}], got {pi_bias}")
    return pi_bias, std_bias


def check_generator(generator, device: torch.device) -> torch.Generator | None:
    """None, or a torch.Generator on `device`'s type; an error naming `generator` otherwise."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(
            f"generator is on {generator.device.type} but the mixture is on {device.type}; "
            "give a generator on the model's device"
        )
    return generator


def standardised(diff: Tensor, log_sigma: Tensor) -> Tensor:
    """z = diff · exp(−log σ), exact wherever it fits the dtype, ±inf beyond
    (never NaN, and from finite factors, so its gradients are never 0 · inf).

    diff may be ±inf (y − μ overflowed): it is clamped to the dtype's range.
    exp(−log σ) overflows for σ below 1/max (float64 subnormals; float32
    log σ < −88) where z need not: there it is applied in two halves, each
    finite down to log σ = −2·log(max) + 2, below which every diff ≠ 0 gives
    |z| > Z_LIMIT anyway; elsewhere z is the plain product, unchanged."""
    big = torch.finfo(diff.dtype).max
    lim = math.log(big) - 1.0
    diff = diff.clamp(-big, big)
    whole = diff * torch.exp((-log_sigma).clamp(max=lim))
    half = torch.exp((-0.5 * log_sigma).clamp(max=lim))
    return torch.where(log_sigma >= -lim, whole, (diff * half).clamp(-big, big) * half)


def _ndtr(z: Tensor) -> Tensor:
    """Φ(z) as erfc(−z/√2)/2: accurate far into the lower tail (torch.special.ndtr is 0 by z = −10)."""
    return 0.5 * torch.special.erfc(z * -_SQRT_HALF)


def check_levels(name: str, q, batch_shape: torch.Size, device) -> Tensor:
    """A probability in (0, 1), a float or one per mixture, as float64 of `batch_shape`."""
    if isinstance(q, numbers.Real) and not isinstance(q, bool):
        v = check_real(name, q)
        if not 0.0 < v < 1.0:
            raise ValueError(f"{name} must be in (0, 1) (exclusive), got {v}")
        return torch.full(batch_shape, v, dtype=torch.float64, device=device)
    if not isinstance(q, Tensor) and (isinstance(q, bool) or q is None or isinstance(q, (str, bytes))):
        shape = tuple(batch_shape)
        raise TypeError(f"{name} must be a float in (0, 1) or a tensor of them {shape}, got {type(q).__name__}")
    t = as_float_tensor(name, q)
    if t.dim() == 0:
        t = t.expand(batch_shape)
    if t.shape != batch_shape:
        raise ValueError(
            f"{name} must be a float or have shape {tuple(batch_shape)} (one per mixture), got {tuple(t.shape)}"
        )
    t = t.to(device=device, dtype=torch.float64)
    if not bool(((t > 0) & (t < 1)).all()):  # also refuses NaN
        bad = t[~((t > 0) & (t < 1))][0].item()
        raise ValueError(f"{name} must be in (0, 1) (exclusive) and not NaN, got {bad}")
    return t


@torch.no_grad()
def invert_cdf(
    residual: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]], y: Tensor, lo: Tensor, hi: Tensor, max_steps: int
) -> Tensor:
    """The one quantile solver: for each row, the y in [lo, hi] with F(y) = q, by
    Newton's method safeguarded with bisection (rtsafe's rule: bisect where
    Newton leaves the bracket or does not halve the step before last).

    residual(rows, y_rows) gives F(y) − q and F'(y) for the rows still being
    solved (an index tensor into the batch); F(lo) ≤ q ≤ F(hi). A row stops
    when |F(y) − q| ≤ 1e-14 or its bracket is down to float64 resolution, and
    drops out of the work. y (batch,) is the start, inside the bracket; float64."""
    y, lo, hi = y.clone(), lo.clone(), hi.clone()
    step_old = hi - lo
    rows = torch.arange(y.shape[0], device=y.device)  # the rows still being solved
    resolution = 4 * torch.finfo(torch.float64).eps
    for _ in range(max_steps):
        y_a, lo_a, hi_a = y[rows], lo[rows], hi[rows]
        g, f = residual(rows, y_a)
        lo_a = torch.where(g < 0, y_a, lo_a)
        hi_a = torch.where(g > 0, y_a, hi_a)
        done = (g.abs() <= 1e-14) | (hi_a - lo_a <= resolution * torch.maximum(lo_a.abs(), hi_a.abs()))
        newton = y_a - g / f
        use_newton = (
            torch.isfinite(newton) & (newton > lo_a) & (newton < hi_a) & (2 * g.abs() < (step_old[rows] * f).abs())
        )
        y_new = torch.where(done, y_a, torch.where(use_newton, newton, lo_a + 0.5 * (hi_a - lo_a)))
        lo[rows], hi[rows], y[rows], step_old[rows] = lo_a, hi_a, y_new, (y_new - y_a).abs()
        if bool(done.all()):
            break
        if bool(done.any()):
            rows = rows[~done]
    return y


def _crps_a(m: Tensor, s: Tensor) -> Tensor:
    """A(m, s²) = 2 s φ(m/s) + m (2 Φ(m/s) − 1), with s the standard deviation."""
    s = s.clamp_min(1e-300)  # A(0, 0) = 0, not 0/0
    u = m / s
    return 2 * s * torch.exp(normal_log_prob(u, 0.0)) + m * (2 * _ndtr(u) - 1)


@dataclass(frozen=True, eq=False)
class Mixture:
    """A batch of Gaussian mixtures: log_pi (…, k); loc (…, k) with log_scale
    (…, k) for d = 1, or loc (…, k, d) with scale_tril (…, k, d, d) for d > 1.

    log_pi is normalised (logsumexp over k is 0; `from_logits` makes it so).
    The constructor checks types, shapes and devices (no values: it never
    waits for the device); the 1-d scores check values too.
    """

    log_pi: Tensor
    loc: Tensor
    log_scale: Tensor | None = None
    scale_tril: Tensor | None = None

    def __post_init__(self) -> None:
        if (self.log_scale is None) == (self.scale_tril is None):
            raise ValueError("a Mixture takes log_scale (d = 1) or scale_tril (d > 1), exactly one of them")
        fields = {"log_pi": self.log_pi, "loc": self.loc, "log_scale": self.log_scale, "scale_tril": self.scale_tril}
        for name, t in fields.items():
            if t is not None or name in ("log_pi", "loc"):
                object.__setattr__(self, name, as_float_tensor(name, t))
        log_pi, loc = self.log_pi, self.loc
        if log_pi.dim() == 0:
            raise ValueError("log_pi must have shape (..., k), got a 0-d tensor")
        if self.log_scale is not None:
            want: dict[str, tuple[int, ...]] = {"loc": tuple(log_pi.shape), "log_scale": tuple(log_pi.shape)}
        else:
            if loc.dim() != log_pi.dim() + 1 or loc.shape[-1] < 2:
                raise ValueError(
                    f"loc must have shape {(*log_pi.shape, 'd')} with d >= 2 to match log_pi (scale_tril is given), "
                    f"got {tuple(loc.shape)}"
                )
            want = {"loc": tuple(loc.shape), "scale_tril": (*loc.shape, loc.shape[-1])}
        for name, shape in want.items():
            got = getattr(self, name)
            if tuple(got.shape) != shape:
                raise ValueError(f"{name} must have shape {tuple(shape)} to match log_pi, got {tuple(got.shape)}")
        devices = {str(t.device) for t in (log_pi, loc, self.scale)}
        if len(devices) > 1:
            raise ValueError(f"log_pi, loc and the scales must be on one device, got {', '.join(sorted(devices))}")

    # -- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_logits(
        cls, logits: Tensor, loc: Tensor, log_scale: Tensor | None = None, scale_tril: Tensor | None = None
    ) -> Mixture:
        """A mixture from unnormalised log-weights (log_softmax over k)."""
        return cls(torch.log_softmax(as_float_tensor("logits", logits), dim=-1), loc, log_scale, scale_tril)

    @classmethod
    def concat(cls, mixtures: Sequence[Mixture]) -> Mixture:
        """(1/M) Σ_m p_m: the M mixtures' components side by side, each weighted 1/M (an ensemble)."""
        if not isinstance(mixtures, (list, tuple)) or not mixtures or not all(isinstance(m, Mixture) for m in mixtures):
            raise TypeError(f"mixtures must be a non-empty list of Mixture, got {type(mixtures).__name__}")
        if len({m.d for m in mixtures}) > 1 or len({tuple(m.batch_shape) for m in mixtures}) > 1:
            raise ValueError("mixtures must share one batch shape and one d to be concatenated")
        log_pi = torch.cat([m.log_pi for m in mixtures], -1) - math.log(len(mixtures))
        loc = torch.cat([m.loc for m in mixtures], log_pi.dim() - 1)
        scale = torch.cat([m.scale for m in mixtures], log_pi.dim() - 1)
        one_d = mixtures[0].d == 1
        return cls(log_pi, loc, scale if one_d else None, None if one_d else scale)

    # -- shape -------------------------------------------------------------------------------------------

    @property
    def d(self) -> int:
        """The dimension of y."""
        return 1 if self.scale_tril is None else self.loc.shape[-1]

    @property
    def k(self) -> int:
        """Components per mixture."""
        return self.log_pi.shape[-1]

    @property
    def batch_shape(self) -> torch.Size:
        return self.log_pi.shape[:-1]

    @property
    def scale(self) -> Tensor:
        """log_scale (d = 1) or scale_tril (d > 1), whichever the mixture holds."""
        s = self.log_scale if self.scale_tril is None else self.scale_tril
        assert s is not None
        return s

    @property
    def event_shape(self) -> tuple[int, ...]:
        return () if self.d == 1 else (self.d,)

    def __getitem__(self, index) -> Mixture:
        """The mixtures at `index` of the batch (an int, slice, mask or index tensor)."""
        if self.log_pi.dim() == 1:
            raise IndexError("a single mixture (batch shape ()) has no rows to index")
        s = self.scale
        one_d = self.d == 1
        return Mixture(self.log_pi[index], self.loc[index], s[index] if one_d else None, None if one_d else s[index])

    def to(self, *args, **kwargs) -> Mixture:
        """The same mixture with every tensor moved/cast as `Tensor.to(*args, **kwargs)`."""
        one_d = self.d == 1
        s = self.scale.to(*args, **kwargs)
        return Mixture(
            self.log_pi.to(*args, **kwargs), self.loc.to(*args, **kwargs), *((s, None) if one_d else (None, s))
        )

    def __repr__(self) -> str:
        return f"Mixture(batch_shape={tuple(self.batch_shape)}, k={self.k}, d={self.d}, dtype={self.loc.dtype})"

    def _coefficient(self, name: str, value) -> Tensor:
        """An affine coefficient as a tensor of the mixture's dtype and device: a number or 0-d tensor,
        or one per coordinate (d,) for d > 1 (types and shapes checked; no values: no host sync)."""
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, Tensor)):
            raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")
        t = as_float_tensor(name, value)
        if t.dim() != 0 and (self.d == 1 or tuple(t.shape) != (self.d,)):
            want = "a number (0-d)" if self.d == 1 else f"a number or shape ({self.d},)"
            raise ValueError(f"{name} must be {want}, got shape {tuple(t.shape)}")
        return t.to(device=self.loc.device, dtype=self.loc.dtype)

    def affine(self, shift: Tensor | float, scale: Tensor | float) -> Mixture:
        """The law of shift + scale · y (scale > 0; both scalars or (d,)): how a
        model maps its standardised mixture to data units."""
        shift_t, scale_t = (self._coefficient(n, v) for n, v in (("shift", shift), ("scale", scale)))
        loc = self.loc * scale_t + shift_t
        if self.scale_tril is None:
            return Mixture(self.log_pi, loc, self.scale + torch.log(scale_t))
        return Mixture(self.log_pi, loc, scale_tril=self.scale_tril * scale_t.reshape(-1, 1))

    # -- the bias ----------------------------------------------------------------------------------------

    def biased(self, pi_bias: float = 0.0, std_bias: float = 0.0) -> Mixture:
        """Graves' biases: weights softmax(log π · (1 + pi_bias)), scales × e^(−std_bias)."""
        pi_bias, std_bias = check_bias(pi_bias, std_bias)
        log_pi = torch.log_softmax(self.log_pi * (1.0 + pi_bias), dim=-1) if pi_bias != 0.0 else self.log_pi
        if self.scale_tril is None:
            return Mixture(log_pi, self.loc, self.scale - std_bias)
        return Mixture(log_pi, self.loc, scale_tril=self.scale_tril * math.exp(-std_bias))

    def floored(self, eps: float | Tensor) -> Mixture:
        """1-d: the scales with a floor, σ' = σ + eps, its log taken exactly as
        logaddexp(log σ, log eps); eps a float or one per component (k,),
        eps = 0 leaving that scale as it is. A model applies it after `biased`."""
        if self.scale_tril is not None:
            raise ValueError(f"floored is defined for mixtures over one y (d = 1); this one has d = {self.d}")
        s = self.scale
        if not isinstance(eps, Tensor):
            eps = check_real("eps", eps, minimum=0.0)
            if eps == 0.0:
                return self
            return Mixture(self.log_pi, self.loc, torch.logaddexp(s, torch.full_like(s, math.log(eps))))
        eps = eps.to(s)
        if eps.shape != (self.k,):
            raise ValueError(
                f"eps must be a float or have shape ({self.k},) (one per component), got {tuple(eps.shape)}"
            )
        floor = eps > 0
        log_eps = torch.where(floor, eps, torch.ones_like(eps)).log()
        return Mixture(self.log_pi, self.loc, torch.where(floor, torch.logaddexp(s, log_eps.expand_as(s)), s))

    # -- density and sampling ----------------------------------------------------------------------------

    def _check_y(self, y) -> Tensor:
        y = as_float_tensor("y", y)
        want = (*self.batch_shape, *self.event_shape)
        if tuple(y.shape) != want:
            raise ValueError(f"y must have shape {want} (one value per mixture), got {tuple(y.shape)}")
        return y.to(self.loc)

    def component_log_prob(self, y: Tensor) -> Tensor:
        """log N(y; loc_k, Σ_k) for each component: y (…,) or (…, d) → (…, k), in the mixture's dtype.
        |z| is clamped at Z_LIMIT (far tails stay finite, with finite gradients)."""
        if self.scale_tril is None:
            z = standardised(y.unsqueeze(-1) - self.loc, self.scale).clamp(-Z_LIMIT, Z_LIMIT)
            return normal_log_prob(z, self.scale)
        diff = (y.unsqueeze(-2) - self.loc).unsqueeze(-1)  # (…, k, d, 1)
        z = torch.linalg.solve_triangular(self.scale_tril, diff, upper=False).squeeze(-1).clamp(-Z_LIMIT, Z_LIMIT)
        log_det = torch.log(torch.diagonal(self.scale_tril, dim1=-2, dim2=-1)).sum(-1)
        return -0.5 * (z * z).sum(-1) - log_det - self.d * LOG_SQRT_2PI

    def log_prob(self, y: Tensor) -> Tensor:
        """log p(y): y (…,) in 1-d or (…, d) → (…,), in the mixture's dtype.

        Finite, with finite gradients, for any finite y: far in the tails |z|
        is clamped at Z_LIMIT (1e15), where −log p is already over 5e29 nats.
        In 1-d z = (y − μ)·exp(−log σ) is kept within the dtype's range for
        any σ > 0 the dtype holds (see `standardised`)."""
        return torch.logsumexp(self.log_pi + self.component_log_prob(self._check_y(y)), dim=-1)

    def nll(self, y: Tensor) -> Tensor:
        """−log p(y), per mixture: (…,)."""
        return -self.log_prob(y)

    @torch.no_grad()
    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None) -> Tensor:
        """Draws: one per mixture (…[, d]) with n None, else n per mixture (n, …[, d]).

        The component is picked by the Gumbel-max trick on log π (exact, and
        safe where some π underflow to 0); then y = μ + σ·ε (μ + L ε for d > 1).
        """
        g = check_generator(generator, self.loc.device)
        lead = () if n is None else (check_positive_int("n", n, maximum=100_000_000),)
        u = torch.rand((*lead, *self.log_pi.shape), generator=g, device=self.loc.device, dtype=self.loc.dtype)
        gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
        j = torch.argmax(self.log_pi + gumbel, dim=-1, keepdim=True)  # (n?, …, 1)
        if self.scale_tril is None:
            mu = self.loc.expand_as(u).gather(-1, j).squeeze(-1)
            sigma = self.scale.expand_as(u).gather(-1, j).squeeze(-1).exp()
            eps = torch.randn(mu.shape, generator=g, device=mu.device, dtype=mu.dtype)
            return mu + sigma * eps
        d = self.d
        loc = self.loc.expand(*u.shape, d).gather(-2, j.unsqueeze(-1).expand(*j.shape, d)).squeeze(-2)
        tril = self.scale_tril.expand(*u.shape, d, d)
        tril = tril.gather(-3, j[..., None, None].expand(*j.shape, d, d)).squeeze(-3)
        eps = torch.randn(loc.shape, generator=g, device=loc.device, dtype=loc.dtype)
        return loc + (tril @ eps.unsqueeze(-1)).squeeze(-1)

    def to_distribution(self) -> MixtureSameFamily:
        """The same mixtures as a `torch.distributions.MixtureSameFamily` (the oracle in tests)."""
        if self.scale_tril is None:
            comp = Normal(self.loc, self.scale.exp())
        else:
            comp = MultivariateNormal(self.loc, scale_tril=self.scale_tril)  # type: ignore[assignment]
        return MixtureSameFamily(Categorical(logits=self.log_pi), comp)

    @property
    def mean(self) -> Tensor:
        """E[y] = Σ π_k μ_k: (…,) or (…, d)."""
        pi = self.log_pi.exp()
        return (pi * self.loc).sum(-1) if self.d == 1 else (pi.unsqueeze(-1) * self.loc).sum(-2)

    @property
    def variance(self) -> Tensor:
        """Var y: (…,) in 1-d; the covariance matrix (…, d, d) for d > 1."""
        pi = self.log_pi.exp()
        if self.d == 1:
            second = (pi * (torch.exp(2 * self.scale) + self.loc**2)).sum(-1)
            return (second - self.mean**2).clamp_min(0.0)
        tril = self.scale
        cov = tril @ tril.transpose(-1, -2) + self.loc.unsqueeze(-1) * self.loc.unsqueeze(-2)
        mean = self.mean
        return (pi[..., None, None] * cov).sum(-3) - mean.unsqueeze(-1) * mean.unsqueeze(-2)

    # -- 1-d only: CDF, quantiles, intervals, CRPS (float64) --------------------------------------------

    def _prepared(self, what: str) -> tuple[Tensor, Tensor, Tensor]:
        """(π, μ, log σ) in float64, each (batch, k), π normalised; value checks."""
        if self.d != 1:
            raise ValueError(f"{what} is defined for mixtures over one y (d = 1); this one has d = {self.d}")
        if self.log_pi.dim() != 2 or self.log_pi.shape[0] == 0:
            raise ValueError(f"{what} needs mixtures of shape (batch, k) with batch >= 1, got {tuple(self.loc.shape)}")
        if self.loc.device.type == "meta":
            raise ValueError(
                "the mixture is on the meta device (shapes without values); give tensors on 'cpu' or 'cuda'"
            )
        log_pi, mu, log_sigma = (t.to(torch.float64) for t in (self.log_pi, self.loc, self.scale))
        for name, t in (("loc", mu), ("log_scale", log_sigma)):
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"the mixture's {name} must be finite, got NaN or infinite values")
        if bool(torch.isnan(log_pi).any()) or bool((log_pi == math.inf).any()):
            raise ValueError("the mixture's log_pi must hold no NaN or +inf (−inf, a zero weight, is allowed)")
        if bool((log_pi == -math.inf).all(-1).any()):
            raise ValueError("the mixture's log_pi has a row whose weights are all zero (every log π is −inf)")
        if log_pi.shape[-1] == 1:
            # one component has weight 1; softmax over a dimension of size 1 gives the same, but on several
            # threads it took 1-10 ms a call on a loaded machine (a LinearGaussian's scorecard: 30 ms, now 2)
            return torch.ones_like(log_pi), mu, log_sigma
        return torch.softmax(log_pi, -1), mu, log_sigma

    def _check_y64(self, y, batch: int, device) -> Tensor:
        y = check_finite_1d("y", y)
        if y.shape[0] != batch:
            raise ValueError(f"y must have shape ({batch},) (one value per mixture), got {tuple(y.shape)}")
        return y.to(device=device, dtype=torch.float64)

    def cdf(self, y: Tensor) -> Tensor:
        """F(y) = Σ_k π_k Φ((y − μ_k)/σ_k) for each mixture: y (batch,) → (batch,), float64."""
        pi, mu, log_sigma = self._prepared("cdf")
        y = self._check_y64(y, mu.shape[0], mu.device)
        z = standardised(y.unsqueeze(-1) - mu, log_sigma)  # exact for any σ > 0, subnormal ones too
        return (pi * _ndtr(z)).sum(-1).clamp(0.0, 1.0)

    @torch.no_grad()
    def quantile(self, q: float | Tensor) -> Tensor:
        """Q(q), the y with F(y) = q, for each mixture: q a float in (0, 1) or
        one per mixture (batch,) → (batch,), float64.

        Monotone in q; |F(Q(q)) − q| ≤ 1e-14 wherever float64 can resolve it
        (where it cannot — a component narrower than the spacing of floats near
        y — the answer is the float where F crosses q). Newton's method
        safeguarded with bisection on the bracket [min_k Q_k(q), max_k Q_k(q)]
        of the components' own quantiles, at most QUANTILE_ITERATIONS steps;
        rows that have converged drop out of the work."""
        pi, mu, log_sigma = self._prepared("quantile")
        q = check_levels("q", q, mu.shape[:1], mu.device)
        comp = mu + torch.exp(log_sigma) * torch.special.ndtri(q).unsqueeze(-1)  # each component's own quantile
        lo, hi = comp.min(-1).values, comp.max(-1).values
        x = (pi * comp).sum(-1).clamp(lo, hi)  # a start inside the bracket
        inv_sigma = torch.exp((-log_sigma).clamp(max=700.0))  # 1/σ kept finite (σ ≥ e^-700)
        pdf_w = pi * inv_sigma * math.exp(-LOG_SQRT_2PI)  # π_k / (σ_k √2π)

        def residual(rows: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
            z = (y.unsqueeze(-1) - mu[rows]) * inv_sigma[rows]
            cdf = (pi[rows] * _ndtr(z)).sum(-1).clamp(0.0, 1.0)
            return cdf - q[rows], (pdf_w[rows] * torch.exp(-0.5 * z * z)).sum(-1)

        return invert_cdf(residual, x, lo, hi, QUANTILE_ITERATIONS)

    def interval(self, level: float | Tensor) -> tuple[Tensor, Tensor]:
        """The central interval of probability `level` in (0, 1) (a float or one
        per mixture): (Q((1 − level)/2), Q((1 + level)/2)), each (batch,), float64."""
        pi, _, _ = self._prepared("interval")
        level = check_levels("level", level, pi.shape[:1], pi.device)
        return self.quantile((1 - level) / 2), self.quantile((1 + level) / 2)

    def crps(self, y: Tensor) -> Tensor:
        """The continuous ranked probability score at y, ∫ (F(t) − 1{t ≥ y})² dt,
        in closed form: y (batch,) → (batch,), float64, in y's units (lower is
        better; 0 only for a point mass at y). The k² pairwise terms are
        computed in chunks of at most CRPS_CHUNK_VALUES values."""
        pi, mu, log_sigma = self._prepared("crps")
        y = self._check_y64(y, mu.shape[0], mu.device)
        sigma = torch.exp(log_sigma)
        first = (pi * _crps_a(y.unsqueeze(-1) - mu, sigma)).sum(-1)
        # the pairwise sum: its diagonal, A(0, 2σ²) = 2σ/√π, plus twice the pairs i < j
        diagonal = (pi * pi * sigma).sum(-1) * (2 / math.sqrt(math.pi))
        batch, k = mu.shape
        i, j = torch.triu_indices(k, k, 1, device=mu.device)
        n_pairs = max(1, i.numel())
        rows = max(1, CRPS_CHUNK_VALUES // n_pairs)
        cols = max(1, min(n_pairs, CRPS_CHUNK_VALUES // rows))  # pairs at once when one row is too big
        off = []
        for r in range(0, batch, rows):
            sl = slice(r, r + rows)
            total: float | Tensor = 0.0
            for c in range(0, i.numel(), cols):
                ii, jj = i[c : c + cols], j[c : c + cols]
                m = mu[sl][:, ii] - mu[sl][:, jj]
                s = torch.hypot(sigma[sl][:, ii], sigma[sl][:, jj])  # no σ² overflow
                total = total + (pi[sl][:, ii] * pi[sl][:, jj] * _crps_a(m, s)).sum(-1)
            off.append(torch.as_tensor(total, dtype=torch.float64, device=mu.device).expand(mu[sl].shape[0]))
        return first - 0.5 * diagonal - torch.cat(off)


class MixtureLike(Protocol):
    """What `ConditionalLaw.mixture` returns: a `Mixture`, or an object with the
    same scoring methods over a batch of 1-d laws (`data.ExactConditional`)."""

    @property
    def batch_shape(self) -> torch.Size: ...

    def log_prob(self, y: Tensor) -> Tensor: ...

    def cdf(self, y: Tensor) -> Tensor: ...

    def quantile(self, q: float | Tensor) -> Tensor: ...

    def interval(self, level: float | Tensor) -> tuple[Tensor, Tensor]: ...

    def crps(self, y: Tensor) -> Tensor: ...

    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None) -> Tensor: ...


def _rows_match(mix: MixtureLike, y) -> Tensor:
    """y, with one row per row of x (the mixture's batch); an error naming x and y otherwise."""
    y = as_float_tensor("y", y)
    batch = mix.batch_shape[0] if len(mix.batch_shape) else None
    if y.dim() >= 1 and batch is not None and y.shape[0] != batch:
        raise ValueError(f"x and y must have one row per point: x has {batch} rows, y has {y.shape[0]}")
    return y


class ConditionalLaw:
    """p(y | x): the one interface of the MDN, the ensemble, the baselines and
    the exact law. A law defines ``mixture(x, pi_bias=0.0, std_bias=0.0)``,
    returning a `Mixture` (or, for an exact law, an object with the same
    scoring methods, see `MixtureLike`) with batch shape (batch,); the rest
    reads it.

    x is (batch,) or (batch, n_in); y is (batch,) (or (batch, d))."""

    def mixture(self, x: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0) -> MixtureLike:
        raise NotImplementedError

    def log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """log p(y | x) in nats, per point: (batch,); y must be finite."""
        mix = self.mixture(x)
        return mix.log_prob(_rows_match(mix, check_finite("y", as_float_tensor("y", y))))

    def cdf(self, x: Tensor, y: Tensor) -> Tensor:
        """P(Y ≤ y | x), per point (d = 1): (batch,), float64."""
        mix = self.mixture(x)
        return mix.cdf(_rows_match(mix, y))

    def quantile(self, x: Tensor, q: float | Tensor) -> Tensor:
        """The y with P(Y ≤ y | x) = q (d = 1): q a float in (0, 1) or (batch,) → (batch,), float64."""
        return self.mixture(x).quantile(q)

    def crps(self, x: Tensor, y: Tensor) -> Tensor:
        """The CRPS of p(· | x) at y, per point (d = 1): (batch,), float64."""
        mix = self.mixture(x)
        return mix.crps(_rows_match(mix, y))

    def sample(
        self, x: Tensor, pi_bias: float = 0.0, std_bias: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """One y per x from the (biased) law: (batch,) or (batch, d)."""
        return self.mixture(x, pi_bias, std_bias).sample(generator=generator)

    @torch.no_grad()
    def density(self, x: Tensor, y: Tensor) -> Tensor:
        """p(y | x) on a grid (d = 1): x (m,), y (n,) → (m, n), in the mixture's
        dtype; m·n·k ≤ MAX_DENSITY_VALUES."""
        y = check_finite_1d("y", y)
        mix = self.mixture(x)
        if not isinstance(mix, Mixture) or mix.d != 1 or len(mix.batch_shape) != 1:
            raise ValueError("density draws p(y | x) on a grid of one y (d = 1) for a batch of x of shape (m,)")
        m, n, k = mix.batch_shape[0], y.shape[0], mix.k
        if m * n * k > MAX_DENSITY_VALUES:
            raise ValueError(
                f"x and y make a grid of {m:_} × {n:_} points × {k} components, more than "
                f"the {MAX_DENSITY_VALUES:_} values allowed at once; use fewer points"
            )
        grid = Mixture(*(t.unsqueeze(1).expand(m, n, k) for t in (mix.log_pi, mix.loc, mix.scale)))
        return grid.log_prob(y.to(mix.loc).expand(m, n)).exp()
