"""Training SLOGAN: recipes as data (`SloganRecipe`, presets in `RECIPES`) and
`fit_slogan`, a critic step and a generator step on `loop.train_loop`.

`fit_slogan` runs either the original notebook's schedule (``recipe="seed"``)
or this project's faster default (``recipe="default"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from ._checks import (
    MAX_SAMPLE_SIZE,
    MAX_WIDTH,
    check_finite_2d,
    check_float32_range,
    check_nonneg_int,
    check_pair,
    check_positive_int,
    check_real,
    resolve_device,
)
from .datasets.inverted_sine import sample_inverted_sine, seeded_sample
from .loop import Callback, History, minibatches, train_loop
from .metrics import MAX_ENERGY_POINTS, slogan_energy_distance
from .recipes import Recipe, resolve_recipe
from .seeding import check_num_threads, derive_seed, seeded_init, torch_threads
from .slogan import MAX_CRITIC_PAIRS, Critic, SloganGenerator, slogan_critic_terms, slogan_generator_loss

__all__ = [
    "DEFAULT_RECIPE",
    "MAX_BATCH_SIZE",
    "MAX_CRITIC_STEPS",
    "RECIPES",
    "SEED_RECIPE",
    "SloganRecipe",
    "as_points",
    "fit_slogan",
]

#: Largest batch: the critic compares every real with every fake point.
MAX_BATCH_SIZE = int(MAX_CRITIC_PAIRS**0.5)
#: Most critic steps before one generator step.
MAX_CRITIC_STEPS = 10_000


@dataclass(frozen=True, kw_only=True)
class SloganRecipe(Recipe):
    """Everything `fit_slogan` needs besides data, seed and device (see
    `Recipe` for the shared fields; `steps` counts generator steps).

    Before each generator step, `n_critic` critic steps, or `n_critic_burst`
    at the first `burst_first` steps and every `burst_every`-th. lr is the
    generator's learning rate, lr_critic the critic's (None: the same), both
    Adam with `betas`. ema: decay of an exponential moving average of the
    generator's weights (the average is what is returned), ramped up as
    min(ema, (1 + t)/(10 + t)) at update t so that early steps are forgotten;
    None returns the raw generator. n_train: without data and without fresh
    draws, train on one fixed draw of this many points. lam: the Lipschitz
    penalty's weight. Every `eval_every` steps the history scores the
    generator ("energy": energy distance of `n_eval` generated against
    `n_eval` true points, the same draws at every evaluation of a run, so the
    curve's steps compare the generator and not the draws). Limits: batch_size ≤ MAX_BATCH_SIZE (10^4),
    n_train ≤ MAX_SAMPLE_SIZE, n_eval ≤ `metrics.MAX_ENERGY_POINTS`, widths ≤ MAX_WIDTH.
    """

    steps: int = 8000
    batch_size: int = 128
    lr: float = 3e-3
    lr_critic: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    n_critic: int = 3
    n_critic_burst: int | None = None
    burst_first: int = 0
    burst_every: int | None = None
    ema: float | None = None
    n_train: int = 1000
    lam: float = 10.0
    n_random: int = 256
    n_hidden_generator: int = 128
    n_hidden_critic: int = 50
    eval_every: int = 500
    n_eval: int = 2000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("batch_size", self.batch_size, minimum=2, maximum=MAX_BATCH_SIZE)
        if self.lr_critic is not None:
            check_real("lr_critic", self.lr_critic, minimum=0.0, strict=True)
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))  # a list (from JSON, say) becomes a tuple
        if (
            not isinstance(self.betas, tuple)
            or len(self.betas) != 2
            or not all(0.0 <= check_real("betas", b) < 1.0 for b in self.betas)
        ):
            raise ValueError(f"betas must be a tuple of two numbers in [0, 1), got {self.betas!r}")
        check_positive_int("n_critic", self.n_critic, maximum=MAX_CRITIC_STEPS)
        if self.n_critic_burst is not None:
            check_positive_int("n_critic_burst", self.n_critic_burst, maximum=MAX_CRITIC_STEPS)
        if self.burst_every is not None:
            check_positive_int("burst_every", self.burst_every)
        check_nonneg_int("burst_first", self.burst_first)
        if self.ema is not None and not 0.0 <= check_real("ema", self.ema) < 1.0:
            raise ValueError(f"ema must be in [0, 1) or None, got {self.ema}")
        check_positive_int("n_train", self.n_train, minimum=2, maximum=MAX_SAMPLE_SIZE)
        check_real("lam", self.lam, minimum=0.0)
        for name in ("n_random", "n_hidden_generator", "n_hidden_critic"):
            check_positive_int(name, getattr(self, name), maximum=MAX_WIDTH)
        check_positive_int("n_eval", self.n_eval, minimum=2, maximum=MAX_ENERGY_POINTS)

    def critic_steps(self, step: int) -> int:
        """Critic steps before generator step `step` (0-based)."""
        if self.n_critic_burst is not None and (
            step < self.burst_first or (self.burst_every and step % self.burst_every == 0)
        ):
            return self.n_critic_burst
        return self.n_critic


#: The original notebook: 30,000 generator steps (its loop runs 30,001), 100
#: critic steps at the first 10 and every 100th step, else 10; Adam 1e-3 with
#: default betas, divided by 3 at steps 10k and 20k; one fixed draw of 1000
#: points, read in order in batches of 256 (a DataLoader without shuffling:
#: 256, 256, 256, 232); no averaging.
SEED_RECIPE = SloganRecipe(
    name="seed",
    steps=30_000,
    batch_size=256,
    n_critic=10,
    n_critic_burst=100,
    burst_first=10,
    burst_every=100,
    lr=1e-3,
    schedule="step",
    lr_drops=(10_000, 20_000),
    lr_factor=3.0,
    fresh=False,
    n_train=1000,
    shuffle=False,
    eval_every=1000,
)

#: This project's default: fresh draws every step (the data set is synthetic),
#: 8000 generator steps of batch 128 with 3 critic steps each, Adam 3e-3 with
#: betas (0.5, 0.9) for both nets and a cosine decay to 0, and an exponential
#: moving average of the generator's weights (decay min(0.999, (1+t)/(10+t)):
#: over a run this short, roughly the last tenth of the steps).
DEFAULT_RECIPE = SloganRecipe(
    name="default",
    steps=8000,
    batch_size=128,
    n_critic=3,
    lr=3e-3,
    betas=(0.5, 0.9),
    schedule="cosine",
    ema=0.999,
    fresh=True,
    eval_every=500,
)

RECIPES: dict[str, SloganRecipe] = {"default": DEFAULT_RECIPE, "seed": SEED_RECIPE}


def as_points(data) -> Tensor:
    """(n, 2) points from an (n, 2) tensor or array-like, a tuple (x, y) of two
    (n,) tensors, or an object with .tensors() returning such a tuple."""
    if hasattr(data, "tensors") and callable(data.tensors):
        data = data.tensors()
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data as a tuple must be (x, y), two (n,) tensors; got a tuple of {len(data)}")
        x, y = check_pair(data[0], data[1])
        return torch.stack([check_float32_range("x", x), check_float32_range("y", y)], dim=1)
    try:
        points = check_finite_2d("data", data, n_cols=2)
    except ValueError as exc:
        raise ValueError(f"{exc}; data must be (n, 2) points or a tuple (x, y) of two (n,) tensors") from None
    return check_float32_range("data", points)


def _ema(decay: float) -> Callable:
    """AveragedModel's multi_avg_fn for an EMA ramped as min(decay, (1 + n)/(10 + n))."""

    def update(averaged: list[Tensor], current: list[Tensor], n: Tensor) -> None:
        weight = 1.0 - torch.clamp((1.0 + n) / (10.0 + n), max=decay)
        for a, c in zip(averaged, current, strict=True):
            a.lerp_(c, weight.to(a.dtype))

    return update


def _slogan_step(
    gen: SloganGenerator,
    critic: Critic,
    ema: AveragedModel | None,
    rec: SloganRecipe,
    real_batch: Callable[[], Tensor],
    noise: torch.Generator,
) -> Callable[[int], dict]:
    """One generator step, preceded by its critic steps; returns the printed scalars."""
    opt_g = torch.optim.Adam(gen.parameters(), lr=rec.lr, betas=rec.betas, fused=True)
    opt_c = torch.optim.Adam(critic.parameters(), lr=rec.lr_critic or rec.lr, betas=rec.betas, fused=True)
    scheds = (rec.scheduler(opt_g), rec.scheduler(opt_c))

    def step(i: int) -> dict:
        critic.requires_grad_(True)
        for _ in range(rec.critic_steps(i)):
            with torch.no_grad():
                fake = gen.sample(rec.batch_size, generator=noise)
            terms = slogan_critic_terms(critic, real_batch(), fake, rec.lam)
            opt_c.zero_grad(set_to_none=True)
            terms.loss.backward()
            opt_c.step()
        critic.requires_grad_(False)  # the generator's step needs no critic gradients
        g_loss = slogan_generator_loss(critic, gen.sample(rec.batch_size, generator=noise))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        critic.requires_grad_(True)
        for s in scheds:
            s.step()
        if ema is not None:
            ema.update_parameters(gen)
        return {
            "lip_mean": terms.lip_mean,
            "lip_max": terms.lip_max,
            "critic_loss": terms.loss.detach(),
            "f_real": terms.f_real,
            "f_fake": terms.f_fake,
            "penalty": terms.penalty,
            "g_loss": g_loss.detach(),
        }

    return step


def _real_data(
    data, rec: SloganRecipe, seed: int, dev: torch.device, noise: torch.Generator
) -> tuple[Callable[[], Tensor], str]:
    """The real-batch function and the data regime's description."""
    if data is not None:
        points, regime = as_points(data), "a fixed training set of {n} points (given)"
    elif not rec.fresh:
        points = torch.stack(seeded_sample(rec.n_train, derive_seed(seed, "data")), dim=1)
        regime = "a fixed training set of {n} points (seeded_sample(n, derive_seed(seed, 'data')))"
    else:

        def fresh() -> Tensor:
            return torch.stack(sample_inverted_sine(rec.batch_size, generator=noise, device=dev), dim=1)

        return fresh, f"fresh draws every step, {rec.batch_size} a batch"
    if points.shape[0] < 2:
        raise ValueError(f"data must have at least 2 points, got {points.shape[0]}")
    order = torch.Generator(device=dev).manual_seed(derive_seed(seed, "batches"))
    batch = minibatches((points.to(dev, torch.float32),), rec.batch_size, shuffle=rec.shuffle, generator=order)
    return (lambda: batch()[0]), regime.format(n=points.shape[0])


def fit_slogan(
    data=None,
    *,
    recipe: str | SloganRecipe = "default",
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    callback: Callback | None = None,
    num_threads: int | None = 1,
    **overrides: Any,
) -> tuple[SloganGenerator, Critic, History]:
    """Train a SLOGAN on the joint (x, y); return (generator, critic, history), in eval mode.

    recipe: "default" (ours: fresh draws every step, 3 critic steps, Adam
    betas (0.5, 0.9), cosine decay, EMA generator; 60–130 s on one thread of
    this project's 2-core machine),
    "seed" (the original notebook's schedule on one fixed draw of 1000
    points), or a `SloganRecipe`; any recipe field can be overridden here,
    e.g. ``fit_slogan(steps=1000, n_critic=5)``.
    data: None lets the recipe decide (fresh draws, or a fixed draw of
    `n_train` points); else a fixed training set: (n, 2) points, a tuple (x, y)
    of (n,) or an `InvertedSine`. history.data names the regime used.
    callback(step, history, model) runs at every evaluation; model is a
    ModuleDict with "generator" and "critic" (also what `TrainingDiverged`
    carries, with the weights from the start of the last good step).
    num_threads: CPU threads while training (see `seeding.torch_threads`).
    """
    rec = resolve_recipe(recipe, RECIPES, SloganRecipe, overrides)
    check_nonneg_int("seed", seed)
    check_num_threads(num_threads)
    dev = resolve_device(device)
    noise = torch.Generator(device=dev).manual_seed(derive_seed(seed, "noise"))
    real_batch, regime = _real_data(data, rec, seed, dev, noise)
    with seeded_init(derive_seed(seed, "init")):
        gen = SloganGenerator(rec.n_random, rec.n_hidden_generator).to(dev)
        critic = Critic(rec.n_hidden_critic).to(dev)
    ema = AveragedModel(gen, multi_avg_fn=_ema(rec.ema)) if rec.ema is not None else None
    # the average is a deep copy of gen
    out_gen = cast(SloganGenerator, ema.module) if ema is not None else gen
    model = nn.ModuleDict({"generator": out_gen, "critic": critic})

    def evaluate(done: int) -> dict:
        return {"energy": slogan_energy_distance(out_gen, rec.n_eval, seed=derive_seed(seed, "eval"))}

    hist = History(recipe=dataclasses.asdict(rec), data=regime)
    with torch_threads(num_threads):
        try:
            train_loop(
                _slogan_step(gen, critic, ema, rec, real_batch, noise),
                model,
                hist,
                steps=rec.steps,
                eval_every=rec.eval_every,
                evaluate=evaluate,
                rollback=[gen, critic] + ([ema] if ema is not None else []),
                callback=callback,
                progress=progress,
                desc="SLOGAN",
                show="lip_mean",
            )
        finally:
            critic.requires_grad_(True)
    return out_gen.eval(), critic.eval(), hist
