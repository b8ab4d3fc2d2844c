"""Training loops: `fit_mdn` (one MDN), `fit_mdn_ensemble` (several, as one mixture).

The default recipe: full-batch AdamW with a cosine learning-rate decay, inputs
and targets standardised inside the model, 15 components. Every trainer takes
a `seed` and uses it through its own generators (and a forked global RNG for
weight init), so the same seed gives the same weights on the same machine and
the caller's random state is left alone.
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from ._checks import check_nonneg_int, check_positive_int, check_real, resolve_device
from .data import check_pair, sample_inverted_sine
from .mdn import MDN, MDNEnsemble, MeanRegressor


DEFAULT_X_JITTER = 0.25
DEFAULT_Y_JITTER = 0.1


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. `.model` holds the last weights whose
    loss was finite; `.history` what was recorded up to then."""

    def __init__(self, message: str, model: nn.Module, history: "History"):
        super().__init__(message)
        self.model = model
        self.history = history


@dataclass
class History:
    """What a training run recorded.

    train_loss[i] is the mean NLL of the batch at optimiser step i, as trained
    on, i.e. with its jitter (full batch: one epoch a step); val_nll[j] is the validation NLL after step val_step[j].
    """

    train_loss: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    seconds: float = 0.0
    best_step: int | None = None

    def as_dict(self) -> dict:
        return {
            "train_loss": list(self.train_loss), "val_step": list(self.val_step),
            "val_nll": list(self.val_nll), "seconds": self.seconds, "best_step": self.best_step,
        }


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Seed the global CPU RNG for weight init inside the block, then restore it."""
    # Only the CPU generator is seeded (models are built on the CPU, then
    # moved): torch.manual_seed would also reseed every CUDA generator.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` intra-op CPU threads (None: leave as is), then restore.

    These models are tiny (a 1000 × 32 matrix product is a few µs of work):
    extra threads add synchronisation and, when another process holds a core,
    spin-waiting that slowed training 50-fold in our measurements. One thread
    is the default of every trainer here.
    """
    if n is None:
        yield
        return
    check_positive_int("num_threads", n)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_progress(total: int, enabled: bool, desc: str):
    """A tqdm.auto bar (a widget in Jupyter, text elsewhere), or None."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=True, mininterval=0.5)


def _standardisation(x: Tensor, y: Tensor) -> dict:
    return dict(x_loc=float(x.mean()), x_scale=float(x.std().clamp_min(1e-6)),
                y_loc=float(y.mean()), y_scale=float(y.std().clamp_min(1e-6)))


@functools.lru_cache(maxsize=1)
def _population_standardisation() -> tuple[tuple[str, float], ...]:
    """Location/scale of the data set itself, for runs that draw fresh data
    (a fixed draw of 100,000 points, so computed once per process)."""
    x, y = sample_inverted_sine(100_000, generator=torch.Generator().manual_seed(0))
    return tuple(_standardisation(x, y).items())


BatchFn = Callable[[int], tuple[Tensor, Tensor]]


def _batches(x, y, *, batch_size, fresh, device, gen) -> BatchFn:
    """A function step → (x_batch, y_batch)."""
    if fresh:
        def fresh_batch(step: int) -> tuple[Tensor, Tensor]:
            return sample_inverted_sine(batch_size, generator=gen, device=device)
        return fresh_batch
    n = x.shape[0]
    if batch_size is None or batch_size >= n:
        return lambda step: (x, y)
    per_epoch = n // batch_size
    perm: list[Tensor] = []

    def minibatch(step: int) -> tuple[Tensor, Tensor]:
        i = step % per_epoch
        if i == 0:
            perm[:] = [torch.randperm(n, generator=gen, device=device)]
        idx = perm[0][i * batch_size:(i + 1) * batch_size]
        return x[idx], y[idx]
    return minibatch


def _run(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batch: BatchFn,
    *,
    steps: int,
    lr: float,
    weight_decay: float,
    x_jitter: float,
    y_jitter: float,
    gen: torch.Generator,
    val: tuple[Tensor, Tensor] | None,
    eval_every: int,
    patience: int | None,
    progress: bool,
    desc: str,
    callback: Callable[[int, History, nn.Module], None] | None,
) -> History:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    hist = History()
    last_good = [p.detach().clone() for p in params]
    best_state, best_val, since_best = None, math.inf, 0
    bar = make_progress(steps, progress, desc)
    t0 = time.perf_counter()
    try:
        for step in range(steps):
            xb, yb = batch(step)
            if x_jitter > 0:
                xb = xb + x_jitter * torch.randn(xb.shape, generator=gen, device=xb.device, dtype=xb.dtype)
            if y_jitter > 0:
                yb = yb + y_jitter * torch.randn(yb.shape, generator=gen, device=yb.device, dtype=yb.dtype)
            loss = loss_fn(xb, yb)
            value = loss.detach().item()
            if not math.isfinite(value):
                with torch.no_grad():
                    for p, s in zip(params, last_good):
                        p.copy_(s)
                hist.seconds = time.perf_counter() - t0
                raise TrainingDiverged(
                    f"training loss became {value} at step {step}; the model keeps the weights "
                    f"of step {step - 1}, the last with a finite loss", model, hist)
            with torch.no_grad():
                torch._foreach_copy_(last_good, [p.detach() for p in params])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            hist.train_loss.append(value)
            done = step + 1
            if val is not None and (done % eval_every == 0 or done == steps):
                with torch.no_grad():
                    v = float(model.nll(*val).mean())
                hist.val_step.append(done)
                hist.val_nll.append(v)
                if v < best_val:
                    best_val, since_best, hist.best_step = v, 0, done
                    if patience is not None:
                        best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
                else:
                    since_best += 1
                    if patience is not None and since_best >= patience:
                        break
            if bar is not None:
                bar.update(1)
                if done % 50 == 0 or done == steps:
                    bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            if callback is not None and (done % eval_every == 0 or done == steps):
                callback(done, hist, model)
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.seconds = time.perf_counter() - t0
    return hist


def _prepare(x, y, *, fresh: bool, batch_size, device, x_val, y_val):
    dev = resolve_device(device)
    if fresh:
        if x is not None or y is not None:
            raise ValueError("fresh=True draws its own data: leave x and y as None")
        if batch_size is None:
            raise ValueError("fresh=True needs a batch_size (points drawn per step)")
    else:
        if x is None or y is None:
            raise ValueError("give the training data x and y (n,), or fresh=True to draw new points each step")
        x, y = check_pair(x, y)
        if x.shape[0] < 2:
            raise ValueError(f"x and y need at least 2 points to train on, got {x.shape[0]}")
        x, y = x.to(dev, torch.float32), y.to(dev, torch.float32)
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    val = None
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    if x_val is not None:
        xv, yv = check_pair(x_val, y_val, "x_val", "y_val")
        val = (xv.to(dev, torch.float32), yv.to(dev, torch.float32))
    return dev, x, y, val


def _default_jitter(x_jitter, y_jitter, fresh: bool) -> tuple[float, float]:
    if x_jitter is None:
        x_jitter = 0.0 if fresh else DEFAULT_X_JITTER
    if y_jitter is None:
        y_jitter = 0.0 if fresh else DEFAULT_Y_JITTER
    return x_jitter, y_jitter


def _check_recipe(steps, lr, weight_decay, x_jitter, y_jitter, eval_every, patience, seed):
    check_nonneg_int("steps", steps)
    check_real("lr", lr, minimum=0.0, strict=True)
    check_real("weight_decay", weight_decay, minimum=0.0)
    check_real("x_jitter", x_jitter, minimum=0.0)
    check_real("y_jitter", y_jitter, minimum=0.0)
    check_positive_int("eval_every", eval_every)
    if patience is not None:
        check_positive_int("patience", patience)
    check_nonneg_int("seed", seed)


def _setup(x, y, x_val, y_val, *, fresh, batch_size, device, steps, lr, weight_decay, x_jitter, y_jitter,
           eval_every, patience, seed):
    """The trainers' shared preamble: checked arguments, data on the device,
    the model's standardisation and the jitter defaults."""
    x_jitter, y_jitter = _default_jitter(x_jitter, y_jitter, fresh)
    _check_recipe(steps, lr, weight_decay, x_jitter, y_jitter, eval_every, patience, seed)
    dev, x, y, val = _prepare(x, y, fresh=fresh, batch_size=batch_size, device=device, x_val=x_val, y_val=y_val)
    scaling = dict(_population_standardisation()) if fresh else _standardisation(x, y)
    return dev, x, y, val, scaling, x_jitter, y_jitter


