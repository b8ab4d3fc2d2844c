"""energy_distance and its noise floor (mdn_helpers/metrics.py)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from mdn_helpers.datasets.inverted_sine import joint_sample
from mdn_helpers.metrics import (
    energy_distance,
    energy_noise_floor,
    low_density_share,
    mdn_energy_distance,
    mdn_joint_sample,
)
from mdn_helpers.seeding import derive_seed


def _direct(a: np.ndarray, b: np.ndarray) -> float:
    """The unbiased energy distance by explicit O(n²) loops over pairs."""

    def mean_dist(u, v, skip_diagonal):
        total, count = 0.0, 0
        for i in range(len(u)):
            for j in range(len(v)):
                if skip_diagonal and i == j:
                    continue
                total += math.dist(u[i], v[j])
                count += 1
        return total / count

    return 2 * mean_dist(a, b, False) - mean_dist(a, a, True) - mean_dist(b, b, True)


def test_matches_scipy_in_1d():
    # scipy.stats.energy_distance is sqrt of the biased form, whose within-sample
    # means keep the i = j zeros: mean_{ij} = mean_{i≠j} · (n − 1)/n.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(0.7, 1.5, size=25)
    n, m = len(a), len(b)
    ours = energy_distance(torch.tensor(a), torch.tensor(b))
    within_a = np.abs(a[:, None] - a[None, :]).sum() / (n * (n - 1))
    within_b = np.abs(b[:, None] - b[None, :]).sum() / (m * (m - 1))
    biased = ours + within_a / n + within_b / m
    assert biased > 0
    assert math.sqrt(biased) == pytest.approx(stats.energy_distance(a, b), rel=1e-10)
    # and the unbiased form is strictly smaller than the biased one
    assert ours < biased


def test_matches_direct_computation_in_2d():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(17, 2)), rng.normal(0.3, 1.2, size=(11, 2))
    expected = _direct(a, b)
    assert energy_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(expected, rel=1e-10)
    # chunking does not change the sum
    assert energy_distance(torch.tensor(a), torch.tensor(b), chunk=3) == pytest.approx(expected, rel=1e-10)


def test_symmetric():
    a, b = joint_sample(300, 1), joint_sample(200, 2) + torch.tensor([0.5, 0.0])
    assert energy_distance(a, b) == pytest.approx(energy_distance(b, a), rel=1e-12)


def test_near_zero_for_same_law_and_grows_with_a_shift():
    a, b = joint_sample(2000, 3), joint_sample(2000, 4)
    same = energy_distance(a, b)
    assert abs(same) < 0.03  # the noise floor at 2000 points is ~0.007 (sd), right-skewed
    shifts = [energy_distance(a, b + torch.tensor([s, 0.0])) for s in (1.0, 2.0, 4.0)]
    assert shifts[0] > same + 0.03
    assert shifts[0] < shifts[1] < shifts[2]
    assert energy_distance(a, b + torch.tensor([0.0, 1.0])) > same + 0.03


def test_zero_for_identical_samples_is_not_required_but_is_nonpositive():
    # With i ≠ j within-sample means, a sample against itself scores
    # 2·mean_ij − 2·mean_{i≠j} = −2·mean_{i≠j}/n < 0 (the diagonal zeros count once).
    a = joint_sample(50, 5)
    assert energy_distance(a, a) < 0


@pytest.mark.slow
def test_noise_floor_is_small_and_is_the_spread_of_same_law_scores():
    mean, sd = energy_noise_floor(n=3000, repeats=5, seed=7)
    assert 0 < sd < 0.01
    assert abs(mean) < 0.01
    scores = [
        energy_distance(
            joint_sample(3000, derive_seed(7, f"floor/{r}/a")), joint_sample(3000, derive_seed(7, f"floor/{r}/b"))
        )
        for r in range(5)
    ]
    assert mean == pytest.approx(np.mean(scores), rel=1e-9)
    assert sd == pytest.approx(np.std(scores, ddof=1), rel=1e-9)


def test_bad_input_names_the_argument():
    a = joint_sample(10, 0)
    with pytest.raises(
        ValueError, match=r"^a and b must have the same number of columns, got shapes \(10, 2\) and \(10, 3\)"
    ):
        energy_distance(a, torch.zeros(10, 3))
    with pytest.raises(ValueError, match=r"^a and b must have the same number of columns, got shapes \(40, 1\)"):
        energy_distance(torch.ones(40), a)  # a 1-d sample is one column
    with pytest.raises(ValueError, match=r"^a must be finite"):
        energy_distance(torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]), a)
    with pytest.raises(ValueError, match=r"^a must be finite"):  # a NaN in a named a, not b, when both are given
        energy_distance(torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]), torch.tensor([[0.0, math.inf]] * 2))
    with pytest.raises(ValueError, match=r"^b must be finite"):
        energy_distance(a, torch.tensor([[0.0, math.inf]] * 2))
    with pytest.raises(ValueError, match="at least 2"):
        energy_distance(a[:1], a)


def test_energy_distance_takes_arrays_and_lists():
    import numpy as np

    from mdn_helpers.metrics import energy_distance as ed

    a = np.linspace(0, 1, 50)
    b = np.linspace(0.5, 1.5, 60)
    ref = ed(torch.tensor(a), torch.tensor(b))
    assert ed(a, b) == pytest.approx(ref)
    assert ed(a.tolist(), b.tolist()) == pytest.approx(ref)


def test_models_that_are_not_models_get_named_errors():
    from torch import nn

    from mdn_helpers.mdn import MDN
    from mdn_helpers.metrics import heldout_nll, mdn_energy_distance, slogan_energy_distance

    x, y = joint_sample(20, 0).unbind(1)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        heldout_nll(None, x, y)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        mdn_energy_distance(None)
    with pytest.raises(TypeError, match=r"generator must be a torch\.nn\.Module"):
        slogan_energy_distance(None)
    with pytest.raises(TypeError, match=r"model must have a .mixture\(\) method"):
        heldout_nll(nn.Linear(1, 1), x, y)
    with pytest.raises(ValueError, match="model has no parameters"):
        mdn_energy_distance(MDNWithoutWeights())
    with pytest.raises(ValueError, match="model has weights on the meta device"):
        heldout_nll(MDN(n_hidden=4, n_components=2).to("meta"), x, y)
    with pytest.raises(ValueError, match="x is a tensor on the meta device"):
        heldout_nll(MDN(n_hidden=4, n_components=2), x.to("meta"), y)
    with pytest.raises(TypeError, match="y must be a tensor or array"):
        heldout_nll(MDN(n_hidden=4, n_components=2), x, None)


class MDNWithoutWeights(torch.nn.Module):
    def mixture(self, x, pi_bias=0.0, std_bias=0.0):
        raise AssertionError("never reached: the model has no weights")


def test_sizes_that_would_run_for_hours_are_refused():
    from mdn_helpers.mdn import MDN
    from mdn_helpers.metrics import MAX_ENERGY_POINTS, mdn_energy_distance

    with pytest.raises(
        ValueError,
        match=r"energy_distance on 1_000_000 × 10 pairs would take too long.*use fewer "
        "points",
    ):
        energy_distance(torch.zeros(10**6, 2), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="n must be <= 50_000"):
        mdn_energy_distance(MDN(n_hidden=4, n_components=2), n=10**6)
    with pytest.raises(ValueError, match="n must be <="):
        energy_noise_floor(n=MAX_ENERGY_POINTS + 1)
    # the largest allowed sizes stay within the pair budget
    from mdn_helpers.metrics import MAX_ENERGY_PAIRS

    assert 3 * MAX_ENERGY_POINTS**2 <= MAX_ENERGY_PAIRS
    with pytest.raises(ValueError, match="a is a tensor on the meta device"):
        energy_distance(torch.zeros(5, 2, device="meta"), torch.zeros(5, 2))


def test_low_density_share_counts_points_beyond_k_sd_of_the_curve():
    y = torch.tensor([0.0, 1.0, 2.0, -3.0, 10.4, 10.6])
    f = 7 * torch.sin(0.75 * y) + 0.5 * y
    offset = torch.tensor([2.9, -2.9, 3.1, -3.1, 0.0, 0.0])  # in, in, out, out, in, out (|y| > 10.5)
    pts = torch.stack([f + offset, y], 1).double()
    assert low_density_share(pts) == pytest.approx(3 / 6)
    assert low_density_share(pts, k=3.2) == pytest.approx(1 / 6)
    assert low_density_share(pts, k=2.0) == pytest.approx(5 / 6)


def test_low_density_share_on_true_draws_is_two_normal_tails():
    n = 400_000
    share = low_density_share(joint_sample(n, 11))
    expected = 2 * stats.norm.sf(3.0)  # 0.0027
    assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    # points spread uniformly over the plot's box fall mostly off the curve
    box = torch.rand(10_000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([40.0, 30.0]) - torch.tensor(
        [20.0, 15.0]
    )
    assert low_density_share(box) > 0.7


def test_low_density_share_bad_input():
    with pytest.raises(ValueError, match="points must have 2 column"):
        low_density_share(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="k must be > 0"):
        low_density_share(torch.zeros(5, 2), k=0.0)
    with pytest.raises(ValueError, match="points must be finite"):
        low_density_share(torch.full((2, 2), float("inf")))


def test_mdn_joint_sample_is_what_mdn_energy_distance_scores():
    from mdn_helpers.mdn import MDN

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MDN(n_hidden=8, n_components=3)
    pts = mdn_joint_sample(model, n=300, seed=4)
    assert pts.shape == (300, 2)
    x, _ = joint_sample(300, derive_seed(4, "mdn_energy/x")).unbind(1)
    torch.testing.assert_close(pts[:, 0], x)  # x from the data's law
    expected = energy_distance(pts, joint_sample(300, derive_seed(4, "mdn_energy/true")))
    assert mdn_energy_distance(model, n=300, seed=4) == pytest.approx(expected, rel=1e-12)
    torch.testing.assert_close(mdn_joint_sample(model, n=300, seed=4), pts)  # same seed, same points


def _small_mdn():
    from mdn_helpers.mdn import MDN
    from mdn_helpers.seeding import seeded_init

    with seeded_init(0):
        return MDN(n_hidden=8, n_components=3, x_loc=0.5, x_scale=6.0, y_loc=0.0, y_scale=6.0)


def test_nll_gap_by_x_against_quad_with_torch_distributions():
    """KL(p(·|x) ‖ q(·|x)) at a few x, against scipy's adaptive quadrature of the
    exact density (its own normaliser) and the model's MixtureSameFamily log_prob."""
    from scipy import integrate

    from mdn_helpers.metrics import nll_gap_by_x

    model = _small_mdn()
    xs = torch.tensor([-9.0, 0.0, 3.9])
    gap = nll_gap_by_x(model, xs)
    f = lambda t: 7 * math.sin(0.75 * t) + 0.5 * t
    for x0, g in zip(xs.tolist(), gap.tolist()):
        with torch.no_grad():
            dist = model.mixture(torch.tensor([x0])).to_distribution()
        z, _ = integrate.quad(lambda t: stats.norm.pdf(x0 - f(t)), -10.5, 10.5, limit=200)

        def integrand(t):
            log_p = stats.norm.logpdf(x0 - f(t)) - math.log(z)
            with torch.no_grad():
                return math.exp(log_p) * (log_p - float(dist.log_prob(torch.tensor([t]))))

        want, _ = integrate.quad(integrand, -10.5, 10.5, limit=200)
        assert g == pytest.approx(want, rel=1e-3, abs=1e-4), (x0, g, want)
        assert g > 0


