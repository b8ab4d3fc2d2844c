"""The one training loop (mdn_helpers/loop.py): evaluation schedule, callback,
early stopping, divergence rollback, History, recipes."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from mdn_helpers import plots
from mdn_helpers.loop import History, TrainingDiverged, train_loop
from mdn_helpers.recipes import Recipe, resolve_recipe


def quadratic(target: float = 3.0, lr: float = 0.1, nan_at: int | None = None, blow_up_at: int | None = None):
    """A one-weight model w and a step of gradient descent on (w − target)²."""
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    w = model.weight

    def step(i: int) -> dict:
        loss = ((w - target) ** 2).sum()
        loss.backward()
        with torch.no_grad():
            w.sub_(lr * w.grad)
            if blow_up_at == i:
                w.fill_(math.inf)
        w.grad = None
        return {"loss": loss * math.nan if nan_at == i else loss, "w": w.detach().sum()}

    return model, step


def test_evaluations_before_every_n_and_after_the_last_step_with_callbacks():
    model, step = quadratic()
    seen = []
    h = train_loop(
        step,
        model,
        History(),
        steps=25,
        eval_every=10,
        progress=False,
        evaluate=lambda done: {"w": float(model.weight.detach())},
        callback=lambda done, hist, m: seen.append((done, hist.steps, m is model)),
    )
    assert h.eval_steps == [0, 10, 20, 25]
    assert seen == [(0, 0, True), (10, 10, True), (20, 20, True), (25, 25, True)]
    assert h.steps == 25 and len(h["loss"]) == len(h["w"]) == 25
    assert h["w"][-1] == pytest.approx(3.0 * (1 - 0.8**25), rel=1e-5)  # closed form of the descent
    assert h.evals["w"][0] == 0.0 and h.seconds >= h.eval_seconds >= 0


def test_training_runs_with_gradients_even_inside_no_grad():
    model, step = quadratic()
    with torch.no_grad():
        h = train_loop(step, model, History(), steps=3, eval_every=10, progress=False)
    assert h.steps == 3


def test_a_nan_scalar_rolls_back_to_the_start_of_the_last_good_step():
    model, step = quadratic(nan_at=4)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 4") as info:
        train_loop(step, model, History(), steps=10, eval_every=100, progress=False)
    # start of step 3 = after 3 updates: w = 3 (1 − 0.8³)
    assert float(info.value.model.weight.detach()) == pytest.approx(3 * (1 - 0.8**3), rel=1e-6)
    assert info.value.history.steps == 4


def test_non_finite_weights_after_an_update_count_as_divergence():
    model, step = quadratic(blow_up_at=0)
    with pytest.raises(TrainingDiverged, match="weights became non-finite at step 0") as info:
        train_loop(step, model, History(), steps=5, eval_every=100, progress=False)
    assert float(info.value.model.weight.detach()) == 0.0  # the initial weights


def test_early_stopping_restores_the_best_and_says_so():
    model, step = quadratic()
    scores = iter([5.0, 4.0, 1.0, 2.0, 3.0, 4.0, 0.5])
    snapshots = {}

    def evaluate(done):
        snapshots[done] = float(model.weight.detach())
        return {"score": next(scores)}

    h = train_loop(
        step, model, History(), steps=60, eval_every=10, evaluate=evaluate, monitor="score", patience=3, progress=False
    )
    assert h.eval_steps == [0, 10, 20, 30, 40, 50] and h.stopped_early
    assert h.best_step == 20 and h.weights == "best"
    assert float(model.weight.detach()) == snapshots[20]
    # monitored without patience: the last weights, and the best step for information
    model, step = quadratic()
    scores = iter([5.0, 1.0, 2.0])
    h = train_loop(
        step,
        model,
        History(),
        steps=20,
        eval_every=10,
        evaluate=lambda d: {"score": next(scores)},
        monitor="score",
        progress=False,
    )
    assert h.best_step == 10 and h.weights == "last" and not h.stopped_early
    with pytest.raises(ValueError, match="patience"):
        train_loop(step, model, History(), steps=2, eval_every=1, patience=2, progress=False)


def test_progress_must_be_a_bool_and_off_means_silent(capsys):
    model, step = quadratic()
    with pytest.raises(TypeError, match="progress"):
        train_loop(step, model, History(), steps=2, eval_every=1, progress="no")
    train_loop(step, model, History(), steps=2, eval_every=1, progress=False)
    assert capsys.readouterr().err == ""
    train_loop(step, model, History(), steps=2, eval_every=1, progress=True, desc="quadratic")
    assert "quadratic" in capsys.readouterr().err


def test_history_lookup_and_an_empty_history_plots():
    h = History(per_step={"loss": [1.0, 0.5]}, eval_steps=[0, 2], evals={"val_nll": [2.0, 1.0]})
    assert h["loss"] == [1.0, 0.5] and h["val_nll"] == [2.0, 1.0] and h.steps == 2
    with pytest.raises(KeyError, match="recorded"):
        h["energy"]
    fig = plots.plot_loss(History(), bayes=0.0)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo <= 0.0 <= hi  # the Bayes line at 0 is on the axes
    assert ax.get_xlabel() == "step" and ax.get_title()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_recipes_check_their_fields_and_overrides():
    base = Recipe(steps=10, batch_size=None, lr=0.1)
    assert resolve_recipe(base, {}, Recipe, {"steps": 3}).steps == 3
    with pytest.raises(TypeError, match="unknown recipe field"):
        resolve_recipe(base, {}, Recipe, {"setps": 3})
    with pytest.raises(ValueError, match="recipe"):
        resolve_recipe("nope", {"a": base}, Recipe, {})
    for bad, exc in (
        (dict(lr=0.0), ValueError),
        (dict(fresh=1), TypeError),
        (dict(lr_drops=5), TypeError),
        (dict(lr_drops=(0,)), ValueError),
        (dict(schedule="cos"), ValueError),
        (dict(fresh=True, batch_size=None), ValueError),
        (dict(eval_every=0), ValueError),
    ):
        with pytest.raises(exc):
            dataclasses.replace(base, **bad)


def test_callbacks_that_are_not_functions_are_refused_by_name():
    model, step = quadratic()
    with pytest.raises(TypeError, match="callback must be a function"):
        train_loop(step, model, History(), steps=2, eval_every=1, progress=False, callback="print")
    with pytest.raises(TypeError, match="evaluate must be a function"):
        train_loop(step, model, History(), steps=2, eval_every=1, progress=False, evaluate={"w": 1.0})
    assert float(model.weight.detach()) == 0.0  # nothing ran


def test_a_recorded_recipe_round_trips_through_json():
    import json

    from mdn_helpers.slogan_train import DEFAULT_RECIPE, SEED_RECIPE, SloganRecipe
    from mdn_helpers.train import RECIPES, MDNRecipe

    for rec in (DEFAULT_RECIPE, SEED_RECIPE, *RECIPES.values()):
        back = type(rec)(**json.loads(json.dumps(dataclasses.asdict(rec))))  # lists come back as tuples
        assert back == rec and isinstance(back, (SloganRecipe, MDNRecipe))
    assert Recipe(steps=1, batch_size=None, lr=0.1, lr_drops=[5]).lr_drops == (5,)


def test_a_monitor_needs_an_evaluation():
    model, step = quadratic()
    with pytest.raises(ValueError, match="monitor"):
        train_loop(step, model, History(), steps=2, eval_every=1, monitor="score", progress=False)