def fit_mdn(
    x: Tensor | None = None,
    y: Tensor | None = None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    steps: int = 3000,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    x_jitter: float | None = None,
    y_jitter: float | None = None,
    fresh: bool = False,
    n_components: int = 15,
    n_hidden: int = 32,
    n_layers: int = 2,
    activation: str = "tanh",
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
    eval_every: int = 100,
    patience: int | None = None,
    callback: Callable[[int, History, nn.Module], None] | None = None,
    num_threads: int | None = 1,
) -> tuple[MDN, History]:
    """Train an MDN for y given x; return the model (in eval mode) and its History.

    x, y: (n,) training data. batch_size=None trains full-batch. fresh=True
    ignores x, y and draws `batch_size` new points of the data set each step.
    x_jitter, y_jitter add N(0, jitter²) noise to x and y each step (noise
    regularisation, in data units: it smooths the fit to a small data set);
    None means 0.25 and 0.1 on a fixed data set, 0 with fresh draws.
    x_val, y_val (m,): scored every `eval_every` steps; with `patience`, training stops after that many
    evaluations without improvement and keeps the best weights.
    callback(step, history, model) runs every `eval_every` steps.
    num_threads: CPU threads while training (see `torch_threads`); None leaves
    torch's setting alone.
    Raises TrainingDiverged if the loss stops being finite.
    """
    if patience is not None and x_val is None:
        raise ValueError("patience (early stopping) needs validation data x_val, y_val")
    dev, x, y, val, scaling, x_jitter, y_jitter = _setup(
        x, y, x_val, y_val, fresh=fresh, batch_size=batch_size, device=device, steps=steps, lr=lr,
        weight_decay=weight_decay, x_jitter=x_jitter, y_jitter=y_jitter, eval_every=eval_every,
        patience=patience, seed=seed)
    with seeded_init(seed):
        model = MDN(1, n_hidden, n_components, n_layers, activation=activation, **scaling).to(dev)
    gen = torch.Generator(device=dev).manual_seed(seed + 1)
    batch = _batches(x, y, batch_size=batch_size, fresh=fresh, device=dev, gen=gen)
    model.train()
    with torch_threads(num_threads):
        hist = _run(model, model, batch, steps=steps, lr=lr, weight_decay=weight_decay, x_jitter=x_jitter,
                    y_jitter=y_jitter, gen=gen, val=val, eval_every=eval_every, patience=patience,
                    progress=progress, desc="MDN", callback=callback)
    return model.eval(), hist


