"""The trainers: they lower the NLL, are reproducible, stop cleanly on NaN and
reject bad arguments; the default recipe reaches its quality bar."""

import dataclasses
import math

import pytest
import torch

from mdn_helpers.datasets.inverted_sine import bayes_nll, make_splits, seeded_sample
from mdn_helpers.loop import TrainingDiverged
from mdn_helpers.mdn import MDN, MDNEnsemble
from mdn_helpers.metrics import heldout_nll
from mdn_helpers.train import DEFAULT_RECIPE, RECIPES, fit_mdn, fit_mdn_ensemble, fit_mean_regression


@pytest.fixture(scope="module")
def data():
    return seeded_sample(400, 0), seeded_sample(5000, 999)


@pytest.mark.slow
def test_training_lowers_nll(data):
    (x, y), (xt, yt) = data
    # the "default" preset (400 points would get "small": it has its own test)
    untrained, _ = fit_mdn(x, y, recipe="default", steps=0, progress=False)
    model, hist = fit_mdn(
        x, y, recipe="default", steps=300, progress=False, x_val=xt[:1000], y_val=yt[:1000], eval_every=100
    )
    before, after = heldout_nll(untrained, xt, yt), heldout_nll(model, xt, yt)
    assert after < before - 1.0, (before, after)
    assert hist.steps == len(hist["loss"]) == 300
    assert hist["loss"][-1] < hist["loss"][0] - 1.0
    assert hist.eval_steps == [0, 100, 200, 300] and len(hist["val_nll"]) == 4
    assert hist["val_nll"][-1] < hist["val_nll"][0]
    # the evaluation at step 0 is the untrained model's
    assert hist["val_nll"][0] == pytest.approx(heldout_nll(untrained, xt[:1000], yt[:1000]), abs=1e-5)
    assert isinstance(model, MDN) and not model.training
    assert hist.weights == "last" and hist.recipe["steps"] == 300 and hist.recipe["name"] == "default"


