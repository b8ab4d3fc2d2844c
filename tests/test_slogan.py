"""SLOGAN (mdn_helpers/slogan.py): losses against hand computations and the
original notebook's multi-backward procedure, training, checkpoints, figures,
bad input."""

import dataclasses
import json
import math
import warnings

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from mdn_helpers import grids, plots
from mdn_helpers.checkpoint import load_checkpoint, save_checkpoint
from mdn_helpers.datasets.inverted_sine import joint_sample
from mdn_helpers.loop import TrainingDiverged, minibatches
from mdn_helpers.metrics import slogan_energy_distance
from mdn_helpers.seeding import seeded_init
from mdn_helpers.slogan import (
    Critic,
    SloganGenerator,
    slogan_critic_loss,
    slogan_critic_terms,
    slogan_generator_loss,
)
from mdn_helpers.slogan_train import RECIPES, SEED_RECIPE, as_points, fit_slogan

# A short, cheap recipe for the tests: constant learning rate, few critic
# steps, no evaluation until the end.
QUICK = dataclasses.replace(RECIPES["default"], schedule="constant", n_critic=2, eval_every=10_000, n_eval=500)


def linear_critic(wx: float, wy: float, b: float) -> nn.Linear:
    """f(x, y) = wx·x + wy·y + b, shape (n, 1); Lipschitz constant sqrt(wx² + wy²)."""
    lin = nn.Linear(2, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[wx, wy]]))
        lin.bias.fill_(b)
    return lin


# ---------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------


def test_critic_loss_equals_a_hand_computation():
    # f(x, y) = 3x + 0.5 on 3 real and 2 fake points.
    critic = linear_critic(3.0, 0.0, 0.5)
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    fake = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    # f(real) = 0.5, 3.5, 0.5 → Σ = 4.5;  f(fake) = 6.5, 0.5 → Σ = 7
    # 4.5 − 7 + |4.5 + 7| = 9
    # pairs (fake, real): |Δf| / ‖Δ‖ = 6/2, 3/1, 6/√8 | 0/1, 3/√2, 0/2
    eps = 1e-6
    ratios = [6 / (2 + eps), 3 / (1 + eps), 6 / (math.sqrt(8) + eps), 0.0, 3 / (math.sqrt(2) + eps), 0.0]
    penalty = 10.0 * sum((max(r, 1.0) - 1.0) ** 2 for r in ratios)
    assert penalty == pytest.approx(10 * (4 + 4 + 2 * (3 / math.sqrt(2) - 1) ** 2), rel=1e-5)
    terms = slogan_critic_terms(critic, real, fake, lam=10.0)
    assert float(terms.f_real) == pytest.approx(4.5)
    assert float(terms.f_fake) == pytest.approx(7.0)
    assert float(terms.penalty) == pytest.approx(penalty, rel=1e-12)
    assert float(terms.lip_mean) == pytest.approx(sum(ratios) / 6, rel=1e-12)
    assert float(terms.lip_max) == pytest.approx(6 / (2 + eps), rel=1e-12)  # the largest of the six
    assert float(terms.loss.detach()) == pytest.approx(9.0 + penalty, rel=1e-12)
    assert float(slogan_critic_loss(critic, real, fake, lam=10.0).detach()) == pytest.approx(9.0 + penalty, rel=1e-12)
    # lam scales the penalty only
    assert float(slogan_critic_loss(critic, real, fake, lam=0.0).detach()) == pytest.approx(9.0, rel=1e-12)
    # the generator's loss: Σ f(fake)
    assert float(slogan_generator_loss(critic, fake).detach()) == pytest.approx(7.0)


