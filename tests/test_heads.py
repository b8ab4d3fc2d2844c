"""CholeskyHead and Graves' bivariate parametrisation, against independent oracles."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from mdn_helpers.heads import (
    LOG_SCALE_BOUND,
    CholeskyHead,
    bivariate_scale_tril,
    n_outputs_per_component,
    scale_tril_to_bivariate,
)
from mdn_helpers.mixture import Mixture


def make_head(n_in=3, k=4, d=2, eps=0.0, seed=0, dtype=torch.float64, spread=3.0):
    torch.manual_seed(seed)
    head = CholeskyHead(n_in, k, d, eps=eps).to(dtype)
    with torch.no_grad():  # spread the outputs so that components differ visibly
        head.lin.weight.mul_(spread)
        head.lin.bias.normal_(0.0, 1.0)
    return head


def independent_parts(head, h):
    """The documented layout, re-derived here with loops: log π, μ (b, k, d), L (b, k, d, d)."""
    k, d = head.n_components, head.d
    out = (h.to(head.lin.weight) @ head.lin.weight.T + head.lin.bias).detach()
    logits = out[:, :k]
    loc = out[:, k : k + k * d].reshape(-1, k, d)
    diag = out[:, k + k * d : k + 2 * k * d].reshape(-1, k, d)
    off = out[:, k + 2 * k * d :].reshape(-1, k, d * (d - 1) // 2)
    tril = torch.zeros(out.shape[0], k, d, d, dtype=out.dtype)
    for j in range(k):
        p = 0
        for r in range(d):
            for c in range(r + 1):
                if r == c:
                    tril[:, j, r, r] = torch.exp(LOG_SCALE_BOUND * torch.tanh(diag[:, j, r] / LOG_SCALE_BOUND))
                    tril[:, j, r, r] += head.eps
                else:
                    tril[:, j, r, c] = off[:, j, p]
                    p += 1
    return torch.log_softmax(logits, -1), loc, tril


def test_the_head_has_one_linear_layer_of_the_documented_size():
    head = CholeskyHead(5, 3, 2)
    assert head.lin.out_features == 3 * (1 + 2 + 3) == 3 * n_outputs_per_component(2)
    assert CholeskyHead(5, 3, 4).lin.out_features == 3 * (1 + 4 + 10)
    m = head.mixture(torch.randn(7, 5))
    assert isinstance(m, Mixture)
    assert (m.d, m.k, tuple(m.batch_shape)) == (2, 3, (7,))
    assert m.loc.shape == (7, 3, 2) and m.scale_tril.shape == (7, 3, 2, 2)
    assert bool((m.scale_tril.triu(1) == 0).all())
    assert bool((torch.diagonal(m.scale_tril, dim1=-2, dim2=-1) > 0).all())
    assert torch.allclose(m.log_pi.logsumexp(-1), torch.zeros(7), atol=1e-6)


@pytest.mark.parametrize(("d", "eps"), [(2, 0.0), (3, 0.0), (2, 0.05), (4, 0.2)])
def test_log_prob_matches_multivariate_normal_built_independently(d, eps):
    head = make_head(d=d, eps=eps)
    h = torch.randn(20, 3, dtype=torch.float64)
    y = 2 * torch.randn(20, d, dtype=torch.float64)
    log_pi, loc, tril = independent_parts(head, h)
    oracle = MixtureSameFamily(Categorical(logits=log_pi), MultivariateNormal(loc, scale_tril=tril))
    m = head.mixture(h)
    torch.testing.assert_close(m.scale_tril.detach(), tril, rtol=1e-13, atol=0)
    torch.testing.assert_close(m.log_prob(y).detach(), oracle.log_prob(y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(-head.nll(h, y).detach(), oracle.log_prob(y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [2, 3])
def test_log_prob_matches_scipy(d):
    head = make_head(d=d, seed=1, spread=1.0)  # well-conditioned covariances for scipy
    h = torch.randn(10, 3, dtype=torch.float64)
    y = torch.randn(10, d, dtype=torch.float64)
    m = head.mixture(h)
    pi, loc, tril = m.log_pi.detach().exp().numpy(), m.loc.detach().numpy(), m.scale_tril.detach().numpy()
    want = [
        math.log(
            sum(
                pi[b, j] * stats.multivariate_normal(loc[b, j], tril[b, j] @ tril[b, j].T).pdf(y[b].numpy())
                for j in range(m.k)
            )
        )
        for b in range(10)
    ]
    np.testing.assert_allclose(m.log_prob(y).detach().numpy(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_the_nll_fast_path_equals_mixture_log_prob_in_float32(eps):
    head = make_head(d=2, eps=eps, dtype=torch.float32)
    h, y = torch.randn(64, 3), 3 * torch.randn(64, 2)
    torch.testing.assert_close(head.nll(h, y), -head.mixture(h).log_prob(y), rtol=1e-5, atol=1e-4)
    assert torch.equal(head(h, y), head.nll(h, y))


@pytest.mark.parametrize("value", [1e4, -1e4])
def test_extreme_raw_outputs_give_finite_nll_and_gradients(value):
    for d in (2, 3):
        head = CholeskyHead(3, 2, d)
        with torch.no_grad():
            head.lin.weight.zero_()
            signs = torch.where(torch.arange(head.lin.out_features) % 3 == 0, -1.0, 1.0)
            head.lin.bias.copy_(value * signs)
        h = torch.randn(5, 3)
        y = torch.randn(5, d)
        for loss in (head.nll(h, y), -head.mixture(h).log_prob(y)):
            assert bool(torch.isfinite(loss).all())
            head.zero_grad()
            loss.sum().backward()
            assert all(bool(torch.isfinite(p.grad).all()) for p in head.parameters())
        diag = torch.diagonal(head.mixture(h).scale_tril, dim1=-2, dim2=-1)
        assert bool((diag >= math.exp(-LOG_SCALE_BOUND) * 0.999).all())
        assert bool((diag <= math.exp(LOG_SCALE_BOUND) * 1.001).all())


def test_std_bias_scales_every_covariance_by_exp_minus_twice_the_bias():
    head = make_head(d=3)
    h = torch.randn(6, 3, dtype=torch.float64)
    plain, biased = head.mixture(h), head.mixture(h, std_bias=0.7)
    cov = plain.scale_tril @ plain.scale_tril.transpose(-1, -2)
    cov_b = biased.scale_tril @ biased.scale_tril.transpose(-1, -2)
    torch.testing.assert_close(cov_b, cov * math.exp(-1.4))
    torch.testing.assert_close(biased.log_pi, plain.log_pi)
    torch.testing.assert_close(biased.loc, plain.loc)


def test_eps_is_a_floor_added_to_the_diagonal_after_the_bias():
    h = torch.randn(6, 3, dtype=torch.float64)
    plain = make_head(d=2).mixture(h, std_bias=0.5)
    floored = make_head(d=2, eps=0.3).mixture(h, std_bias=0.5)
    torch.testing.assert_close(floored.scale_tril, plain.scale_tril + 0.3 * torch.eye(2, dtype=torch.float64))


def test_pi_bias_sharpens_the_weights_and_minus_one_equalises_them():
    head = make_head(d=2, k=5)
    h = torch.randn(8, 3, dtype=torch.float64)
    plain = head.mixture(h).log_pi
    sharp = head.mixture(h, pi_bias=2.0).log_pi
    torch.testing.assert_close(sharp, torch.log_softmax(3.0 * plain, -1))
    assert bool((sharp.max(-1).values > plain.max(-1).values).all())
    torch.testing.assert_close(head.mixture(h, pi_bias=-1.0).log_pi.exp(), torch.full((8, 5), 0.2, dtype=h.dtype))


def test_sampling_is_reproducible_with_a_seeded_generator():
    head = make_head(d=2)
    h = torch.randn(10, 3, dtype=torch.float64)
    a = head.sample(h, generator=torch.Generator().manual_seed(3))
    b = head.sample(h, generator=torch.Generator().manual_seed(3))
    c = head.sample(h, generator=torch.Generator().manual_seed(4))
    assert a.shape == (10, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sample_covariance_matches_the_mixture_variance():
    head = make_head(d=2, k=3, seed=2)
    m = head.mixture(torch.randn(2, 3, dtype=torch.float64))
    n = 200_000
    draws = m.sample(n, generator=torch.Generator().manual_seed(0))  # (n, 2, 2)
    for b in range(2):
        x = draws[:, b]
        cov = torch.cov(x.T)
        want = m.variance[b].detach()
        # standardise by the true covariance: every entry of L⁻¹ Ĉ L⁻ᵀ − I has sd ≈ √(κ/n), κ ≲ 10 here
        chol = torch.linalg.cholesky(want)
        white = torch.linalg.solve_triangular(
            chol, torch.linalg.solve_triangular(chol, cov, upper=False).T, upper=False
        )
        assert float((white - torch.eye(2, dtype=white.dtype)).abs().max()) < 0.05
        z = torch.linalg.solve_triangular(chol, (x.mean(0) - m.mean[b].detach()).unsqueeze(-1), upper=False)
        assert float(z.abs().max()) < 5 / math.sqrt(n)


def test_errors_name_the_argument():
    head = CholeskyHead(3, 2, 2)
    with pytest.raises(ValueError, match=r"h must have shape \(batch, 3\)"):
        head.mixture(torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"h must have shape"):
        head.nll(torch.randn(4), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"y must have 2 column"):
        head.nll(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"y must have one row per row of h"):
        head.nll(torch.randn(4, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"y must be finite"):
        head.nll(torch.randn(4, 3), torch.full((4, 2), math.nan))
    with pytest.raises(ValueError, match=r"d must be >= 2.*1-d head"):
        CholeskyHead(3, 2, 1)
    with pytest.raises(ValueError, match=r"d must be >= 2, got 0"):
        CholeskyHead(3, 2, 0)
    with pytest.raises(TypeError, match=r"d must be an int"):
        CholeskyHead(3, 2, 2.0)
    with pytest.raises(ValueError, match=r"eps must be >= 0"):
        CholeskyHead(3, 2, 2, eps=-0.1)
    with pytest.raises(ValueError, match=r"eps must be finite"):
        CholeskyHead(3, 2, 2, eps=math.nan)
    with pytest.raises(TypeError, match=r"n_in must be an int"):
        CholeskyHead(True, 2, 2)
    with pytest.raises(ValueError, match=r"n_components must be >= 1"):
        CholeskyHead(3, 0, 2)
    with pytest.raises(ValueError, match=r"std_bias must be within"):
        head.mixture(torch.randn(4, 3), std_bias=100.0)
    with pytest.raises(ValueError, match=r"pi_bias must be >= -1"):
        head.mixture(torch.randn(4, 3), pi_bias=-2.0)
    for rho in (1.0, -1.0, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"rho must be in \(-1, 1\)"):
            bivariate_scale_tril(torch.zeros(3), torch.zeros(3), torch.tensor([0.0, rho, 0.0]))
    with pytest.raises(ValueError, match=r"log_sigma1 must be finite"):
        bivariate_scale_tril(torch.tensor([math.inf]), torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match=r"must broadcast together"):
        bivariate_scale_tril(torch.zeros(3), torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match=r"scale_tril must have shape \(\.\.\., 2, 2\)"):
        scale_tril_to_bivariate(torch.eye(3))


# -- Graves' bivariate parametrisation ---------------------------------------------------------------------


def graves_bivariate_log_density(x1, x2, mu1, mu2, s1, s2, rho):
    """Graves (2013), eqs. 24-25, written out: N(x | μ, σ, ρ) = exp(−Z / (2(1−ρ²))) / (2π σ1 σ2 √(1−ρ²))."""
    z = ((x1 - mu1) / s1) ** 2 + ((x2 - mu2) / s2) ** 2 - 2 * rho * (x1 - mu1) * (x2 - mu2) / (s1 * s2)
    return -z / (2 * (1 - rho**2)) - torch.log(2 * math.pi * s1 * s2 * torch.sqrt(1 - rho**2))


def test_bivariate_scale_tril_gives_graves_covariance():
    g = torch.Generator().manual_seed(0)
    ls1, ls2 = torch.randn(50, generator=g, dtype=torch.float64), torch.randn(50, generator=g, dtype=torch.float64)
    rho = torch.rand(50, generator=g, dtype=torch.float64) * 1.98 - 0.99
    tril = bivariate_scale_tril(ls1, ls2, rho)
    assert tril.shape == (50, 2, 2)
    s1, s2 = ls1.exp(), ls2.exp()
    want = torch.stack([torch.stack([s1**2, rho * s1 * s2], -1), torch.stack([rho * s1 * s2, s2**2], -1)], -2)
    torch.testing.assert_close(tril @ tril.transpose(-1, -2), want, rtol=1e-13, atol=1e-14)
    back = scale_tril_to_bivariate(tril)
    for got, exp in zip(back, (s1, s2, rho)):
        torch.testing.assert_close(got, exp, rtol=1e-13, atol=1e-15)


def test_a_mixture_from_bivariate_scale_tril_has_graves_density():
    g = torch.Generator().manual_seed(1)
    b, k = 30, 3
    kw = {"generator": g, "dtype": torch.float64}
    logits, loc = torch.randn(b, k, **kw), torch.randn(b, k, 2, **kw)
    ls1, ls2 = 0.5 * torch.randn(b, k, **kw), 0.5 * torch.randn(b, k, **kw)
    rho = torch.tanh(2 * torch.randn(b, k, **kw))
    m = Mixture.from_logits(logits, loc, scale_tril=bivariate_scale_tril(ls1, ls2, rho))
    y = torch.randn(b, 2, **kw)
    comp = graves_bivariate_log_density(
        y[:, None, 0], y[:, None, 1], loc[..., 0], loc[..., 1], ls1.exp(), ls2.exp(), rho
    )
    want = torch.logsumexp(torch.log_softmax(logits, -1) + comp, -1)
    torch.testing.assert_close(m.log_prob(y), want, rtol=1e-12, atol=1e-12)


def test_the_d2_head_is_graves_parametrisation():
    head = make_head(d=2, k=4, seed=5)
    h = torch.randn(25, 3, dtype=torch.float64)
    y = torch.randn(25, 2, dtype=torch.float64)
    m = head.mixture(h)
    s1, s2, rho = scale_tril_to_bivariate(m.scale_tril.detach())
    assert bool(((rho > -1) & (rho < 1)).all())
    # L22 = σ2·√((1−ρ)(1+ρ)) loses a few digits where |ρ| is near 1
    torch.testing.assert_close(bivariate_scale_tril(s1.log(), s2.log(), rho), m.scale_tril.detach(), rtol=1e-10, atol=0)
    loc = m.loc.detach()
    comp = graves_bivariate_log_density(y[:, None, 0], y[:, None, 1], loc[..., 0], loc[..., 1], s1, s2, rho)
    want = torch.logsumexp(m.log_pi.detach() + comp, -1)
    torch.testing.assert_close(-head.nll(h, y).detach(), want, rtol=1e-12, atol=1e-12)


def test_bivariate_scale_tril_near_perfect_correlation_stays_accurate():
    rho = torch.tensor([1 - 1e-12, -(1 - 1e-12)], dtype=torch.float64)
    tril = bivariate_scale_tril(torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), rho)
    torch.testing.assert_close(tril[:, 1, 1], torch.sqrt((1 - rho) * (1 + rho)), rtol=1e-15, atol=0)
    assert bool((tril[:, 1, 1] > 0).all())