@pytest.mark.slow
def test_nll_gap_averages_to_the_heldout_gap():
    """∫ p(x) gap(x) dx is the expected NLL of the model minus that of the exact
    density: compare with both scored on 100,000 fresh points."""
    from mdn_helpers.datasets.inverted_sine import log_normaliser, seeded_sample, true_log_density
    from mdn_helpers.metrics import nll_gap_by_x

    model = _small_mdn()
    xg = torch.linspace(-16, 16, 321)
    avg = float(torch.trapezoid(log_normaliser(xg).exp() / 21 * nll_gap_by_x(model, xg), xg.double()))
    x, y = seeded_sample(100_000, 5)
    with torch.no_grad():
        d = model.nll(x, y).double() + true_log_density(x, y)
    assert avg == pytest.approx(float(d.mean()), abs=4 * float(d.std()) / math.sqrt(len(d)))


def test_nll_gap_by_x_refuses_bad_input():
    from mdn_helpers.metrics import nll_gap_by_x

    model = _small_mdn()
    with pytest.raises(ValueError, match="x must not be empty"):
        nll_gap_by_x(model, torch.zeros(0))
    with pytest.raises(ValueError, match="more than the"):
        nll_gap_by_x(model, torch.zeros(100_000), n_grid=1000)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        nll_gap_by_x(None, torch.zeros(3))
    with pytest.raises(ValueError, match="n_grid"):
        nll_gap_by_x(model, torch.zeros(3), n_grid=2)


