"""The exact law (`data.ExactLaw`, its `ExactConditional`), the models'
shared interface (`ConditionalLaw`: everything read from ``law.mixture(x)``)
and the scorecard (`calibration`), against independent sources:
torch.distributions, scoringrules, scipy (quad, kstest, kstwobign) and
closed forms."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import scoringrules
import torch
from scipy import integrate, stats

import mdn_helpers as mh
from mdn_helpers import calibration
from mdn_helpers.datasets.inverted_sine import Y_HIGH, Y_LOW
from mdn_helpers.plots import plot_pit
from mdn_helpers.seeding import derive_seed, seeded_init


def crps_by_quadrature(cdf, y: float, lo: float, hi: float) -> float:
    """∫ (F(t) − 1{t ≥ y})² dt, split at y (the jump), on [lo, hi] wide enough for the mass."""
    below = integrate.quad(lambda t: cdf(t) ** 2, lo, y, limit=400, epsabs=1e-12)[0]
    above = integrate.quad(lambda t: (1 - cdf(t)) ** 2, y, hi, limit=400, epsabs=1e-12)[0]
    return below + above


# ---------------------------------------------------------------------------
# The exact law
# ---------------------------------------------------------------------------


def _density(t, xv):
    return np.exp(-0.5 * (xv - (7 * np.sin(0.75 * t) + 0.5 * t)) ** 2)


@pytest.mark.slow
def test_exact_law_cdf_and_crps_match_adaptive_quadrature():
    law = mh.ExactLaw()
    x, y = mh.seeded_sample(4, 11)
    x, y = x.double(), y.double()
    cdf, crps = law.cdf(x, y), law.crps(x, y)
    for i, (xv, yv) in enumerate(zip(x.tolist(), y.tolist())):
        z = integrate.quad(_density, Y_LOW, Y_HIGH, args=(xv,), limit=200, epsabs=1e-13)[0]

        def f(t, xv=xv, z=z):
            return (
                integrate.quad(_density, Y_LOW, min(max(t, Y_LOW), Y_HIGH), args=(xv,), limit=200, epsabs=1e-13)[0] / z
            )

        assert float(cdf[i]) == pytest.approx(f(yv), abs=1e-8)
        assert float(crps[i]) == pytest.approx(crps_by_quadrature(f, yv, Y_LOW, Y_HIGH), abs=1e-7)


def test_exact_law_log_prob_quantile_and_bounds():
    law = mh.ExactLaw()
    x, y = mh.seeded_sample(300, 12)
    # log p against adaptive quadrature (scipy) for log Z, at the first 5 points
    lp = law.log_prob(x, y)
    for xv, yv, got in zip(x[:5].tolist(), y[:5].tolist(), lp[:5].tolist()):
        z = integrate.quad(_density, Y_LOW, Y_HIGH, args=(xv,), limit=200, epsabs=0, epsrel=1e-13)[0]
        want = -0.5 * (xv - (7 * math.sin(0.75 * yv) + 0.5 * yv)) ** 2 - math.log(z)
        assert got == pytest.approx(want, abs=1e-9)
    torch.testing.assert_close(law.mixture(x).log_prob(y), lp)
    q = torch.rand(300, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.998 + 0.001
    torch.testing.assert_close(law.cdf(x, law.quantile(x, q)), q, rtol=0, atol=1e-12)
    # outside the support: F is 0 below and 1 above, and the CRPS grows by the distance
    xs = torch.zeros(2)
    torch.testing.assert_close(law.cdf(xs, torch.tensor([-11.0, 11.0])), torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(
        law.crps(xs, torch.tensor([-20.0, 20.0])) - law.crps(xs, torch.tensor([-10.5, 10.5])),
        torch.tensor([9.5, 9.5], dtype=torch.float64),
        rtol=0,
        atol=1e-12,
    )
    assert law.log_prob(xs, torch.tensor([-11.0, 0.0]))[0] == -math.inf
    # far-away x: the scaled integrals never underflow
    assert torch.isfinite(law.cdf(torch.tensor([500.0, -1e6]), torch.tensor([10.0, -10.0]))).all()


@pytest.mark.parametrize("n", [8, 9, 7, 1])
def test_exact_law_in_chunks_of_4_is_the_law_in_one_chunk(n):
    """ExactLaw(chunk=4) at n ≡ 0, 1, −1 (mod 4): every method, and the scorecard built on them, equals
    the law in one chunk; log p also through `true_log_density`."""
    x, y = mh.seeded_sample(n, 30 + n)
    q = torch.linspace(0.05, 0.95, n, dtype=torch.float64)
    small, whole = mh.ExactLaw(chunk=4), mh.ExactLaw()
    for method, other in (("log_prob", y), ("cdf", y), ("crps", y), ("quantile", q)):
        torch.testing.assert_close(
            getattr(small, method)(x, other), getattr(whole, method)(x, other), rtol=1e-13, atol=1e-13, msg=method
        )
    torch.testing.assert_close(small.log_prob(x, y), mh.true_log_density(x, y), rtol=0, atol=1e-12)
    if n > 1:
        a, b = mh.scorecard(small, x, y, bins=2), mh.scorecard(whole, x, y, bins=2)
        assert a["coverage"] == b["coverage"] and a["n"] == b["n"] == n
        for key in ("nll", "crps", "pit_ks", "pit_pvalue", "worst_bin_ks"):
            assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-13), key


def test_exact_law_refuses_two_dimensional_x_and_biases():
    law = mh.ExactLaw()
    with pytest.raises(ValueError, match="x must be 1-d"):
        law.cdf(torch.zeros(5, 2), torch.zeros(5))
    with pytest.raises(ValueError, match="q must be in"):
        law.quantile(torch.zeros(5), 1.2)
    with pytest.raises(ValueError, match="x and y must have one row per point: x has 5 rows, y has 4"):
        law.crps(torch.zeros(5), torch.zeros(4))
    with pytest.raises(ValueError, match="the exact law has no sampling biases: pi_bias and std_bias must be 0"):
        mh.scorecard(law, torch.zeros(5), torch.zeros(5), bins=2, std_bias=1.0)
    with pytest.raises(ValueError, match="the exact law has no sampling biases"):
        law.mixture(torch.zeros(5), pi_bias=1.0)


@pytest.mark.slow
def test_exact_law_scorecard_on_100k_fresh_points():
    x, y = mh.seeded_sample(100_000, derive_seed(0, "test_scoring/exact"))
    card = mh.scorecard(mh.ExactLaw(), x, y)
    assert abs(card["nll"] - 1.288) <= 0.01, card
    assert card["pit_pvalue"] > 0.01, card
    for level, share in card["coverage"].items():
        assert abs(share - level) <= 0.005, (level, share)
    assert card["n"] == 100_000 and card["worst_bin_ks"] < 0.02


# ---------------------------------------------------------------------------
# The models' interface
# ---------------------------------------------------------------------------

with seeded_init(0):
    MODEL = mh.MDN(n_hidden=8, n_components=4, y_scale=3.0)
    ENSEMBLE = mh.MDNEnsemble([mh.MDN(n_hidden=8, n_components=3, y_scale=3.0) for _ in range(3)])
X, Y = mh.seeded_sample(200, 13)


@pytest.mark.parametrize("model", [MODEL, ENSEMBLE], ids=["MDN", "ensemble"])
def test_model_methods_agree_with_the_distribution_and_scoringrules(model):
    with torch.no_grad():
        d = model.mixture(X, std_bias=0.5).to_distribution()
        torch.testing.assert_close(model.mixture(X, std_bias=0.5).cdf(Y), d.cdf(Y).double(), rtol=0, atol=1e-6)
        biased = model.mixture(X, pi_bias=1.0)
        torch.testing.assert_close(biased.log_prob(Y), biased.to_distribution().log_prob(Y), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.log_prob(X, Y), -model.nll(X, Y), rtol=1e-5, atol=1e-5)
        p = model.mixture(X)
        pi, mu, sigma = (t.double().numpy() for t in (p.log_pi.exp(), p.loc, p.log_scale.exp()))
    np.testing.assert_allclose(
        model.crps(X, Y).detach().numpy(),
        scoringrules.crps_mixnorm(Y.double().numpy(), mu, sigma, pi, backend="numpy"),
        rtol=1e-6,
        atol=1e-6,
    )
    q = model.quantile(X, 0.3)
    torch.testing.assert_close(
        model.cdf(X, q.float()), torch.full((200,), 0.3, dtype=torch.float64), rtol=0, atol=1e-5
    )  # q rounded to float32 on the way back in


def test_the_ensemble_cdf_is_the_mean_of_its_members():
    members = torch.stack([m.cdf(X, Y) for m in ENSEMBLE.members])
    torch.testing.assert_close(ENSEMBLE.cdf(X, Y), members.mean(0), rtol=0, atol=1e-6)  # float32 weights


def test_model_methods_take_x_with_several_columns():
    with seeded_init(1):
        model = mh.MDN(n_in=2, n_hidden=8, n_components=3)
    x2 = torch.stack([X, Y.flip(0)], 1)
    assert model.cdf(x2, Y).shape == (200,) and model.crps(x2, Y).shape == (200,)
    card = mh.scorecard(model, x2, Y, bins=4)
    with torch.no_grad():
        d = model.mixture(x2).to_distribution()
    u = d.cdf(Y).double().numpy()  # the PIT from torch.distributions
    # bins on the first column: sorted by it, split into 4 equal counts, the KS of each by scipy
    bins = np.array_split(u[np.argsort(X.numpy(), kind="stable")], 4)
    want = max(stats.kstest(b, "uniform").statistic for b in bins)
    assert card["worst_bin_ks"] == pytest.approx(want, abs=1e-6)
    # on the second column the bins differ, and so does the answer
    other = max(stats.kstest(b, "uniform").statistic for b in np.array_split(u[np.argsort(Y.flip(0).numpy())], 4))
    assert abs(other - want) > 1e-3


# ---------------------------------------------------------------------------
# The scorecard
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("power", [1.1, 0.9, 1.0])
def test_ks_matches_scipy(power):
    """The two-sided statistic D = max(D+, D−) and its p-value, against scipy.stats.kstest on the
    same sample: u^1.1 leans low (D+ > D−), u^0.9 high (D− > D+), so neither side alone passes."""
    u = torch.rand(500, generator=torch.Generator().manual_seed(3), dtype=torch.float64) ** power
    d, p = calibration.ks_uniform(u)
    ref = stats.kstest(u.numpy(), "uniform", alternative="two-sided", method="exact")
    plus = stats.kstest(u.numpy(), "uniform", alternative="less").statistic  # D+ = max(i/n − u_(i))
    minus = stats.kstest(u.numpy(), "uniform", alternative="greater").statistic  # D− = max(u_(i) − (i−1)/n)
    assert ref.statistic == pytest.approx(max(plus, minus), abs=1e-15)
    if power != 1.0:
        assert abs(plus - minus) > 0.01  # the sides differ: a one-sided D would be caught
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=0.01)


def test_ks_by_hand():
    """u = (0.1, 0.2, 0.9): D+ = max(1/3 − 0.1, 2/3 − 0.2, 1 − 0.9) = 0.4667, D− = max(0.1, 0.2 − 1/3,
    0.9 − 2/3) = 0.2333; D = 7/15. Reversed (1 − u): the two swap, D is the same."""
    for u in ([0.1, 0.2, 0.9], [0.9, 0.8, 0.1]):
        d, _ = calibration.ks_uniform(torch.tensor(u, dtype=torch.float64))
        assert d == pytest.approx(7 / 15, abs=1e-15)
    d, _ = calibration.ks_uniform(torch.tensor([0.95, 0.97, 0.99], dtype=torch.float64))  # all high: D− = 0.95
    assert d == pytest.approx(0.95, abs=1e-15)
    for lam in (0.3, 0.6, 0.99, 1.0, 1.5, 3.0):
        assert calibration.kolmogorov_sf(lam) == pytest.approx(stats.kstwobign.sf(lam), abs=1e-12)


def test_scorecard_numbers_come_from_the_law():
    card = mh.scorecard(MODEL, X, Y, bins=1)
    with torch.no_grad():
        p = MODEL.mixture(X)
        d = p.to_distribution()
    # NLL from torch.distributions, CRPS from scoringrules on the model's own mixture parameters
    assert card["nll"] == pytest.approx(-float(d.log_prob(Y).double().mean()), rel=1e-6)
    pi, mu, sigma = (t.double().numpy() for t in (p.log_pi.exp(), p.loc, p.log_scale.exp()))
    want_crps = scoringrules.crps_mixnorm(Y.double().numpy(), mu, sigma, pi, backend="numpy").mean()
    assert card["crps"] == pytest.approx(want_crps, rel=1e-6)
    # and the CRPS by quadrature of ∫ (F(t) − 1{t ≥ y})² dt at the first 3 points, F from torch.distributions
    crps = MODEL.crps(X[:3], Y[:3]).tolist()
    for i in range(3):
        one = p[i : i + 1].to(torch.float64).to_distribution()
        cdf = lambda t, one=one: float(one.cdf(torch.tensor([t], dtype=torch.float64)))
        assert crps[i] == pytest.approx(crps_by_quadrature(cdf, float(Y[i]), -60, 60), abs=1e-7)
    assert card["worst_bin_ks"] == pytest.approx(card["pit_ks"])  # one bin is all the points
    # coverage read off the PIT equals coverage of the central intervals from the quantiles
    for level, share in card["coverage"].items():
        lo, hi = MODEL.quantile(X, (1 - level) / 2), MODEL.quantile(X, (1 + level) / 2)
        inside = ((Y.double() >= lo) & (Y.double() <= hi)).double().mean()
        assert share == pytest.approx(float(inside), abs=1.5 / 200), level


def test_worst_bin_ks_on_a_law_that_is_right_for_negative_x_and_too_wide_for_positive_x():
    """y | x ~ N(0, 1) for x < 0 and N(0, 0.3²) for x > 0, scored by the law N(0, 1) everywhere: the PIT
    is uniform for x < 0 and squeezed towards ½ for x > 0. The points come in shuffled x order. The
    expected bins (sorted by x, equal counts) and their KS distances are computed with numpy and scipy."""
    n, bins = 400, 4
    g = np.random.default_rng(7)
    x = g.permutation(np.linspace(-1.0, 1.0, n))  # distinct, shuffled
    y = g.standard_normal(n) * np.where(x < 0, 1.0, 0.3)
    law = mh.LinearGaussian(torch.tensor([0.0, 0.0]), 1.0)
    card = mh.scorecard(law, torch.tensor(x), torch.tensor(y), bins=bins)
    u = stats.norm.cdf(y)
    by_x = np.array_split(u[np.argsort(x)], bins)  # x ascending: two bins of x < 0, then two of x > 0
    per_bin = [stats.kstest(b, "uniform").statistic for b in by_x]
    assert max(per_bin[:2]) < 0.15 < 0.25 < min(per_bin[2:])  # the example is what it says
    assert card["worst_bin_ks"] == pytest.approx(max(per_bin), abs=1e-12)
    # bins in the points' own (shuffled) order mix both halves and score far lower
    unsorted = max(stats.kstest(b, "uniform").statistic for b in np.array_split(u, bins))
    assert unsorted < max(per_bin) - 0.05
    # the rest of the card, independently: scipy's KS, numpy's coverage, scipy's log-density, scoringrules
    assert card["pit_ks"] == pytest.approx(stats.kstest(u, "uniform").statistic, abs=1e-12)
    for level, share in card["coverage"].items():
        assert share == pytest.approx(np.mean((u >= (1 - level) / 2) & (u <= (1 + level) / 2)), abs=1e-12)
    assert card["nll"] == pytest.approx(-stats.norm.logpdf(y).mean(), rel=1e-12)
    assert card["crps"] == pytest.approx(scoringrules.crps_normal(y, 0.0, 1.0).mean(), rel=1e-10)
    assert card["n"] == n


def test_std_bias_makes_the_model_over_confident():
    sharp = mh.scorecard(MODEL, X, Y, bins=2, std_bias=1.0)
    plain = mh.scorecard(MODEL, X, Y, bins=2)
    assert all(sharp["coverage"][lv] < plain["coverage"][lv] for lv in plain["coverage"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(law=torch.zeros(3)), "law must be"),
        (dict(law=MODEL, bins=0), "bins must be >= 1"),
        (dict(law=MODEL, bins=500), "bins must be at most the number of points"),
        (dict(law=MODEL, y=Y[:10]), "x and y must have one row per point"),
        (dict(law=MODEL, y=torch.full((200,), math.nan)), "y must be finite"),
        (dict(law=MODEL, x=torch.zeros(200, 2, 2)), "x must have shape"),
        (dict(law=MODEL, std_bias=100.0), "std_bias"),
    ],
)
def test_scorecard_refuses_bad_input(kwargs, message):
    args = dict(law=MODEL, x=X, y=Y) | kwargs
    with pytest.raises((ValueError, TypeError)) as info:
        mh.scorecard(args.pop("law"), args.pop("x"), args.pop("y"), **args)
    assert message in str(info.value), str(info.value)


def test_scorecard_table_and_pit_plot():
    cards = {"exact": mh.scorecard(mh.ExactLaw(), X, Y, bins=2), "MDN": mh.scorecard(MODEL, X, Y, bins=2)}
    table = mh.scorecard_table(cards)
    assert table.count("\n") == 3 and "| exact |" in table and "cover 95%" in table
    fig = plot_pit(MODEL, X, Y, bins=3)
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "all x"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["U(0, 1)", "MDN", "exact law"] or set(labels) == {"U(0, 1)", "MDN", "exact law"}
    plt.close(fig)
    with pytest.raises(ValueError, match="exact=True needs x of shape"):
        plot_pit(MODEL, torch.zeros(10, 2), torch.zeros(10))
    plt.close("all")


def test_exact_conditional_has_a_mixtures_scoring_methods():
    """ExactLaw.mixture(x): interval from the quantiles, mean by quadrature (scipy), inverse-CDF draws
    that pass a KS test against its own CDF, the same draws for the same generator seed."""
    law = mh.ExactLaw()
    cond = law.mixture(torch.full((4000,), 2.0, dtype=torch.float64))
    assert cond.batch_shape == (4000,) and "ExactConditional" in repr(cond)
    lo, hi = cond.interval(0.8)
    torch.testing.assert_close(cond.cdf(hi) - cond.cdf(lo), torch.full((4000,), 0.8, dtype=torch.float64))
    z = integrate.quad(_density, Y_LOW, Y_HIGH, args=(2.0,), limit=200)[0]
    want = integrate.quad(lambda t: t * _density(t, 2.0), Y_LOW, Y_HIGH, limit=200)[0] / z
    assert float(cond.mean[0]) == pytest.approx(want, abs=1e-9)
    torch.testing.assert_close(mh.datasets.inverted_sine.true_conditional_mean(torch.tensor([2.0])), cond.mean[:1])
    s = cond.sample(generator=torch.Generator().manual_seed(0))
    assert s.shape == (4000,) and torch.equal(s, cond.sample(generator=torch.Generator().manual_seed(0)))
    cdf = lambda t: law.cdf(torch.full((len(t),), 2.0), torch.as_tensor(t)).numpy()
    assert stats.kstest(s.numpy(), cdf).pvalue > 1e-3
    assert cond.sample(3, generator=torch.Generator().manual_seed(1)).shape == (3, 4000)
    torch.testing.assert_close(cond.nll(s), -cond.log_prob(s))
