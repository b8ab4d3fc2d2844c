"""`Mixture`, the value every model returns: its log-density, sampling, biases,
concatenation, affine maps and moments (1-d and d = 2), and in 1-d its CDF,
quantiles, intervals and CRPS, against independent sources:
torch.distributions, scipy (multivariate_normal, quad, kstest),
scoringrules and closed forms."""

import math

import numpy as np
import pytest
import scoringrules
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from mdn_helpers import mixture as mixture_module
from mdn_helpers.mixture import Mixture


def random_mixture(
    batch: int, k: int, seed: int, *, spread: float = 5.0, log_sigma: tuple = (-2.0, 2.0), logit_scale: float = 2.0
) -> Mixture:
    g = torch.Generator().manual_seed(seed)
    lo, hi = log_sigma
    return Mixture.from_logits(
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
# 1-d: CDF, quantile, interval, CRPS
# ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(p=mixtures, seed=st.integers(0, 1000))
def test_cdf_matches_torch_distributions(p, seed):
    g = torch.Generator().manual_seed(seed)
    y = p.mean + 3 * torch.randn(p.loc.shape[0], generator=g, dtype=torch.float64)
    ours = p.cdf(y)
    assert ours.dtype == torch.float64 and ours.shape == y.shape
    torch.testing.assert_close(ours, p.to_distribution().cdf(y), rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(p=mixtures, q=st.floats(1e-4, 1 - 1e-4))
def test_quantile_inverts_the_cdf_to_1e_6(p, q):
    qq = p.quantile(q)
    assert torch.isfinite(qq).all()
    err = (p.to_distribution().cdf(qq) - q).abs().max()
    assert err <= 1e-6, err


@pytest.mark.slow
def test_quantile_is_monotone_and_takes_one_q_per_row():
    p = random_mixture(8, 6, 1)
    levels = torch.linspace(1e-4, 1 - 1e-4, 501, dtype=torch.float64)
    qs = torch.stack([p.quantile(float(q)) for q in levels], 1)  # (8, 501)
    assert (qs.diff(dim=1) > 0).all()
    per_row = torch.linspace(0.1, 0.9, 8, dtype=torch.float64)
    torch.testing.assert_close(p.to_distribution().cdf(p.quantile(per_row)), per_row, rtol=0, atol=1e-12)


def test_quantile_of_one_gaussian_is_its_closed_form():
    p = random_mixture(50, 1, 2)
    q = 0.975
    want = p.loc[:, 0] + p.log_scale[:, 0].exp() * stats.norm.ppf(q)
    torch.testing.assert_close(p.quantile(q), want, rtol=1e-10, atol=1e-10)


def test_quantile_stops_on_far_apart_narrow_components():
    # two spikes 1e6 apart: F is flat between them; the answer must still be found, finite, in bounded time
    p = Mixture.from_logits(
        torch.zeros(3, 2, dtype=torch.float64),
        torch.tensor([[-1e6, 1e6]] * 3, dtype=torch.float64),
        torch.full((3, 2), -8.0, dtype=torch.float64),
    )
    qq = p.quantile(torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    assert qq[0] == pytest.approx(-1e6, abs=1e-2) and qq[2] == pytest.approx(1e6, abs=1e-2)
    assert abs(float(p.cdf(qq)[1]) - 0.5) <= 1e-6 or -1e6 < qq[1] < 1e6


def test_interval_holds_its_level_with_equal_tails():
    p = random_mixture(30, 4, 3)
    d = p.to_distribution()
    for level in (0.5, 0.9, 0.99):
        lo, hi = p.interval(level)
        torch.testing.assert_close(d.cdf(lo), torch.full_like(lo, (1 - level) / 2), rtol=0, atol=1e-10)
        torch.testing.assert_close(d.cdf(hi), torch.full_like(hi, (1 + level) / 2), rtol=0, atol=1e-10)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(p=mixtures, seed=st.integers(0, 1000))
def test_crps_matches_scoringrules(p, seed):
    g = torch.Generator().manual_seed(seed)
    y = p.loc[:, 0] + 2 * torch.randn(p.loc.shape[0], generator=g, dtype=torch.float64)
    want = scoringrules.crps_mixnorm(
        y.numpy(), p.loc.numpy(), p.log_scale.exp().numpy(), torch.softmax(p.log_pi, -1).numpy(), backend="numpy"
    )
    ours = p.crps(y).numpy()
    np.testing.assert_allclose(ours, want, rtol=1e-9, atol=1e-9 * (1 + float(p.loc.abs().max())))


def test_crps_matches_numerical_integration_and_the_gaussian_closed_form():
    p = random_mixture(4, 3, 5)
    y = torch.tensor([-3.0, 0.0, 2.5, 7.0], dtype=torch.float64)
    ours = p.crps(y)
    for i in range(4):
        d = p[i : i + 1].to_distribution()
        cdf = lambda t: float(d.cdf(torch.tensor([t], dtype=torch.float64)))
        assert float(ours[i]) == pytest.approx(crps_by_quadrature(cdf, float(y[i]), -80, 80), abs=1e-7)
    # one Gaussian: σ [z (2Φ(z) − 1) + 2φ(z) − 1/√π]
    one = random_mixture(20, 1, 6)
    sd = one.log_scale[:, 0].exp().numpy()
    z = (y.repeat(5).numpy() - one.loc[:, 0].numpy()) / sd
    want = sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))
    np.testing.assert_allclose(one.crps(y.repeat(5)).numpy(), want, rtol=1e-12, atol=1e-12)


def test_crps_in_chunks_equals_in_one_go(monkeypatch):
    p = random_mixture(40, 9, 7)
    y = torch.linspace(-5, 5, 40, dtype=torch.float64)
    whole = p.crps(y)
    monkeypatch.setattr(mixture_module, "CRPS_CHUNK_VALUES", 7)  # fewer values than one row's 36 pairs
    torch.testing.assert_close(p.crps(y), whole, rtol=1e-13, atol=1e-13)


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
    y = p.loc[:, -1] + torch.linspace(-3, 3, batch, dtype=torch.float64)
    monkeypatch.setattr(mixture_module, "CRPS_CHUNK_VALUES", chunk_values)
    want = scoringrules.crps_mixnorm(
        y.numpy(), p.loc.numpy(), p.log_scale.exp().numpy(), torch.softmax(p.log_pi, -1).numpy(), backend="numpy"
    )
    np.testing.assert_allclose(p.crps(y).numpy(), want, rtol=1e-10, atol=1e-12)


def test_crps_has_gradients_and_the_tails_stay_finite():
    p = random_mixture(5, 3, 8)
    mu = p.loc.clone().requires_grad_(True)
    Mixture(p.log_pi, mu, p.log_scale).crps(torch.zeros(5, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(mu.grad).all() and mu.grad.abs().sum() > 0
    tiny = Mixture.from_logits(torch.zeros(2, 2), torch.zeros(2, 2), torch.full((2, 2), -800.0))
    out = tiny.crps(torch.tensor([0.0, 1e30]))
    assert torch.isfinite(out).all() and float(out[1]) == pytest.approx(1e30)
    assert torch.isfinite(tiny.cdf(torch.zeros(2))).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.quantile(0.0), "q must be in (0, 1)"),
        (lambda p: p.quantile(1.0), "q must be in (0, 1)"),
        (lambda p: p.quantile(math.nan), "q must be finite"),
        (lambda p: p.quantile(torch.tensor([0.5, math.nan, 0.5])), "q must be in (0, 1)"),
        (lambda p: p.quantile(torch.full((4,), 0.5)), "q must be a float or have shape (3,)"),
        (lambda p: p.quantile("0.5"), "q must be"),
        (lambda p: p.interval(1.5), "level must be in (0, 1)"),
        (lambda p: p.interval(-0.1), "level must be in (0, 1)"),
        (lambda p: p.cdf(torch.zeros(4)), "y must have shape (3,)"),
        (lambda p: p.crps(torch.tensor([0.0, math.nan, 0.0])), "y must be finite"),
        (
            lambda p: Mixture(p.log_pi, p.loc * math.nan, p.log_scale).cdf(torch.zeros(3)),
            "the mixture's loc must be finite",
        ),
        (lambda p: Mixture(p.log_pi, p.loc[:, :1], p.log_scale), "loc must have shape (3, 2) to match log_pi"),
        (
            lambda p: Mixture(torch.full_like(p.log_pi, -math.inf), p.loc, p.log_scale).cdf(torch.zeros(3)),
            "all zero",
        ),
        (lambda p: Mixture(p.log_pi, p.loc), "exactly one of them"),
        (lambda p: Mixture(p.log_pi, p.loc, p.log_scale, torch.ones(3, 2, 1, 1)), "exactly one of them"),
        (lambda p: Mixture(p.log_pi, "abc", p.log_scale), "loc must be a tensor"),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    p = random_mixture(3, 2, 0)
    with pytest.raises((ValueError, TypeError), match=None) as info:
        call(p)
    assert message in str(info.value), str(info.value)


# ---------------------------------------------------------------------------
# The object: log_prob, sample, biased, concat, affine, moments, indexing (1-d and d = 2)
# ---------------------------------------------------------------------------


def random_mixture_2d(batch: int, k: int, seed: int) -> Mixture:
    """d = 2: random weights, locations and Cholesky factors (positive diagonal)."""
    g = torch.Generator().manual_seed(seed)
    tril = torch.randn(batch, k, 2, 2, generator=g, dtype=torch.float64).tril()
    diag = torch.exp(0.5 * torch.randn(batch, k, 2, generator=g, dtype=torch.float64))
    tril = tril - torch.diag_embed(torch.diagonal(tril, dim1=-2, dim2=-1)) + torch.diag_embed(diag)
    return Mixture.from_logits(
        torch.randn(batch, k, generator=g, dtype=torch.float64),
        3 * torch.randn(batch, k, 2, generator=g, dtype=torch.float64),
        scale_tril=tril,
    )


def test_log_prob_1d_matches_torch_distributions_and_a_hand_computation():
    p = random_mixture(30, 4, 21)
    y = torch.linspace(-8, 8, 30, dtype=torch.float64)
    ours = p.log_prob(y)
    torch.testing.assert_close(ours, p.to_distribution().log_prob(y), rtol=1e-12, atol=1e-12)
    pi, mu, sd = (t.numpy() for t in (p.log_pi.exp(), p.loc, p.log_scale.exp()))
    want = np.log((pi * stats.norm.pdf(y.numpy()[:, None], mu, sd)).sum(-1))
    np.testing.assert_allclose(ours.numpy(), want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(p.nll(y), -ours)


def test_log_prob_2d_matches_torch_distributions_and_scipy():
    p = random_mixture_2d(12, 3, 22)
    y = torch.randn(12, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    ours = p.log_prob(y)
    assert ours.shape == (12,) and p.d == 2 and p.k == 3 and p.event_shape == (2,)
    torch.testing.assert_close(ours, p.to_distribution().log_prob(y), rtol=1e-10, atol=1e-10)
    for i in range(12):
        dens = sum(
            float(p.log_pi[i, j].exp())
            * stats.multivariate_normal(p.loc[i, j].numpy(), (p.scale_tril[i, j] @ p.scale_tril[i, j].T).numpy()).pdf(
                y[i].numpy()
            )
            for j in range(3)
        )
        assert float(ours[i]) == pytest.approx(math.log(dens), rel=1e-9, abs=1e-9)


def test_sample_moments_and_ks_against_the_cdf_1d():
    p = Mixture.from_logits(
        torch.tensor([[0.0, 1.0, -1.0]], dtype=torch.float64),
        torch.tensor([[-4.0, 1.0, 6.0]], dtype=torch.float64),
        torch.log(torch.tensor([[0.5, 1.0, 2.0]], dtype=torch.float64)),
    )
    n = 200_000
    s = p.sample(n, generator=torch.Generator().manual_seed(0))
    assert s.shape == (n, 1)
    dist = p.to_distribution()  # torch.distributions' closed-form mean and variance
    se_mean = math.sqrt(float(dist.variance) / n)
    assert abs(float(s.mean()) - float(dist.mean)) < 5 * se_mean
    assert float(s.var()) == pytest.approx(float(dist.variance), rel=0.02)
    # one draw per mixture of a batch of n copies: the same law
    one_each = p[[0] * 5000].sample(generator=torch.Generator().manual_seed(1))
    assert one_each.shape == (5000,)
    cdf = lambda t: p[[0] * len(t)].cdf(torch.as_tensor(t, dtype=torch.float64)).numpy()
    assert stats.kstest(s[:5000, 0].numpy(), cdf).pvalue > 1e-3
    assert stats.kstest(one_each.numpy(), cdf).pvalue > 1e-3


def test_sample_moments_2d_and_mean_variance_against_samples():
    p = random_mixture_2d(1, 3, 23)
    n = 200_000
    s = p.sample(n, generator=torch.Generator().manual_seed(2))[:, 0]  # (n, 2)
    assert s.shape == (n, 2)
    var = p.variance[0]
    assert var.shape == (2, 2)
    se = torch.sqrt(torch.diagonal(var) / n)
    assert ((s.mean(0) - p.mean[0]).abs() < 5 * se).all()
    torch.testing.assert_close(torch.cov(s.T), var, rtol=0.03, atol=0.03 * float(var.abs().max()))
    torch.testing.assert_close(p.mean, p.to_distribution().mean)


def test_mean_and_variance_1d_match_torch_distributions():
    p = random_mixture(20, 5, 24)
    torch.testing.assert_close(p.mean, p.to_distribution().mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(p.variance, p.to_distribution().variance, rtol=1e-10, atol=1e-10)


def test_the_same_generator_seed_gives_the_same_draws():
    for p in (random_mixture(6, 3, 25), random_mixture_2d(6, 3, 26)):
        a = p.sample(4, generator=torch.Generator().manual_seed(9))
        b = p.sample(4, generator=torch.Generator().manual_seed(9))
        c = p.sample(4, generator=torch.Generator().manual_seed(10))
        assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("pi_bias, std_bias", [(0.0, 0.0), (2.0, 1.5), (-1.0, -0.5), (5.0, 0.0)])
def test_biased_is_graves_rule(pi_bias, std_bias):
    p = random_mixture(10, 4, 27)
    b = p.biased(pi_bias, std_bias)
    torch.testing.assert_close(b.log_pi.exp(), torch.softmax(p.log_pi * (1 + pi_bias), -1))
    torch.testing.assert_close(b.log_scale.exp(), p.log_scale.exp() * math.exp(-std_bias))
    torch.testing.assert_close(b.loc, p.loc)
    q = random_mixture_2d(4, 3, 28)
    b2 = q.biased(pi_bias, std_bias)
    torch.testing.assert_close(b2.log_pi.exp(), torch.softmax(q.log_pi * (1 + pi_bias), -1))
    torch.testing.assert_close(b2.scale_tril, q.scale_tril * math.exp(-std_bias))
    with pytest.raises(ValueError, match="std_bias must be within"):
        p.biased(0.0, 60.0)
    with pytest.raises(ValueError, match="pi_bias must be"):
        p.biased(-2.0, 0.0)


def test_floored_adds_eps_to_the_scales():
    p = random_mixture(5, 3, 29)
    torch.testing.assert_close(p.floored(0.3).log_scale.exp(), p.log_scale.exp() + 0.3)
    eps = torch.tensor([0.0, 0.1, 2.0], dtype=torch.float64)
    torch.testing.assert_close(p.floored(eps).log_scale.exp(), p.log_scale.exp() + eps)
    assert p.floored(0.0) is p
    with pytest.raises(ValueError, match="eps must be a float or have shape"):
        p.floored(torch.zeros(2))
    with pytest.raises(ValueError, match="d = 1"):
        random_mixture_2d(2, 2, 0).floored(0.1)


def test_concat_density_is_the_average_of_the_members():
    parts = [random_mixture(8, k, 30 + k) for k in (1, 3, 4)]
    y = torch.linspace(-5, 5, 8, dtype=torch.float64)
    both = Mixture.concat(parts)
    assert both.k == 8
    want = torch.stack([m.log_prob(y).exp() for m in parts]).mean(0)
    torch.testing.assert_close(both.log_prob(y).exp(), want, rtol=1e-12, atol=0)
    parts2 = [random_mixture_2d(5, 2, 40), random_mixture_2d(5, 3, 41)]
    y2 = torch.zeros(5, 2, dtype=torch.float64)
    want2 = torch.stack([m.log_prob(y2).exp() for m in parts2]).mean(0)
    torch.testing.assert_close(Mixture.concat(parts2).log_prob(y2).exp(), want2, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="one batch shape and one d"):
        Mixture.concat([parts[0], parts2[0]])
    with pytest.raises(TypeError, match="mixtures must be a non-empty list of Mixture"):
        Mixture.concat([])


def test_affine_is_the_change_of_variables():
    p = random_mixture(10, 3, 42)
    y = torch.linspace(-20, 20, 10, dtype=torch.float64)
    a, c = 2.5, 4.0  # u = a + c·y
    q = p.affine(a, c)
    torch.testing.assert_close(q.log_prob(a + c * y), p.log_prob(y) - math.log(c), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(q.cdf(a + c * y), p.cdf(y), rtol=0, atol=1e-12)
    r = random_mixture_2d(6, 2, 43)
    shift, scale = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([3.0, 0.5], dtype=torch.float64)
    y2 = torch.randn(6, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(
        r.affine(shift, scale).log_prob(shift + scale * y2), r.log_prob(y2) - scale.log().sum(), rtol=1e-10, atol=1e-10
    )


def test_getitem_picks_rows():
    p = random_mixture(6, 3, 44)
    y = torch.linspace(-1, 1, 6, dtype=torch.float64)
    torch.testing.assert_close(p[2:4].log_prob(y[2:4]), p.log_prob(y)[2:4])
    mask = torch.tensor([True, False, True, False, False, True])
    torch.testing.assert_close(p[mask].cdf(y[mask]), p.cdf(y)[mask])
    assert p[1].batch_shape == () and p[1].k == 3
    with pytest.raises(IndexError, match="no rows"):
        p[1][0]
    q = random_mixture_2d(4, 2, 45)
    assert q[1:3].scale_tril.shape == (2, 2, 2, 2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Mixture(torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 2)), "loc must have shape (3, 2)"),
        (lambda: Mixture(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2, 2)), "log_scale must have shape (3, 2)"),
        (lambda: Mixture(torch.zeros(3, 2), torch.zeros(3, 2)), "log_scale (d = 1) or scale_tril (d > 1)"),
        (
            lambda: Mixture(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2), torch.eye(2).expand(3, 2, 2, 2)),
            "exactly one of them",
        ),
        (
            lambda: Mixture(torch.zeros(3, 2), torch.zeros(3, 2, 2), scale_tril=torch.eye(3).expand(3, 2, 3, 3)),
            "scale_tril must have shape (3, 2, 2, 2)",
        ),
        (lambda: Mixture(torch.zeros(3, 2), torch.zeros(3, 2), scale_tril=torch.eye(2)), "loc must have shape"),
        (lambda: Mixture(torch.zeros(()), torch.zeros(()), torch.zeros(())), "log_pi must have shape (..., k)"),
    ],
)
def test_constructor_errors_name_the_argument(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value), str(info.value)


@pytest.mark.parametrize("method", ["cdf", "quantile", "interval", "crps"])
def test_one_d_methods_on_d2_say_so(method):
    p = random_mixture_2d(3, 2, 46)
    arg = 0.5 if method in ("quantile", "interval") else torch.zeros(3)
    with pytest.raises(ValueError, match=r"over one y \(d = 1\); this one has d = 2"):
        getattr(p, method)(arg)


def test_log_prob_checks_y_shape():
    with pytest.raises(ValueError, match=r"y must have shape \(3, 2\)"):
        random_mixture_2d(3, 2, 47).log_prob(torch.zeros(3))


def test_sample_moments_match_the_closed_form_of_a_model_sized_batch():
    """The Gumbel-max pick by weight and the Gaussian draw: 200,000 draws from one row of a
    float32 mixture, one per copy (the way a model samples), against torch.distributions."""
    p = Mixture(
        torch.log_softmax(torch.tensor([[0.0, 1.0, -1.0]]), -1),
        torch.tensor([[-4.0, 1.0, 6.0]]),
        torch.log(torch.tensor([[0.5, 1.0, 2.0]])),
    )
    n = 200_000
    big = Mixture(*(t.expand(n, 3) for t in (p.log_pi, p.loc, p.log_scale)))
    s = big.sample(generator=torch.Generator().manual_seed(0)).double()
    d = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=p.log_pi), torch.distributions.Normal(p.loc, p.log_scale.exp())
    )
    assert abs(float(s.mean()) - float(d.mean)) < 5 * math.sqrt(float(d.variance) / n)
    assert float(s.var()) == pytest.approx(float(d.variance), rel=0.02)
    torch.testing.assert_close(p.to_distribution().mean, d.mean)
    torch.testing.assert_close(p.to_distribution().variance, d.variance)