# ---------------------------------------------------------------------------
# Chunked loops: sizes ≡ 0, 1 and −1 (mod chunk) against a direct computation
# ---------------------------------------------------------------------------


def _numpy_energy(a: np.ndarray, b: np.ndarray) -> float:
    """The unbiased energy distance in one numpy broadcast (no chunks)."""

    def dist_sum(u, v):
        return np.sqrt(((u[:, None, :] - v[None, :, :]) ** 2).sum(-1)).sum()

    n, m = len(a), len(b)
    return 2 * dist_sum(a, b) / (n * m) - dist_sum(a, a) / (n * (n - 1)) - dist_sum(b, b) / (m * (m - 1))


@pytest.mark.parametrize("n", [8, 9, 7, 4, 5, 3])
@pytest.mark.parametrize("m", [8, 9, 7])
def test_energy_distance_in_chunks_counts_every_row(n, m):
    """chunk = 4 with n, m ≡ 0, 1, −1 (mod 4), including one chunk and a bit (n = 5): a loop that
    drops the last row or the last partial chunk changes the sum."""
    rng = np.random.default_rng(100 * n + m)
    a, b = rng.normal(size=(n, 2)), rng.normal(0.4, 1.3, size=(m, 2))
    want = _numpy_energy(a, b)
    assert want == pytest.approx(_direct(a, b), rel=1e-12)  # the two references agree
    for chunk in (4, 1, 1000):
        got = energy_distance(torch.tensor(a), torch.tensor(b), chunk=chunk)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-14), chunk


