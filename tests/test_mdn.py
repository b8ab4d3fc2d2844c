"""The mixture head and the MDN, checked against torch.distributions and
closed-form moments."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mdn_helpers.mdn import MDN, GaussianMixture1d, MDNEnsemble, training_log_prob
from mdn_helpers.mixture import Mixture


def pms(mix: Mixture) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 1-d mixture's weights π, means μ and scales σ."""
    return mix.log_pi.exp(), mix.loc, mix.log_scale.exp()


def head_with_raw(raw: torch.Tensor, n_in: int = 1, eps: float = 0.0) -> tuple[GaussianMixture1d, torch.Tensor]:
    """A head whose raw outputs equal `raw` (batch, 3k) for h = identity rows."""
    batch, three_k = raw.shape
    head = GaussianMixture1d(batch, three_k // 3, eps=eps)
    with torch.no_grad():
        head.lin.weight.copy_(raw.T)
        head.lin.bias.zero_()
    return head, torch.eye(batch)


def oracle_nll(pi, mu, sigma, y, log_pi=None):
    """−log p(y) by torch.distributions in float64; from log π where given
    (π in float32 underflows to 0 for logit gaps beyond ~100)."""
    cat = (
        torch.distributions.Categorical(logits=log_pi.double())
        if log_pi is not None
        else torch.distributions.Categorical(probs=pi.double())
    )
    d = torch.distributions.MixtureSameFamily(cat, torch.distributions.Normal(mu.double(), sigma.double()))
    return -d.log_prob(y.double())


def test_nll_matches_torch_distributions_random():
    torch.manual_seed(0)
    head = GaussianMixture1d(4, 6)
    h = torch.randn(64, 4)
    y = torch.randn(64) * 3
    pi, mu, sigma = pms(head.mixture(h))
    torch.testing.assert_close(head.nll(h, y).double(), oracle_nll(pi, mu, sigma, y), atol=1e-5, rtol=1e-5)
    d = head.mixture(h).to_distribution()
    torch.testing.assert_close(head.nll(h, y), -d.log_prob(y), atol=1e-5, rtol=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 8),
    logit_scale=st.sampled_from([0.1, 1.0, 10.0, 50.0]),
    log_sigma_shift=st.floats(-4.0, 4.0),
    y_scale=st.sampled_from([0.5, 5.0, 50.0]),
    pi_bias=st.floats(0.0, 5.0),
    std_bias=st.floats(-3.0, 3.0),
    seed=st.integers(0, 2**16),
)
def test_nll_matches_mixture_same_family_property(k, logit_scale, log_sigma_shift, y_scale, pi_bias, std_bias, seed):
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(8, 3 * k, generator=g)
    raw[:, :k] *= logit_scale
    raw[:, 2 * k :] = raw[:, 2 * k :] * 0.5 + log_sigma_shift
    head, h = head_with_raw(raw)
    y = torch.randn(8, generator=g) * y_scale
    pi, mu, sigma = pms(head.mixture(h, pi_bias, std_bias))
    log_pi = head.mixture(h, pi_bias, std_bias).log_pi
    ours = head.mixture(h, pi_bias, std_bias).nll(y).double()
    train = -training_log_prob(head.mixture(h, pi_bias, std_bias), y).double()  # the cheap path, biased too
    ref = oracle_nll(pi, mu, sigma, y, log_pi=log_pi)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(train, ref, atol=1e-5, rtol=1e-5)


def test_pi_bias_and_std_bias_follow_graves():
    torch.manual_seed(1)
    head = GaussianMixture1d(3, 5)
    h = torch.randn(10, 3)
    _pi0, mu0, s0 = pms(head.mixture(h))
    logits = head.lin(h)[:, :5]
    pi2, mu2, s2 = pms(head.mixture(h, pi_bias=2.0, std_bias=1.5))
    torch.testing.assert_close(pi2, torch.softmax(3.0 * logits, -1))
    torch.testing.assert_close(s2, s0 * math.exp(-1.5))
    torch.testing.assert_close(mu2, mu0)
    # pi_bias → ∞: the largest weight grows monotonically to 1 (one-hot)
    logits = torch.tensor([[0.3, 1.5, -2.0, 1.0], [2.0, 0.0, 0.5, 1.9]])
    head2, h2 = head_with_raw(torch.cat([logits, torch.zeros(2, 8)], 1))
    top = [pms(head2.mixture(h2, pi_bias=b))[0].max(-1).values for b in (0.0, 1.0, 5.0, 20.0, 200.0)]
    assert all(bool((a < b).all()) for a, b in itertools.pairwise(top))
    torch.testing.assert_close(
        pms(head2.mixture(h2, pi_bias=200.0))[0], torch.nn.functional.one_hot(logits.argmax(-1), 4).float()
    )
    # pi_bias = -1: equal weights
    torch.testing.assert_close(pms(head.mixture(h, pi_bias=-1.0))[0], torch.full((10, 5), 0.2))


