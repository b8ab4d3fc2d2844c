r"""Pure functions on a batch of 1-d Gaussian mixtures (`MixtureParams`, in
log space): the NLL, sampling, the torch.distributions view, Graves' biases.

The NLL is computed in log space, ``log π`` by ``log_softmax`` and the sum
over components by ``logsumexp``:

.. math:: -\log p(y) = -\operatorname{logsumexp}_k\big(\log \pi_k - \tfrac12 z_k^2 - \log \sigma_k
          - \tfrac12 \log 2\pi\big), \qquad z_k = (y - \mu_k)/\sigma_k .

Graves' sampling biases (2013) change the mixture at sampling time:
``pi = softmax(logits · (1 + pi_bias))`` sharpens the weights towards the
largest, ``sigma = exp(log_sigma − std_bias)`` shrinks the scales; pi_bias
lies in [−1, PI_BIAS_LIMIT], std_bias in ±STD_BIAS_LIMIT.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor
from torch.distributions import Categorical, MixtureSameFamily, Normal

from ._checks import as_float_tensor, check_real

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
#: |z| = |y − μ|/σ is clamped at this in the NLL: beyond it the NLL is over
#: 5e29 nats (no point is that unlikely in any use), and z² still fits float32.
Z_LIMIT = 1e15
#: The head clamps (standardised) y at this, which keeps y − μ finite; beyond
#: it every z is past Z_LIMIT anyway (see `_head_nll`).
Y_LIMIT = 1e37


class MixtureParams(NamedTuple):
    """A batch of 1-d Gaussian mixtures, in log space; each field is (batch, k)."""

    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor


def _check_params(p) -> MixtureParams:
    if not (isinstance(p, tuple) and len(p) == 3 and all(isinstance(t, Tensor) for t in p)):
        raise TypeError(f"p must be a MixtureParams (log_pi, mu, log_sigma) of three tensors, got {type(p).__name__}")
    # each field a real tensor with values (integers cast to floats), all on one device
    p = MixtureParams(*(as_float_tensor(f"p.{name}", t) for name, t in zip(MixtureParams._fields, p, strict=True)))
    devices = [str(t.device) for t in p]
    if len(set(devices)) > 1:
        raise ValueError(f"p's log_pi, mu and log_sigma must be on one device, got {', '.join(devices)}")
    if not p.log_pi.shape == p.mu.shape == p.log_sigma.shape or p.mu.dim() == 0:
        raise ValueError(
            "p's log_pi, mu and log_sigma must have one shape (..., k), got "
            f"{tuple(p.log_pi.shape)}, {tuple(p.mu.shape)} and {tuple(p.log_sigma.shape)}"
        )
    return p


def _standardised(diff: Tensor, log_sigma: Tensor) -> Tensor:
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


def _nll(p: MixtureParams, y: Tensor, *, guard: bool) -> Tensor:
    """The NLL with z clamped at ±Z_LIMIT. With guard, z is `_standardised`
    (y − μ and exp(−log σ) kept within the dtype's range); without it, they
    must be finite already (the head's callers: log σ is bounded there and y
    clamped)."""
    if guard:
        z = _standardised(y.unsqueeze(-1) - p.mu, p.log_sigma)
    else:
        z = (y.unsqueeze(-1) - p.mu) * torch.exp(-p.log_sigma)
    # z may be ±inf here, but from finite factors: the clamp's zero gradient
    # meets finite ones, never 0 · inf
    z = z.clamp(-Z_LIMIT, Z_LIMIT)
    log_normal = -0.5 * z * z - p.log_sigma - _LOG_SQRT_2PI
    return -torch.logsumexp(p.log_pi + log_normal, dim=-1)


def mixture_nll(p: MixtureParams, y: Tensor) -> Tensor:
    """−log p(y) under each row's mixture: y (batch,) → (batch,).

    Computed from z = (y − μ)·exp(−log σ) and log σ directly, never from σ's
    reciprocal squared, and summed over components with logsumexp.

    Far tails: |z| is clamped at Z_LIMIT (1e15), after y − μ and exp(−log σ)
    are kept within the dtype's range. So for any finite y, however far from
    the mixture (and any σ, however small), the NLL is finite — astronomically
    large, at least 5e29 nats, where the clamp acts — and so are its
    gradients wherever the dtype holds them (always for σ > 1e15/max: 3e-24
    in float32; d/dμ = −z/σ): beyond |z| = 1e15 a point no longer pulls on μ
    (its gradient through z is 0; the −log σ term's remains). Wherever
    |z| < 1e15 the result is unchanged, for any σ > 0 the dtype holds (down
    to subnormal σ, whose 1/σ overflows).
    """
    p = _check_params(p)
    y = as_float_tensor("y", y)
    if y.shape != p.mu.shape[:-1]:
        raise ValueError(f"y must have shape {tuple(p.mu.shape[:-1])} (one value per mixture), got {tuple(y.shape)}")
    return _nll(p, y, guard=True)


def _head_nll(p: MixtureParams, y: Tensor) -> Tensor:
    """`mixture_nll` for the head's own mixtures (y already checked), cheaper:
    there |log σ| ≤ LOG_SIGMA_BOUND + STD_BIAS_LIMIT = 50, so exp(−log σ) is
    finite, and y is clamped at ±Y_LIMIT so that y − μ is too. Both clamps
    change nothing below |z| = Z_LIMIT: at |y| = 1e37, |z| ≥ 1e37 / e^50 > 1e15
    (unless a floor eps > 1e22, in units of y_scale, widens σ beyond e^50)."""
    return _nll(p, y.clamp(-Y_LIMIT, Y_LIMIT), guard=False)


def mixture_sample(p: MixtureParams, generator: torch.Generator | None = None) -> Tensor:
    """One draw from each row's mixture: (batch,).

    The component is picked by the Gumbel-max trick on log π (exact, and safe
    where some π underflow to 0); then y = μ + σ·ε.
    """
    p = _check_params(p)
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        if generator.device.type != p.mu.device.type:
            raise ValueError(
                f"generator is on {generator.device.type} but the model is on {p.mu.device.type}; "
                "give a generator on the model's device"
            )
    u = torch.rand(p.log_pi.shape, generator=generator, device=p.log_pi.device, dtype=p.log_pi.dtype)
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
    k = torch.argmax(p.log_pi + gumbel, dim=-1, keepdim=True)
    mu = p.mu.gather(-1, k).squeeze(-1)
    sigma = p.log_sigma.gather(-1, k).squeeze(-1).exp()
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + sigma * eps


def mixture_distribution(p: MixtureParams) -> MixtureSameFamily:
    """The same mixtures as a `torch.distributions.MixtureSameFamily`, batch shape (batch,)."""
    return MixtureSameFamily(Categorical(logits=p.log_pi), Normal(p.mu, p.log_sigma.exp()))


def apply_bias(log_pi_logits: Tensor, log_sigma: Tensor, pi_bias: float, std_bias: float) -> tuple[Tensor, Tensor]:
    """Graves' biases: log_softmax(logits·(1+pi_bias)) and log_sigma − std_bias."""
    return torch.log_softmax(log_pi_logits * (1.0 + pi_bias), dim=-1), log_sigma - std_bias


#: |std_bias| beyond this scales σ by more than e^40 either way: no longer a bias.
STD_BIAS_LIMIT = 40.0
#: pi_bias multiplies the logits by 1 + pi_bias; at 1000 any weight gap of
#: 0.1 nats already becomes e^-100 (one-hot in float32), and far beyond it the
#: product overflows to inf and the mixture turns to NaN.
PI_BIAS_LIMIT = 1000.0


def check_bias(pi_bias, std_bias) -> tuple[float, float]:
    """pi_bias in [−1, 1000] (−1 gives equal weights, > 0 sharpens); |std_bias| ≤ 40."""
    std_bias = check_real("std_bias", std_bias)
    if abs(std_bias) > STD_BIAS_LIMIT:
        raise ValueError(f"std_bias must be within ±{STD_BIAS_LIMIT:g}, got {std_bias}")
    pi_bias = check_real("pi_bias", pi_bias, minimum=-1.0)
    if pi_bias > PI_BIAS_LIMIT:
        raise ValueError(f"pi_bias must be in [-1, {PI_BIAS_LIMIT:g}], got {pi_bias}")
    return pi_bias, std_bias