def seed_slogan_loss_and_backward(d: nn.Module, real, fake, lam):
    """The original notebook's D.slogan_loss_and_backward, ported to modern torch
    (Variables gone, scalar grad_outputs, .item()); returns grads and printed parts."""
    one, mone = torch.tensor(1.0, dtype=real.dtype), torch.tensor(-1.0, dtype=real.dtype)
    d.zero_grad()
    f_real = d(real.detach())
    f_real_sum = f_real.sum()
    f_real_sum.backward(one, retain_graph=True)
    f_fake = d(fake.detach())
    f_fake_sum = f_fake.sum()
    f_fake_sum.backward(mone, retain_graph=True)
    f_mean = f_fake_sum + f_real_sum
    f_mean.abs().backward(retain_graph=True)
    dist = ((real.view(real.size(0), -1).unsqueeze(0) - fake.view(fake.size(0), -1).unsqueeze(1)) ** 2).sum(2) ** 0.5
    f_diff = (f_real.unsqueeze(0) - f_fake.unsqueeze(1)).squeeze(2).abs()
    lip_dists = f_diff / (dist + 1e-6)
    lip_penalty = (lam * (lip_dists.clamp(min=1) - 1) ** 2).sum()
    lip_penalty.backward()
    grads = [p.grad.clone() for p in d.parameters()]
    return grads, (f_real_sum.item(), f_fake_sum.item(), lip_penalty.item(), lip_dists.mean().item())