def test_same_seed_same_weights_and_global_rng_untouched(data):
    (x, y), _ = data
    state = torch.random.get_rng_state()
    a, ha = fit_mdn(x, y, steps=50, seed=7, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    b, hb = fit_mdn(x, y, steps=50, seed=7, progress=False)
    c, _ = fit_mdn(x, y, steps=50, seed=8, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert ha["loss"] == hb["loss"]
    assert not torch.equal(a.head.lin.weight, c.head.lin.weight)


@pytest.mark.slow
def test_minibatches_fresh_draws_and_callback(data):
    (x, y), (xt, yt) = data
    calls = []
    _, hist = fit_mdn(
        x,
        y,
        steps=40,
        batch_size=64,
        progress=False,
        eval_every=20,
        callback=lambda step, h, m: calls.append((step, h.steps)),
    )
    assert calls == [(0, 0), (20, 20), (40, 40)]
    model, hist = fit_mdn(recipe="fresh", batch_size=256, steps=300, progress=False)
    assert heldout_nll(model, xt, yt) < 2.2
    assert hist.data.startswith("fresh draws")


def test_early_stopping_keeps_best(data):
    (x, y), (xt, yt) = data
    model, hist = fit_mdn(
        x, y, steps=400, lr=0.05, progress=False, x_val=xt[:500], y_val=yt[:500], eval_every=10, patience=2
    )
    assert hist.best_step is not None and hist.weights == "best"
    best = min(hist["val_nll"])
    assert heldout_nll(model, xt[:500], yt[:500]) == pytest.approx(best, abs=1e-5)
    # without patience the last weights come back, and the History says so
    last, h2 = fit_mdn(
        x, y, recipe="default", steps=40, lr=0.05, progress=False, x_val=xt[:500], y_val=yt[:500], eval_every=10
    )
    assert h2.weights == "last" and h2.best_step is not None
    assert heldout_nll(last, xt[:500], yt[:500]) == pytest.approx(h2["val_nll"][-1], abs=1e-5)


def test_nan_loss_stops_with_step_and_keeps_last_good_weights(data, monkeypatch):
    (x, y), _ = data
    real_nll = MDN.nll
    calls = {"n": 0}

    def flaky(self, xb, yb, *a, **k):
        out = real_nll(self, xb, yb, *a, **k)
        calls["n"] += 1
        return out * float("nan") if calls["n"] == 6 else out

    monkeypatch.setattr(MDN, "nll", flaky)
    with pytest.raises(TrainingDiverged, match=r"loss became nan.* at step 5") as info:
        fit_mdn(x, y, recipe="default", steps=20, progress=False)
    monkeypatch.setattr(MDN, "nll", real_nll)
    kept = info.value.model
    assert info.value.history.steps == 5
    # the weights kept are those step 4 saw (after 4 updates), the last whose
    # loss was finite: the same run, unpatched, shows them to a callback
    seen = {}
    fit_mdn(
        x,
        y,
        recipe="default",
        steps=20,
        progress=False,
        eval_every=4,
        callback=lambda step, h, m: seen.setdefault(step, {k: v.clone() for k, v in m.state_dict().items()}),
    )
    for k, v in kept.state_dict().items():
        assert torch.equal(v, seen[4][k]), k


@pytest.mark.slow
def test_ensemble_is_a_better_mixture(data):
    (x, y), (xt, yt) = data
    ens, _hist = fit_mdn_ensemble(x, y, n_members=3, steps=200, progress=False)
    assert isinstance(ens, MDNEnsemble) and len(ens.members) == 3
    assert ens.n_components == 3 * 15
    singles = [heldout_nll(m, xt, yt) for m in ens.members]
    # Jensen: the average mixture scores no worse than the members' mean score
    assert heldout_nll(ens, xt, yt) <= sum(singles) / 3 + 1e-6
    # members start from different weights
    assert not torch.equal(ens.members[0].head.lin.weight, ens.members[1].head.lin.weight)


@pytest.mark.slow
def test_default_recipe_quality():
    """The default single model on the seed's task (1000 points), held out on
    100,000 fresh points: the bar is 1.40 nats (Bayes limit ≈ 1.29)."""
    s = make_splits(1000, 10, 100_000, seed=0)
    model, _hist = fit_mdn(*s.train.tensors(), progress=False)
    nll = heldout_nll(model, *s.test.tensors())
    assert nll <= 1.40, nll
    assert nll >= bayes_nll() - 0.01  # nothing beats the Bayes limit


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(steps=-1), ValueError, "steps"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(n_components=0), ValueError, "n_components"),
        (dict(n_hidden=0), ValueError, "n_hidden"),
        (dict(x_jitter=-1.0), ValueError, "x_jitter"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(recipe="default", patience=3), ValueError, "patience"),
        (dict(device="tpu"), ValueError, "device"),
        (dict(x_val=torch.zeros(3)), ValueError, "x_val and y_val"),
        (dict(progress="no"), TypeError, "progress"),
        (dict(fresh="yes"), TypeError, "fresh"),
        (dict(shuffle="no"), TypeError, "shuffle"),
        (dict(schedule="linear"), ValueError, "schedule"),
        (dict(lr_drops=5), TypeError, "lr_drops"),
        (dict(recipe="best"), ValueError, "recipe"),
        (dict(stepz=3), TypeError, "unknown recipe field"),
        (dict(activation="gelu"), ValueError, "activation"),
    ],
)
def test_bad_training_arguments(data, kwargs, exc, match):
    (x, y), _ = data
    with pytest.raises(exc, match=match):
        fit_mdn(x, y, **{"steps": 1, "progress": False, **kwargs})


def test_bad_training_data():
    with pytest.raises(ValueError, match="x must be finite"):
        fit_mdn(torch.tensor([0.0, float("nan")]), torch.zeros(2), progress=False)
    with pytest.raises(ValueError, match="same length"):
        fit_mdn(torch.zeros(3), torch.zeros(4), progress=False)
    with pytest.raises(ValueError, match=r"x must be of shape \(n,\) or \(n, d\), got shape \(3, 2, 2\)"):
        fit_mdn(torch.zeros(3, 2, 2), torch.zeros(3), progress=False)
    with pytest.raises(ValueError, match=r"x_val must be of shape \(n, 2\), got shape \(3,\)"):
        fit_mdn(torch.zeros(3, 2), torch.zeros(3), x_val=torch.zeros(3), y_val=torch.zeros(3), progress=False)
    with pytest.raises(ValueError, match=r"y must be \(n,\) for one output or \(n, d_out\) with d_out >= 2, got shape"):
        fit_mdn(torch.zeros(3, 2), torch.zeros(3, 1), progress=False)
    with pytest.raises(ValueError, match="give the training data"):
        fit_mdn(progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit_mdn(recipe="fresh", batch_size=None, progress=False)
    with pytest.raises(ValueError, match="draws its own data"):
        fit_mdn(torch.zeros(3), torch.zeros(3), recipe="fresh", progress=False)
    with pytest.raises(ValueError, match="n_members"):
        fit_mdn_ensemble(torch.zeros(3), torch.zeros(3), n_members=0, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            fit_mdn(torch.zeros(3), torch.zeros(3), device="cuda", progress=False)


def test_seeding_leaves_the_cuda_generators_alone(data, monkeypatch):
    (x, y), _ = data
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda s: calls.append(("all", s)))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda s: calls.append(("one", s)))
    fit_mdn(x, y, steps=2, seed=7, progress=False)
    fit_mdn_ensemble(x, y, n_members=2, steps=2, seed=7, progress=False)
    assert calls == []