def test_eps_floors_sigma():
    raw = torch.tensor([[0.0, 0.0, -9.0]])  # k = 1, log sigma = -9 (bounded: ~ -8.95)
    head, h = head_with_raw(raw, eps=0.1)
    with torch.no_grad():
        _, _, sigma = pms(head.mixture(h))
    assert sigma.item() == pytest.approx(math.exp(10 * math.tanh(-0.9)) + 0.1, rel=1e-5)
    y = torch.tensor([0.3])
    torch.testing.assert_close(head.nll(h, y).double(), oracle_nll(*pms(head.mixture(h)), y), atol=1e-5, rtol=1e-5)


def test_sample_respects_bias_and_generator():
    torch.manual_seed(2)
    model = MDN(n_hidden=8, n_components=4)
    x = torch.zeros(5000)
    a = model.sample(x, generator=torch.Generator().manual_seed(1))
    b = model.sample(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with torch.no_grad():
        pi, mu, sigma = pms(model.mixture(x[:1]))
    # std_bias = 10: every sample sits on one of the component means
    s = model.sample(x, std_bias=10.0)
    gap = (s[:, None] - mu).abs().min(-1).values
    assert float(gap.max()) < 1e-3 * float(sigma.max())
    # ... and with a huge pi_bias, on the heaviest component's mean
    s = model.sample(x, pi_bias=1000.0, std_bias=10.0)
    torch.testing.assert_close(s, mu[0, pi.argmax()].expand(5000), atol=1e-3, rtol=0)


def test_extreme_values_give_finite_nll_and_gradients():
    k = 4
    raw = torch.tensor([[50.0, -50.0, 0.0, 3.0, 0.0, 1.0, -2.0, 5.0, -50.0, 50.0, 0.0, -3.0]])
    raw = raw.repeat(3, 1)
    head, h = head_with_raw(raw)
    for std_bias in (-20.0, 0.0, 20.0):
        for y in (torch.tensor([1e4, -1e4, 0.5]), torch.tensor([0.0, 3.0, 5.0])):
            head.zero_grad()
            loss = -training_log_prob(head.mixture(h, pi_bias=5.0, std_bias=std_bias), y)
            assert torch.isfinite(loss).all(), (std_bias, y, loss)
            loss.sum().backward()
            assert all(torch.isfinite(p.grad).all() for p in head.parameters()), std_bias
    # the MDN end to end, y far outside the data
    model = MDN(n_hidden=8, n_components=k)
    loss = model.nll(torch.tensor([0.0, 100.0]), torch.tensor([1e5, -1e5])).sum()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_mdn_scaling_is_inside_the_model():
    torch.manual_seed(3)
    a = MDN(n_hidden=8, n_components=3)
    b = MDN(n_hidden=8, n_components=3, x_loc=1.0, x_scale=7.0, y_loc=-2.0, y_scale=6.0)
    b.load_state_dict({**a.state_dict(), **{k: v for k, v in b.state_dict().items() if k.endswith(("loc", "scale"))}})
    x = torch.linspace(-10, 10, 7)
    y = torch.linspace(-5, 5, 7)
    # b(x, y) is a(x', y') of the standardised values, with the Jacobian of y's scaling
    torch.testing.assert_close(b.nll(x, y), a.nll((x - 1) / 7, (y + 2) / 6) + math.log(6.0))
    _pi, mu, sigma = pms(b.mixture(x))
    _pa, ma, sa = pms(a.mixture((x - 1) / 7))
    torch.testing.assert_close(mu, ma * 6 - 2)
    torch.testing.assert_close(sigma, sa * 6)
    torch.testing.assert_close(b.nll(x, y), -b.mixture(x).to_distribution().log_prob(y), atol=1e-5, rtol=1e-5)


def test_mdn_accepts_both_x_shapes_and_density_integrates():
    torch.manual_seed(4)
    m = MDN(n_hidden=8, n_components=3, y_scale=3.0)
    x = torch.randn(6)
    torch.testing.assert_close(m.nll(x, x), m.nll(x[:, None], x))
    ys = torch.linspace(-40, 40, 8001)
    dens = m.density(x, ys)
    assert dens.shape == (6, 8001)
    torch.testing.assert_close(torch.trapezoid(dens, ys, dim=1), torch.ones(6), atol=1e-4, rtol=0)


def test_ensemble_is_the_average_mixture():
    torch.manual_seed(5)
    members = [MDN(n_hidden=8, n_components=3), MDN(n_hidden=8, n_components=2, y_loc=1.0)]
    ens = MDNEnsemble(members)
    assert ens.n_components == 5
    x, y = torch.randn(9), torch.randn(9)
    p_avg = 0.5 * (torch.exp(-members[0].nll(x, y)) + torch.exp(-members[1].nll(x, y)))
    torch.testing.assert_close(ens.nll(x, y), -torch.log(p_avg))
    pi, _, _ = pms(ens.mixture(x))
    torch.testing.assert_close(pi.sum(-1), torch.ones(9))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_components=0), "n_components"),
        (dict(n_hidden=0), "n_hidden"),
        (dict(n_layers=0), "n_layers"),
        (dict(eps=-0.1), "eps"),
        (dict(activation="gelu"), "activation"),
        (dict(y_scale=0.0), "y_scale"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MDN(**kwargs)


def test_bad_head_arguments():
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture1d(3, 0)
    with pytest.raises(ValueError, match="eps"):
        GaussianMixture1d(3, 2, eps=-1e-3)
    with pytest.raises(TypeError, match="n_in"):
        GaussianMixture1d(2.0, 2)
    head = GaussianMixture1d(3, 2)
    with pytest.raises(ValueError, match=r"h must have shape \(batch, 3\)"):
        pms(head.mixture(torch.zeros(4, 2)))


def test_bad_inputs_to_the_model():
    m = MDN(n_hidden=4, n_components=2)
    with pytest.raises(ValueError, match="x must be finite"):
        m.nll(torch.tensor([0.0, float("nan")]), torch.zeros(2))
    with pytest.raises(ValueError, match="y must be finite"):
        m.nll(torch.zeros(2), torch.tensor([float("inf"), 0.0]))
    with pytest.raises(ValueError, match="one value per row"):
        m.nll(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="x must have shape"):
        m.nll(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="y must be 1-d"):
        m.nll(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="pi_bias"):
        m.sample(torch.zeros(3), pi_bias=-2.0)
    with pytest.raises(ValueError, match="std_bias"):
        m.sample(torch.zeros(3), std_bias=float("nan"))
    with pytest.raises(TypeError, match="x must"):
        m.nll("abc", torch.zeros(3))


def test_ensemble_pi_bias_sharpens_the_whole_mixture():
    torch.manual_seed(6)
    ens = MDNEnsemble([MDN(n_hidden=8, n_components=3), MDN(n_hidden=8, n_components=3)])
    x = torch.randn(5)
    with torch.no_grad():
        pi0, _, _ = pms(ens.mixture(x))
        pi5, _, _ = pms(ens.mixture(x, pi_bias=5.0))
    # Graves' bias on one mixture of 6 components: softmax(log π · 6)
    torch.testing.assert_close(pi5, torch.softmax(torch.log(pi0) * 6.0, -1), atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        big = pms(ens.mixture(x, pi_bias=1000.0))[0]
    torch.testing.assert_close(big, torch.nn.functional.one_hot(pi0.argmax(-1), 6).float())


def test_numpy_and_float64_inputs_are_accepted():
    import numpy as np

    torch.manual_seed(7)
    m = MDN(n_hidden=8, n_components=3)
    x32, y32 = torch.randn(6), torch.randn(6)
    ref = m.nll(x32, y32)
    torch.testing.assert_close(m.nll(x32.double(), y32.double()), ref)
    torch.testing.assert_close(m.nll(x32.numpy().astype(np.float64), y32.tolist()), ref)
    assert m.sample(np.zeros(4)).shape == (4,)
    ens = MDNEnsemble([m, m])
    torch.testing.assert_close(ens.nll(x32.double(), y32.double()), ref)


def test_std_bias_beyond_its_range_is_refused():
    m = MDN(n_hidden=4, n_components=2)
    assert torch.isfinite(m.mixture(torch.zeros(2), std_bias=40.0).nll(torch.ones(2))).all()
    with pytest.raises(ValueError, match="std_bias must be within"):
        m.mixture(torch.zeros(2), std_bias=60.0)


# ---------------------------------------------------------------------------
# Input hardening: limits, far tails, float32 scaling
# ---------------------------------------------------------------------------


def test_pi_bias_is_bounded():
    from mdn_helpers.mixture import PI_BIAS_LIMIT

    m = MDN(n_hidden=4, n_components=3)
    x, y = torch.zeros(3), torch.ones(3)
    assert torch.isfinite(m.mixture(x, pi_bias=PI_BIAS_LIMIT).nll(y)).all()
    assert torch.isfinite(m.mixture(x, pi_bias=PI_BIAS_LIMIT).log_pi).all()
    for bad in (1e39, PI_BIAS_LIMIT * 1.01):
        for call in (
            lambda: m.mixture(x, pi_bias=bad),
            lambda: m.sample(x, pi_bias=bad),
            lambda: MDNEnsemble([m, m]).mixture(x, pi_bias=bad),
        ):
            with pytest.raises(ValueError, match=r"pi_bias must be in \[-1, 1000\]"):
                call()


def _value_and_grads(model, x, y, **bias):
    loss = model.mixture(x, **bias).nll(y).sum()
    grads = torch.autograd.grad(loss, [p for p in model.parameters()])
    return loss, grads


@pytest.mark.parametrize("y_value", [30.0, 1e19, 3.4e38, -3.4e38])
@pytest.mark.parametrize("std_bias", [-40.0, 0.0, 40.0])
def test_nll_and_its_gradients_stay_finite_for_any_finite_float32_y(y_value, std_bias):
    torch.manual_seed(8)
    y = torch.full((4,), y_value)
    x = torch.tensor([0.0, 1.0, -3.0, 7.0])
    for model in (
        MDN(n_hidden=8, n_components=3),
        MDN(n_hidden=8, n_components=3, y_loc=-3e38, y_scale=1e-30),
        MDNEnsemble([MDN(n_hidden=8, n_components=2), MDN(n_hidden=8, n_components=2, y_scale=1e-20)]),
    ):
        loss, grads = _value_and_grads(model, x, y, std_bias=std_bias)
        assert torch.isfinite(loss), (y_value, std_bias, loss)
        assert all(torch.isfinite(g).all() for g in grads), (y_value, std_bias)
    if std_bias >= 0:  # y is then far beyond the mixture's scale: astronomically unlikely, not likely
        with torch.no_grad():
            assert float(MDN(n_hidden=8, n_components=3).mixture(x, std_bias=std_bias).nll(y).min()) > 100


@pytest.mark.parametrize("cls", [MDN, "MeanRegressor"])
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(y_scale=1e-50), "y_scale"),  # 0 in float32
        (dict(x_scale=1e-40), "x_scale"),  # subnormal in float32
        (dict(y_scale=1e39), "y_scale"),  # inf in float32
        (dict(x_loc=1e39), "x_loc"),
        (dict(y_loc=-1e39), "y_loc"),
        (dict(x_loc=10**400), "x_loc"),  # an int no float holds
    ],
)
def test_scaling_that_float32_cannot_hold_is_refused(cls, kwargs, name):
    from mdn_helpers.baselines import MeanRegressor

    cls = MeanRegressor if cls == "MeanRegressor" else cls
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)
    # the edges that do fit are accepted and give finite output
    m = cls(x_scale=3e38, y_scale=1.2e-38, x_loc=3e38)
    out = m.nll(torch.zeros(2), torch.zeros(2)) if cls is MDN else m(torch.zeros(2))
    assert torch.isfinite(out).all()