def test_the_tail_clamp_leaves_ordinary_values_unchanged_and_acts_only_far_out():
    from mdn_helpers.mixture import Z_LIMIT

    g = torch.Generator().manual_seed(0)
    p = Mixture(
        torch.log_softmax(torch.randn(50, 4, generator=g), -1),
        torch.randn(50, 4, generator=g) * 5,
        torch.randn(50, 4, generator=g),
    )
    y = torch.randn(50, generator=g) * 20
    z = (y[:, None] - p.loc) * torch.exp(-p.log_scale)
    log_normal = -0.5 * z * z - p.log_scale - 0.5 * math.log(2 * math.pi)  # the formula before the clamp
    naive = -torch.logsumexp(p.log_pi + log_normal, dim=-1)
    assert torch.equal(p.nll(y), naive)
    # one component at 0 with σ = 1: at y = 1e16 the clamp gives 0.5·Z_LIMIT² + log √(2π)
    one = Mixture(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1))
    assert float(one.nll(torch.tensor([1e16]))) == pytest.approx(0.5 * Z_LIMIT**2, rel=1e-6)
    # and σ so small that exp(−log σ) overflows float32: still finite
    mu, log_sigma = torch.zeros(1, 1, requires_grad=True), torch.full((1, 1), -200.0, requires_grad=True)
    out = Mixture(torch.zeros(1, 1), mu, log_sigma).nll(torch.tensor([1.0]))
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(t).all() for t in torch.autograd.grad(out.sum(), [mu, log_sigma]))


