"""The energy score: against scoringrules on the same draws, the closed-form CRPS, and exact values."""

import math

import numpy as np
import pytest
import scoringrules as sr
import torch

from mdn_helpers import energy
from mdn_helpers.energy import energy_score, energy_score_ensemble
from mdn_helpers.heads import CholeskyHead, bivariate_scale_tril
from mdn_helpers.mixture import Mixture


def mixture_2d(batch=6, k=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    kw = {"generator": g, "dtype": dtype}
    tril = bivariate_scale_tril(
        0.3 * torch.randn(batch, k, **kw), 0.3 * torch.randn(batch, k, **kw), torch.tanh(torch.randn(batch, k, **kw))
    )
    return Mixture.from_logits(torch.randn(batch, k, **kw), 2 * torch.randn(batch, k, 2, **kw), scale_tril=tril)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_energy_score_equals_scoringrules_fair_estimator_on_the_same_draws(dtype):
    m = mixture_2d(dtype=dtype)
    y = torch.randn(6, 2, dtype=dtype)
    es = energy_score(m, y, n_samples=500, generator=torch.Generator().manual_seed(7))
    assert es.dtype == torch.float64 and es.shape == (6,)
    draws = m.to(torch.float64).sample(500, generator=torch.Generator().manual_seed(7)).movedim(0, -2)
    want = sr.es_ensemble(y.double().numpy(), draws.numpy(), estimator="fair", backend="numpy")
    np.testing.assert_allclose(es.numpy(), want, rtol=0, atol=1e-10)
    # the plug-in ("nrg") estimator divides the pair sum by m² instead of m(m − 1): it is higher by ½·pair mean/m
    nrg = sr.es_ensemble(y.double().numpy(), draws.numpy(), estimator="nrg", backend="numpy")
    pair_mean = energy._pair_mean(draws).numpy()
    np.testing.assert_allclose(nrg - es.numpy(), 0.5 * pair_mean / 500, rtol=1e-9, atol=0)


def test_energy_score_ensemble_equals_scoringrules_for_any_batch_shape_and_d():
    g = torch.Generator().manual_seed(1)
    for shape, m, d in (((2, 3), 40, 3), ((5,), 2, 1), ((), 17, 4)):
        draws = torch.randn(*shape, m, d, generator=g, dtype=torch.float64)
        y = torch.randn(*shape, d, generator=g, dtype=torch.float64)
        got = energy_score_ensemble(draws, y)
        assert got.shape == shape
        want = sr.es_ensemble(y.numpy(), draws.numpy(), estimator="fair", backend="numpy")
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)


def test_chunking_does_not_change_the_score(monkeypatch):
    m = mixture_2d(batch=5)
    y = torch.randn(5, 2, dtype=torch.float64)
    whole = energy_score(m, y, n_samples=120, generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(energy, "ENERGY_CHUNK_VALUES", 2000)  # one row at a time, 16 draws a block
    chunked = energy_score(m, y, n_samples=120, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(chunked, whole, rtol=1e-13, atol=1e-13)


def test_in_one_dimension_it_estimates_the_closed_form_crps():
    g = torch.Generator().manual_seed(3)
    m = Mixture.from_logits(
        torch.randn(6, 3, generator=g), 2 * torch.randn(6, 3, generator=g), 0.5 * torch.randn(6, 3, generator=g)
    )
    y = 2 * torch.randn(6, generator=g)
    n = 1500
    es = energy_score(m, y, n_samples=n, generator=torch.Generator().manual_seed(4))
    crps = m.crps(y)
    # the estimate's standard error is below 2·sd(Y)/√n (sd |X − y| ≤ sd X, and the U-statistic's is smaller)
    sd = m.variance.double().sqrt()
    assert float(((es - crps).abs() / (5 * sd / math.sqrt(n))).max()) < 1.0


def test_a_standard_bivariate_normal_at_its_mean_has_the_exact_score():
    # ‖X‖ is Rayleigh: E‖X‖ = σ√(π/2); X − X′ ~ N(0, 2σ²I): E‖X − X′‖ = σ√π
    sigma, n = 1.7, 3000
    m = Mixture(
        torch.zeros(4, 1, dtype=torch.float64),
        torch.zeros(4, 1, 2, dtype=torch.float64),
        scale_tril=sigma * torch.eye(2, dtype=torch.float64).expand(4, 1, 2, 2),
    )
    es = energy_score(
        m, torch.zeros(4, 2, dtype=torch.float64), n_samples=n, generator=torch.Generator().manual_seed(5)
    )
    exact = sigma * (math.sqrt(math.pi / 2) - 0.5 * math.sqrt(math.pi))
    assert float((es - exact).abs().max()) < 5 * sigma / math.sqrt(n)
    assert float((es.mean() - exact).abs()) < 2.5 * sigma / math.sqrt(n)


def test_a_narrow_mixture_scores_the_distance_to_its_location():
    loc = torch.tensor([[[1.0, 2.0]], [[-3.0, 0.5]]], dtype=torch.float64)
    m = Mixture(
        torch.zeros(2, 1, dtype=torch.float64),
        loc,
        scale_tril=1e-9 * torch.eye(2, dtype=torch.float64).expand(2, 1, 2, 2),
    )
    y = torch.tensor([[4.0, 6.0], [-3.0, 0.5]], dtype=torch.float64)
    es = energy_score(m, y, n_samples=50)
    torch.testing.assert_close(es, torch.tensor([5.0, 0.0], dtype=torch.float64), rtol=0, atol=1e-8)


def test_a_conditional_law_is_scored_point_by_point():
    torch.manual_seed(0)
    head = CholeskyHead(3, 2, 2)
    h, y = torch.randn(9, 3), torch.randn(9, 2)
    es = energy_score(head.mixture(h), y, n_samples=200, generator=torch.Generator().manual_seed(6))
    assert es.shape == (9,) and es.dtype == torch.float64 and bool((es > 0).all())
    again = energy_score(head.mixture(h), y, n_samples=200, generator=torch.Generator().manual_seed(6))
    assert torch.equal(es, again)


def test_errors_name_the_argument():
    m = mixture_2d(batch=3)
    y = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"n_samples must be >= 2"):
        energy_score(m, y, n_samples=1)
    with pytest.raises(TypeError, match=r"n_samples must be an int"):
        energy_score(m, y, n_samples=10.0)
    with pytest.raises(ValueError, match=r"n_samples must be <= "):
        energy_score(m, y, n_samples=10**6)
    with pytest.raises(ValueError, match=r"y must have shape \(3, 2\)"):
        energy_score(m, torch.zeros(3), n_samples=10)
    with pytest.raises(ValueError, match=r"y must be finite"):
        energy_score(m, torch.full((3, 2), math.nan), n_samples=10)
    with pytest.raises(TypeError, match=r"mixture must be a Mixture"):
        energy_score(torch.zeros(3, 2), y)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
        energy_score(m, y, n_samples=10, generator=0)
    with pytest.raises(ValueError, match=r"draws must have shape \(\.\.\., m, d\) with m >= 2"):
        energy_score_ensemble(torch.zeros(3, 1, 2), y)
    with pytest.raises(ValueError, match=r"y must have shape \(3, 2\) to match draws"):
        energy_score_ensemble(torch.zeros(3, 5, 2), torch.zeros(3, 3))
    bad = Mixture(m.log_pi, m.loc * math.nan, scale_tril=m.scale_tril)
    with pytest.raises(ValueError, match=r"draws are not all finite"):
        energy_score(bad, y, n_samples=10)
