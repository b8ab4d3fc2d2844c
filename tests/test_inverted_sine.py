"""The inverted sine (mdn_helpers/datasets/inverted_sine.py), its exact conditional
density and the Bayes limit, checked against closed forms, scipy and brute-force Monte Carlo."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from mdn_helpers.datasets.inverted_sine import (
    ExactLaw,
    InvertedSine,
    bayes_nll,
    inverted_sine_f,
    log_normaliser,
    make_splits,
    sample_inverted_sine,
    seeded_sample,
    true_conditional_density,
    true_joint_log_density,
    true_log_density,
)


def test_shapes_dtype_and_range():
    x, y = seeded_sample(5000, 0)
    assert x.shape == y.shape == (5000,)
    assert x.dtype == y.dtype == torch.float32
    assert y.min() >= -10.5 and y.max() <= 10.5


def test_y_is_uniform_and_residual_is_standard_normal():
    x, y = seeded_sample(200_000, 1)
    # y ~ U(-10.5, 10.5): mean 0, variance 21²/12, and a KS test
    assert abs(float(y.mean())) < 0.05
    assert float(y.var()) == pytest.approx(21**2 / 12, rel=0.01)
    assert stats.kstest(y[:20_000].numpy(), stats.uniform(loc=-10.5, scale=21).cdf).pvalue > 1e-3
    r = (x - inverted_sine_f(y)).double()
    assert abs(float(r.mean())) < 0.01
    assert float(r.std()) == pytest.approx(1.0, abs=0.01)
    assert stats.kstest(r[:20_000].numpy(), "norm").pvalue > 1e-3
    # x's mean: E[7 sin(0.75 y) + 0.5 y] = 0 by symmetry; var = E f(y)² + 1
    ef2 = integrate.quad(lambda t: (7 * math.sin(0.75 * t) + 0.5 * t) ** 2 / 21, -10.5, 10.5)[0]
    assert float(x.double().var()) == pytest.approx(ef2 + 1, rel=0.01)


def test_generator_gives_reproducible_draws():
    a = sample_inverted_sine(100, generator=torch.Generator().manual_seed(3))
    b = sample_inverted_sine(100, generator=torch.Generator().manual_seed(3))
    c = sample_inverted_sine(100, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_dataset_and_splits():
    ds = InvertedSine(50, seed=2)
    assert len(ds) == 50
    xi, yi = ds[3]
    assert xi == ds.x[3] and yi == ds.y[3]
    loader = torch.utils.data.DataLoader(ds, batch_size=16)
    xb, _yb = next(iter(loader))
    assert xb.shape == (16,)
    s = make_splits(100, 20, 30, seed=5)
    assert (len(s.train), len(s.val), len(s.test)) == (100, 20, 30)
    assert not torch.equal(s.train.x[:20], s.val.x)
    # the test set does not depend on the training-set size
    assert torch.equal(make_splits(10, 20, 30, seed=5).test.x, s.test.x)


def test_normaliser_against_scipy_quad():
    xs = torch.tensor([-14.0, -5.0, 0.0, 2.5, 11.0])
    ours = log_normaliser(xs).exp().numpy()
    pdf = stats.norm.pdf
    ref = [
        integrate.quad(lambda t: pdf(float(x) - 7 * math.sin(0.75 * t) - 0.5 * t), -10.5, 10.5, limit=200)[0]
        for x in xs
    ]
    np.testing.assert_allclose(ours, ref, rtol=2e-5)  # trapezoid rule, 4001 nodes


def test_conditional_density_integrates_to_one_and_matches_pointwise():
    xs = torch.tensor([-9.0, 0.0, 4.0])
    ys = torch.linspace(-11, 11, 20_001, dtype=torch.float64)
    dens = true_conditional_density(xs, ys)
    assert dens.shape == (3, 20_001)
    mass = torch.trapezoid(dens, ys, dim=1)
    torch.testing.assert_close(mass, torch.ones(3, dtype=torch.float64), atol=1e-4, rtol=0)
    assert float(dens[:, ys.abs() > 10.5].abs().max()) == 0.0
    yy = torch.tensor([0.3, -2.0, 7.0], dtype=torch.float64)
    pointwise = true_log_density(xs, yy).exp()
    on_grid = torch.stack([true_conditional_density(xs[i : i + 1], yy[i : i + 1])[0, 0] for i in range(3)])
    torch.testing.assert_close(pointwise, on_grid)
    assert true_log_density(torch.tensor([0.0]), torch.tensor([11.0])).item() == -math.inf


def test_conditional_is_multimodal_at_zero():
    ys = torch.linspace(-10.5, 10.5, 2001)
    d = true_conditional_density(torch.tensor([0.0]), ys)[0].numpy()
    peaks = np.sum((d[1:-1] > d[:-2]) & (d[1:-1] > d[2:]) & (d[1:-1] > 0.02))
    assert peaks >= 3


@pytest.mark.slow
def test_bayes_nll_against_brute_force_monte_carlo():
    """Independent estimate: draw (x, y), compute Z(x) by a midpoint rule on its
    own grid (not the trapezoid rule of the package), average −log p(y|x)."""
    x, y = seeded_sample(100_000, 123)
    x, y = x.double().numpy(), y.double().numpy()
    m = 1500
    t = -10.5 + (np.arange(m) + 0.5) * 21 / m
    ft = 7 * np.sin(0.75 * t) + 0.5 * t
    log_z = np.empty_like(x)
    for s in range(0, len(x), 5000):
        phi = stats.norm.pdf(x[s : s + 5000, None] - ft[None, :])
        log_z[s : s + 5000] = np.log(phi.sum(1) * 21 / m)
    nll = -stats.norm.logpdf(x - (7 * np.sin(0.75 * y) + 0.5 * y)) + log_z
    mc, se = nll.mean(), nll.std() / math.sqrt(len(nll))
    assert se < 0.004
    b = bayes_nll()
    assert abs(b - mc) < 0.01, (b, mc, se)
    assert 1.25 < b < 1.33


def test_bayes_nll_and_log_normaliser_are_converged_in_their_grids():
    assert bayes_nll(n_x=801) == pytest.approx(bayes_nll(n_x=3201), abs=1e-5)
    # log Z by ExactLaw's panels (42 × 8 nodes) against a rule with ten times as many panels
    xs = torch.linspace(-20, 20, 81, dtype=torch.float64)
    fine = ExactLaw(n_panels=420).log_normaliser(xs)
    torch.testing.assert_close(log_normaliser(xs), fine, rtol=0, atol=1e-9)


@pytest.mark.parametrize("n, exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_n(n, exc):
    with pytest.raises(exc, match="n must"):
        sample_inverted_sine(n)


def test_bad_generator_and_splits():
    with pytest.raises(TypeError, match="generator"):
        sample_inverted_sine(3, generator=42)
    with pytest.raises(ValueError, match="n_val"):
        make_splits(10, 0, 10)
    with pytest.raises(ValueError, match="same length"):
        InvertedSine(x=torch.zeros(3), y=torch.zeros(4))
    with pytest.raises(ValueError, match="x must be finite"):
        InvertedSine(x=torch.tensor([0.0, float("nan")]), y=torch.zeros(2))


def test_bad_grid_and_seed_arguments():
    with pytest.raises(ValueError, match="x must be finite"):
        log_normaliser(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="n_x"):
        bayes_nll(n_x=1)
    with pytest.raises(ValueError, match="x_pad"):
        bayes_nll(x_pad=-20.0)
    with pytest.raises(ValueError, match="x_pad"):
        bayes_nll(x_pad=float("nan"))
    with pytest.raises(TypeError, match="seed"):
        make_splits(10, 10, 10, seed=1.5)
    with pytest.raises(ValueError, match="y must be finite"):
        true_log_density(torch.zeros(1), torch.tensor([float("nan")]))


def test_device_errors_name_the_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for call in (lambda d: sample_inverted_sine(3, device=d), lambda d: seeded_sample(3, 0, device=d)):
        with pytest.raises(ValueError, match="device='cuda' was asked for, but CUDA is not available"):
            call("cuda")
        with pytest.raises(ValueError, match="device must be"):
            call("bogus")
        with pytest.raises(ValueError, match="device must be"):
            call(3.5)
    # a torch.device works as well as a string
    x, _ = seeded_sample(3, 0, device=torch.device("cpu"))
    assert x.device.type == "cpu"


def test_sizes_that_cannot_fit_are_refused():
    from mdn_helpers._checks import MAX_SAMPLE_SIZE

    with pytest.raises(ValueError, match="n must be <= 100_000_000"):
        sample_inverted_sine(10**12)
    with pytest.raises(ValueError, match="n must be <="):
        seeded_sample(MAX_SAMPLE_SIZE + 1, 0)
    with pytest.raises(ValueError, match="n_test must be <="):
        make_splits(10, 10, 10**12)
    with pytest.raises(ValueError, match="x and y make a grid"):
        true_conditional_density(torch.zeros(100_000), torch.zeros(100_000))
    with pytest.raises(ValueError, match="n_x must be <="):
        bayes_nll(n_x=10**9)


def test_meta_tensors_and_non_numbers_are_refused_by_name():
    meta = torch.zeros(3, device="meta")
    with pytest.raises(ValueError, match="x is a tensor on the meta device"):
        log_normaliser(meta)
    with pytest.raises(ValueError, match="y is a tensor on the meta device"):
        true_log_density(torch.zeros(3), meta)
    with pytest.raises(ValueError, match="x is a tensor on the meta device"):
        InvertedSine(x=meta, y=torch.zeros(3))
    with pytest.raises(TypeError, match="x must be a tensor or array of numbers"):
        true_conditional_density(None, torch.zeros(3))
    with pytest.raises(ValueError, match="x must be finite"):
        true_conditional_density(torch.tensor([float("nan")]), torch.zeros(3))
    with pytest.raises(TypeError, match="y must be a tensor or array of numbers"):
        inverted_sine_f(None)
    torch.testing.assert_close(inverted_sine_f([0.0, 2.0]), inverted_sine_f(torch.tensor([0.0, 2.0])))
    # lists are fine
    torch.testing.assert_close(
        true_log_density([0.0, 1.0], [0.5, -0.5]), true_log_density(torch.tensor([0.0, 1.0]), torch.tensor([0.5, -0.5]))
    )


def test_joint_log_density_against_scipy_and_integrates_to_one():
    x = torch.tensor([0.0, 3.2, -7.5, 12.0, 0.0, 1.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.1, -2.0, 10.5, 10.6, -11.0], dtype=torch.float64)
    got = true_joint_log_density(x, y)
    fy = 7 * np.sin(0.75 * y.numpy()) + 0.5 * y.numpy()
    expected = stats.uniform(-10.5, 21).logpdf(y.numpy()) + stats.norm(fy, 1).logpdf(x.numpy())
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)  # -inf for |y| > 10.5 in both
    assert got[4] == -math.inf and got[5] == -math.inf and math.isfinite(float(got[3]))
    # ∫∫ p(x, y) dx dy = 1 by the trapezoid rule on a fine grid
    xs = torch.linspace(-20, 20, 1601, dtype=torch.float64)
    ys = torch.linspace(-10.5, 10.5, 2101, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    dens = true_joint_log_density(gx, gy).exp()
    assert float(torch.trapezoid(torch.trapezoid(dens, xs, dim=1), ys)) == pytest.approx(1.0, abs=1e-6)
    # and its x-marginal is Z(x)/21, the conditional's normaliser
    x0 = torch.tensor([0.0, 4.0], dtype=torch.float64)
    marg = torch.trapezoid(true_joint_log_density(x0[:, None].expand(-1, 2101), ys.expand(2, -1)).exp(), ys, dim=1)
    torch.testing.assert_close(marg, log_normaliser(x0).exp() / 21, rtol=1e-6, atol=0)


def test_joint_log_density_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        true_joint_log_density(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="y must be finite"):
        true_joint_log_density(torch.zeros(1), torch.tensor([float("nan")]))
    with pytest.raises(TypeError, match="x must be"):
        true_joint_log_density("a", torch.zeros(1))