def test_x_that_overflows_the_models_scaling_is_refused_by_name():
    from mdn_helpers.baselines import MeanRegressor

    for m, call in (
        (MDN(n_hidden=4, n_components=2), lambda m, x: m.nll(x, torch.zeros(2))),
        (MeanRegressor(n_hidden=4), lambda m, x: m(x)),
    ):
        with pytest.raises(ValueError, match="x must be representable in float32"):
            call(m, torch.tensor([0.0, 1e39], dtype=torch.float64))
        with pytest.raises(ValueError, match="x must be finite"):
            call(m, torch.tensor([0.0, float("nan")]))
    tight = MDN(n_hidden=4, n_components=2, x_scale=1e-30)
    with pytest.raises(ValueError, match="x is too far from x_loc"):
        tight.sample(torch.tensor([0.0, 1e10]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_hidden=10**6), "n_hidden must be <= 100_000"),
        (dict(n_components=10**5), "n_components must be <= 10_000"),
        (dict(n_layers=10**4), "n_layers must be <= 1_000"),
        (dict(n_in=10**6), "n_in must be <= 100_000"),
        (dict(n_hidden=100_000), "would have .* weights"),  # each width fits, the 10^10 weights do not
        (dict(n_hidden=2_000, n_layers=100), "would have .* weights"),
    ],
)
def test_networks_too_big_to_allocate_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MDN(**kwargs)