# ---------------------------------------------------------------------------
# Mixture.nll against the Gaussian log-density written out in float64
# ---------------------------------------------------------------------------


def _gauss_nll_and_grads(y: float, mu: float, sigma: float) -> tuple[float, float, float]:
    """−log N(y; μ, σ²) = ½ z² + log σ + ½ log 2π, z = (y − μ)/σ, in Python floats
    (float64), and its derivatives: d/dμ = −(y − μ)/σ² = −z/σ, d/d log σ = 1 − z²."""
    z = (y - mu) / sigma
    return 0.5 * z * z + math.log(sigma) + 0.5 * math.log(2 * math.pi), -z / sigma, 1.0 - z * z


# (μ, σ, y): the far tail of N(μ, σ²) up to |z| = 9e14, just inside the tail clamp, and tiny σ down to
# the smallest float64 subnormal (log σ = −744.4), at z of order 1 and far out
_TAIL_CASES = [
    (0.0, 1.0, 1e5),  # z = 1e5: a tail clamp at |z| = 1e4 gives 5e7 nats instead of 5e9
    (0.0, 1.0, -1e5),
    (0.0, 1.0, 3e7),
    (0.0, 1.0, 1e10),
    (3.0, 1.0, 9e14 + 3.0),  # z = 9e14
    (-2.0, 2.5, -2e15),  # z = −8e14
    (0.5, 1e-6, 0.5 + 1e-6),  # z ≈ 1 at σ = 1e-6
    (0.0, 1e-6, 1e-6),
    (0.0, 1e-6, -5e-6),
    (0.0, 1e-6, 1e8),  # z = 1e14
    (0.0, 1e-30, 2e-30),
    (0.0, 1e-100, 1e-99),
    (0.0, 1e-300, 2e-300),
    (0.0, 1e-300, 1e-286),  # z = 1e14
    (0.0, 1e-310, 1e-310),  # subnormal σ: exp(−log σ) > e^709 overflows float64 on its own
    (0.0, 5e-324, 1.5e-323),  # the smallest subnormal σ, z = 3
]


