"""The linear-Gaussian baseline (`baselines`): the fit against numpy's least
squares, the law against scipy.stats.norm and scoringrules, and the
scorecard and PIT plot taking it as they take a model."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import scoringrules
import torch
from scipy import stats

import mdn_helpers as mh
from mdn_helpers.plots import plot_pit


def linear_data(n: int, d: int, seed: int, sd: float = 0.7):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(n, d, generator=g, dtype=torch.float64) + 10
    coef = torch.randn(d + 1, generator=g, dtype=torch.float64)
    y = coef[0] + x @ coef[1:] + sd * torch.randn(n, generator=g, dtype=torch.float64)
    return (x[:, 0] if d == 1 else x), y


@pytest.mark.parametrize("d", [1, 3])
def test_fit_matches_numpy_least_squares_and_the_ml_noise_level(d):
    x, y = linear_data(200, d, seed=d)
    law = mh.fit_linear_gaussian(x, y)
    design = np.column_stack([np.ones(200), x.numpy().reshape(200, d)])
    coef, *_ = np.linalg.lstsq(design, y.numpy(), rcond=None)
    np.testing.assert_allclose(law.coef.numpy(), coef, rtol=1e-10, atol=1e-10)
    resid = y.numpy() - design @ coef
    assert law.sd == pytest.approx(math.sqrt(np.mean(resid**2)), rel=1e-12)  # ML: divide by n, not n − d − 1
    if d == 1:
        np.testing.assert_allclose(law.coef.numpy(), np.polyfit(x.numpy(), y.numpy(), 1)[::-1], rtol=1e-9)


def test_fit_is_the_maximum_of_the_likelihood():
    x, y = linear_data(100, 1, seed=5)
    law = mh.fit_linear_gaussian(x, y)
    best = float(law.log_prob(x, y).sum())
    for dc, ds in (
        (torch.tensor([1e-3, 0.0]), 1.0),
        (torch.tensor([0.0, 1e-4]), 1.0),
        (torch.zeros(2), 1.01),
        (torch.zeros(2), 0.99),
    ):
        other = mh.LinearGaussian(law.coef + dc.double(), law.sd * ds)
        assert float(other.log_prob(x, y).sum()) < best


@pytest.mark.parametrize("d", [1, 2])
def test_law_matches_scipy_norm_and_scoringrules(d):
    x, y = linear_data(50, d, seed=10 + d)
    law = mh.LinearGaussian(torch.tensor([0.5, -1.0, 2.0][: d + 1]), 1.7)
    mean = 0.5 + x.numpy().reshape(50, d) @ np.array([-1.0, 2.0][:d])
    np.testing.assert_allclose(law.mean(x).numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(law.log_prob(x, y).numpy(), stats.norm.logpdf(y.numpy(), mean, 1.7), rtol=1e-10)
    np.testing.assert_allclose(law.cdf(x, y).numpy(), stats.norm.cdf(y.numpy(), mean, 1.7), rtol=1e-10, atol=1e-15)
    q = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    np.testing.assert_allclose(law.quantile(x, q).numpy(), stats.norm.ppf(q.numpy(), mean, 1.7), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(law.quantile(x, 0.9).numpy(), stats.norm.ppf(0.9, mean, 1.7), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(law.crps(x, y).numpy(), scoringrules.crps_normal(y.numpy(), mean, 1.7), rtol=1e-9)
    for out in (law.log_prob(x, y), law.cdf(x, y), law.crps(x, y)):
        assert out.dtype == torch.float64 and out.shape == (50,)


@pytest.mark.parametrize("sd", [1e-6, 1e-12, 1e-30, 1e-100, 1e-300, 1e-306, 1e-310, 5e-324])
def test_log_prob_and_cdf_at_tiny_sd_match_python_math(sd):
    """N(mean, sd²) down to the smallest subnormal sd the law accepts, at z = (y − mean)/sd from 0 to
    1e14: log N written out with Python's math in float64 (not the module's constants), Φ by math.erfc."""
    zs = [0.0, 1.0, -1.0, 3.0, -7.5, 30.0, 1e3, 1e8, 1e14]
    law = mh.LinearGaussian(torch.tensor([0.0, 0.0]), sd)  # mean 0, so y = z·sd holds z exactly enough
    y = torch.tensor([z * sd for z in zs], dtype=torch.float64)
    x = torch.zeros(len(zs), dtype=torch.float64)
    log_p, cdf = law.log_prob(x, y).tolist(), law.cdf(x, y).tolist()
    for i, yi in enumerate(y.tolist()):
        z = yi / sd
        want = -0.5 * z * z - math.log(sd) - 0.5 * math.log(2 * math.pi)
        # exp(−log σ) and 1/σ differ by |log σ|·eps relatively, ≤ 2e-13: hence rel 1e-11
        assert log_p[i] == pytest.approx(want, rel=1e-11, abs=1e-12), (sd, zs[i])
        assert cdf[i] == pytest.approx(0.5 * math.erfc(-z / math.sqrt(2)), rel=1e-10, abs=1e-300), (sd, zs[i])


def test_log_prob_at_sd_1e_minus_6_with_a_slope():
    """The same at sd = 1e-6 with a non-zero mean a + b·x, against scipy.stats.norm.logpdf."""
    law = mh.LinearGaussian(torch.tensor([0.5, -2.0]), 1e-6)
    x = torch.tensor([0.0, 1.0, -3.0, 0.25], dtype=torch.float64)
    mean = 0.5 - 2.0 * x.numpy()
    y = torch.tensor(mean + np.array([1e-6, -2.5e-6, 4e-5, 0.1]), dtype=torch.float64)
    np.testing.assert_allclose(law.log_prob(x, y).numpy(), stats.norm.logpdf(y.numpy(), mean, 1e-6), rtol=1e-9)


def test_density_grid_matches_scipy_and_integrates_to_one():
    law = mh.LinearGaussian(torch.tensor([1.0, 0.5]), 0.3)
    xs, ys = torch.tensor([-2.0, 0.0, 4.0]), torch.linspace(-5, 8, 2001, dtype=torch.float64)
    dens = law.density(xs, ys)
    assert dens.shape == (3, 2001)
    ref = stats.norm.pdf(ys.numpy()[None, :], (1.0 + 0.5 * xs.numpy())[:, None], 0.3)
    np.testing.assert_allclose(dens.numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(torch.trapezoid(dens, ys).numpy(), 1.0, rtol=1e-6)


def test_scorecard_and_plot_pit_take_it_and_agree_with_scipy():
    x, y = linear_data(2000, 1, seed=3)
    law = mh.fit_linear_gaussian(x, y)
    card = mh.scorecard(law, x, y, bins=4)
    mean = law.mean(x).numpy()
    assert card["nll"] == pytest.approx(-stats.norm.logpdf(y.numpy(), mean, law.sd).mean(), rel=1e-10)
    u = stats.norm.cdf(y.numpy(), mean, law.sd)
    ks = stats.kstest(u, "uniform")
    assert card["pit_ks"] == pytest.approx(ks.statistic, abs=1e-10)
    for level, share in card["coverage"].items():  # in-sample: the ML fit of the law that made the data
        assert abs(share - level) < 0.04, (level, share)
    fig = plot_pit(law, x, y, bins=2, exact=False, label="linear-Gaussian")
    assert len(fig.axes) == 3
    plt.close(fig)
    # std_bias shrinks the law's sd as it does a model's scales (Mixture.biased): the scorecard of N(mean, (sd/e)²)
    sharp = mh.scorecard(law, x, y, bins=4, std_bias=1.0)
    assert sharp["nll"] == pytest.approx(-stats.norm.logpdf(y.numpy(), mean, law.sd / math.e).mean(), rel=1e-10)
    with pytest.raises(ValueError, match="std_bias"):
        mh.scorecard(law, x, y, std_bias=100.0)


def test_bad_arguments_are_named():
    x, y = linear_data(20, 2, seed=0)
    law = mh.fit_linear_gaussian(x, y)
    with pytest.raises(ValueError, match="x must be of shape"):
        law.log_prob(x[:, 0], y)  # 1 feature given to a law of 2
    with pytest.raises(ValueError, match="x and y must have one row per point: x has 20 rows, y has 5"):
        law.cdf(x, y[:5])
    with pytest.raises(ValueError, match="x must be of shape"):
        law.density(x[:, 0], y)  # a grid over one input; this law has two
    with pytest.raises(ValueError, match=r"^sd must be > 0"):
        mh.LinearGaussian(torch.tensor([0.0, 1.0]), 0.0)
    with pytest.raises(ValueError, match=r"^coef must have shape \(d \+ 1,\)"):
        mh.LinearGaussian(torch.tensor([1.0]), 1.0)
    with pytest.raises(ValueError, match=r"^coef must be finite"):
        mh.LinearGaussian(torch.tensor([0.0, math.nan]), 1.0)
    with pytest.raises(ValueError, match="every residual is 0"):
        mh.fit_linear_gaussian(torch.arange(5.0), 2 * torch.arange(5.0) + 1)
    with pytest.raises(ValueError, match="at least d \\+ 2"):
        mh.fit_linear_gaussian(torch.zeros(3, 2), torch.arange(3.0))
    with pytest.raises(ValueError, match="same length"):
        mh.fit_linear_gaussian(torch.zeros(5), torch.zeros(4))