@pytest.mark.parametrize("n", [10, 11, 9, 1, 2, 4])
def test_heldout_nll_in_chunks_is_the_mean_over_every_point(n):
    """chunk = 5 (and 1, and 3) with n ≡ 0, 1, −1 (mod 5), against −log p from the model's
    torch.distributions mixture, point by point, averaged in float64."""
    from mdn_helpers.mdn import MDN, MDNEnsemble
    from mdn_helpers.metrics import heldout_nll
    from mdn_helpers.seeding import seeded_init

    x, y = joint_sample(n, 20 + n).unbind(1)
    single = _small_mdn()
    with seeded_init(1):
        ens = MDNEnsemble([single, MDN(n_hidden=8, n_components=2, y_scale=5.0)])
    for model in (single, ens):
        with torch.no_grad():
            want = float(-model.mixture(x).to_distribution().log_prob(y).double().mean())
        for chunk in (5, 3, 1, 50_000):
            assert heldout_nll(model, x, y, chunk=chunk) == pytest.approx(want, rel=1e-5, abs=1e-6), (model, chunk)


@pytest.mark.parametrize("n", [6, 7, 5])
def test_log_normaliser_in_chunks_matches_scipy_quad(n):
    """log Z(x) = log ∫ φ(x − f(y)) dy over [−10.5, 10.5] (ExactLaw's panels) with chunk = 3 and
    n ≡ 0, 1, −1 (mod 3), against scipy's adaptive quadrature at every x."""
    from scipy import integrate

    from mdn_helpers.datasets.inverted_sine import ExactLaw, log_normaliser

    xs = torch.linspace(-12.0, 9.0, n, dtype=torch.float64)
    got = ExactLaw(chunk=3).log_normaliser(xs).tolist()
    for x0, g in zip(xs.tolist(), got, strict=True):
        z, _ = integrate.quad(
            lambda t, x0=x0: stats.norm.pdf(x0 - (7 * math.sin(0.75 * t) + 0.5 * t)),
            -10.5,
            10.5,
            limit=200,
            epsabs=0,
            epsrel=1e-13,
        )
        assert g == pytest.approx(math.log(z), abs=1e-8), x0
    torch.testing.assert_close(ExactLaw(chunk=1).log_normaliser(xs), log_normaliser(xs), rtol=1e-14, atol=1e-14)