@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_critic_loss_gradient_equals_the_seeds_multi_backward(scale):
    with seeded_init(0):
        critic = Critic(n_hidden=16).double()
    with torch.no_grad():
        critic.l3.weight *= 5  # steep enough that some pairs break the bound
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(7, 2, generator=gen, dtype=torch.float64) * scale
    fake = torch.randn(5, 2, generator=gen, dtype=torch.float64) * scale + 0.5
    expected_grads, expected_parts = seed_slogan_loss_and_backward(critic, real, fake, 10.0)
    critic.zero_grad()
    terms = slogan_critic_terms(critic, real, fake, lam=10.0)
    terms.loss.backward()
    assert terms.penalty > 0  # the penalty's gradient is part of what is compared
    for got, want in zip((p.grad for p in critic.parameters()), expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert [float(t) for t in terms[1:5]] == pytest.approx(expected_parts, rel=1e-10)


def test_no_gradient_reaches_the_generator_through_the_critic_loss():
    with seeded_init(0):
        g, c = SloganGenerator(n_random=8, n_hidden=8), Critic(n_hidden=8)
    fake = g.sample(6, generator=torch.Generator().manual_seed(0))
    slogan_critic_loss(c, joint_sample(5, 0), fake).backward()
    assert all(p.grad is None for p in g.parameters())
    assert all(p.grad is not None for p in c.parameters())
    slogan_generator_loss(c, fake).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_penalty_is_zero_for_a_1_lipschitz_critic_and_positive_for_a_steep_one():
    real, fake = joint_sample(40, 1).double(), joint_sample(30, 2).double()
    # linear, Lipschitz constant exactly 1
    assert slogan_critic_terms(linear_critic(0.6, 0.8, 2.0), real, fake).penalty == 0.0
    # a ReLU critic whose weight matrices have spectral norm ≤ 1 (so Lipschitz ≤ 1)
    with seeded_init(3):
        critic = Critic().double()
    with torch.no_grad():
        for p in critic.parameters():
            if p.dim() > 1:
                p /= torch.linalg.matrix_norm(p, ord=2)
    terms = slogan_critic_terms(critic, real, fake)
    assert terms.penalty == 0.0 and terms.lip_mean <= 1.0
    critic.zero_grad()
    slogan_critic_loss(critic, real, fake, lam=10.0).backward()
    grads_with = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad()
    slogan_critic_loss(critic, real, fake, lam=0.0).backward()
    for a, b in zip(grads_with, (p.grad for p in critic.parameters())):
        torch.testing.assert_close(a, b)
    # steep: Lipschitz 30
    steep = slogan_critic_terms(linear_critic(30.0, 0.0, 0.0), real, fake)
    assert steep.penalty > 0 and steep.lip_mean > 1
    assert terms.lip_max <= 1.0 < steep.lip_max


# ---------------------------------------------------------------------------
# The networks
# ---------------------------------------------------------------------------


def test_networks_shapes_and_orthogonal_init():
    with seeded_init(0):
        g, c = SloganGenerator(), Critic()
    assert g.config == {"n_random": 256, "n_hidden": 128} and c.config == {"n_hidden": 50}
    pts = g.sample(11, generator=torch.Generator().manual_seed(0))
    assert pts.shape == (11, 2)
    assert c(pts).shape == (11, 1)
    # orthogonal with gain 2: W Wᵀ = 4 I where W has no more rows than columns
    w = g.l1.weight.detach()  # (128, 256): orthonormal rows, scaled by 2
    torch.testing.assert_close(w @ w.T, 4 * torch.eye(128), atol=1e-4, rtol=0)
    w = c.l2.weight.detach()  # (50, 50)
    torch.testing.assert_close(w @ w.T, 4 * torch.eye(50), atol=1e-4, rtol=0)
    # same generator seed → same draws
    a = g.sample(5, generator=torch.Generator().manual_seed(3))
    b = g.sample(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_checkpoint_round_trip_of_both_nets(tmp_path):
    with seeded_init(5):
        g, c = SloganGenerator(n_random=16, n_hidden=24), Critic(n_hidden=12)
    save_checkpoint(g, tmp_path / "g.pt", extra={"note": "x"})
    save_checkpoint(c, tmp_path / "c.pt")
    g2, c2 = load_checkpoint(tmp_path / "g.pt"), load_checkpoint(tmp_path / "c.pt")
    assert type(g2) is SloganGenerator and type(c2) is Critic
    assert g2.config == g.config and c2.config == c.config
    z = torch.randn(9, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(g2(z), g(z), rtol=0, atol=0)
        pts = g(z)
        torch.testing.assert_close(c2(pts), c(pts), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_short_training_run_lowers_the_energy_distance():
    # A gentle, constant learning rate: the default recipe's first few hundred
    # steps are noisy, and its cosine decay is tied to the run's length.
    rec = dataclasses.replace(RECIPES["default"], n_critic=5, schedule="constant", lr=1e-3, n_eval=1000, eval_every=250)
    g, c, hist = fit_slogan(steps=250, seed=0, progress=False, recipe=rec)
    assert hist.eval_steps == [0, 250]
    start, end = hist["energy"]
    assert start > 1.5  # the untrained generator is far off
    assert end < 0.5 * start
    assert slogan_energy_distance(g, 1000, seed=5) < 0.5 * start  # and on other draws too
    assert (
        hist.steps == len(hist["f_real"]) == len(hist["lip_mean"]) == len(hist["lip_max"]) == len(hist["g_loss"]) == 250
    )
    assert all(math.isfinite(v) for v in hist["penalty"])
    assert hist.data == "fresh draws every step, 128 a batch"
    assert not g.training and not c.training


def test_fixed_seed_gives_identical_history_and_weights():
    runs = [fit_slogan(steps=12, seed=3, progress=False, recipe=QUICK) for _ in range(2)]
    (g1, c1, h1), (g2, c2, h2) = runs
    d1, d2 = h1.as_dict(), h2.as_dict()
    for d in (d1, d2):
        d.pop("seconds"), d.pop("eval_seconds")
    assert d1 == d2
    for a, b in zip([*g1.parameters(), *c1.parameters()], [*g2.parameters(), *c2.parameters()]):
        assert torch.equal(a, b)
    _, _, h3 = fit_slogan(steps=12, seed=4, progress=False, recipe=QUICK)
    assert h3["f_real"] != h1["f_real"]


def test_training_leaves_the_global_rng_and_thread_count_alone():
    torch.manual_seed(123)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    seen = []
    fit_slogan(
        steps=2,
        seed=0,
        progress=False,
        recipe=dataclasses.replace(QUICK, eval_every=1),
        num_threads=1,
        callback=lambda *a: seen.append(torch.get_num_threads()),
    )
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.get_num_threads() == threads
    assert seen == [1, 1, 1]  # the callback ran at steps 0, 1, 2, inside the one-thread block


def test_same_seed_same_weights_whatever_the_callers_thread_count():
    """The orthogonal init's QR gives other last bits on other thread counts;
    done in float64 and rounded to float32, the weights do not depend on them."""
    before = torch.get_num_threads()
    runs = []
    try:
        for n in (1, 2, 4):
            torch.set_num_threads(n)
            with seeded_init(0):
                runs.append(SloganGenerator())
            runs.append(fit_slogan(steps=2, seed=0, progress=False, recipe=QUICK)[0])
    finally:
        torch.set_num_threads(before)
    for i in (2, 4):
        for a, b in zip(runs[0].parameters(), runs[i].parameters()):  # the bare init
            assert torch.equal(a, b)
        for a, b in zip(runs[1].parameters(), runs[i + 1].parameters()):  # after training
            assert torch.equal(a, b)


@pytest.mark.slow
def test_seed_recipe_schedule_and_data():
    steps = [SEED_RECIPE.critic_steps(i) for i in (0, 9, 10, 99, 100, 101, 200)]
    assert steps == [100, 100, 10, 10, 100, 10, 100]
    # the schedule, read off torch's MultiStepLR: 1e-3, divided by 3 at 10k and 20k
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=SEED_RECIPE.lr)
    sched, lrs = SEED_RECIPE.scheduler(opt), {}
    for i in range(30_000):
        lrs[i] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    assert [lrs[i] / 1e-3 for i in (0, 9_999, 10_000, 19_999, 20_000, 29_999)] == pytest.approx(
        [1, 1, 1 / 3, 1 / 3, 1 / 9, 1 / 9]
    )
    assert SEED_RECIPE.steps == 30_000 and SEED_RECIPE.lr == 1e-3 and SEED_RECIPE.lr_critic is None
    # The original DataLoader over 1000 points, batch 256, no shuffling: 256, 256, 256, 232, then again.
    pts = torch.arange(2000.0).reshape(1000, 2)
    nxt = minibatches((pts,), 256, shuffle=False, generator=torch.Generator())
    batches = [nxt()[0] for _ in range(5)]
    assert [b.shape[0] for b in batches] == [256, 256, 256, 232, 256]
    torch.testing.assert_close(batches[3][-1], pts[-1])
    torch.testing.assert_close(batches[4], pts[:256])
    # a run of 2 generator steps: 200 critic steps on the fixed 1000 points
    rec = dataclasses.replace(SEED_RECIPE, n_eval=200)
    _, _, hist = fit_slogan(steps=2, seed=0, progress=False, recipe=rec)
    assert "fixed training set of 1000 points" in hist.data
    assert hist.steps == 2


def test_default_recipe_is_documented_and_sane():
    rec = RECIPES["default"]
    assert rec.fresh and rec.ema is not None and rec.schedule == "cosine"
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=rec.lr)
    sched = rec.scheduler(opt)
    for _ in range(rec.steps):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine decay to 0


def test_given_data_is_used_as_a_fixed_training_set():
    x, y = joint_sample(64, 9).unbind(1)
    _, _, h_pair = fit_slogan((x, y), steps=3, seed=0, progress=False, recipe=QUICK)
    _, _, h_tensor = fit_slogan(torch.stack([x, y], 1), steps=3, seed=0, progress=False, recipe=QUICK)
    assert "fixed training set of 64 points" in h_pair.data
    assert h_pair["f_real"] == h_tensor["f_real"]


def test_points_are_read_as_rows_and_pairs_only_from_tuples():
    two = [[1.0, 2.0], [3.0, 4.0]]  # two points, not an (x, y) pair
    torch.testing.assert_close(as_points(two), torch.tensor(two))
    torch.testing.assert_close(as_points((torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0]))), torch.tensor(two))
    with pytest.raises(ValueError, match=r"\(n, 2\) points or a tuple"):
        as_points([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="tuple"):
        as_points((torch.zeros(3), torch.zeros(3), torch.zeros(3)))


def test_nan_stops_with_the_step_and_keeps_the_last_good_weights():
    # Batches are read in order (batch_size 2, one critic step each): steps 0–2
    # see ordinary points, step 3 sees points whose critic value overflows.
    rec = dataclasses.replace(QUICK, n_critic=1, shuffle=False)
    good = joint_sample(6, 0)
    data = torch.cat([good, torch.full((2, 2), 3e38)])
    with pytest.raises(TrainingDiverged, match="at step 3") as info:
        fit_slogan(data, steps=10, batch_size=2, seed=0, progress=False, recipe=rec)
    err = info.value
    assert err.history.steps == 3
    # the weights at the start of step 2, the last good step: those after 2 steps
    g_ref, c_ref, _ = fit_slogan(data[:6], steps=2, batch_size=2, seed=0, progress=False, recipe=rec)
    for a, b in zip(
        [*err.model["generator"].parameters(), *err.model["critic"].parameters()],
        [*g_ref.parameters(), *c_ref.parameters()],
    ):
        assert torch.isfinite(a).all()
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(batch_size=1), ValueError, "batch_size"),
        (dict(batch_size=2.5), TypeError, "batch_size"),
        (dict(steps=-1), ValueError, "steps"),
        (dict(steps=1.5), TypeError, "steps"),
        (dict(iterations=3), TypeError, "unknown recipe field"),
        (dict(burst_every=-3), ValueError, "burst_every"),
        (dict(burst_every=2.5), TypeError, "burst_every"),
        (dict(shuffle="no"), TypeError, "shuffle"),
        (dict(lr_drops=5), TypeError, "lr_drops"),
        (dict(progress="no"), TypeError, "progress"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(recipe="fast"), ValueError, "recipe"),
        (dict(device="tpu"), ValueError, "device"),
        (dict(num_threads=0), ValueError, "num_threads"),
        (dict(data=torch.tensor([[0.0, float("nan")], [1.0, 1.0]])), ValueError, "data"),
        (dict(data=torch.zeros(5, 3)), ValueError, "data"),
        (dict(data=(torch.zeros(5), torch.zeros(4))), ValueError, "same length"),
        (dict(data=(torch.zeros(5), torch.tensor([0.0, 1, 2, 3, float("inf")]))), ValueError, "y"),
    ],
)
def test_fit_slogan_rejects_bad_input(kwargs, exc, name):
    kwargs = {"steps": 1, "progress": False, "recipe": QUICK} | kwargs
    with pytest.raises(exc, match=name):
        fit_slogan(**kwargs)


