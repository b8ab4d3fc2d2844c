"""The one training loop every trainer runs on (`train_loop`) and its `History`.
Recipes are in `recipes`; seeds and threads in `seeding`.

A trainer supplies a *step function* (one optimiser step; returns its scalars
as 0-d tensors) and an *evaluation* (scores the model; returns floats). The
loop owns the rest: the progress bar, timing, evaluation before the first step,
every `eval_every` steps and after the last, the callback, early stopping,
and divergence (stop, roll the weights back to the start of the last step
whose scalars and updated weights were all finite, raise `TrainingDiverged`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ._checks import check_bool, check_nonneg_int, check_positive_int

StepFn = Callable[[int], Mapping[str, Tensor]]
EvalFn = Callable[[int], Mapping[str, float]]
Callback = Callable[[int, "History", nn.Module], None]


# ---------------------------------------------------------------------------
# History and divergence
# ---------------------------------------------------------------------------


@dataclass
class History:
    """What a training run recorded.

    per_step[name][i]: a scalar of optimiser step i + 1 (e.g. "loss");
    evals[name][j]: a score taken after eval_steps[j] steps (0: before
    training). h["name"] looks in both. seconds: the whole run; eval_seconds:
    the part spent evaluating. best_step: the evaluation step with the lowest
    monitored score (None without one); weights: which weights the model was
    returned with, "last" or "best" (those of best_step). recipe: the recipe's
    fields as used; data: the data regime. selection: what a trainer chose on
    validation data, and the scores it chose by (empty if nothing was chosen).
    """

    recipe: dict = field(default_factory=dict)
    data: str = ""
    per_step: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    eval_seconds: float = 0.0
    best_step: int | None = None
    weights: str = "last"
    stopped_early: bool = False
    selection: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[float]:
        if name in self.per_step:
            return self.per_step[name]
        if name in self.evals:
            return self.evals[name]
        raise KeyError(f"no series {name!r}; recorded: {sorted(self.per_step) + sorted(self.evals)}")

    @property
    def steps(self) -> int:
        """Optimiser steps recorded."""
        return max((len(v) for v in self.per_step.values()), default=0)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class TrainingDiverged(RuntimeError):
    """A training scalar (or a weight) became NaN or infinite. `.model` holds
    the weights from the start of the last good step; `.history` what was
    recorded up to then."""

    def __init__(self, message: str, model: nn.Module, history: History) -> None:
        super().__init__(message)
        self.model = model
        self.history = history


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


def minibatches(
    tensors: Sequence[Tensor], batch_size: int | None, *, shuffle: bool, generator: torch.Generator
) -> Callable[[], tuple[Tensor, ...]]:
    """A function returning the next batch of rows of `tensors` (same first dim n).

    Passes over the rows, reshuffled each pass (or in order); the last batch of
    a pass may be short. batch_size None or ≥ n: all rows every time.
    """
    n = tensors[0].shape[0]
    if batch_size is None or batch_size >= n:
        return lambda: tuple(tensors)
    order: list[Tensor] = []
    pos = [n]

    def next_batch() -> tuple[Tensor, ...]:
        if pos[0] >= n:
            dev = tensors[0].device
            order[:] = [torch.randperm(n, generator=generator, device=dev) if shuffle else torch.arange(n, device=dev)]
            pos[0] = 0
        idx = order[0][pos[0] : pos[0] + batch_size]
        pos[0] += batch_size
        return tuple(t[idx] for t in tensors)

    return next_batch


class _Rollback:
    """Weights at the start of the current and of the last good step (two buffers)."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        self.params = [p for m in modules for p in m.parameters()]
        self.prev = [p.detach().clone() for p in self.params]  # start of the last good step
        self.cur = [p.detach().clone() for p in self.params]

    def begin(self) -> None:
        _copy(self.cur, self.params)

    def commit(self) -> None:
        self.prev, self.cur = self.cur, self.prev

    def restore(self) -> None:
        _copy(self.params, self.prev)

    def finite(self) -> Tensor:
        """1.0 if every weight is finite, else 0.0 (a 0-d tensor: read with the step's scalars).

        From each tensor's min and max, which are NaN or ±inf exactly when it
        holds a NaN or an infinity (a tenth of the cost of isfinite here).
        """
        ends = [t for p in self.params if p.numel() for t in torch.aminmax(p.detach())]
        return torch.isfinite(torch.stack(ends)).all().float() if ends else torch.ones(())


def _copy(dst: Sequence[Tensor], src: Sequence[Tensor]) -> None:
    with torch.no_grad():
        for d, s in zip(dst, src, strict=True):
            d.copy_(s)


