r"""SLOGAN's networks and losses: a GAN with a single-sided Lipschitz objective,
on the joint (x, y). Its training is in `slogan_train`.

Unlike the MDN, which learns y given x, the GAN learns the unconditional law
of the pairs (x, y). A generator maps noise to points; a critic f scores
points. With real points r_j and generated points g_i the critic minimises

.. math:: \sum_j f(r_j) - \sum_i f(g_i) + \Big|\sum_j f(r_j) + \sum_i f(g_i)\Big|
          + \lambda \sum_{i,j} \Big(\max\Big(\frac{|f(r_j) - f(g_i)|}{\|r_j - g_i\| + 10^{-6}}, 1\Big) - 1\Big)^2

(low on data, high on fakes, centred by the absolute term, and penalised only
where a real–fake pair breaks the Lipschitz bound 1: "single sided"), and the
generator minimises :math:`\sum_i f(g_i)`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._checks import (
    MAX_SAMPLE_SIZE,
    MAX_WIDTH,
    as_float_tensor,
    check_finite_2d,
    check_parameter_count,
    check_positive_int,
    check_real,
    check_weights_not_meta,
)
from .checkpoint import register_kind

#: Gain of the orthogonal init of every weight matrix, as in the original notebook.
INIT_GAIN = 2.0
#: Added to ‖r − g‖ in the Lipschitz ratio, as in the original notebook.
LIP_EPS = 1e-6
#: Most values one generator forward pass may hold: n · (n_random + 2·n_hidden)
#: (1 GB in float32); `SloganGenerator.sample` refuses more.
MAX_ACTIVATIONS = 250_000_000
#: Most real × fake pairs the critic's loss may compare at once (its (m, n)
#: ratio matrix and the autograd buffers behind it: a few GB at this size).
MAX_CRITIC_PAIRS = 100_000_000


def _orthogonal_init(module: nn.Module) -> None:
    """Orthogonal weight matrices (gain INIT_GAIN), drawn and factored in float64.

    The QR factorisation's last bits depend on the number of threads it runs
    on; computed in float64 and rounded to the weights' float32 they do not,
    so a seed gives the same weights whatever the caller's thread setting.
    """
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                w = torch.empty(p.shape, dtype=torch.float64, device=p.device)
                p.copy_(nn.init.orthogonal_(w, INIT_GAIN))


class SloganGenerator(nn.Module):
    """Noise z ~ N(0, I) of size `n_random` → two ReLU layers of `n_hidden` → a point (x, y).

    Weight matrices start orthogonal with gain 2 (drawn from torch's global
    RNG, like any torch module: build it under `seeding.seeded_init` to fix them).
    """

    def __init__(self, n_random: int = 256, n_hidden: int = 128) -> None:
        super().__init__()
        n_random = check_positive_int("n_random", n_random, maximum=MAX_WIDTH)
        n_hidden = check_positive_int("n_hidden", n_hidden, maximum=MAX_WIDTH)
        check_parameter_count(
            "the generator",
            (n_random + 1) * n_hidden + (n_hidden + 1) * n_hidden + (n_hidden + 1) * 2,
            "n_random or n_hidden",
        )
        self.config = dict(n_random=n_random, n_hidden=n_hidden)
        self.n_random = n_random
        self.l1 = nn.Linear(n_random, n_hidden)
        self.l2 = nn.Linear(n_hidden, n_hidden)
        self.l3 = nn.Linear(n_hidden, 2)
        _orthogonal_init(self)

    def forward(self, z: Tensor) -> Tensor:
        """z: (n, n_random) → points (n, 2), columns x and y (z is cast to the
        weights' dtype and device)."""
        z = as_float_tensor("z", z)
        if z.dim() != 2 or z.shape[1] != self.n_random:
            raise ValueError(f"z must have shape (n, {self.n_random}), got {tuple(z.shape)}")
        check_weights_not_meta(self.l1.weight, "the generator", "z")
        z = z.to(self.l1.weight)
        h = torch.relu(self.l1(z))
        h = torch.relu(self.l2(h))
        return self.l3(h)

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of the input noise, (n, n_random), on the weights' device."""
        check_positive_int("n", n, maximum=MAX_SAMPLE_SIZE)
        if n * self.n_random > MAX_ACTIVATIONS:
            raise ValueError(
                f"n = {n:_} draws of {self.n_random} noise values are more than the {MAX_ACTIVATIONS:_} "
                f"allowed at once; draw at most {MAX_ACTIVATIONS // self.n_random:_} at a time"
            )
        w = self.l1.weight
        return torch.randn(n, self.n_random, generator=generator, device=w.device, dtype=w.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n generated points, (n, 2).

        Differentiable in the weights (training uses it); wrap in
        ``torch.no_grad()`` for plain draws. `generator` must live on the
        weights' device; None uses torch's global RNG. n ≤ MAX_SAMPLE_SIZE, and
        n · (n_random + 2·n_hidden) ≤ MAX_ACTIVATIONS (draw more in batches).
        """
        check_positive_int("n", n, maximum=MAX_SAMPLE_SIZE)
        per_point = self.n_random + 2 * self.config["n_hidden"]
        if n * per_point > MAX_ACTIVATIONS:
            raise ValueError(
                f"n = {n:_} points would need {n * per_point:_} activations at once, more than the "
                f"{MAX_ACTIVATIONS:_} allowed; draw at most {MAX_ACTIVATIONS // per_point:_} at a time"
            )
        if generator is not None:
            if not isinstance(generator, torch.Generator):
                raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
            if generator.device.type != self.l1.weight.device.type:
                raise ValueError(
                    f"generator is on {generator.device.type} but the weights are on "
                    f"{self.l1.weight.device.type}; give a generator on the weights' device"
                )
        return self(self.noise(n, generator))


class Critic(nn.Module):
    """A point (x, y) → two ReLU layers of `n_hidden` → a score f, shape (n, 1).

    Weight matrices start orthogonal with gain 2, as in the original notebook.
    """

    n_in = 2

    def __init__(self, n_hidden: int = 50) -> None:
        super().__init__()
        n_hidden = check_positive_int("n_hidden", n_hidden, maximum=MAX_WIDTH)
        check_parameter_count("the critic", 3 * n_hidden + (n_hidden + 1) * n_hidden + n_hidden + 1, "n_hidden")
        self.config = dict(n_hidden=n_hidden)
        self.l1 = nn.Linear(self.n_in, n_hidden)
        self.l2 = nn.Linear(n_hidden, n_hidden)
        self.l3 = nn.Linear(n_hidden, 1)
        _orthogonal_init(self)

    def forward(self, xy: Tensor) -> Tensor:
        """xy: (n, 2) → f: (n, 1) (xy is cast to the weights' dtype and device)."""
        xy = as_float_tensor("xy", xy)
        if xy.dim() != 2 or xy.shape[1] != self.n_in:
            raise ValueError(f"xy must have shape (n, {self.n_in}), got {tuple(xy.shape)}")
        check_weights_not_meta(self.l1.weight, "the critic", "xy")
        xy = xy.to(self.l1.weight)
        h = torch.relu(self.l1(xy))
        h = torch.relu(self.l2(h))
        return self.l3(h)


register_kind("SloganGenerator", SloganGenerator, lambda c: SloganGenerator(**c))
register_kind("SloganCritic", Critic, lambda c: Critic(**c))


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


class CriticTerms(NamedTuple):
    """The critic's loss and the parts the original notebook prints, 0-d tensors.

    loss: to backpropagate; f_real = Σ f(real), f_fake = Σ f(fake), penalty =
    λ·Σ (max(ratio, 1) − 1)², lip_mean = mean Lipschitz ratio over all
    real×fake pairs, lip_max = the largest one (the penalty acts only on the
    pairs whose ratio exceeds 1); all but the loss detached.
    """

    loss: Tensor
    f_real: Tensor
    f_fake: Tensor
    penalty: Tensor
    lip_mean: Tensor
    lip_max: Tensor


def _check_critic(critic) -> Tensor | None:
    """critic is an nn.Module with real (not meta) weights; its first weight, or None if it has none."""
    if not isinstance(critic, nn.Module):
        raise TypeError(f"critic must be a torch.nn.Module, got {type(critic).__name__}")
    w = next(critic.parameters(), None)
    if w is not None and any(p.device.type == "meta" for p in critic.parameters()):
        raise ValueError(
            "critic has weights on the meta device (shapes without values); build or load it on 'cpu' or 'cuda'"
        )
    return w


def _check_points(critic, real, fake) -> tuple[Tensor, Tensor]:
    w = _check_critic(critic)
    n_in = getattr(critic, "n_in", 2)
    real = check_finite_2d("real", real, n_cols=n_in)
    fake = check_finite_2d("fake", fake, n_cols=real.shape[1])
    if real.shape[0] * fake.shape[0] > MAX_CRITIC_PAIRS:
        raise ValueError(
            f"real and fake make {real.shape[0]:_} × {fake.shape[0]:_} pairs for the Lipschitz "
            f"penalty, more than the {MAX_CRITIC_PAIRS:_} allowed; use smaller batches"
        )
    if w is not None:
        real, fake = real.to(w.device, w.dtype), fake.to(w.device, w.dtype)
    return real, fake


def slogan_critic_terms(critic: nn.Module, real: Tensor, fake: Tensor, lam: float = 10.0) -> CriticTerms:
    """The critic's loss with its printed parts (see `CriticTerms`).

    real: (n, 2), fake: (m, 2); both are detached (no gradient reaches the
    generator). The loss's gradient in the critic's weights equals what the
    original notebook accumulates with its four `backward` calls.
    """
    real, fake = _check_points(critic, real, fake)
    lam = check_real("lam", lam, minimum=0.0)
    real, fake = real.detach(), fake.detach()
    n = real.shape[0]
    f = critic(torch.cat([real, fake]))
    f_real, f_fake = f[:n], f[n:]
    s_real, s_fake = f_real.sum(), f_fake.sum()
    with torch.no_grad():
        dist = torch.cdist(fake, real, compute_mode="donot_use_mm_for_euclid_dist")  # (m, n)
    ratio = (f_real.view(1, n) - f_fake).abs() / (dist + LIP_EPS)  # (m, n): pair (fake i, real j)
    penalty = lam * (ratio.clamp(min=1) - 1).square().sum()
    loss = s_real - s_fake + (s_real + s_fake).abs() + penalty
    ratio = ratio.detach()
    return CriticTerms(loss, s_real.detach(), s_fake.detach(), penalty.detach(), ratio.mean(), ratio.max())


def slogan_critic_loss(critic: nn.Module, real: Tensor, fake: Tensor, lam: float = 10.0) -> Tensor:
    """The critic's loss, a scalar tensor:

    Σf(real) − Σf(fake) + |Σf(real) + Σf(fake)|
      + lam · Σ_{i,j} (max(|f(real_j) − f(fake_i)| / (‖real_j − fake_i‖ + 1e-6), 1) − 1)².

    real: (n, 2), fake: (m, 2). `slogan_critic_terms` also returns the parts.
    """
    return slogan_critic_terms(critic, real, fake, lam).loss


def slogan_generator_loss(critic: nn.Module, fake: Tensor) -> Tensor:
    """Σ f(fake), a scalar tensor; fake (m, 2) keeps its graph to the generator."""
    w = _check_critic(critic)
    if not isinstance(fake, Tensor):
        raise TypeError(f"fake must be a tensor of shape (m, 2), got {type(fake).__name__}")
    check_finite_2d("fake", fake.detach(), n_cols=getattr(critic, "n_in", 2))
    if w is not None:
        fake = fake.to(w.device, w.dtype)  # differentiable: the graph to the generator is kept
    return critic(fake).sum()
