"""The mixture CDF, quantiles, intervals and CRPS (`scoring`), the exact law
(`data.ExactLaw`), the models' shared interface and the scorecard
(`calibration`), against independent sources: torch.distributions,
scoringrules, scipy (quad, kstest, kstwobign) and closed forms."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import scoringrules
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import mdn_helpers as mh
from mdn_helpers import calibration, scoring
from mdn_helpers.datasets.inverted_sine import Y_HIGH, Y_LOW
from mdn_helpers.mixture import MixtureParams, mixture_distribution
from mdn_helpers.plots import plot_pit
from mdn_helpers.seeding import derive_seed, seeded_init


def random_mixture(
    batch: int, k: int, seed: int, *, spread: float = 5.0, log_sigma: tuple = (-2.0, 2.0), logit_scale: float = 2.0
) -> MixtureParams:
    g = torch.Generator().manual_seed(seed)
    lo, hi = log_sigma
    return MixtureParams(
        logit_scale * torch.randn(batch, k, generator=g, dtype=torch.float64),
        spread * torch.randn(batch, k, generator=g, dtype=torch.float64),
        lo + (hi - lo) * torch.rand(batch, k, generator=g, dtype=torch.float64),
    )


mixtures = st.builds(
    random_mixture,
    st.integers(1, 20),
    st.integers(1, 12),
    st.integers(0, 10_000),
    spread=st.sampled_from([0.0, 1.0, 10.0, 1e3]),
    log_sigma=st.sampled_from([(-2.0, 2.0), (-6.0, -4.0), (3.0, 6.0), (-6.0, 6.0)]),
    logit_scale=st.sampled_from([0.0, 2.0, 20.0]),
)


def crps_by_quadrature(cdf, y: float, lo: float, hi: float) -> float:
    """∫ (F(t) − 1{t ≥ y})² dt, split at y (the jump), on [lo, hi] wide enough for the mass."""
    below = integrate.quad(lambda t: cdf(t) ** 2, lo, y, limit=400, epsabs=1e-12)[0]
    above = integrate.quad(lambda t: (1 - cdf(t)) ** 2, y, hi, limit=400, epsabs=1e-12)[0]
    return below + above


# ---------------------------------------------------------------------------
# Mixture CDF, quantile, interval, CRPS
# ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(p=mixtures, seed=st.integers(0, 1000))
def test_cdf_matches_torch_distributions(p, seed):
    g = torch.Generator().manual_seed(seed)
    y = (p.mu * torch.softmax(p.log_pi, -1)).sum(-1) + 3 * torch.randn(p.mu.shape[0], generator=g, dtype=torch.float64)
    ours = mh.mixture_cdf(p, y)
    assert ours.dtype == torch.float64 and ours.shape == y.shape
    torch.testing.assert_close(ours, mixture_distribution(p).cdf(y), rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(p=mixtures, q=st.floats(1e-4, 1 - 1e-4))
def test_quantile_inverts_the_cdf_to_1e_6(p, q):
    qq = mh.mixture_quantile(p, q)
    assert torch.isfinite(qq).all()
    err = (mixture_distribution(p).cdf(qq) - q).abs().max()
    assert err <= 1e-6, err


@pytest.mark.slow
def test_quantile_is_monotone_and_takes_one_q_per_row():
    p = random_mixture(8, 6, 1)
    levels = torch.linspace(1e-4, 1 - 1e-4, 501, dtype=torch.float64)
    qs = torch.stack([mh.mixture_quantile(p, float(q)) for q in levels], 1)  # (8, 501)
    assert (qs.diff(dim=1) > 0).all()
    per_row = torch.linspace(0.1, 0.9, 8, dtype=torch.float64)
    torch.testing.assert_close(
        mixture_distribution(p).cdf(mh.mixture_quantile(p, per_row)), per_row, rtol=0, atol=1e-12
    )


def test_quantile_of_one_gaussian_is_its_closed_form():
    p = random_mixture(50, 1, 2)
    q = 0.975
    want = p.mu[:, 0] + p.log_sigma[:, 0].exp() * stats.norm.ppf(q)
    torch.testing.assert_close(mh.mixture_quantile(p, q), want, rtol=1e-10, atol=1e-10)


def test_quantile_stops_on_far_apart_narrow_components():
    # two spikes 1e6 apart: F is flat between them; the answer must still be found, finite, in bounded time
    p = MixtureParams(
        torch.zeros(3, 2, dtype=torch.float64),
        torch.tensor([[-1e6, 1e6]] * 3, dtype=torch.float64),
        torch.full((3, 2), -8.0, dtype=torch.float64),
    )
    qq = mh.mixture_quantile(p, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    assert qq[0] == pytest.approx(-1e6, abs=1e-2) and qq[2] == pytest.approx(1e6, abs=1e-2)
    assert abs(float(mh.mixture_cdf(p, qq)[1]) - 0.5) <= 1e-6 or -1e6 < qq[1] < 1e6


def test_interval_holds_its_level_with_equal_tails():
    p = random_mixture(30, 4, 3)
    d = mixture_distribution(p)
    for level in (0.5, 0.9, 0.99):
        lo, hi = mh.mixture_interval(p, level)
        torch.testing.assert_close(d.cdf(lo), torch.full_like(lo, (1 - level) / 2), rtol=0, atol=1e-10)
        torch.testing.assert_close(d.cdf(hi), torch.full_like(hi, (1 + level) / 2), rtol=0, atol=1e-10)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(p=mixtures, seed=st.integers(0, 1000))
def test_crps_matches_scoringrules(p, seed):
    g = torch.Generator().manual_seed(seed)
    y = p.mu[:, 0] + 2 * torch.randn(p.mu.shape[0], generator=g, dtype=torch.float64)
    want = scoringrules.crps_mixnorm(
        y.numpy(), p.mu.numpy(), p.log_sigma.exp().numpy(), torch.softmax(p.log_pi, -1).numpy(), backend="numpy"
    )
    ours = mh.mixture_crps(p, y).numpy()
    np.testing.assert_allclose(ours, want, rtol=1e-9, atol=1e-9 * (1 + float(p.mu.abs().max())))


def test_crps_matches_numerical_integration_and_the_gaussian_closed_form():
    p = random_mixture(4, 3, 5)
    y = torch.tensor([-3.0, 0.0, 2.5, 7.0], dtype=torch.float64)
    ours = mh.mixture_crps(p, y)
    for i in range(4):
        d = mixture_distribution(MixtureParams(*(t[i : i + 1] for t in p)))
        cdf = lambda t: float(d.cdf(torch.tensor([t], dtype=torch.float64)))
        assert float(ours[i]) == pytest.approx(crps_by_quadrature(cdf, float(y[i]), -80, 80), abs=1e-7)
    # one Gaussian: σ [z (2Φ(z) − 1) + 2φ(z) − 1/√π]
    one = random_mixture(20, 1, 6)
    sd = one.log_sigma[:, 0].exp().numpy()
    z = (y.repeat(5).numpy() - one.mu[:, 0].numpy()) / sd
    want = sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))
    np.testing.assert_allclose(mh.mixture_crps(one, y.repeat(5)).numpy(), want, rtol=1e-12, atol=1e-12)


def test_crps_in_chunks_equals_in_one_go(monkeypatch):
    p = random_mixture(40, 9, 7)
    y = torch.linspace(-5, 5, 40, dtype=torch.float64)
    whole = mh.mixture_crps(p, y)
    monkeypatch.setattr(scoring, "CRPS_CHUNK_VALUES", 7)  # fewer values than one row's 36 pairs
    torch.testing.assert_close(mh.mixture_crps(p, y), whole, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "k, chunk_values, batch",
    [
        # k = 4: 6 pairs a row, 18 values → 3 rows a chunk; batch ≡ 0, 1, −1 (mod 3)
        (4, 18, 6),
        (4, 18, 7),
        (4, 18, 5),
        # k = 6: 15 pairs, one row a chunk, in 5, 7 and 4 pairs: 15 ≡ 0, 1, −1 (mod cols)
        (6, 5, 3),
        (6, 7, 3),
        (6, 4, 3),
        (5, 3, 2),  # 10 pairs in 3s: 10 ≡ 1
    ],
)
def test_crps_in_chunks_of_rows_and_pairs_matches_scoringrules(monkeypatch, k, chunk_values, batch):
    p = random_mixture(batch, k, 40 + 7 * k + batch)
    y = p.mu[:, -1] + torch.linspace(-3, 3, batch, dtype=torch.float64)
    monkeypatch.setattr(scoring, "CRPS_CHUNK_VALUES", chunk_values)
    want = scoringrules.crps_mixnorm(
        y.numpy(), p.mu.numpy(), p.log_sigma.exp().numpy(), torch.softmax(p.log_pi, -1).numpy(), backend="numpy"
    )
    np.testing.assert_allclose(mh.mixture_crps(p, y).numpy(), want, rtol=1e-10, atol=1e-12)


def test_crps_has_gradients_and_the_tails_stay_finite():
    p = random_mixture(5, 3, 8)
    mu = p.mu.clone().requires_grad_(True)
    mh.mixture_crps(MixtureParams(p.log_pi, mu, p.log_sigma), torch.zeros(5, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(mu.grad).all() and mu.grad.abs().sum() > 0
    tiny = MixtureParams(torch.zeros(2, 2), torch.zeros(2, 2), torch.full((2, 2), -800.0))
    out = mh.mixture_crps(tiny, torch.tensor([0.0, 1e30]))
    assert torch.isfinite(out).all() and float(out[1]) == pytest.approx(1e30)
    assert torch.isfinite(mh.mixture_cdf(tiny, torch.zeros(2))).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: mh.mixture_quantile(p, 0.0), "q must be in (0, 1)"),
        (lambda p: mh.mixture_quantile(p, 1.0), "q must be in (0, 1)"),
        (lambda p: mh.mixture_quantile(p, math.nan), "q must be finite"),
        (lambda p: mh.mixture_quantile(p, torch.tensor([0.5, math.nan, 0.5])), "q must be in (0, 1)"),
        (lambda p: mh.mixture_quantile(p, torch.full((4,), 0.5)), "q must be a float or have shape (3,)"),
        (lambda p: mh.mixture_quantile(p, "0.5"), "q must be"),
        (lambda p: mh.mixture_interval(p, 1.5), "level must be in (0, 1)"),
        (lambda p: mh.mixture_interval(p, -0.1), "level must be in (0, 1)"),
        (lambda p: mh.mixture_cdf(p, torch.zeros(4)), "y must have shape (3,)"),
        (lambda p: mh.mixture_crps(p, torch.tensor([0.0, math.nan, 0.0])), "y must be finite"),
        (
            lambda p: mh.mixture_cdf(MixtureParams(p.log_pi, p.mu * math.nan, p.log_sigma), torch.zeros(3)),
            "p.mu must be finite",
        ),
        (lambda p: mh.mixture_cdf(MixtureParams(p.log_pi[:, :1], p.mu, p.log_sigma), torch.zeros(3)), "one shape"),
        (
            lambda p: mh.mixture_cdf(
                MixtureParams(torch.full_like(p.log_pi, -math.inf), p.mu, p.log_sigma), torch.zeros(3)
            ),
            "all zero",
        ),
        (lambda p: mh.mixture_cdf((p.mu, p.mu), torch.zeros(3)), "p must be a MixtureParams"),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    p = random_mixture(3, 2, 0)
    with pytest.raises((ValueError, TypeError), match=None) as info:
        call(p)
    assert message in str(info.value), str(info.value)


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
    # true_log_density's trapezoid rule (4001 nodes) is good to about 1e-5
    torch.testing.assert_close(law.log_prob(x, y), mh.true_log_density(x, y), rtol=0, atol=2e-5)
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
    the law in one chunk; log p also against `true_log_density`'s trapezoid rule (separate code)."""
    x, y = mh.seeded_sample(n, 30 + n)
    q = torch.linspace(0.05, 0.95, n, dtype=torch.float64)
    small, whole = mh.ExactLaw(chunk=4), mh.ExactLaw()
    for method, other in (("log_prob", y), ("cdf", y), ("crps", y), ("quantile", q)):
        torch.testing.assert_close(
            getattr(small, method)(x, other), getattr(whole, method)(x, other), rtol=1e-13, atol=1e-13, msg=method
        )
    torch.testing.assert_close(small.log_prob(x, y), mh.true_log_density(x, y), rtol=0, atol=2e-5)
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
    with pytest.raises(ValueError, match="x and y must have the same shape"):
        law.crps(torch.zeros(5), torch.zeros(4))
    with pytest.raises(ValueError, match="apply to models only"):
        mh.scorecard(law, torch.zeros(5), torch.zeros(5), bins=2, std_bias=1.0)


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
        d = model.distribution(X, std_bias=0.5)
        torch.testing.assert_close(model.cdf(X, Y, std_bias=0.5), d.cdf(Y).double(), rtol=0, atol=1e-6)
        torch.testing.assert_close(model.log_prob(X, Y, pi_bias=1.0), -model.nll(X, Y, pi_bias=1.0))
        p = model.log_params(X)
        pi, mu, sigma = (t.double().numpy() for t in (p.log_pi.exp(), p.mu, p.log_sigma.exp()))
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
        d = model.distribution(x2)
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
        d, p = MODEL.distribution(X), MODEL.log_params(X)
    # NLL from torch.distributions, CRPS from scoringrules on the model's own mixture parameters
    assert card["nll"] == pytest.approx(-float(d.log_prob(Y).double().mean()), rel=1e-6)
    pi, mu, sigma = (t.double().numpy() for t in (p.log_pi.exp(), p.mu, p.log_sigma.exp()))
    want_crps = scoringrules.crps_mixnorm(Y.double().numpy(), mu, sigma, pi, backend="numpy").mean()
    assert card["crps"] == pytest.approx(want_crps, rel=1e-6)
    # and the CRPS by quadrature of ∫ (F(t) − 1{t ≥ y})² dt at the first 3 points, F from torch.distributions
    crps = MODEL.crps(X[:3], Y[:3]).tolist()
    for i in range(3):
        one = mixture_distribution(MixtureParams(*(t[i : i + 1].double() for t in p)))
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