def fit_mdn_ensemble(
    x: Tensor | None = None,
    y: Tensor | None = None,
    *,
    n_members: int = 5,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    steps: int = 3000,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    x_jitter: float | None = None,
    y_jitter: float | None = None,
    fresh: bool = False,
    n_components: int = 15,
    n_hidden: int = 32,
    n_layers: int = 2,
    activation: str = "tanh",
    x_val: Tensor | None = None,
    y_val: Tensor | None = None,
    eval_every: int = 100,
    callback: Callable[[int, History, nn.Module], None] | None = None,
    num_threads: int | None = 1,
) -> tuple[MDNEnsemble, History]:
    """Train `n_members` MDNs from different inits, together, and return them as
    one mixture (an `MDNEnsemble`, weights 1/n_members each).

    The members are trained independently (the loss is the sum of their own
    NLLs, and Adam's updates are per parameter) but in one loop. History's
    train_loss is the members' mean NLL; val_nll scores the whole ensemble.
    """
    check_positive_int("n_members", n_members)
    dev, x, y, val, scaling, x_jitter, y_jitter = _setup(
        x, y, x_val, y_val, fresh=fresh, batch_size=batch_size, device=device, steps=steps, lr=lr,
        weight_decay=weight_decay, x_jitter=x_jitter, y_jitter=y_jitter, eval_every=eval_every,
        patience=None, seed=seed)
    members = []
    for m in range(n_members):
        with seeded_init(seed + 7919 * m):
            members.append(MDN(1, n_hidden, n_components, n_layers, activation=activation, **scaling).to(dev))
    ens = MDNEnsemble(members)

    def loss_fn(xb: Tensor, yb: Tensor) -> Tensor:
        return sum(m.nll(xb, yb).mean() for m in ens.members) / n_members

    gen = torch.Generator(device=dev).manual_seed(seed + 1)
    batch = _batches(x, y, batch_size=batch_size, fresh=fresh, device=dev, gen=gen)
    ens.train()
    with torch_threads(num_threads):
        hist = _run(ens, loss_fn, batch, steps=steps, lr=lr, weight_decay=weight_decay, x_jitter=x_jitter,
                    y_jitter=y_jitter, gen=gen, val=val, eval_every=eval_every, patience=None,
                    progress=progress, desc=f"MDN ensemble ×{n_members}", callback=callback)
    return ens.eval(), hist


def fit_mean_regression(
    x: Tensor,
    y: Tensor,
    *,
    seed: int = 0,
    steps: int = 1000,
    lr: float = 5e-3,
    n_hidden: int = 32,
    num_threads: int | None = 1,
) -> tuple[MeanRegressor, list[float]]:
    """Least-squares regression of y on x (full batch, Adam, cosine decay):
    the model and its per-step mean squared error."""
    x, y = check_pair(x, y)
    check_nonneg_int("steps", steps)
    check_nonneg_int("seed", seed)
    check_real("lr", lr, minimum=0.0, strict=True)
    with seeded_init(seed):
        model = MeanRegressor(n_hidden, **_standardisation(x, y))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    losses = []
    with torch_threads(num_threads):
        for _ in range(steps):
            loss = torch.mean((model(x) - y) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    return model.eval(), losses


@torch.no_grad()
def heldout_nll(model: nn.Module, x: Tensor, y: Tensor, chunk: int = 50_000) -> float:
    """Mean NLL (nats) of `model` on (x, y), in chunks to bound memory."""
    x, y = check_pair(x, y)
    check_positive_int("chunk", chunk)
    dev = next(model.parameters()).device
    total = 0.0
    for s in range(0, x.shape[0], chunk):
        total += float(model.nll(x[s:s + chunk].to(dev), y[s:s + chunk].to(dev)).sum())
    return total / x.shape[0]
