"""Bishop's robot arm: kinematics, the data set, and the exact law p(θ | x),
checked against a brute-force global grid and Monte Carlo over the prior."""

import math

import pytest
import torch

from mdn_helpers.datasets.robot_arm import (
    L1,
    L2,
    LOG_BOX_AREA,
    NOISE_SD,
    RHO_MAX,
    RHO_MIN,
    THETA1_HIGH,
    THETA1_LOW,
    THETA2_HIGH,
    THETA2_LOW,
    ArmExactLaw,
    arm_bayes_nll,
    forward,
    in_box,
    inverse,
    make_arm_splits,
    reach_error,
    sample_robot_arm,
)

F64 = torch.float64


def polar(r, a):
    return torch.tensor([[r * math.cos(a), r * math.sin(a)]], dtype=F64)


def simpson_weights(lo, hi, n):
    w = torch.ones(n, dtype=F64)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * (hi - lo) / (n - 1) / 3


# The brute-force reference: composite Simpson on a uniform grid over the whole
# prior box (spacing 5e-4 in θ1, 2.6e-3 in θ2; the posterior's widths are
# ≈ 0.0125 and ≥ 0.04), knowing nothing of the windows or the branches.
N1, N2 = 1801, 1201
G1 = torch.linspace(THETA1_LOW, THETA1_HIGH, N1, dtype=F64)
G2 = torch.linspace(THETA2_LOW, THETA2_HIGH, N2, dtype=F64)
W = simpson_weights(THETA1_LOW, THETA1_HIGH, N1)[None, :] * simpson_weights(THETA2_LOW, THETA2_HIGH, N2)[:, None]
T1, T2 = G1[None, :].expand(N2, N1), G2[:, None].expand(N2, N1)
F_GRID = forward(torch.stack([T1, T2], -1).reshape(-1, 2)).reshape(N2, N1, 2)


def brute_log_joint(x):
    """log prior(θ) + log N(x; forward(θ), s² I) on the grid, (N2, N1), for one x (2,)."""
    sq = ((F_GRID - x) ** 2).sum(-1)
    return -LOG_BOX_AREA - math.log(2 * math.pi * NOISE_SD**2) - 0.5 * sq / NOISE_SD**2


def brute_log_evidence(x):
    return torch.logsumexp(brute_log_joint(x) + W.log(), dim=(0, 1))


def hard_points():
    """x's at the reach's edges (inner, where the branches meet; outer, the θ2 box
    edges), at the θ1 box edges, beyond the reach, and typical ones."""
    th = torch.tensor(
        [
            [0.3, 2.2],  # θ1 box edge, elbow down
            [1.2, 4.0],  # θ1 box edge, elbow up
            [0.305, 3.0],
            [1.19, math.pi],  # θ1 edge and the inner reach edge together
            [0.3, THETA2_LOW],  # a corner of the box
            [1.2, THETA2_HIGH],  # the opposite corner
            [0.75, THETA2_LOW + 0.01],  # near the θ2 box edge (outer reach)
        ],
        dtype=F64,
    )
    return torch.cat(
        [
            forward(th),
            polar(RHO_MIN, 0.9),  # inner reach edge, branches merged
            polar(RHO_MIN - 0.006, 0.9),  # just inside it: out of reach
            polar(RHO_MAX, 0.8),  # outer reach edge
            polar(RHO_MAX + 0.008, 1.0),  # beyond it
            polar(0.7, 0.3 + 0.12),  # angle near θ1's lower edge
            sample_robot_arm(3, 11)[0].to(F64),
        ]
    )


@pytest.fixture(scope="module")
def law():
    return ArmExactLaw()


# ------------------------------------------------------------ kinematics


def test_forward_shape_dtype_and_a_known_value():
    th = torch.tensor([[0.0, math.pi], [math.pi / 2, math.pi / 2]])
    x = forward(th)
    assert x.shape == (2, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.tensor([[L1 - L2, 0.0], [-L2, L1]]), atol=1e-6, rtol=0)
    assert forward(th.double()).dtype == F64