def test_sizes_of_the_head_and_regressor_are_bounded():
    from mdn_helpers.baselines import MeanRegressor

    with pytest.raises(ValueError, match="weights"):
        GaussianMixture1d(100_000, 10_000)
    with pytest.raises(ValueError, match="n_hidden"):
        MeanRegressor(n_hidden=10**6)


def test_meta_tensors_lists_and_bad_generators_get_named_errors():
    m = MDN(n_hidden=4, n_components=2)
    with pytest.raises(ValueError, match="x is a tensor on the meta device"):
        m.nll(torch.zeros(3, device="meta"), torch.zeros(3))
    with pytest.raises(ValueError, match="y is a tensor on the meta device"):
        m.nll(torch.zeros(3), torch.zeros(3, device="meta"))
    with pytest.raises(TypeError, match="generator"):
        m.sample(torch.zeros(3), generator=42)
    # lists work where tensors are expected, in the head too
    head = GaussianMixture1d(2, 3)
    torch.testing.assert_close(head.nll([[0.0, 1.0]], [0.5]), head.nll(torch.tensor([[0.0, 1.0]]), torch.tensor([0.5])))
    with pytest.raises(ValueError, match=r"h must have shape"):
        head.nll([0.0, 1.0], [0.5])
    with pytest.raises(TypeError, match="log_pi must be a tensor"):
        Mixture("abc", torch.zeros(1), torch.zeros(1))
    p = Mixture(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        p.nll(torch.zeros(3))
    with pytest.raises(ValueError, match=r"x and y make a grid of 10_000 × 10_000 points × 2 components"):
        m.density(torch.zeros(10_000), torch.zeros(10_000))
    with pytest.raises(TypeError, match="members must be a non-empty list of MDN"):
        MDNEnsemble(torch.zeros(3))
    with pytest.raises(ValueError, match="activation"):
        MDN(activation=["tanh"])


def _gauss_nll(y: float, mu: float, sigma: float) -> float:
    """−log N(y; μ, σ²) = ½ z² + log σ + ½ log 2π, z = (y − μ)/σ, in Python floats (float64)."""
    z = (y - mu) / sigma
    return 0.5 * z * z + math.log(sigma) + 0.5 * math.log(2 * math.pi)


def test_the_models_nll_far_out_is_the_closed_form_of_its_own_mixture():
    """The head's cheaper path (`training_log_prob`) at y = ±1e5 and 1e9, N(μ_k, σ_k²) with the model's own
    parameters: the float64 logsumexp of the Gaussian log-densities, within float32's rounding."""
    torch.manual_seed(4)
    model = MDN(n_hidden=8, n_components=3, y_loc=1.0, y_scale=2.0)
    x = torch.tensor([0.0, 1.0, -2.0, 5.0])
    y = torch.tensor([1e5, -1e5, 1e9, 3e4])
    with torch.no_grad():
        got = model.nll(x, y).tolist()
        p = model.mixture(x)
    log_pi, mu, sigma = p.log_pi.double().tolist(), p.loc.double().tolist(), p.log_scale.double().exp().tolist()
    for i, yi in enumerate(y.tolist()):
        terms = [lp - _gauss_nll(yi, m, s) for lp, m, s in zip(log_pi[i], mu[i], sigma[i], strict=True)]
        top = max(terms)
        want = -(top + math.log(sum(math.exp(t - top) for t in terms)))
        assert want > 1e7
        assert got[i] == pytest.approx(want, rel=1e-5), (yi, got[i], want)