@pytest.mark.parametrize("mu, sigma, y", _TAIL_CASES)
def test_nll_and_its_gradients_in_the_far_tail_and_at_tiny_sigma_match_float64(mu, sigma, y):
    want, d_mu, d_log_sigma = _gauss_nll_and_grads(y, mu, sigma)
    p = Mixture(
        torch.zeros(1, 1, dtype=torch.float64),
        torch.full((1, 1), mu, dtype=torch.float64, requires_grad=True),
        torch.full((1, 1), math.log(sigma), dtype=torch.float64, requires_grad=True),
    )
    out = p.nll(torch.tensor([y], dtype=torch.float64))
    g_mu, g_log_sigma = torch.autograd.grad(out.sum(), [p.loc, p.log_scale])
    # exp(−log σ) and 1/σ differ by |log σ|·eps relatively (≤ 2e-13 at σ = 5e-324): hence rel 1e-11
    assert float(out.detach()) == pytest.approx(want, rel=1e-11, abs=1e-12)
    assert float(g_mu) == pytest.approx(d_mu, rel=1e-11, abs=1e-12)
    assert float(g_log_sigma) == pytest.approx(d_log_sigma, rel=1e-11, abs=1e-12)


@pytest.mark.parametrize("y", [1e5, -1e5, 1e10, 9e14])
def test_float32_nll_and_gradient_far_out_are_the_closed_form(y):
    """At N(0, 1) in float32: NLL(1e5) = 5e9 + ½ log 2π and d/dμ = −1e5, not a clamp's value and 0."""
    want, d_mu, d_log_sigma = _gauss_nll_and_grads(y, 0.0, 1.0)
    p = Mixture(torch.zeros(1, 1), torch.zeros(1, 1, requires_grad=True), torch.zeros(1, 1, requires_grad=True))
    out = p.nll(torch.tensor([y]))
    g_mu, g_log_sigma = torch.autograd.grad(out.sum(), [p.loc, p.log_scale])
    assert float(out.detach()) == pytest.approx(want, rel=1e-6)
    assert float(g_mu) == pytest.approx(d_mu, rel=1e-6)
    assert float(g_log_sigma) == pytest.approx(d_log_sigma, rel=1e-6)