def test_inverse_round_trip_and_mirror():
    _, theta = sample_robot_arm(2000, 0)
    theta = theta.double()
    x = forward(theta)  # noise-free
    inv = inverse(x)
    assert inv.down.shape == inv.up.shape == (2000, 2)
    # both solutions reach x
    assert float(reach_error(x, inv.down).max()) < 1e-12
    assert float(reach_error(x, inv.up).max()) < 1e-12
    # mirrored about θ2 = π
    torch.testing.assert_close(inv.down[:, 1] + inv.up[:, 1], torch.full((2000,), 2 * math.pi, dtype=F64))
    assert bool((inv.down[:, 1] <= math.pi).all()) and bool((inv.up[:, 1] >= math.pi).all())
    # the true θ is the solution on its own branch
    own = torch.where((theta[:, 1] <= math.pi)[:, None], inv.down, inv.up)
    torch.testing.assert_close(own, theta, atol=1e-9, rtol=0)
    own_valid = torch.where(theta[:, 1] <= math.pi, inv.valid_down, inv.valid_up)
    assert bool(own_valid.all())


def test_inverse_masks_out_of_reach_and_out_of_box():
    x = torch.cat([polar(0.5, 0.8), polar(1.05, 0.8), polar(0.7, -1.0), polar(0.9, 0.8)])
    inv = inverse(x)
    assert not bool(inv.valid_down.any()) and not bool(inv.valid_up.any())
    # out of reach: the solutions of the nearest reachable point on x's ray
    torch.testing.assert_close(inv.down[0, 1], torch.tensor(math.pi, dtype=F64))
    # |x| = 0.9 is reachable but needs θ2 < π/2: outside the box, yet forward() reaches it
    assert float(reach_error(x[3:], inv.down[3:])) < 1e-12
    assert in_box(torch.tensor([[0.3, THETA2_LOW], [0.29, 3.0]])).tolist() == [True, False]


# ------------------------------------------------------------ data


def test_sample_shapes_ranges_and_noise():
    x, theta = sample_robot_arm(20_000, 1)
    assert x.shape == theta.shape == (20_000, 2) and x.dtype == theta.dtype == torch.float32
    assert bool(in_box(theta).all())
    assert float(theta[:, 0].mean()) == pytest.approx(0.75, abs=0.01)
    assert float(theta[:, 1].mean()) == pytest.approx(math.pi, abs=0.02)
    noise = x.double() - forward(theta.double())
    assert float(noise.mean(0).abs().max()) < 4 * NOISE_SD / math.sqrt(20_000) + 1e-6
    assert float(noise.std(0).max()) == pytest.approx(NOISE_SD, rel=0.03)
    xs, _ = sample_robot_arm(1000, 1, noise_sd=0.05)
    assert not torch.equal(xs, x[:1000])


def test_sampling_is_seeded():
    a, b, c = sample_robot_arm(50, 3), sample_robot_arm(50, 3), sample_robot_arm(50, 4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])
    s = make_arm_splits(100, 20, 30, seed=5)
    assert [t.shape[0] for t in s] == [100, 100, 20, 20, 30, 30]
    assert not torch.equal(s.x_train[:20], s.x_val)
    assert torch.equal(make_arm_splits(10, 20, 30, seed=5).x_test, s.x_test)
    assert not torch.equal(make_arm_splits(10, 20, 30, seed=6).x_test, s.x_test)


# ------------------------------------------------------------ the exact law


@pytest.mark.slow
def test_log_evidence_matches_brute_force_grid(law):
    x = hard_points()
    ours = law.log_evidence(x)
    ref = torch.stack([brute_log_evidence(xi) for xi in x])
    torch.testing.assert_close(ours, ref, atol=2e-6, rtol=0)


@pytest.mark.slow
def test_posterior_integrates_to_one_and_log_prob_matches_grid(law):
    x = hard_points()[[0, 3, 7, 10, 12]]
    dens = law.density_grid(x, G1, G2)  # (m, N2, N1)
    assert dens.shape == (5, N2, N1)
    total = (dens * W).sum((1, 2))
    torch.testing.assert_close(total, torch.ones(5, dtype=F64), atol=2e-6, rtol=0)
    # log_prob at θ's near each branch's centre and elsewhere, against the grid's own normaliser
    for xi in x:
        inv = inverse(xi[None])
        theta = torch.cat([inv.down, inv.up, torch.tensor([[0.5, 2.5], [1.0, 4.2]], dtype=F64)])
        theta[:, 0] = theta[:, 0].clamp(THETA1_LOW, THETA1_HIGH)
        theta[:, 1] = theta[:, 1].clamp(THETA2_LOW, THETA2_HIGH)
        xs = xi[None].expand_as(theta)
        sq = ((forward(theta) - xs) ** 2).sum(1)
        ref = -LOG_BOX_AREA - math.log(2 * math.pi * NOISE_SD**2) - 0.5 * sq / NOISE_SD**2 - brute_log_evidence(xi)
        torch.testing.assert_close(law.log_prob(xs, theta), ref, atol=2e-6, rtol=0)