class _Monitor:
    """Early-stopping state: the lowest monitored score, its weights, evaluations since."""

    def __init__(self, model: nn.Module, name: str | None, patience: int | None) -> None:
        if patience is not None:
            check_positive_int("patience", patience)
            if name is None:
                raise ValueError("patience (early stopping) needs a monitored evaluation")
        self.model, self.name, self.patience = model, name, patience
        self.best, self.since = math.inf, 0
        self.state: dict[str, Tensor] | None = None

    def update(self, scores: Mapping[str, float], done: int, history: History) -> bool:
        """Record an evaluation; True when it is time to stop."""
        if self.name is None:
            return False
        if scores[self.name] < self.best:
            self.best, self.since, history.best_step = scores[self.name], 0, done
            if self.patience is not None:
                self.state = {k: t.detach().clone() for k, t in self.model.state_dict().items()}
        else:
            self.since += 1
        return self.patience is not None and self.since >= self.patience

    def restore_best(self, history: History) -> None:
        if self.state is not None:
            self.model.load_state_dict(self.state)
            history.weights = "best"


def _evaluate(
    done: int, history: History, evaluate: EvalFn | None, monitor: _Monitor, callback: Callback | None, model: nn.Module
) -> bool:
    """Evaluate after `done` steps, record, call back; True when early stopping says stop."""
    stop = False
    if evaluate is not None:
        t1 = time.perf_counter()
        with torch.no_grad():
            scores = {k: float(v) for k, v in evaluate(done).items()}
        history.eval_seconds += time.perf_counter() - t1
        history.eval_steps.append(done)
        for k, v in scores.items():
            history.evals.setdefault(k, []).append(v)
        stop = monitor.update(scores, done, history)
    if callback is not None:
        callback(done, history, model)
    return stop


def train_loop(
    step_fn: StepFn,
    model: nn.Module,
    history: History,
    *,
    steps: int,
    eval_every: int,
    evaluate: EvalFn | None = None,
    monitor: str | None = None,
    patience: int | None = None,
    rollback: Sequence[nn.Module] | None = None,
    callback: Callback | None = None,
    progress: bool = True,
    desc: str = "training",
    show: str | None = None,
) -> History:
    """Run `steps` calls of step_fn(step) (step 0-based) and fill `history`.

    step_fn returns its scalars {name: 0-d tensor}; they are read once per step
    (one host sync) into history.per_step, and `show` names the one on the bar.
    evaluate(done) → {name: float} runs without gradients before the first
    step, every `eval_every` steps and after the last; callback(done, history,
    model) follows each. With `monitor` (an evaluation's name, lower is
    better) the best step is tracked; with `patience` too, training stops after
    that many evaluations without improvement and `model` gets the best weights.
    Divergence: if a scalar of step s is not finite, or its update leaves a
    weight of `rollback` (default [model]) that is not, those weights go back
    to the start of step s − 1, the last good step (the initial weights if s
    is 0), and TrainingDiverged is raised carrying `model` and `history`.
    """
    check_nonneg_int("steps", steps)
    check_positive_int("eval_every", eval_every)
    check_bool("progress", progress)
    for name, fn in (("step_fn", step_fn), ("evaluate", evaluate), ("callback", callback)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a function, got {type(fn).__name__} {fn!r}")
    from tqdm.auto import tqdm

    if monitor is not None and evaluate is None:
        raise ValueError(f"monitor={monitor!r} needs an evaluate function that returns it")
    best = _Monitor(model, monitor, patience)
    weights = _Rollback(rollback if rollback is not None else [model])
    t0 = time.perf_counter()

    def diverged(what: str) -> TrainingDiverged:
        weights.restore()
        history.seconds = time.perf_counter() - t0
        return TrainingDiverged(
            f"{what}; the weights are set back to those at the start of the last good "
            "step, the last whose scalars and updated weights were all finite",
            model,
            history,
        )

    with tqdm(total=steps, desc=desc, mininterval=0.5, disable=not progress) as bar, torch.enable_grad():
        stop = _evaluate(0, history, evaluate, best, callback, model)
        for step in range(steps):
            if stop:
                history.stopped_early = True
                break
            weights.begin()
            out = step_fn(step)
            read = torch.stack([*(v.detach().float().reshape(()) for v in out.values()), weights.finite()]).tolist()
            values = dict(zip(out, read[:-1], strict=True))  # read[-1]: the weights-finite flag
            bad = [f"{k} became {v}" for k, v in values.items() if not math.isfinite(v)]
            if not read[-1]:
                bad.append("the weights became non-finite")
            if bad:
                raise diverged(f"{', '.join(bad)} at step {step}")
            weights.commit()
            for k, v in values.items():
                history.per_step.setdefault(k, []).append(v)
            done = step + 1
            bar.update(1)
            if show is not None and (done % 50 == 0 or done == steps):
                bar.set_postfix({show: f"{values[show]:.3f}"}, refresh=False)
            if done % eval_every == 0 or done == steps:
                stop = _evaluate(done, history, evaluate, best, callback, model)
    best.restore_best(history)
    history.seconds = time.perf_counter() - t0
    return history