def test_losses_reject_bad_input():
    c = Critic(n_hidden=4)
    real, fake = joint_sample(4, 0), joint_sample(3, 1)
    with pytest.raises(ValueError, match="lam"):
        slogan_critic_loss(c, real, fake, lam=-1.0)
    with pytest.raises(TypeError, match="lam"):
        slogan_critic_loss(c, real, fake, lam="10")
    with pytest.raises(ValueError, match="real"):
        slogan_critic_loss(c, real[:, 0], fake)
    with pytest.raises(ValueError, match="real"):
        slogan_critic_loss(c, torch.zeros(4, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="fake"):
        slogan_critic_loss(c, real, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="fake"):
        slogan_critic_loss(c, real, fake.T)
    with pytest.raises(ValueError, match="real"):
        slogan_critic_loss(c, real.masked_fill(torch.eye(4, 2, dtype=torch.bool), float("nan")), fake)
    with pytest.raises(ValueError, match="fake"):
        slogan_critic_loss(c, real, torch.full((3, 2), float("inf")))
    with pytest.raises(ValueError, match="fake"):
        slogan_generator_loss(c, torch.zeros(3, 5))
    with pytest.raises(TypeError, match="critic"):
        slogan_critic_loss(lambda p: p[:, :1], real, fake)
    with pytest.raises(ValueError, match="n_hidden"):
        Critic(n_hidden=0)
    with pytest.raises(TypeError, match="n_random"):
        SloganGenerator(n_random=2.0)
    with pytest.raises(ValueError, match="n must"):
        SloganGenerator().sample(0)


# ---------------------------------------------------------------------------
# Figures and the command line
# ---------------------------------------------------------------------------


def test_critic_grid_matches_the_critic():
    with seeded_init(0):
        c = Critic(n_hidden=8)
    xs, ys, f = grids.critic_grid(c, n=5)
    assert xs.tolist() == [-20, -10, 0, 10, 20] and ys.tolist() == [-15, -7.5, 0, 7.5, 15]
    assert f.shape == (5, 5)
    with torch.no_grad():
        want = c(torch.tensor([[xs[3], ys[1]]])).item()  # row = y index, column = x index
    assert f[1, 3] == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="xlim"):
        grids.critic_grid(c, xlim=(1, -1))