def test_log_prob_is_minus_inf_outside_the_box(law):
    x = hard_points()[:2]
    lp = law.log_prob(x, torch.tensor([[0.29, 3.0], [0.8, 1.5 * math.pi + 0.01]]))
    assert lp.tolist() == [-math.inf, -math.inf]


@pytest.mark.slow
def test_log_evidence_matches_importance_sampling_from_the_prior(law):
    """p(x) = E_prior[N(x; forward(θ), s² I)], by 2·10⁶ draws from the prior, within 4 standard errors."""
    gen = torch.Generator().manual_seed(7)
    x = torch.cat([sample_robot_arm(2, 21)[0].to(F64), hard_points()[[0, 7]]])
    n = 2_000_000
    low = torch.tensor([THETA1_LOW, THETA2_LOW], dtype=F64)
    high = torch.tensor([THETA1_HIGH, THETA2_HIGH], dtype=F64)
    theta = low + (high - low) * torch.rand(n, 2, generator=gen, dtype=F64)
    f = forward(theta)
    ours = law.log_evidence(x)
    for xi, q in zip(x, ours):
        w = torch.exp(-0.5 * ((f - xi) ** 2).sum(1) / NOISE_SD**2) / (2 * math.pi * NOISE_SD**2)
        est, se = float(w.mean()), float(w.std()) / math.sqrt(n)
        assert est > 20 * se  # enough draws landed on the posterior
        assert abs(math.log(est) - float(q)) < 4 * se / est, (math.log(est), float(q), se / est)


@pytest.mark.slow
def test_mean_and_branches_match_brute_force_grid(law):
    x = hard_points()[[0, 1, 7, 12, 13]]
    b = law.branch_means(x)
    mean = law.mean(x)
    for i, xi in enumerate(x):
        p = torch.softmax((brute_log_joint(xi) + W.log()).reshape(-1), 0).reshape(N2, N1)
        ref = torch.stack([(p * T1).sum(), (p * T2).sum()])
        torch.testing.assert_close(mean[i], ref, atol=1e-6, rtol=0)
        w_down = float(p[torch.le(G2, math.pi)].sum())
        assert float(b.weight_down[i]) == pytest.approx(w_down, abs=2e-3)  # the grid's row at π is shared
        assert float(b.weight_down[i] + b.weight_up[i]) == pytest.approx(1.0, abs=1e-12)
    # the mode is the heavier branch's mean; both branches reach x, the mean between them does not
    x = sample_robot_arm(200, 5)[0]
    mode, b = law.mode(x), law.branch_means(x)
    heavier = torch.where((b.weight_down >= b.weight_up)[:, None], b.mean_down, b.mean_up)
    assert torch.equal(mode, heavier)
    assert float(reach_error(x, mode).median()) < 0.25 * float(reach_error(x, law.mean(x)).median())


def test_two_branches_are_mirrored_and_near_equal_weight(law):
    # (θ1, θ2) → (θ1 + 2φ(θ2), 2π − θ2) keeps forward(θ) and areas: away from
    # the θ1 box edges the branches are exact mirrors, of equal mass
    x = forward(torch.tensor([[0.55, 2.4], [0.4, 1.9]], dtype=F64))
    b = law.branch_means(x)
    torch.testing.assert_close(b.mean_down[:, 1] + b.mean_up[:, 1], torch.full((2,), 2 * math.pi, dtype=F64))
    torch.testing.assert_close(b.weight_down, torch.full((2,), 0.5, dtype=F64), atol=1e-8, rtol=0)
    # near the edge θ1 = 1.2 the elbow-up mirror (θ1 ≈ 1.16) is cut: elbow down is heavier
    b = law.branch_means(forward(torch.tensor([[0.75, 2.4]], dtype=F64)))
    assert 0.5005 < float(b.weight_down[0]) < 0.6