def test_float32_nll_at_a_sigma_whose_reciprocal_overflows_float32():
    """1/σ beyond float32's 3.4e38 (log σ = −100, −90) with y − μ subnormal (1e-40): z = 1e-40/σ is
    2.7e3 and 0.12, far inside the tail clamp: NLL = ½ z² + log σ + ½ log 2π, and at log σ = −90
    (where −z/σ = −1.5e38 still fits float32) the gradients are the closed form's."""
    y = float(torch.tensor(1e-40))  # as float32 holds it
    for log_sigma, check_grads in ((-100.0, False), (-90.0, True)):
        want, d_mu, d_log_sigma = _gauss_nll_and_grads(y, 0.0, math.exp(log_sigma))
        p = Mixture(
            torch.zeros(1, 1),
            torch.zeros(1, 1, requires_grad=True),
            torch.full((1, 1), log_sigma, requires_grad=True),
        )
        out = p.nll(torch.tensor([y]))
        assert float(out.detach()) == pytest.approx(want, rel=1e-5), log_sigma
        if check_grads:
            g_mu, g_log_sigma = torch.autograd.grad(out.sum(), [p.loc, p.log_scale])
            assert float(g_mu) == pytest.approx(d_mu, rel=1e-5)
            assert float(g_log_sigma) == pytest.approx(d_log_sigma, rel=1e-5)


def test_two_component_nll_at_tiny_sigma_matches_a_float64_logsumexp():
    """A mixture of N(0, (1e-6)²) and N(1e-5, (1e-8)²), weights 0.3 and 0.7, at y near each and between."""
    log_w, mus, sigmas = [math.log(0.3), math.log(0.7)], [0.0, 1e-5], [1e-6, 1e-8]
    ys = [0.0, 2e-6, 5e-6, 1e-5, 1e-5 + 3e-8, -1e-3]
    p = Mixture(
        torch.tensor([log_w] * len(ys), dtype=torch.float64),
        torch.tensor([mus] * len(ys), dtype=torch.float64),
        torch.tensor([[math.log(s) for s in sigmas]] * len(ys), dtype=torch.float64),
    )
    got = p.nll(torch.tensor(ys, dtype=torch.float64)).tolist()
    for y, g in zip(ys, got, strict=True):
        terms = [lw - _gauss_nll_and_grads(y, m, s)[0] for lw, m, s in zip(log_w, mus, sigmas, strict=True)]
        top = max(terms)
        want = -(top + math.log(sum(math.exp(t - top) for t in terms)))
        assert g == pytest.approx(want, rel=1e-12, abs=1e-12), y