def test_slogan_figures_have_titles_labels_and_legends():
    import matplotlib.pyplot as plt

    with seeded_init(0):
        g, c = SloganGenerator(n_random=8, n_hidden=16), Critic(n_hidden=8)
    data = joint_sample(500, 0)
    with torch.no_grad():
        fake = g.sample(400, generator=torch.Generator().manual_seed(0)) * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no seaborn/matplotlib deprecation or user warnings
        figs = [
            plots.plot_critic(c, data[:, 0], data[:, 1], fake=fake),
            plots.plot_gan_densities(fake, data[:, 0], data[:, 1], max_points=300),
        ]
    heat, dens = figs
    ax = heat.axes[0]
    assert ax.get_title() and ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "generated"]
    assert len(heat.axes) == 2  # the heat map and its colorbar
    assert ax.images[0].origin == "lower" and list(ax.images[0].get_extent()) == [-20, 20, -15, 15]
    assert [a.get_title() for a in dens.axes] == ["Generated density", "Data density", "Data and generated points"]
    assert all(a.get_xlabel() == "x" for a in dens.axes)
    assert dens.axes[2].get_legend() is not None
    assert all(len(a.collections) > 0 for a in dens.axes[:2])  # the KDEs drew contours
    _, _, hist = fit_slogan(steps=3, seed=0, progress=False, recipe=dataclasses.replace(QUICK, eval_every=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figs.append(plots.plot_slogan_history(hist, noise_floor=(0.0, 0.01)))
    left, right = figs[-1].axes
    assert left.get_title() and right.get_title() and left.get_xlabel() == "generator step"
    assert left.get_legend() is not None and right.get_legend() is not None
    assert list(left.lines[0].get_xdata()) == [0, 1, 2, 3]
    for f in figs:
        plt.close(f)


@pytest.mark.slow
def test_cli_slogan_writes_checkpoints_figures_and_json(tmp_path, capsys):
    from mdn_helpers.__main__ import main

    rc = main(["slogan", "--out", str(tmp_path), "--steps", "3", "--no-progress", "--n-eval", "300"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("slogan_generator.pt", "slogan_critic.pt", "slogan_densities.png", "slogan_critic.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert out["steps"] == 3 and out["n_eval"] == 300
    assert math.isfinite(out["energy_distance"]) and out["noise_floor_sd"] > 0
    assert type(load_checkpoint(tmp_path / "slogan_generator.pt")) is SloganGenerator
    assert main(["slogan", "--out", str(tmp_path), "--steps", "-2", "--no-progress"]) == 2
    assert main(["slogan", "--out", str(tmp_path), "--n-eval", "1", "--no-progress"]) == 2


def test_nan_gradient_stops_with_finite_weights(monkeypatch):
    """A finite loss whose gradient is NaN breaks the weights in the update;
    training must stop with the last finite ones, never hand NaN weights back."""
    rec = dataclasses.replace(QUICK, n_critic=1, shuffle=False)
    calls = {"n": 0}
    real_step = torch.optim.Adam.step

    def poisoned_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # step 0: one critic update, then this generator update
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.fill_(float("nan"))
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", poisoned_step)
    with pytest.raises(TrainingDiverged) as info:
        fit_slogan(joint_sample(64, 0), steps=10, batch_size=8, seed=0, progress=False, recipe=rec)
    err = info.value
    assert "the weights became non-finite at step 0" in str(err)
    assert err.history.steps == 0
    for p in err.model.parameters():
        assert torch.isfinite(p).all()


# ---------------------------------------------------------------------------
# Input hardening
# ---------------------------------------------------------------------------


def test_nets_cast_float64_and_lists_to_their_weights_dtype():
    with seeded_init(1):
        g, c = SloganGenerator(n_random=8, n_hidden=16), Critic(n_hidden=8)
    pts = joint_sample(5, 0)
    f32 = c(pts)
    f64 = c(pts.double())
    assert f64.dtype == torch.float32
    torch.testing.assert_close(f64, f32)
    torch.testing.assert_close(c(pts.tolist()), f32)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(g(z.double()), g(z))
    # the cast keeps the graph: the generator's loss still reaches its weights
    loss = slogan_generator_loss(c.double(), g(z))
    assert loss.dtype == torch.float64
    loss.backward()
    assert g.l1.weight.grad is not None and torch.isfinite(g.l1.weight.grad).all()


def test_nets_and_losses_refuse_meta_tensors_and_non_models_by_name():
    c = Critic(n_hidden=4)
    with pytest.raises(ValueError, match="xy is a tensor on the meta device"):
        c(torch.zeros(3, 2, device="meta"))
    with pytest.raises(ValueError, match="z is a tensor on the meta device"):
        SloganGenerator(n_random=4, n_hidden=4)(torch.zeros(3, 4, device="meta"))
    with pytest.raises(TypeError, match="z must be a tensor or array"):
        SloganGenerator(n_random=4, n_hidden=4)(None)
    with pytest.raises(TypeError, match=r"critic must be a torch\.nn\.Module"):
        slogan_critic_loss(None, joint_sample(3, 0), joint_sample(3, 1))
    with pytest.raises(TypeError, match=r"critic must be a torch\.nn\.Module"):
        slogan_generator_loss(None, joint_sample(3, 1))
    with pytest.raises(ValueError, match="critic has weights on the meta device"):
        slogan_critic_loss(Critic(n_hidden=4).to("meta"), joint_sample(3, 0), joint_sample(3, 1))
    with pytest.raises(ValueError, match="real is a tensor on the meta device"):
        slogan_critic_loss(c, torch.zeros(3, 2, device="meta"), joint_sample(3, 1))
    with pytest.raises(TypeError, match=r"generator must be a torch\.nn\.Module"):
        slogan_energy_distance(None)
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        SloganGenerator(n_random=4, n_hidden=4).sample(3, generator=7)


def test_sizes_that_cannot_fit_are_refused_by_name():
    from mdn_helpers.slogan_train import MAX_BATCH_SIZE

    with pytest.raises(ValueError, match="n_hidden must be <= 100_000"):
        Critic(n_hidden=10**6)
    with pytest.raises(ValueError, match="n_random must be <= 100_000"):
        SloganGenerator(n_random=10**6)
    with pytest.raises(ValueError, match=r"the generator would have .* weights"):
        SloganGenerator(n_random=100_000, n_hidden=100_000)
    with pytest.raises(ValueError, match="n = 10_000_000 points would need"):
        SloganGenerator().sample(10**7)  # 10^7 · (256 + 2·128) activations
    with pytest.raises(ValueError, match="n must be <="):
        SloganGenerator(n_random=4, n_hidden=4).sample(10**12)
    with pytest.raises(ValueError, match="n = 100_000_000 draws of 256 noise values"):
        SloganGenerator().noise(10**8)
    with pytest.raises(ValueError, match="n must be >= 1"):
        SloganGenerator().noise(-5)
    big = torch.zeros(10_001, 2)
    with pytest.raises(ValueError, match="real and fake make 10_001 × 10_001 pairs"):
        slogan_critic_loss(Critic(n_hidden=4), big, big)
    for kwargs, name in (
        (dict(batch_size=MAX_BATCH_SIZE + 1), "batch_size"),
        (dict(n_eval=10**6), "n_eval"),
        (dict(n_train=10**12), "n_train"),
        (dict(n_hidden_critic=10**6), "n_hidden_critic"),
        (dict(num_threads=30_000), "num_threads"),
    ):
        with pytest.raises(ValueError, match=f"{name} must be <="):
            fit_slogan(steps=1, progress=False, recipe=QUICK, **kwargs)


def test_data_float32_cannot_hold_is_refused_by_name():
    pts = joint_sample(8, 0).double()
    pts[3, 1] = 1e39
    with pytest.raises(ValueError, match="data must be representable in float32"):
        fit_slogan(pts, steps=1, progress=False, recipe=QUICK)
    with pytest.raises(ValueError, match="y must be representable in float32"):
        fit_slogan((pts[:, 0], pts[:, 1]), steps=1, progress=False, recipe=QUICK)
