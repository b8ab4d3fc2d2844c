r"""SLOGAN: a GAN with a single-sided Lipschitz objective, on the joint (x, y).

Unlike the MDN, which learns y given x, the GAN learns the unconditional law
of the pairs (x, y). A generator maps noise to points; a critic f scores
points. With real points r_j and generated points g_i the critic minimises

.. math:: \sum_j f(r_j) - \sum_i f(g_i) + \Big|\sum_j f(r_j) + \sum_i f(g_i)\Big|
          + \lambda \sum_{i,j} \Big(\max\Big(\frac{|f(r_j) - f(g_i)|}{\|r_j - g_i\| + 10^{-6}}, 1\Big) - 1\Big)^2

(low on data, high on fakes, centred by the absolute term, and penalised only
where a real–fake pair breaks the Lipschitz bound 1: "single sided"), and the
generator minimises :math:`\sum_i f(g_i)`.

`train_slogan` runs either the original notebook's schedule (``recipe="seed"``)
or this project's faster default (``recipe="default"``); see `RECIPES`.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn

from ._checks import (
    check_finite_2d,
    check_nonneg_int,
    check_positive_int,
    check_real,
    resolve_device,
)
from .checkpoint import register_kind
from .data import check_pair, sample_inverted_sine, seeded_sample
from .metrics import energy_distance
from .train import TrainingDiverged, make_progress, seeded_init, torch_threads

#: Gain of the orthogonal init of every weight matrix, as in the original notebook.
INIT_GAIN = 2.0
#: Added to ‖r − g‖ in the Lipschitz ratio, as in the original notebook.
LIP_EPS = 1e-6


def _orthogonal_init(module: nn.Module) -> None:
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.orthogonal_(p, INIT_GAIN)


class Generator(nn.Module):
    """Noise z ~ N(0, I) of size `n_random` → two ReLU layers of `n_hidden` → a point (x, y).

    Weight matrices start orthogonal with gain 2 (drawn from torch's global
    RNG, like any torch module: build it under `train.seeded_init` to fix them).
    """

    def __init__(self, n_random: int = 256, n_hidden: int = 128):
        super().__init__()
        n_random = check_positive_int("n_random", n_random)
        n_hidden = check_positive_int("n_hidden", n_hidden)
        self.config = dict(n_random=n_random, n_hidden=n_hidden)
        self.n_random = n_random
        self.l1 = nn.Linear(n_random, n_hidden)
        self.l2 = nn.Linear(n_hidden, n_hidden)
        self.l3 = nn.Linear(n_hidden, 2)
        _orthogonal_init(self)

    def forward(self, z: Tensor) -> Tensor:
        """z: (n, n_random) → points (n, 2), columns x and y."""
        if z.dim() != 2 or z.shape[1] != self.n_random:
            raise ValueError(f"z must have shape (n, {self.n_random}), got {tuple(z.shape)}")
        h = torch.relu(self.l1(z))
        h = torch.relu(self.l2(h))
        return self.l3(h)

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of the input noise, (n, n_random), on the weights' device."""
        w = self.l1.weight
        return torch.randn(n, self.n_random, generator=generator, device=w.device, dtype=w.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n generated points, (n, 2).

        Differentiable in the weights (training uses it); wrap in
        ``torch.no_grad()`` for plain draws. `generator` must live on the
        weights' device; None uses torch's global RNG.
        """
        check_positive_int("n", n)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        return self(self.noise(n, generator))


class Critic(nn.Module):
    """A point (x, y) → two ReLU layers of `n_hidden` → a score f, shape (n, 1).

    Weight matrices start orthogonal with gain 2, as in the original notebook.
    """

    n_in = 2

    def __init__(self, n_hidden: int = 50):
        super().__init__()
        n_hidden = check_positive_int("n_hidden", n_hidden)
        self.config = dict(n_hidden=n_hidden)
        self.l1 = nn.Linear(self.n_in, n_hidden)
        self.l2 = nn.Linear(n_hidden, n_hidden)
        self.l3 = nn.Linear(n_hidden, 1)
        _orthogonal_init(self)

    def forward(self, xy: Tensor) -> Tensor:
        """xy: (n, 2) → f: (n, 1)."""
        if xy.dim() != 2 or xy.shape[1] != self.n_in:
            raise ValueError(f"xy must have shape (n, {self.n_in}), got {tuple(xy.shape)}")
        h = torch.relu(self.l1(xy))
        h = torch.relu(self.l2(h))
        return self.l3(h)


register_kind("SloganGenerator", Generator, lambda c: Generator(**c))
register_kind("SloganCritic", Critic, lambda c: Critic(**c))


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------

class CriticTerms(NamedTuple):
    """The critic's loss and the parts the original notebook prints.

    loss: scalar tensor to backpropagate; f_real = Σ f(real), f_fake = Σ f(fake),
    penalty = λ·Σ (max(ratio, 1) − 1)², lip_mean = mean Lipschitz ratio over all
    real×fake pairs (floats, detached).
    """

    loss: Tensor
    f_real: float
    f_fake: float
    penalty: float
    lip_mean: float


def _critic_terms(critic: nn.Module, real: Tensor, fake: Tensor, lam: float) -> tuple[Tensor, ...]:
    """Unchecked core of the critic loss; every part a tensor (no host sync)."""
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
    return loss, s_real.detach(), s_fake.detach(), penalty.detach(), ratio.detach().mean()


def _check_points(critic, real, fake) -> tuple[Tensor, Tensor]:
    if not isinstance(critic, nn.Module):
        raise TypeError(f"critic must be a torch.nn.Module, got {type(critic).__name__}")
    n_in = getattr(critic, "n_in", 2)
    real = check_finite_2d("real", real, n_cols=n_in)
    fake = check_finite_2d("fake", fake, n_cols=real.shape[1])
    try:
        w = next(critic.parameters())
        real, fake = real.to(w.device, w.dtype), fake.to(w.device, w.dtype)
    except StopIteration:
        pass
    return real, fake


def slogan_critic_terms(critic: nn.Module, real: Tensor, fake: Tensor, lam: float = 10.0) -> CriticTerms:
    """The critic's loss with its printed parts (see `CriticTerms`).

    real: (n, 2), fake: (m, 2); both are detached (no gradient reaches the
    generator). The loss's gradient in the critic's weights equals what the
    original notebook accumulates with its four `backward` calls.
    """
    real, fake = _check_points(critic, real, fake)
    lam = check_real("lam", lam, minimum=0.0)
    loss, s_real, s_fake, penalty, lip_mean = _critic_terms(critic, real, fake, lam)
    return CriticTerms(loss, float(s_real), float(s_fake), float(penalty), float(lip_mean))


def slogan_critic_loss(critic: nn.Module, real: Tensor, fake: Tensor, lam: float = 10.0) -> Tensor:
    """The critic's loss, a scalar tensor:

    Σf(real) − Σf(fake) + |Σf(real) + Σf(fake)|
      + lam · Σ_{i,j} (max(|f(real_j) − f(fake_i)| / (‖real_j − fake_i‖ + 1e-6), 1) − 1)².

    real: (n, 2), fake: (m, 2). `slogan_critic_terms` also returns the parts.
    """
    return slogan_critic_terms(critic, real, fake, lam).loss


def slogan_generator_loss(critic: nn.Module, fake: Tensor) -> Tensor:
    """Σ f(fake), a scalar tensor; fake (m, 2) keeps its graph to the generator."""
    if not isinstance(critic, nn.Module):
        raise TypeError(f"critic must be a torch.nn.Module, got {type(critic).__name__}")
    if not isinstance(fake, Tensor):
        raise TypeError(f"fake must be a tensor of shape (m, 2), got {type(fake).__name__}")
    check_finite_2d("fake", fake.detach(), n_cols=getattr(critic, "n_in", 2))
    return critic(fake).sum()


# ---------------------------------------------------------------------------
# Recipes and the training loop
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SloganRecipe:
    """Everything `train_slogan` needs besides data, seed and device.

    iterations: generator steps. Before each, `n_critic` critic steps, or
    `n_critic_burst` at the first `burst_first` steps and every `burst_every`-th.
    lr_generator / lr_critic with Adam `betas`; schedule "cosine" (to 0 over
    the run) or "step" (divided by `lr_factor` at each step in `lr_drops`).
    ema: decay of an exponential moving average of the generator's weights
    (the average is what is returned), ramped up as min(ema, (1 + t)/(10 + t))
    at step t so that early steps are forgotten; None returns the raw generator.
    n_train: None draws fresh points each step; else trains on one fixed draw
    of n_train points, in minibatches (`shuffle`d each pass, or in order).
    Every `eval_every` steps the history scores the generator: energy distance
    of `n_eval` generated against `n_eval` fresh true points.
    """

    name: str
    iterations: int
    batch_size: int
    n_critic: int
    lr_generator: float
    lr_critic: float
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    lr_drops: tuple[int, ...] = ()
    lr_factor: float = 3.0
    n_critic_burst: int | None = None
    burst_first: int = 0
    burst_every: int | None = None
    ema: float | None = None
    n_train: int | None = None
    shuffle: bool = True
    lam: float = 10.0
    n_random: int = 256
    n_hidden_generator: int = 128
    n_hidden_critic: int = 50
    eval_every: int = 500
    n_eval: int = 2000

    def __post_init__(self):
        check_nonneg_int("iterations", self.iterations)
        check_positive_int("batch_size", self.batch_size, minimum=2)
        check_positive_int("n_critic", self.n_critic)
        if self.n_critic_burst is not None:
            check_positive_int("n_critic_burst", self.n_critic_burst)
        check_real("lr_generator", self.lr_generator, minimum=0.0, strict=True)
        check_real("lr_critic", self.lr_critic, minimum=0.0, strict=True)
        if len(self.betas) != 2 or not all(0.0 <= check_real("betas", b) < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.schedule not in ("cosine", "step"):
            raise ValueError(f"schedule must be 'cosine' or 'step', got {self.schedule!r}")
        check_real("lr_factor", self.lr_factor, minimum=0.0, strict=True)
        if self.ema is not None and not 0.0 <= check_real("ema", self.ema) < 1.0:
            raise ValueError(f"ema must be in [0, 1) or None, got {self.ema}")
        if self.n_train is not None:
            check_positive_int("n_train", self.n_train, minimum=2)
        check_real("lam", self.lam, minimum=0.0)
        for name in ("n_random", "n_hidden_generator", "n_hidden_critic", "eval_every"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("n_eval", self.n_eval, minimum=2)

    def critic_steps(self, step: int) -> int:
        """Critic steps before generator step `step` (0-based)."""
        if self.n_critic_burst is not None and (
                step < self.burst_first or (self.burst_every and step % self.burst_every == 0)):
            return self.n_critic_burst
        return self.n_critic

    def lr_scale(self, step: int, iterations: int) -> float:
        """Learning-rate multiplier at generator step `step` of `iterations`."""
        if self.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * step / max(iterations, 1)))
        return self.lr_factor ** -sum(step >= d for d in self.lr_drops)


#: The original notebook: 30,000 generator steps (its loop runs 30,001), 100
#: critic steps at the first 10 and every 100th step, else 10; Adam 1e-3 with
#: default betas, divided by 3 at steps 10k and 20k; one fixed draw of 1000
#: points, read in order in batches of 256 (a DataLoader without shuffling:
#: 256, 256, 256, 232); no averaging.
SEED_RECIPE = SloganRecipe(
    name="seed", iterations=30_000, batch_size=256, n_critic=10, n_critic_burst=100, burst_first=10,
    burst_every=100, lr_generator=1e-3, lr_critic=1e-3, schedule="step", lr_drops=(10_000, 20_000),
    lr_factor=3.0, n_train=1000, shuffle=False, eval_every=1000,
)

#: This project's default: fresh draws every step (the data set is synthetic),
#: 8000 generator steps of batch 128 with 3 critic steps each, Adam 3e-3 with
#: betas (0.5, 0.9) for both nets and a cosine decay to 0, and an exponential
#: moving average of the generator's weights (decay min(0.999, (1+t)/(10+t)):
#: over a run this short, roughly the last tenth of the steps). Measured on 2
#: shared CPU cores, one thread: 36–60 s; energy distance 0.0004–0.002 at
#: 10,000 points (seeds 0–2; the noise floor there is ~0 ± 0.001), against
#: ~0.007 at best for the seed recipe after ~6 minutes.
DEFAULT_RECIPE = SloganRecipe(
    name="default", iterations=8000, batch_size=128, n_critic=3, lr_generator=3e-3, lr_critic=3e-3,
    betas=(0.5, 0.9), schedule="cosine", ema=0.999, n_train=None, eval_every=500,
)

RECIPES: dict[str, SloganRecipe] = {"default": DEFAULT_RECIPE, "seed": SEED_RECIPE}


@dataclass
class SloganHistory:
    """What `train_slogan` recorded.

    Per generator step i (lists of length `iterations`): the critic's printed
    terms at its last critic step before i (f_real, f_fake, penalty, lip_mean)
    and the generator's loss g_loss. At step 0, every `eval_every` steps and at
    the end: eval_step and energy, the energy distance of the returned
    generator's samples to fresh true points (n_eval each). seconds: the whole
    run; eval_seconds: the part spent scoring. data: the data regime used.
    """

    recipe: dict = field(default_factory=dict)
    f_real: list[float] = field(default_factory=list)
    f_fake: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    lip_mean: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    energy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    eval_seconds: float = 0.0
    data: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class SloganDiverged(TrainingDiverged):
    """A SLOGAN loss became NaN or infinite. `.generator` and `.critic` (and
    `.model`, the generator) hold the weights from before the failing step."""

    def __init__(self, message: str, generator: nn.Module, critic: nn.Module, history: SloganHistory):
        super().__init__(message, generator, history)  # type: ignore[arg-type]
        self.generator = generator
        self.critic = critic


def _as_points(data) -> Tensor:
    """(n, 2) points from an (n, 2) tensor/array, an (x, y) pair, or an object with .tensors()."""
    if hasattr(data, "tensors") and callable(data.tensors):
        data = data.tensors()
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (int, float)):
        x, y = check_pair(data[0], data[1])
        return torch.stack([x, y], dim=1)
    return check_finite_2d("data", data, n_cols=2)


def _resolve_recipe(recipe) -> SloganRecipe:
    if isinstance(recipe, SloganRecipe):
        return recipe
    if isinstance(recipe, str) and recipe in RECIPES:
        return RECIPES[recipe]
    raise ValueError(f"recipe must be one of {sorted(RECIPES)} or a SloganRecipe, got {recipe!r}")


def _real_batches(points: Tensor | None, batch_size: int, shuffle: bool, device, gen) -> Callable[[], Tensor]:
    """A function returning the next real batch: fresh draws, or a pass over `points`."""
    if points is None:
        def fresh() -> Tensor:
            x, y = sample_inverted_sine(batch_size, generator=gen, device=device)
            return torch.stack([x, y], dim=1)
        return fresh
    n = points.shape[0]
    order: list[Tensor] = []
    pos = [n]

    def next_batch() -> Tensor:
        if pos[0] >= n:
            order[:] = [torch.randperm(n, generator=gen, device=device) if shuffle else
                        torch.arange(n, device=device)]
            pos[0] = 0
        idx = order[0][pos[0]:pos[0] + batch_size]  # the last batch of a pass may be short
        pos[0] += batch_size
        return points[idx]
    return next_batch


@torch.no_grad()
def slogan_energy(generator: Generator, n: int = 10_000, seed: int = 30_000) -> float:
    """Energy distance between n generated points and n fresh true points (x, y).

    Both sides come from generators seeded by `seed`; see `metrics.energy_distance`.
    """
    check_positive_int("n", n, minimum=2)
    check_nonneg_int("seed", seed)
    w = next(generator.parameters())
    g = torch.Generator(device=w.device).manual_seed(seed)
    fake = generator.sample(n, generator=g).float().cpu()
    x, y = seeded_sample(n, seed + 1)
    return energy_distance(fake, torch.stack([x, y], dim=1))


def train_slogan(
    data=None,
    *,
    iterations: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    recipe: str | SloganRecipe = "default",
    callback: Callable[[int, SloganHistory, Generator, Critic], None] | None = None,
    num_threads: int | None = 1,
) -> tuple[Generator, Critic, SloganHistory]:
    """Train a SLOGAN on the joint (x, y); return (generator, critic, history), in eval mode.

    recipe: "default" (ours: fresh draws every step, 3 critic steps, Adam
    betas (0.5, 0.9), cosine decay, EMA generator; ~40–60 s on 2 CPU cores),
    "seed" (the original notebook's schedule on one fixed draw of 1000
    points), or a `SloganRecipe` (e.g. ``dataclasses.replace(RECIPES["default"], n_critic=5)``).
    data: None lets the recipe decide (fresh draws for "default",
    `seeded_sample(1000, seed)` for "seed"); else a fixed training set, an
    (n, 2) tensor, an (x, y) pair of (n,) or an `InvertedSine`, read in
    minibatches. iterations and batch_size default to the recipe's (default:
    8000 steps of 128; seed: 30,000 steps of 256). `history.data` names the
    data regime used.
    callback(step, history, generator, critic) runs at every evaluation.
    num_threads: CPU threads while training (see `train.torch_threads`; one
    is fastest for nets this small); None leaves torch's setting alone.
    Raises SloganDiverged (a TrainingDiverged) if a loss stops being finite,
    with the weights from before that step.
    """
    rec = _resolve_recipe(recipe)
    iterations = rec.iterations if iterations is None else check_nonneg_int("iterations", iterations)
    batch_size = rec.batch_size if batch_size is None else check_positive_int("batch_size", batch_size, minimum=2)
    check_nonneg_int("seed", seed)
    if num_threads is not None:
        check_positive_int("num_threads", num_threads)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {type(progress).__name__}")
    dev = resolve_device(device)
    if data is not None:
        points = _as_points(data).to(dev, torch.float32)
        regime = f"a fixed training set of {points.shape[0]} points (given)"
    elif rec.n_train is not None:
        x, y = seeded_sample(rec.n_train, seed)
        points = torch.stack([x, y], dim=1).to(dev)
        regime = f"a fixed training set of {rec.n_train} points (seeded_sample(n, seed={seed}))"
    else:
        points = None
        regime = "fresh draws every step"
    if points is not None and points.shape[0] < 2:
        raise ValueError(f"data must have at least 2 points, got {points.shape[0]}")

    with seeded_init(seed):
        gen_net = Generator(rec.n_random, rec.n_hidden_generator).to(dev)
        critic = Critic(rec.n_hidden_critic).to(dev)
    ema_net = copy.deepcopy(gen_net) if rec.ema is not None else gen_net
    rng = torch.Generator(device=dev).manual_seed(seed + 1)         # noise and fresh data
    data_rng = torch.Generator(device=dev).manual_seed(seed + 2)    # minibatch order
    real_batch = _real_batches(points, batch_size, rec.shuffle, dev, rng if points is None else data_rng)
    # fused Adam: one kernel for all parameters (the nets are small, so the
    # per-parameter Python loop of the default implementation dominates on CPU)
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=rec.lr_generator, betas=rec.betas, fused=True)
    opt_c = torch.optim.Adam(critic.parameters(), lr=rec.lr_critic, betas=rec.betas, fused=True)
    g_params, c_params = list(gen_net.parameters()), list(critic.parameters())
    e_params = list(ema_net.parameters())
    saved = [p.detach().clone() for p in (*g_params, *c_params, *(e_params if rec.ema is not None else ()))]

    hist = SloganHistory(recipe=dataclasses.asdict(rec) | {"iterations": iterations, "batch_size": batch_size},
                         data=regime)
    bar = make_progress(iterations, progress, "SLOGAN")
    t0 = time.perf_counter()

    def evaluate(done: int) -> None:
        t1 = time.perf_counter()
        ema_net.eval()
        hist.eval_step.append(done)
        hist.energy.append(slogan_energy(ema_net, rec.n_eval, seed=1_000_003 * (seed + 1) + done))
        hist.eval_seconds += time.perf_counter() - t1
        if callback is not None:
            callback(done, hist, ema_net, critic)
        gen_net.train()

    def diverged(step: int, what: str, value: float) -> SloganDiverged:
        with torch.no_grad():
            all_params = (*g_params, *c_params, *(e_params if rec.ema is not None else ()))
            torch._foreach_copy_(list(all_params), saved)
        hist.seconds = time.perf_counter() - t0
        return SloganDiverged(
            f"the {what} became {value} at generator step {step}; the generator and critic keep the "
            f"weights from before step {step}", ema_net.eval(), critic.eval(), hist)

    with torch_threads(num_threads):
        try:
            evaluate(0)
            for step in range(iterations):
                with torch.no_grad():
                    all_params = [*g_params, *c_params, *(e_params if rec.ema is not None else ())]
                    # a finite loss with a non-finite gradient leaves NaN weights:
                    # never snapshot those, stop with the last finite ones
                    if not bool(torch.stack([torch.isfinite(p).all() for p in all_params]).all()):
                        raise diverged(step - 1, "weights", math.nan)  # broken by step - 1's update
                    torch._foreach_copy_(saved, [p.detach() for p in all_params])
                scale = rec.lr_scale(step, iterations)
                for pg in opt_g.param_groups:
                    pg["lr"] = rec.lr_generator * scale
                for pg in opt_c.param_groups:
                    pg["lr"] = rec.lr_critic * scale
                # critic steps
                for p in c_params:
                    p.requires_grad_(True)
                for _ in range(rec.critic_steps(step)):
                    real = real_batch()
                    with torch.no_grad():
                        fake = gen_net.sample(batch_size, generator=rng)
                    loss, s_real, s_fake, penalty, lip_mean = _critic_terms(critic, real, fake, rec.lam)
                    opt_c.zero_grad(set_to_none=True)
                    loss.backward()
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise diverged(step, "critic loss", value)
                    opt_c.step()
                # generator step
                for p in c_params:
                    p.requires_grad_(False)
                g_loss = critic(gen_net.sample(batch_size, generator=rng)).sum()
                g_value = float(g_loss.detach())
                if not math.isfinite(g_value):
                    raise diverged(step, "generator loss", g_value)
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                if rec.ema is not None:
                    decay = min(rec.ema, (1 + step) / (10 + step))
                    with torch.no_grad():
                        torch._foreach_lerp_(e_params, g_params, 1 - decay)
                hist.f_real.append(float(s_real))
                hist.f_fake.append(float(s_fake))
                hist.penalty.append(float(penalty))
                hist.lip_mean.append(float(lip_mean))
                hist.g_loss.append(g_value)
                done = step + 1
                if bar is not None:
                    bar.update(1)
                    if done % 100 == 0:
                        bar.set_postfix(lip=f"{float(lip_mean):.2f}", refresh=False)
                if done % rec.eval_every == 0 or done == iterations:
                    evaluate(done)
        finally:
            for p in c_params:
                p.requires_grad_(True)
            if bar is not None:
                bar.close()
    hist.seconds = time.perf_counter() - t0
    return ema_net.eval(), critic.eval(), hist
