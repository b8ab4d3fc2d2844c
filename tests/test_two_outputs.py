"""MDNs with two outputs: the model's density against torch.distributions and
scipy built independently from the head's raw outputs, the scaling, training,
checkpoints, sampling with the biases, and errors that name the argument."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import mdn_helpers as mh
from mdn_helpers.checkpoint import load_checkpoint, save_checkpoint
from mdn_helpers.datasets import robot_arm
from mdn_helpers.energy import energy_score
from mdn_helpers.seeding import seeded_init


def _model(seed: int = 0, **kw) -> mh.MDN:
    with seeded_init(seed):
        args = dict(n_in=2, n_hidden=16, n_components=3, n_layers=2, n_out=2, y_loc=[0.5, -1.0], y_scale=[2.0, 0.25])
        return mh.MDN(**(args | kw)).double()


def _independent(model: mh.MDN, x: torch.Tensor) -> torch.distributions.MixtureSameFamily:
    """p(y | x) rebuilt from the body's features and the head's weight matrix, by hand."""
    z = (x - model.x_loc) / model.x_scale
    h = model.body(z)
    out = h @ model.head.lin.weight.T + model.head.lin.bias
    k = model.n_components
    logits, loc, diag, off = out.split([k, 2 * k, 2 * k, k], dim=-1)
    loc = loc.reshape(-1, k, 2)
    sd = torch.exp(10.0 * torch.tanh(diag.reshape(-1, k, 2) / 10.0))
    tril = torch.zeros(x.shape[0], k, 2, 2, dtype=x.dtype)
    tril[..., 0, 0], tril[..., 1, 1], tril[..., 1, 0] = sd[..., 0], sd[..., 1], off
    scale = torch.diag(model.y_scale)
    comp = torch.distributions.MultivariateNormal(loc @ scale + model.y_loc, scale_tril=scale @ tril)
    return torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=logits), comp)


def test_density_matches_an_independent_build_and_scipy():
    model = _model()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(7, 2, generator=g, dtype=torch.float64), torch.randn(7, 2, generator=g, dtype=torch.float64)
    want = _independent(model, x).log_prob(y)
    torch.testing.assert_close(model.mixture(x).log_prob(y), want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(-model.nll(x, y), want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(model.log_prob(x, y), want, rtol=1e-10, atol=1e-10)
    # scipy: the weighted sum of multivariate normal densities, row by row
    mix = model.mixture(x)
    pi, loc, tril = mix.log_pi.exp().detach().numpy(), mix.loc.detach().numpy(), mix.scale_tril.detach().numpy()
    for i in range(3):
        p = sum(
            pi[i, j] * stats.multivariate_normal(loc[i, j], tril[i, j] @ tril[i, j].T).pdf(y[i].numpy())
            for j in range(3)
        )
        assert math.log(p) == pytest.approx(float(want[i].detach()), rel=1e-9, abs=1e-9)


def test_graves_bivariate_is_the_d2_head():
    """The head's Cholesky factor, read as Graves' (σ1, σ2, ρ), gives back the same L."""
    model = _model()
    mix = model.mixture(torch.randn(5, 2, dtype=torch.float64))
    s1, s2, rho = mh.heads.scale_tril_to_bivariate(mix.scale_tril)
    torch.testing.assert_close(mh.heads.bivariate_scale_tril(s1.log(), s2.log(), rho), mix.scale_tril)


def test_biases_and_samples():
    model = _model()
    x = torch.zeros(20_000, 2, dtype=torch.float64)
    base = model.mixture(x[:1])
    biased = model.mixture(x[:1], pi_bias=1.0, std_bias=0.5)
    torch.testing.assert_close(biased.scale_tril, base.scale_tril * math.exp(-0.5))
    torch.testing.assert_close(biased.log_pi, torch.log_softmax(2 * base.log_pi, -1))
    a = model.sample(x, generator=torch.Generator().manual_seed(3))
    b = model.sample(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (20_000, 2)
    cov = np.cov(a.numpy().T)
    np.testing.assert_allclose(cov, model.mixture(x[:1]).variance[0].detach().numpy(), rtol=0.05, atol=0.02)


def test_checkpoint_round_trip(tmp_path):
    model = _model().float()
    path = save_checkpoint(model, tmp_path / "arm.pt")
    back = load_checkpoint(path)
    assert back.n_out == 2 and back.config == model.config
    x, y = torch.randn(4, 2), torch.randn(4, 2)
    torch.testing.assert_close(back.nll(x, y), model.nll(x, y), rtol=0, atol=0)


def test_errors_name_the_argument():
    model = _model()
    with pytest.raises(ValueError, match=r"\by\b.*2 column"):
        model.nll(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\by\b must have one row per row of x"):
        model.nll(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\beps\b"):
        mh.MDN(n_out=2, eps=0.1)
    with pytest.raises(ValueError, match=r"y_scale must be one number or a list of n_out = 2"):
        mh.MDN(n_out=2, y_scale=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"y_scale\[1\] must be > 0"):
        mh.MDN(n_out=2, y_scale=[1.0, -2.0])
    with pytest.raises(ValueError, match=r"x_scale\[1\] must be > 0"):  # per-feature scales were not checked
        mh.MDN(n_in=2, x_scale=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"\bn_out\b must be >= 1"):
        mh.MDN(n_out=0)
    with pytest.raises(ValueError, match=r"cdf is defined for mixtures over one y"):
        model.cdf(torch.zeros(3, 2), torch.zeros(3))


@pytest.mark.slow
def test_fit_mdn_on_the_robot_arm_beats_the_conditional_mean():
    """A short run on the arm: the MDN's heaviest component reaches x far better than
    the exact conditional mean (what least squares learns), and its energy score is
    within reach of the exact law's."""
    s = robot_arm.make_arm_splits(n_train=4000, n_val=10, n_test=400, seed=0)
    model, hist = mh.fit_mdn(s.x_train, s.theta_train, recipe="arm", steps=800, seed=0, progress=False)
    assert model.n_out == 2 and hist["loss"][-1] < hist["loss"][0] - 1.0
    mix = model.mixture(s.x_test)
    mode = mix.loc[torch.arange(400), mix.log_pi.argmax(-1)]
    law = robot_arm.ArmExactLaw()
    mean_reach = robot_arm.reach_error(s.x_test, law.mean(s.x_test)).median()
    assert robot_arm.reach_error(s.x_test, mode.double()).median() < 0.5 * mean_reach
    es = energy_score(mix, s.theta_test, n_samples=200, generator=torch.Generator().manual_seed(0)).mean()
    assert math.isfinite(float(es)) and float(es) < 1.0