def test_early_stopping_stops_patience_evaluations_after_the_best(data):
    (x, y), (xt, yt) = data
    _, hist = fit_mdn(
        x, y, steps=3000, lr=0.05, progress=False, x_val=xt[:300], y_val=yt[:300], eval_every=10, patience=3
    )
    assert hist.stopped_early and hist.eval_steps[-1] < 3000, "the test needs a run that stops early"
    assert hist.eval_steps[-1] - hist.best_step == 3 * 10
    assert min(hist["val_nll"][-3:]) >= min(hist["val_nll"])


def test_one_point_is_refused_by_name():
    with pytest.raises(ValueError, match="at least 2 points"):
        fit_mdn(torch.zeros(1), torch.zeros(1), progress=False)


def test_the_stopping_evaluation_reaches_the_callback(data):
    (x, y), (xt, yt) = data
    seen = []
    _, hist = fit_mdn(
        x,
        y,
        steps=3000,
        lr=0.05,
        progress=False,
        x_val=xt[:300],
        y_val=yt[:300],
        eval_every=10,
        patience=3,
        callback=lambda step, h, m: seen.append(step),
    )
    assert hist.stopped_early
    assert seen == hist.eval_steps and seen[-1] == hist.steps


def test_ensemble_early_stopping_keeps_the_best_ensemble(data):
    (x, y), (xt, yt) = data
    ens, hist = fit_mdn_ensemble(
        x, y, n_members=2, steps=400, lr=0.05, progress=False, x_val=xt[:300], y_val=yt[:300], eval_every=10, patience=2
    )
    assert hist.weights == "best" and hist.best_step is not None
    assert heldout_nll(ens, xt[:300], yt[:300]) == pytest.approx(min(hist["val_nll"]), abs=1e-5)


