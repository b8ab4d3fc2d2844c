"""Training MDNs: recipes as data (`MDNRecipe`, presets in `RECIPES`), `fit_mdn`,
`fit_mdn_ensemble`, and the least-squares baseline `fit_mean_regression`.

All three run on `loop.train_loop`. The default recipe: full-batch Adam
(AdamW's decoupled weight decay, 0 by default) with a cosine learning-rate
decay, inputs (per feature) and targets standardised inside the model, 15
components, and jitter on the training points in standardised units.

Small data needs more regularisation than the 1000-point toy problem the
default was tuned on: `fit_mdn`'s recipe="auto" takes the "small" preset below
SMALL_DATA (500) points, which holds out 20 % of the data for validation, stops
early on it (keeping the best weights) and jitters harder (0.2 sd on x and
on y: 5× the default's on x, 12.5× on y). The choice rests on measurements
on two data sets (benchmarks/RESULTS.md): on the inverted sine (1000 points)
holding out and stopping early cost 0.026 nats (1.351 → 1.377, best validation step 800 of 3000), while on the Palmer
penguins (250 birds) the "small" preset took the held-out NLL from 2.77 to
1.83 nats. Every trainer takes a `seed` and draws from
streams derived from it (`seeding.derive_seed`), so the same seed gives the same
weights on the same machine and the caller's random state is left alone.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from ._checks import (
    FLOAT32_MAX,
    check_bool,
    check_float32_range,
    check_inputs,
    check_positive_int,
    check_real,
    check_xy,
    n_features,
    resolve_device,
)
from .baselines import MeanRegressor
from .datasets.inverted_sine import sample_inverted_sine
from .loop import Callback, History, minibatches, train_loop
from .mdn import _ACTIVATIONS, MDN, MDNEnsemble, check_network_size
from .recipes import Recipe, resolve_recipe
from .seeding import check_num_threads, derive_seed, seeded_init, torch_threads

__all__ = [
    "ARM_RECIPE",
    "DEFAULT_RECIPE",
    "FRESH_RECIPE",
    "RECIPES",
    "SEED_RECIPE",
    "SMALL_DATA",
    "SMALL_RECIPE",
    "MDNRecipe",
    "fit_mdn",
    "fit_mdn_ensemble",
    "fit_mean_regression",
]


@dataclass(frozen=True, kw_only=True)
class MDNRecipe(Recipe):
    """Everything `fit_mdn` needs besides data, seed and device (see `Recipe`
    for the shared fields).

    weight_decay: AdamW's decoupled weight decay. x_jitter, y_jitter: sd of
    the N(0, jitter²) noise added to x and y at every step (noise
    regularisation), in standardised units: multiples of the training data's
    sd (per feature for x). val_fraction: the share of the training data held
    out, by a seeded random split, for validation when no x_val, y_val are
    given (0: none). patience: with validation data, stop after this many
    evaluations without improvement and keep the best weights. refit: after a
    run on the automatic split, train again on all the data for the number of
    steps validation chose. n_components: one number, or a tuple of
    candidates chosen among on validation. n_hidden, n_layers, activation: the
    rest of the network (`MDN`).
    """

    steps: int = 3000
    batch_size: int | None = None
    lr: float = 1e-2
    weight_decay: float = 0.0
    x_jitter: float = 0.04
    y_jitter: float = 0.016
    val_fraction: float = 0.0
    patience: int | None = None
    refit: bool = False
    n_components: int | tuple[int, ...] = 15
    n_hidden: int = 32
    n_layers: int = 2
    activation: str = "tanh"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_real("weight_decay", self.weight_decay, minimum=0.0)
        check_real("x_jitter", self.x_jitter, minimum=0.0)
        check_real("y_jitter", self.y_jitter, minimum=0.0)
        check_real("val_fraction", self.val_fraction, minimum=0.0)
        if self.val_fraction >= 1:
            raise ValueError(f"val_fraction must be < 1 (a share of the training data), got {self.val_fraction}")
        if self.patience is not None:
            check_positive_int("patience", self.patience)
        check_bool("refit", self.refit)
        ks = self.n_components
        if isinstance(ks, (list, tuple)):
            if not ks:
                raise ValueError("n_components must be an int or a non-empty tuple of ints, got an empty one")
            object.__setattr__(self, "n_components", tuple(ks))  # a list (from JSON, say) becomes a tuple
            if len(ks) == 1:
                object.__setattr__(self, "n_components", ks[0])
        for k in self.n_components if isinstance(self.n_components, tuple) else (self.n_components,):
            check_network_size(1, self.n_hidden, k, self.n_layers, what="the recipe's MDN")
        if not isinstance(self.activation, str) or self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")

    def network(self) -> dict:
        """The `MDN` constructor's arguments for this recipe's network (n_components:
        the first candidate where there are several)."""
        k = self.n_components[0] if isinstance(self.n_components, tuple) else self.n_components
        return dict(n_hidden=self.n_hidden, n_components=k, n_layers=self.n_layers, activation=self.activation)


#: For 1000 points or more (the inverted sine's 1000): 3000 full-batch steps,
#: lr 1e-2 with cosine decay, jitter 0.04 sd on x and 0.016 sd on y (0.25 and
#: 0.1 in the inverted sine's units), no validation split; 32-32 tanh body, 15
#: components.
DEFAULT_RECIPE = MDNRecipe(name="default")

#: For fewer than SMALL_DATA points: the default network and schedule, but 20 %
#: of the data held out for validation, early stopping after 10 evaluations
#: (1000 steps) without improvement with the best weights kept, and more
#: jitter (0.2 sd on x and on y: 5x the default's on x, 12.5x on y). On the
#: Palmer penguins (250 birds, bill length → bill depth) this took the
#: held-out NLL from 2.77 to 1.83 nats; see benchmarks/RESULTS.md.
SMALL_RECIPE = MDNRecipe(name="small", val_fraction=0.2, patience=10, x_jitter=0.2, y_jitter=0.2)

#: recipe="auto" (the trainers' default) picks "small" below this many training
#: points and "default" from it up.
SMALL_DATA = 500

#: Fresh draws of the data set every step (no jitter needed: no point is seen
#: twice); batch 1024, 2500 steps, 48 hidden units, 20 components.
FRESH_RECIPE = MDNRecipe(
    name="fresh", fresh=True, batch_size=1024, steps=2500, x_jitter=0.0, y_jitter=0.0, n_hidden=48, n_components=20
)

#: The seed notebook's schedule: one tanh layer of 32, 20 components, Adam at
#: a constant 1e-3, batches of 32 read in order (1000 points: 31 batches of 32
#: and one of 8 an epoch), 2000 epochs = 64,000 steps, no jitter.
SEED_RECIPE = MDNRecipe(
    name="seed",
    steps=64_000,
    batch_size=32,
    shuffle=False,
    lr=1e-3,
    schedule="constant",
    x_jitter=0.0,
    y_jitter=0.0,
    n_layers=1,
    n_hidden=32,
    n_components=20,
    eval_every=320,
)

#: Bishop's robot arm (`datasets.robot_arm`, two outputs θ given the end
#: effector's x): minibatches of 512 from 10,000+ points, 5000 steps, lr 5e-3
#: with cosine decay, no jitter (the noise is in the data), a 64-64-64 tanh
#: body and 6 full-covariance components; ~10 s on one CPU core.
ARM_RECIPE = MDNRecipe(
    name="arm",
    steps=5000,
    batch_size=512,
    lr=5e-3,
    x_jitter=0.0,
    y_jitter=0.0,
    n_hidden=64,
    n_layers=3,
    n_components=6,
)

RECIPES: dict[str, MDNRecipe] = {
    r.name: r for r in (DEFAULT_RECIPE, SMALL_RECIPE, FRESH_RECIPE, SEED_RECIPE, ARM_RECIPE)
}


def _location_scale(name: str, t: Tensor) -> tuple[float, float]:
    """Mean and sd of a 1-d t (sd at least 1e-6), in float64 where float32
    overflows; a ValueError naming `name` if the sd does not fit float32."""
    loc, scale = float(t.mean()), float(t.std().clamp_min(1e-6))
    if not (math.isfinite(loc) and math.isfinite(scale)):
        t = t.double()
        loc, scale = float(t.mean()), max(float(t.std()), 1e-6)
    if scale > FLOAT32_MAX:
        raise ValueError(
            f"{name} is spread too widely to standardise in float32 (sd {scale:.4g}, more than "
            f"{FLOAT32_MAX:.4g}); rescale it"
        )
    return loc, scale


def _standardisation(x: Tensor, y: Tensor) -> dict:
    """Mean and sd of y, and of x feature by feature: x (n,) or (n, 1) gives
    one number each, x (n, d) lists of d numbers (sd at least 1e-6). Where
    float32 overflows (data near ±3.4e38) they are recomputed in float64; a
    ValueError naming x (or x[:, j]) or y if an sd itself does not fit float32."""
    out: dict[str, float | list[float]] = {}
    if x.dim() == 2 and x.shape[1] > 1:
        cols = [_location_scale(f"x[:, {j}]", x[:, j]) for j in range(x.shape[1])]
        out["x_loc"], out["x_scale"] = [c[0] for c in cols], [c[1] for c in cols]
    else:
        out["x_loc"], out["x_scale"] = _location_scale("x", x.reshape(-1))
    if y.dim() == 2:  # several outputs: one location and scale each
        cols = [_location_scale(f"y[:, {j}]", y[:, j]) for j in range(y.shape[1])]
        out["y_loc"], out["y_scale"] = [c[0] for c in cols], [c[1] for c in cols]
    else:
        out["y_loc"], out["y_scale"] = _location_scale("y", y)
    return out


def _checked_pair(
    x, y, x_name: str = "x", y_name: str = "y", n_in: int | None = None, *, multi_output: bool = True
) -> tuple[Tensor, Tensor]:
    """check_xy (x (n,) or (n, d), y (n,), or (n, d_out) with multi_output), and both representable
    in float32 (the models' dtype)."""
    x, y = check_xy(x, y, x_name, y_name, n_in=n_in, multi_output=multi_output)
    return check_float32_range(x_name, x), check_float32_range(y_name, y)


@functools.lru_cache(maxsize=1)
def _population_standardisation() -> tuple[tuple[str, float], ...]:
    """Location/scale of the data set itself, for runs that draw fresh data
    (a fixed draw of 100,000 points, so computed once per process)."""
    gen = torch.Generator().manual_seed(derive_seed(0, "population"))
    return tuple(_standardisation(*sample_inverted_sine(100_000, generator=gen)).items())


def _auto(recipe, x) -> str | MDNRecipe:
    """recipe, with "auto" made "small" (x of fewer than SMALL_DATA rows) or "default"."""
    if not (isinstance(recipe, str) and recipe == "auto"):
        return recipe
    return "small" if x is not None and check_inputs("x", x).shape[0] < SMALL_DATA else "default"


def _prepare(x, y, x_val, y_val, rec: MDNRecipe, device):
    """Checked data on the device, the validation pair, and the data regime."""
    dev = resolve_device(device)
    if rec.fresh:
        if x is not None or y is not None:
            raise ValueError("a fresh-draw recipe draws its own data: leave x and y as None")
        regime = f"fresh draws every step, {rec.batch_size} a step"
    else:
        if x is None or y is None:
            raise ValueError(
                "give the training data x (n,) or (n, d) and y (n,) or (n, d_out), "
                "or recipe='fresh' to draw new points each step"
            )
        x, y = _checked_pair(x, y)
        if x.shape[0] < 2:
            raise ValueError(f"x and y need at least 2 points to train on, got {x.shape[0]}")
        x, y = x.to(dev, torch.float32), y.to(dev, torch.float32)
        regime = f"a fixed training set of {x.shape[0]} points (given)"
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    val = None
    if x_val is not None:
        n_in = 1 if x is None else n_features(x)
        xv, yv = _checked_pair(x_val, y_val, "x_val", "y_val", n_in=n_in)
        val = (xv.to(dev, torch.float32), yv.to(dev, torch.float32))
    return dev, x, y, val, regime


def _split_off_validation(
    x: Tensor, y: Tensor, fraction: float, seed: int
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(x_train, y_train), (x_val, y_val): a seeded random `fraction` of the
    rows held out (at least 1, and at least 2 left to train on)."""
    n = x.shape[0]
    n_val = min(max(1, round(fraction * n)), n - 2)
    if n_val < 1:
        raise ValueError(f"val_fraction needs at least 3 points to split off a validation set, got {n}")
    gen = torch.Generator().manual_seed(derive_seed(seed, "validation split"))
    perm = torch.randperm(n, generator=gen).to(x.device)
    tr, va = perm[n_val:], perm[:n_val]
    return (x[tr], y[tr]), (x[va], y[va])


def _mdn_step(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    rec: MDNRecipe,
    x,
    y,
    dev: torch.device,
    seed: int,
    x_scale,
    y_scale: float | list[float],
) -> Callable[[int], dict]:
    """One optimiser step on the next batch (jittered): {"loss": its mean NLL}.

    The jitter is in standardised units: x_jitter · x_scale (per feature) and
    y_jitter · y_scale in data units."""
    gen = torch.Generator(device=dev).manual_seed(derive_seed(seed, "batches"))
    if rec.fresh:
        batch_size = rec.batch_size
        assert batch_size is not None  # a fresh-draw recipe has one (Recipe checks)

        def batch() -> tuple[Tensor, ...]:
            return sample_inverted_sine(batch_size, generator=gen, device=dev)
    else:
        batch = minibatches((x, y), rec.batch_size, shuffle=rec.shuffle, generator=gen)
    x_sd = rec.x_jitter * torch.as_tensor(x_scale, dtype=torch.float32, device=dev)
    # one output: a Python float, as it always was (the same float32 rounding, so the same runs)
    y_sd = (
        rec.y_jitter * y_scale
        if not isinstance(y_scale, list)
        else torch.tensor([rec.y_jitter * s for s in y_scale], dtype=torch.float32, device=dev)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=rec.lr, weight_decay=rec.weight_decay)
    sched = rec.scheduler(opt)

    def step(i: int) -> dict:
        xb, yb = batch()
        if rec.x_jitter > 0:
            xb = xb + x_sd * torch.randn(xb.shape, generator=gen, device=dev)
        if rec.y_jitter > 0:
            yb = yb + y_sd * torch.randn(yb.shape, generator=gen, device=dev)
        loss = loss_fn(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    return step


def _fit(
    model,
    loss_fn,
    rec: MDNRecipe,
    x,
    y,
    val,
    dev,
    regime: str,
    scaling: dict,
    *,
    seed,
    progress,
    callback,
    num_threads,
    desc: str,
    steps: int | None = None,
) -> History:
    """Train `model` (an MDN or an ensemble) with `rec` on the one loop, for
    rec.steps (or `steps`, with the schedule still planned over rec.steps)."""

    def evaluate(done: int) -> dict:
        return {"val_nll": float(model.nll(*val).mean())}

    hist = History(recipe=dataclasses.asdict(rec), data=regime)
    model.train()
    with torch_threads(num_threads):
        train_loop(
            _mdn_step(model, loss_fn, rec, x, y, dev, seed, scaling["x_scale"], scaling["y_scale"]),
            model,
            hist,
            steps=rec.steps if steps is None else steps,
            eval_every=rec.eval_every,
            evaluate=evaluate if val is not None else None,
            monitor="val_nll" if val is not None else None,
            patience=rec.patience if val is not None else None,
            callback=callback,
            progress=progress,
            desc=desc,
            show="loss",
        )
    model.eval()
    return hist


def _build(
    rec: MDNRecipe, n_in: int, n_components: int, scaling: dict, n_members: int | None, seed: int, dev: torch.device
) -> tuple[MDN | MDNEnsemble, Callable[[Tensor, Tensor], Tensor]]:
    """The model to train and its loss: one MDN, or an ensemble of n_members (None: one MDN)."""

    def mdn(m: int) -> MDN:
        with seeded_init(derive_seed(seed, f"init/{m}")):
            n_out = len(scaling["y_scale"]) if isinstance(scaling["y_scale"], list) else 1
            return MDN(n_in, **(rec.network() | {"n_components": n_components}), **scaling, n_out=n_out).to(dev)

    if n_members is None:
        model = mdn(0)
        return model, model
    ens = MDNEnsemble([mdn(m) for m in range(n_members)])

    def loss_fn(xb: Tensor, yb: Tensor) -> Tensor:
        # a sum of n_members >= 1 tensors is a tensor (sum's start, 0, only when there are none)
        return cast(Tensor, sum(cast(MDN, m).nll(xb, yb).mean() for m in ens.members)) / n_members

    return ens, loss_fn


def _train(
    x,
    y,
    x_val,
    y_val,
    rec: MDNRecipe,
    *,
    n_members: int | None,
    seed,
    device,
    progress,
    callback,
    num_threads,
    desc: str,
):
    """fit_mdn and fit_mdn_ensemble: validation split, choice of n_components, refit."""
    dev, x, y, val, regime = _prepare(x, y, x_val, y_val, rec, device)
    if rec.patience is not None and val is None and (rec.fresh or rec.val_fraction == 0):
        raise ValueError("patience (early stopping) needs validation data: x_val, y_val, or val_fraction > 0")
    x_all, y_all, auto = x, y, False
    if val is None and not rec.fresh and rec.val_fraction > 0:
        (x, y), val = _split_off_validation(x, y, rec.val_fraction, seed)
        auto = True
        regime = (
            f"a fixed training set of {x_all.shape[0]} points (given): {x.shape[0]} trained on, "
            f"{val[0].shape[0]} held out for validation (val_fraction {rec.val_fraction})"
        )
    n_in = 1 if rec.fresh else n_features(x)
    scaling = dict(_population_standardisation()) if rec.fresh else _standardisation(x, y)
    candidates = rec.n_components if isinstance(rec.n_components, tuple) else (rec.n_components,)
    if len(candidates) > 1 and val is None:
        raise ValueError("choosing n_components among several needs validation data: x_val, y_val, or val_fraction > 0")
    runs = []
    for k in candidates:
        model, loss_fn = _build(rec, n_in, k, scaling, n_members, seed, dev)
        kdesc = desc if len(candidates) == 1 else f"{desc}, {k} components"
        hist = _fit(
            model,
            loss_fn,
            rec,
            x,
            y,
            val,
            dev,
            regime,
            scaling,
            seed=seed,
            progress=progress,
            callback=callback,
            num_threads=num_threads,
            desc=kdesc,
        )
        score = min(hist["val_nll"]) if hist.weights == "best" else (hist["val_nll"][-1] if val else math.nan)
        runs.append((score, k, model, hist))
    score, k, model, hist = min(runs, key=lambda r: (r[0], r[1])) if val is not None else runs[0]
    if len(candidates) > 1:
        hist.recipe["n_components"] = k
        hist.selection = {"n_components": [r[1] for r in runs], "val_nll": [r[0] for r in runs], "chosen": k}
    if rec.refit and auto:
        found = hist.best_step if hist.weights == "best" else hist.steps
        used = dataclasses.replace(rec, n_components=k)
        scaling = _standardisation(x_all, y_all)
        model, loss_fn = _build(used, n_in, k, scaling, n_members, seed, dev)
        refit = _fit(
            model,
            loss_fn,
            used,
            x_all,
            y_all,
            None,
            dev,
            f"a fixed training set of {x_all.shape[0]} points (given): all of them, for the {found} steps "
            f"that validation on {val[0].shape[0]} held-out points chose",
            scaling,
            seed=seed,
            progress=progress,
            callback=callback,
            num_threads=num_threads,
            desc=f"{desc}, refit",
            steps=max(found, 1) if found else 0,
        )
        refit.recipe = hist.recipe
        refit.selection = hist.selection | {
            "steps": found,
            "validation_steps": hist.eval_steps,
            "validation_nll": hist["val_nll"],
        }
        hist = refit
    return model, hist


def fit_mdn(
    x: Tensor | None = None,
    y: Tensor | None = None,
    *,
    recipe: str | MDNRecipe = "auto",
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
    callback: Callback | None = None,
    num_threads: int | None = 1,
    **overrides: Any,
) -> tuple[MDN, History]:
    """Train an MDN for y given x; return the model (in eval mode) and its History.

    x: (n,) for one input feature or (n, d) for d; y: (n,), or (n, d_out) for an
    MDN with d_out outputs (leave both None
    with a fresh-draw recipe).
    recipe: "auto" (the default: "small" for fewer than SMALL_DATA = 500
    points, else "default"), a name in `RECIPES` or an `MDNRecipe`; any
    recipe field can be overridden here, e.g. ``fit_mdn(x, y, steps=500)``.
    x_val (m,) or (m, d), y_val (m,): scored as "val_nll" before training,
    every `eval_every` steps and after the last. Without them, the recipe's
    `val_fraction` of (x, y) is held out (a seeded split) and used the same
    way. With validation data and the recipe's `patience`, training stops
    early and the best weights are kept (history.weights says which were
    returned); a tuple of `n_components` is chosen among on validation
    (history.selection has the scores); `refit` then retrains on all of x, y
    for the steps validation chose. callback(step, history, model) runs at
    each evaluation. num_threads: CPU threads while training (see
    `seeding.torch_threads`: at most os.cpu_count()); None leaves torch's setting alone.
    Raises `TrainingDiverged` if the loss stops being finite.
    """
    check_num_threads(num_threads)
    rec = resolve_recipe(_auto(recipe, x), RECIPES, MDNRecipe, overrides)
    return _train(
        x,
        y,
        x_val,
        y_val,
        rec,
        n_members=None,
        seed=seed,
        device=device,
        progress=progress,
        callback=callback,
        num_threads=num_threads,
        desc="MDN",
    )


def fit_mdn_ensemble(
    x: Tensor | None = None,
    y: Tensor | None = None,
    *,
    n_members: int = 5,
    recipe: str | MDNRecipe = "auto",
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
    callback: Callback | None = None,
    num_threads: int | None = 1,
    **overrides: Any,
) -> tuple[MDNEnsemble, History]:
    """Train `n_members` MDNs from different inits, together, and return them as
    one mixture (an `MDNEnsemble`, weights 1/n_members each).

    Arguments as `fit_mdn`. The members are trained independently (the loss
    is the mean of their own NLLs, and Adam's updates are per parameter) but
    in one loop, on the same batches. history["loss"] is the members' mean NLL;
    "val_nll" (and early stopping) scores the whole ensemble.
    """
    check_positive_int("n_members", n_members, maximum=1000)
    check_num_threads(num_threads)
    rec = resolve_recipe(_auto(recipe, x), RECIPES, MDNRecipe, overrides)
    return _train(
        x,
        y,
        x_val,
        y_val,
        rec,
        n_members=n_members,
        seed=seed,
        device=device,
        progress=progress,
        callback=callback,
        num_threads=num_threads,
        desc=f"MDN ensemble ×{n_members}",
    )


def fit_mean_regression(
    x: Tensor,
    y: Tensor,
    *,
    seed: int = 0,
    steps: int = 1000,
    lr: float = 5e-3,
    n_hidden: int = 32,
    progress: bool = False,
    num_threads: int | None = 1,
) -> tuple[MeanRegressor, History]:
    """Least-squares regression of y (n,) on x (n,) or (n, d) (full batch, Adam,
    cosine decay): the model and its History (history["loss"]: the mean
    squared error per step)."""
    check_num_threads(num_threads)
    x, y = _checked_pair(x, y, multi_output=False)
    if x.shape[0] < 2:
        raise ValueError(f"x and y need at least 2 points to train on, got {x.shape[0]}")
    rec = Recipe(name="mean regression", steps=steps, batch_size=None, lr=lr)
    with seeded_init(derive_seed(seed, "init/0")):
        model = MeanRegressor(n_hidden, n_in=n_features(x), **_standardisation(x, y))
    opt = torch.optim.Adam(model.parameters(), lr=rec.lr)
    sched = rec.scheduler(opt)

    def step(i: int) -> dict:
        loss = torch.mean((model(x) - y) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    hist = History(
        recipe=dataclasses.asdict(rec) | {"n_hidden": n_hidden},
        data=f"a fixed training set of {x.shape[0]} points (given)",
    )
    with torch_threads(num_threads):
        train_loop(
            step,
            model,
            hist,
            steps=rec.steps,
            eval_every=rec.eval_every,
            progress=progress,
            desc="least squares",
            show="loss",
        )
    return model.eval(), hist
