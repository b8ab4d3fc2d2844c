"""The trainers: they lower the NLL, are reproducible, stop cleanly on NaN and
reject bad arguments; the default recipe reaches its quality bar."""
import pytest
import torch

from mdn_helpers.data import bayes_nll, make_splits, seeded_sample
from mdn_helpers.mdn import MDN, MDNEnsemble
from mdn_helpers.train import TrainingDiverged, fit_mdn, fit_mdn_ensemble, heldout_nll


@pytest.fixture(scope="module")
def data():
    return seeded_sample(400, 0), seeded_sample(5000, 999)


def test_training_lowers_nll(data):
    (x, y), (xt, yt) = data
    untrained, _ = fit_mdn(x, y, steps=0, progress=False)
    model, hist = fit_mdn(x, y, steps=300, progress=False, x_val=xt[:1000], y_val=yt[:1000], eval_every=100)
    before, after = heldout_nll(untrained, xt, yt), heldout_nll(model, xt, yt)
    assert after < before - 1.0, (before, after)
    assert len(hist.train_loss) == 300
    assert hist.train_loss[-1] < hist.train_loss[0] - 1.0
    assert hist.val_step == [100, 200, 300] and len(hist.val_nll) == 3
    assert hist.val_nll[-1] < hist.val_nll[0]
    assert isinstance(model, MDN) and not model.training


def test_same_seed_same_weights_and_global_rng_untouched(data):
    (x, y), _ = data
    state = torch.random.get_rng_state()
    a, ha = fit_mdn(x, y, steps=50, seed=7, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    b, hb = fit_mdn(x, y, steps=50, seed=7, progress=False)
    c, _ = fit_mdn(x, y, steps=50, seed=8, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert ha.train_loss == hb.train_loss
    assert not torch.equal(a.head.lin.weight, c.head.lin.weight)


def test_minibatches_fresh_draws_and_callback(data):
    (x, y), (xt, yt) = data
    calls = []
    _, hist = fit_mdn(x, y, steps=40, batch_size=64, progress=False, eval_every=20,
                      callback=lambda step, h, m: calls.append((step, len(h.train_loss))))
    assert calls == [(20, 20), (40, 40)]
    model, hist = fit_mdn(fresh=True, batch_size=256, steps=300, progress=False)
    assert heldout_nll(model, xt, yt) < 2.2


def test_early_stopping_keeps_best(data):
    (x, y), (xt, yt) = data
    model, hist = fit_mdn(x, y, steps=400, lr=0.05, progress=False, x_val=xt[:500], y_val=yt[:500],
                          eval_every=10, patience=2)
    assert hist.best_step is not None
    best = min(hist.val_nll)
    assert heldout_nll(model, xt[:500], yt[:500]) == pytest.approx(best, abs=1e-5)


def test_nan_loss_stops_with_step_and_keeps_last_good_weights(data, monkeypatch):
    (x, y), _ = data
    real_nll = MDN.nll
    calls = {"n": 0}

    def flaky(self, xb, yb, *a, **k):
        out = real_nll(self, xb, yb, *a, **k)
        calls["n"] += 1
        return out * float("nan") if calls["n"] == 6 else out

    monkeypatch.setattr(MDN, "nll", flaky)
    with pytest.raises(TrainingDiverged, match="at step 5") as info:
        fit_mdn(x, y, steps=20, progress=False)
    monkeypatch.setattr(MDN, "nll", real_nll)
    kept = info.value.model
    assert len(info.value.history.train_loss) == 5
    # the weights kept are those step 4 saw (after 4 updates), the last whose
    # loss was finite: the same run, unpatched, shows them to a callback
    seen = {}
    fit_mdn(x, y, steps=20, progress=False, eval_every=4,
            callback=lambda step, h, m: seen.setdefault(step, {k: v.clone() for k, v in m.state_dict().items()}))
    for k, v in kept.state_dict().items():
        assert torch.equal(v, seen[4][k]), k


def test_ensemble_is_a_better_mixture(data):
    (x, y), (xt, yt) = data
    ens, hist = fit_mdn_ensemble(x, y, n_members=3, steps=200, progress=False)
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
    model, hist = fit_mdn(*s.train.tensors(), progress=False)
    nll = heldout_nll(model, *s.test.tensors())
    assert nll <= 1.40, nll
    assert nll >= bayes_nll() - 0.01  # nothing beats the Bayes limit


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(steps=-1), ValueError, "steps"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(n_components=0), ValueError, "n_components"),
    (dict(n_hidden=0), ValueError, "n_hidden"),
    (dict(x_jitter=-1.0), ValueError, "x_jitter"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
    (dict(patience=3), ValueError, "patience"),
    (dict(device="tpu"), ValueError, "device"),
    (dict(x_val=torch.zeros(3)), ValueError, "x_val and y_val"),
])
def test_bad_training_arguments(data, kwargs, exc, match):
    (x, y), _ = data
    with pytest.raises(exc, match=match):
        fit_mdn(x, y, **{"steps": 1, "progress": False, **kwargs})


def test_bad_training_data():
    with pytest.raises(ValueError, match="x must be finite"):
        fit_mdn(torch.tensor([0.0, float("nan")]), torch.zeros(2), progress=False)
    with pytest.raises(ValueError, match="same length"):
        fit_mdn(torch.zeros(3), torch.zeros(4), progress=False)
    with pytest.raises(ValueError, match="x must be 1-d"):
        fit_mdn(torch.zeros(3, 2), torch.zeros(3), progress=False)
    with pytest.raises(ValueError, match="give the training data"):
        fit_mdn(progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit_mdn(fresh=True, progress=False)
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
    _, hist = fit_mdn(x, y, steps=3000, lr=0.05, progress=False, x_val=xt[:300], y_val=yt[:300],
                      eval_every=10, patience=3)
    assert hist.val_step[-1] < 3000, "the test needs a run that stops early"
    assert hist.val_step[-1] - hist.best_step == 3 * 10
    assert min(hist.val_nll[-3:]) >= min(hist.val_nll)


def test_one_point_is_refused_by_name():
    with pytest.raises(ValueError, match="at least 2 points"):
        fit_mdn(torch.zeros(1), torch.zeros(1), progress=False)