def test_recipes_are_frozen_data_with_named_presets():
    assert set(RECIPES) == {"default", "small", "fresh", "seed", "arm"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_RECIPE.steps = 5
    # MDN()'s own defaults are the default recipe's network
    net = MDN().config
    assert {k: net[k] for k in DEFAULT_RECIPE.network()} == DEFAULT_RECIPE.network()
    seed = RECIPES["seed"]
    # the seed notebook: 2000 epochs of 1000 points in batches of 32 (32 batches an epoch), Adam 1e-3
    assert (seed.steps, seed.batch_size, seed.lr, seed.schedule, seed.shuffle) == (64_000, 32, 1e-3, "constant", False)
    assert (seed.n_layers, seed.n_hidden, seed.n_components) == (1, 32, 20)
    custom = dataclasses.replace(DEFAULT_RECIPE, name="mine", steps=7)
    _, hist = fit_mdn(*seeded_sample(50, 0), recipe=custom, progress=False)
    assert hist.steps == 7 and hist.recipe["name"] == "mine"


def test_the_seed_recipe_reads_batches_in_order_with_a_short_last_batch(monkeypatch):
    x, y = seeded_sample(100, 0)
    seen = []
    real = MDN.forward

    def spy(self, xb, yb):
        seen.append(xb.clone())
        return real(self, xb, yb)

    monkeypatch.setattr(MDN, "forward", spy)
    fit_mdn(x, y, recipe="seed", steps=5, progress=False)
    assert [len(b) for b in seen] == [32, 32, 32, 4, 32]
    assert torch.equal(torch.cat(seen[:4]), x) and torch.equal(seen[4], x[:32])


def test_the_step_schedule_divides_the_learning_rate(data):
    (x, y), _ = data
    lrs = []
    real = torch.optim.AdamW.step

    def spy(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return real(self, *a, **k)

    torch.optim.AdamW.step = spy
    try:
        fit_mdn(x, y, steps=6, lr=0.3, schedule="step", lr_drops=(2, 4), lr_factor=3.0, progress=False)
    finally:
        torch.optim.AdamW.step = real
    assert lrs == pytest.approx([0.3, 0.3, 0.1, 0.1, 0.1 / 3, 0.1 / 3])


def test_training_works_inside_no_grad(data):
    (x, y), _ = data
    with torch.no_grad():
        _model, hist = fit_mdn(x, y, steps=5, progress=False)
    assert hist.steps == 5


def test_more_threads_than_cores_are_refused_by_every_trainer(data):
    import os

    from mdn_helpers.train import fit_mean_regression

    (x, y), _ = data
    before = torch.get_num_threads()
    too_many = os.cpu_count() + 1
    for call in (
        lambda: fit_mdn(x, y, steps=3, num_threads=30_000, progress=False),
        lambda: fit_mdn_ensemble(x, y, n_members=2, steps=3, num_threads=too_many, progress=False),
        lambda: fit_mean_regression(x, y, steps=3, num_threads=too_many),
    ):
        with pytest.raises(ValueError, match="num_threads must be <="):
            call()
        assert torch.get_num_threads() == before


def test_data_float32_cannot_hold_is_refused_by_name_before_standardising():
    x64 = torch.tensor([1e39, 0.0, 1.0], dtype=torch.float64)
    ok = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x must be representable in float32 \(\|x\| <= 3.403e\+38\)"):
        fit_mdn(x64, ok, steps=1, progress=False)
    with pytest.raises(ValueError, match="y must be representable in float32"):
        fit_mdn(ok, -x64, steps=1, progress=False)
    with pytest.raises(ValueError, match="x_val must be representable in float32"):
        fit_mdn(ok + torch.arange(3.0), ok, steps=1, progress=False, x_val=x64, y_val=ok)
    from mdn_helpers.train import fit_mean_regression

    with pytest.raises(ValueError, match="x must be representable in float32"):
        fit_mean_regression(x64, ok, steps=1)
    # float32 data at the ends of its range: its sd does not fit float32
    with pytest.raises(ValueError, match="x is spread too widely to standardise in float32"):
        fit_mdn(torch.tensor([3.4e38, -3.4e38, 3e38]), torch.zeros(3), recipe="default", steps=1, progress=False)
    # but data near the top, whose float32 mean overflows, trains (recomputed in float64)
    x = torch.tensor([3.0e38, 3.1e38, 3.2e38, 3.3e38])
    model, hist = fit_mdn(x, torch.arange(4.0), recipe="default", steps=5, progress=False)
    assert float(model.x_loc) == pytest.approx(3.15e38, rel=1e-6)
    assert all(math.isfinite(v) for v in hist["loss"])


def test_recipe_networks_too_big_are_refused_before_training(data):
    (x, y), _ = data
    with pytest.raises(ValueError, match="n_hidden must be <= 100_000"):
        fit_mdn(x, y, n_hidden=10**6, progress=False)
    with pytest.raises(ValueError, match="weights"):
        fit_mdn(x, y, n_hidden=50_000, progress=False)
    with pytest.raises(ValueError, match="batch_size must be <="):
        fit_mdn(recipe="fresh", batch_size=10**12, progress=False)


# ---------------------------------------------------------------------------
# Several input features
# ---------------------------------------------------------------------------


def _two_feature_data(n, seed):
    """y = 2·x2 + 0.3·noise; x1 is irrelevant and on a scale 100 times larger."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g) * torch.tensor([100.0, 1.0]) + torch.tensor([50.0, -3.0])
    return x, 2 * (x[:, 1] + 3) + 0.3 * torch.randn(n, generator=g)


@pytest.mark.slow
def test_two_input_features_are_standardised_per_feature_and_learned():
    x, y = _two_feature_data(400, 0)
    xt, yt = _two_feature_data(2000, 1)
    model, _hist = fit_mdn(x, y, recipe="default", steps=300, progress=False, n_components=3)
    assert model.n_in == 2 and model.x_loc.shape == (2,)
    torch.testing.assert_close(model.x_loc, x.mean(0))
    torch.testing.assert_close(model.x_scale, x.std(0))
    # y given x2 has sd 0.3 (NLL 0.28 nats); y alone has sd ≈ 2 (NLL ≈ 2.1)
    nll = heldout_nll(model, xt, yt)
    assert nll < 0.7, nll
    assert model.sample(xt[:7], generator=torch.Generator().manual_seed(0)).shape == (7,)
    assert model.mixture(xt[:7]).to_distribution().batch_shape == (7,)
    ens, _ = fit_mdn_ensemble(x, y, n_members=2, steps=50, progress=False)
    assert math.isfinite(heldout_nll(ens, xt, yt))
    reg, _ = fit_mean_regression(x, y, steps=300)
    with torch.no_grad():
        assert float(((reg(xt) - yt) ** 2).mean()) < 0.5


def test_one_column_is_the_same_as_one_feature(data):
    (x, y), _ = data
    a, ha = fit_mdn(x, y, steps=30, progress=False)
    b, hb = fit_mdn(x[:, None], y, steps=30, progress=False)
    assert ha["loss"] == hb["loss"]
    torch.testing.assert_close(a.nll(x, y), b.nll(x[:, None], y), rtol=0, atol=0)


def test_jitter_is_in_standardised_units(data):
    """Rescaling x changes nothing the model learns: the jitter, like the
    standardisation, follows the data's scale."""
    (x, y), (xt, yt) = data
    a, _ = fit_mdn(x, y, steps=100, progress=False, x_jitter=0.2, y_jitter=0.1)
    b, _ = fit_mdn(1000 * x, y, steps=100, progress=False, x_jitter=0.2, y_jitter=0.1)
    torch.testing.assert_close(a.nll(xt[:500], yt[:500]), b.nll(1000 * xt[:500], yt[:500]), rtol=1e-4, atol=1e-4)


def test_shape_errors_name_the_argument_and_the_expected_shape():
    x, y = _two_feature_data(50, 0)
    model, _ = fit_mdn(x, y, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\) \(this model has n_in = 2"):
        heldout_nll(model, x[:, 0], y)
    with pytest.raises(ValueError, match=r"x must be of shape \(n,\) or \(n, d\), got shape \(50, 2, 1\)"):
        heldout_nll(model, x[:, :, None], y)
    with pytest.raises(ValueError, match=r"x and y must have the same length \(rows\), got 50 and 49"):
        heldout_nll(model, x, y[:-1])
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        model.sample(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"x must be of shape \(n,\) or \(n, 1\), got shape \(50, 2\)"):
        fit_mean_regression(x[:, 0], y, steps=1)[0](x)
    with pytest.raises(ValueError, match=r"x_loc must be one number or a list of n_in = 2 numbers"):
        MDN(2, x_loc=[0.0, 1.0, 2.0])


@pytest.mark.slow
def test_auto_recipe_holds_out_validation_on_small_data(data):
    """Below SMALL_DATA points "auto" is the "small" preset: a seeded 20 % split,
    early stopping, best weights; from SMALL_DATA up it is "default"."""
    (x, y), (_xt, _yt) = data
    _model, hist = fit_mdn(x, y, steps=300, progress=False, eval_every=50)
    assert hist.recipe["name"] == "small" and hist.recipe["val_fraction"] == 0.2
    assert "320 trained on, 80 held out" in hist.data
    assert hist.weights == "best" and len(hist["val_nll"]) == len(hist.eval_steps)
    _again, h2 = fit_mdn(x, y, steps=300, progress=False, eval_every=50)
    assert h2["val_nll"] == hist["val_nll"]  # the split is seeded
    big, _ = seeded_sample(600, 1)
    _, h3 = fit_mdn(big, big, steps=1, progress=False)
    assert h3.recipe["name"] == "default"
    # several candidates for n_components: chosen on the validation split, scores kept
    _, h4 = fit_mdn(x, y, steps=100, progress=False, n_components=(2, 5), eval_every=50)
    sel = h4.selection
    assert sel["n_components"] == [2, 5] and sel["chosen"] == h4.recipe["n_components"]
    assert sel["val_nll"][[2, 5].index(sel["chosen"])] == min(sel["val_nll"])