@pytest.mark.slow
def test_sample_is_seeded_in_the_box_and_matches_the_moments(law):
    x = hard_points()[[0, 7, 13]]
    a, b, c = law.sample(x, 4000, seed=1), law.sample(x, 4000, seed=1), law.sample(x, 4000, seed=2)
    assert a.shape == (3, 4000, 2) and a.dtype == F64
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert bool(in_box(a.reshape(-1, 2)).all())
    mean, branches = law.mean(x), law.branch_means(x)
    sd = a.std(1)
    assert bool(((a.mean(1) - mean).abs() <= 4 * sd / math.sqrt(4000) + 1e-9).all())
    frac_down = (a[:, :, 1] <= math.pi).double().mean(1)
    w = branches.weight_down
    assert bool(((frac_down - w).abs() <= 4 * torch.sqrt(w * (1 - w) / 4000) + 1e-3).all())
    # within a branch, the spread matches the quadrature's: E[θ1² | x, down] by the grid
    xi = x[2]
    p = torch.softmax((brute_log_joint(xi) + W.log()).reshape(-1), 0).reshape(N2, N1)
    down = torch.le(G2, math.pi)
    p_down = p[down] / p[down].sum()
    sd1 = float(((p_down * T1[down] ** 2).sum() - (p_down * T1[down]).sum() ** 2).sqrt())
    s_down = a[2][a[2, :, 1] <= math.pi, 0]
    assert float(s_down.std()) == pytest.approx(sd1, rel=0.08)


@pytest.mark.slow
def test_bayes_nll_agrees_with_the_direct_estimate():
    n = 1500
    r = arm_bayes_nll(n, seed=3)
    law = ArmExactLaw()
    x, theta = sample_robot_arm(n, 3)
    direct = -law.log_prob(x, theta)
    assert r.n == n and 0 < r.se < 0.05
    # the two differ by the noise term's mean minus 1, whose sd is 1/√n
    assert abs(r.nll - float(direct.mean())) < 4 / math.sqrt(n)
    assert r.nll == pytest.approx(-3.715, abs=4 * r.se + 0.01)  # arm_bayes_nll(50_000, 0): −3.7150 ± 0.0033


# ------------------------------------------------------------ argument checks


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: forward(torch.zeros(3)), ValueError, "theta"),
        (lambda: forward(torch.zeros(3, 3)), ValueError, "theta"),
        (lambda: forward(torch.zeros(0, 2)), ValueError, "theta"),
        (lambda: forward(torch.tensor([[0.5, math.nan]])), ValueError, "theta"),
        (lambda: forward("ab"), TypeError, "theta"),
        (lambda: inverse(torch.tensor([[math.inf, 0.0]])), ValueError, "x"),
        (lambda: inverse(torch.zeros(2, 2, 1)), ValueError, "x"),
        (lambda: sample_robot_arm(2.0, 0), TypeError, "n"),
        (lambda: sample_robot_arm(0, 0), ValueError, "n"),
        (lambda: sample_robot_arm(5, -1), ValueError, "seed"),
        (lambda: sample_robot_arm(5, 0, noise_sd=0.0), ValueError, "noise_sd"),
        (lambda: make_arm_splits(10, 10, True), TypeError, "n_test"),
        (lambda: make_arm_splits(seed=-2), ValueError, "seed"),
        (lambda: ArmExactLaw(noise_sd=-0.1), ValueError, "noise_sd"),
        (lambda: ArmExactLaw(n_panels_theta1=0), ValueError, "n_panels_theta1"),
        (lambda: ArmExactLaw().log_evidence(torch.zeros(4)), ValueError, "x"),
        (lambda: ArmExactLaw().log_prob(torch.zeros(2, 2), torch.zeros(3, 2)), ValueError, "theta"),
        (lambda: ArmExactLaw().log_prob(torch.zeros(2, 2), torch.full((2, 2), math.nan)), ValueError, "theta"),
        (lambda: ArmExactLaw().sample(torch.zeros(1, 2), 0), ValueError, "n_per_x"),
        (lambda: ArmExactLaw().sample(torch.zeros(1, 2), 2, seed=-1), ValueError, "seed"),
        (lambda: ArmExactLaw().sample(torch.zeros(1, 2), 1.5), TypeError, "n_per_x"),
        (lambda: ArmExactLaw().density_grid(torch.zeros(1, 2), torch.zeros(2, 2), G2), ValueError, "theta1_grid"),
        (lambda: reach_error(torch.zeros(2, 2), torch.zeros(3, 2)), ValueError, "theta"),
        (lambda: arm_bayes_nll(n=1), ValueError, "n"),
        (lambda: arm_bayes_nll(n=10, law="exact"), TypeError, "law"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(call, exc, name):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        call()
