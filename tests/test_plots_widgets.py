"""Figures have titles, labels and legends; the baseline regressor learns the conditional mean.
(The bias explorer: tests/test_explorer.py and tests/test_browser.py.)"""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from mdn_helpers import grids, plots
from mdn_helpers.datasets.inverted_sine import seeded_sample, true_conditional_mean
from mdn_helpers.mdn import MDN
from mdn_helpers.train import fit_mdn, fit_mean_regression
from mdn_helpers.widgets import bias_explorer


@pytest.fixture(scope="module")
def trained():
    x, y = seeded_sample(300, 0)
    model, hist = fit_mdn(x, y, steps=150, progress=False, x_val=x[:100], y_val=y[:100], eval_every=50)
    return x, y, model, hist


def _check_axes(fig, legend=True):
    """Every panel has a title; the figure has x and y labels; a legend where asked."""
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert all(ax.get_title() for ax in axes), [ax.get_title() for ax in axes]
    assert any(ax.get_xlabel() for ax in axes) and any(ax.get_ylabel() for ax in axes)
    if legend:
        assert any(ax.get_legend() is not None for ax in axes)


def test_every_mdn_figure_is_labelled(trained):
    import matplotlib.pyplot as plt

    x, y, model, hist = trained
    figs = [
        (plots.plot_data(x, y), True),
        (plots.plot_samples(x, y, x, model.sample(x), x_biased=x, y_biased=model.sample(x, std_bias=5)), True),
        (plots.plot_loss(hist, bayes=1.288, reference={"seed": 1.51}), True),
        (plots.plot_density_comparison(model, n=40), False),
        (plots.plot_true_density(n=40), False),
        (plots.plot_slices(model, n=50), True),
        (plots.plot_bias_grid(model, pi_biases=(0, 2), std_biases=(0, 1), data=(x, y), n=100), True),
    ]
    for fig, legend in figs:
        _check_axes(fig, legend)
        plt.close(fig)
    assert len(plt.get_fignums()) == 0


def test_density_grid_matches_model(trained):
    _, _, model, _ = trained
    xs, ys, dens = grids.density_grid(model, nx=5, ny=7)
    assert dens.shape == (7, 5)
    want = torch.exp(-model.nll(torch.full((7,), float(xs[2])), torch.tensor(ys))).detach().numpy()
    np.testing.assert_allclose(dens[:, 2], want, rtol=1e-5, atol=1e-7)


def test_true_conditional_mean_against_quad():
    xs = torch.tensor([-6.0, 0.0, 3.0])
    f = lambda t: 7 * math.sin(0.75 * t) + 0.5 * t
    for xv, got in zip(xs, true_conditional_mean(xs)):
        num = integrate.quad(lambda t: t * stats.norm.pdf(float(xv) - f(t)), -10.5, 10.5, limit=200)[0]
        den = integrate.quad(lambda t: stats.norm.pdf(float(xv) - f(t)), -10.5, 10.5, limit=200)[0]
        assert float(got) == pytest.approx(num / den, abs=1e-4)


@pytest.mark.slow
def test_mean_regression_learns_the_conditional_mean():
    x, y = seeded_sample(1000, 0)
    model, hist = fit_mean_regression(x, y, steps=600)
    losses = hist["loss"]
    assert hist.steps == 600 and losses[-1] < 0.8 * losses[0]
    xs = torch.linspace(-12, 12, 50)
    with torch.no_grad():
        err = (model(xs) - true_conditional_mean(xs).float()).abs().mean()
    assert float(err) < 1.0
    # and the conditional mean is a poor description: the MSE stays far above
    # the noise a perfect multi-valued answer would leave
    assert losses[-1] > 5.0


def test_live_loss_plot_updates_one_display(trained, monkeypatch):
    import IPython.display as disp

    _, _, _, hist = trained
    shown = []

    class Handle:
        def update(self, fig):
            shown.append(("update", fig))

    monkeypatch.setattr(disp, "display", lambda fig, display_id=None: shown.append(("display", fig)) or Handle())
    live = plots.LiveLossPlot(bayes=1.288)
    live(50, hist, None)
    live(100, hist, None)
    assert [k for k, _ in shown] == ["display", "update"]
    assert "step 100" in shown[1][1].axes[0].get_title()


def test_figures_name_a_missing_or_wrong_model(trained):
    import matplotlib.pyplot as plt

    from mdn_helpers.slogan import Critic

    x, y, _model, _ = trained
    for call, name in (
        (lambda m: plots.plot_density_comparison(m, n=20), "model"),
        (lambda m: plots.plot_slices(m, n=20), "model"),
        (lambda m: plots.plot_regression(x, y, m, n=20), "model"),
        (lambda m: plots.plot_bias_grid(m, n=20), "model"),
        (lambda m: grids.density_grid(m, nx=3, ny=3), "model"),
        (lambda m: plots.plot_critic(m, x, y, n=5), "critic"),
        (lambda m: bias_explorer(m, n=10), "model"),
    ):
        with pytest.raises(TypeError, match=f"{name} must be a torch.nn.Module"):
            call(None)
        with pytest.raises(ValueError, match=f"{name} has weights on the meta device"):
            call(MDN(n_hidden=4, n_components=2).to("meta") if name == "model" else Critic(n_hidden=4).to("meta"))
    with pytest.raises(TypeError, match=r"model must have a .density\(\) method"):
        plots.plot_slices(torch.nn.Linear(1, 1))
    assert len(plt.get_fignums()) == 0


def test_figure_sizes_that_cannot_fit_are_refused(trained):
    _, _, model, _ = trained
    with pytest.raises(ValueError, match="nx must be <= 2_000"):
        plots.plot_density_comparison(model, n=10**5)
    with pytest.raises(ValueError, match="nx must be <="):
        plots.plot_true_density(n=10**5)
    with pytest.raises(ValueError, match="n must be <="):
        plots.plot_bias_grid(model, n=10**9)
    with pytest.raises(ValueError, match="xs must be 1 to 20 finite numbers"):
        plots.plot_slices(model, xs=[0.0, float("nan")])
    with pytest.raises(ValueError, match="n must be <="):
        bias_explorer(model, n=10**9)
    with pytest.raises(ValueError, match="x is a tensor on the meta device"):
        bias_explorer(model, torch.zeros(5, device="meta"))
    import matplotlib.pyplot as plt

    assert len(plt.get_fignums()) == 0


def test_figures_name_bad_data_and_histories(trained):
    import matplotlib.pyplot as plt

    from mdn_helpers.baselines import MeanRegressor

    x, y, model, hist = trained
    meta = torch.zeros(3, device="meta")
    with pytest.raises(ValueError, match="x is a tensor on the meta device"):
        plots.plot_data(meta, meta)
    with pytest.raises(TypeError, match="y must be a tensor or array of numbers"):
        plots.plot_data(x, None)
    with pytest.raises(ValueError, match="x_model and y_model must have the same length"):
        plots.plot_samples(x, y, x, y[:5])
    with pytest.raises(ValueError, match="x must be 1-d"):
        plots.plot_gan_densities(torch.zeros(5, 2), 3.0, 4.0)
    with pytest.raises(ValueError, match="fake is a tensor on the meta device"):
        plots.plot_gan_densities(torch.zeros(5, 2, device="meta"), x, y)
    with pytest.raises(TypeError, match="data must be a pair"):
        plots.plot_bias_grid(model, n=10, data=x)
    with pytest.raises(TypeError, match="history must be a History"):
        plots.plot_loss(None)
    with pytest.raises(ValueError, match="history has no 'energy' series"):
        plots.plot_slogan_history(hist)  # an MDN's History
    with pytest.raises(TypeError, match="model must be a regression net"):
        plots.plot_regression(x, y, model)
    fig = plots.plot_regression(x.tolist(), y.numpy(), MeanRegressor(n_hidden=4), n=20)  # lists and arrays work
    plt.close(fig)
    assert len(plt.get_fignums()) == 0


def test_critic_colour_range_comes_from_the_points_not_the_corners():
    from mdn_helpers.datasets.inverted_sine import joint_sample
    from mdn_helpers.seeding import seeded_init
    from mdn_helpers.slogan import Critic

    with seeded_init(0):
        critic = Critic(n_hidden=8)
    data = joint_sample(400, 0)
    fake = data[:300] + torch.tensor([2.0, 0.0])
    with torch.no_grad():
        f_pts = critic(torch.cat([data, fake])).numpy().ravel()
        f_grid = grids.critic_grid(critic, n=50)[2]
    lo, hi = grids.critic_color_range(critic, torch.cat([data, fake]))
    assert (lo, hi) == pytest.approx(tuple(np.percentile(f_pts, [2, 98])), rel=1e-6)
    fig = plots.plot_critic(critic, data[:, 0], data[:, 1], fake=fake, n=50)
    im = fig.axes[0].images[0]
    assert im.get_clim() == pytest.approx((lo, hi), rel=1e-6)
    assert f_grid.min() < lo < hi < f_grid.max()  # the corners reach beyond the points' range
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["data", "generated"]
    fig2 = plots.plot_critic(critic, data[:, 0], data[:, 1], vlim=(-1.0, 2.0), n=10)
    assert fig2.axes[0].images[0].get_clim() == (-1.0, 2.0)
    with pytest.raises(ValueError, match="vlim"):
        plots.plot_critic(critic, data[:, 0], data[:, 1], vlim=(2.0, 1.0), n=10)
    with pytest.raises(ValueError, match="q must"):
        grids.critic_color_range(critic, data, q=(50, 10))
    with pytest.raises(ValueError, match="points must"):
        grids.critic_color_range(critic, data[:, :1])
    matplotlib.pyplot.close("all")


def test_slogan_history_names_the_evaluation_size_and_draws_the_largest_ratio():
    from mdn_helpers.slogan_train import fit_slogan

    _, _, hist = fit_slogan(
        steps=4,
        seed=0,
        progress=False,
        n_eval=50,
        eval_every=2,
        n_random=8,
        n_hidden_generator=8,
        n_hidden_critic=8,
        batch_size=16,
    )
    fig = plots.plot_slogan_history(hist, noise_floor=(0.0, 0.01))
    left, right = fig.axes
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels[0] == "energy distance (50 points a side)" and "true vs true" in labels[1]
    lines = {ln.get_label(): ln for ln in right.lines}
    np.testing.assert_allclose(lines["largest ratio in the batch"].get_ydata(), hist["lip_max"])
    np.testing.assert_allclose(lines["mean ratio over the batch's pairs"].get_ydata(), hist["lip_mean"])
    assert all(mx >= mn for mx, mn in zip(hist["lip_max"], hist["lip_mean"]))
    with pytest.raises(TypeError, match="noise_floor"):
        plots.plot_slogan_history(hist, noise_floor=0.01)
    matplotlib.pyplot.close("all")


def test_plot_components_draws_each_components_parameters(trained):
    """Bishop's figure: one weight curve per component, and means/scales that
    are the model's own (read back from the drawn artists)."""
    import matplotlib.pyplot as plt

    x, y, model, _ = trained
    fig = plots.plot_components(model, n=50, data=(x, y))
    _check_axes(fig)
    ax_pi, ax_mu, ax_sigma = fig.axes
    k = model.n_components
    assert len(ax_pi.lines) == k
    xs = torch.linspace(-15, 15, 50)
    mix = model.mixture(xs)
    pi, mu = (t.detach().numpy() for t in (mix.log_pi.exp(), mix.loc))
    np.testing.assert_allclose(np.stack([ln.get_ydata() for ln in ax_pi.lines], 1), pi, rtol=1e-6)
    segs = [c.get_segments() for c in ax_mu.collections[1:]]  # [0] is the data scatter
    assert len(segs) == k
    np.testing.assert_allclose(
        np.stack([np.r_[s[0][0, 1], [seg[1, 1] for seg in s]] for s in segs], 1), mu, rtol=1e-5, atol=1e-6
    )
    alphas = ax_mu.collections[1].get_colors()[:, 3]  # opacity follows √π
    np.testing.assert_allclose(alphas, np.clip(np.sqrt(0.5 * (pi[:-1, 0] + pi[1:, 0])), 0.02, 1), rtol=1e-6)
    assert len(ax_sigma.collections) == k and ax_sigma.get_yscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match="x_lim must be"):
        plots.plot_components(model, x_lim=(1.0, -1.0))
    with pytest.raises(ValueError, match="at most 20"):
        plots.plot_components(MDN(n_hidden=4, n_components=21))
    with pytest.raises(TypeError, match="data must be a pair"):
        plots.plot_components(model, data=x)
    assert len(plt.get_fignums()) == 0


def test_density_comparison_colour_range_and_x_range(trained):
    """x_lim sets the drawn x range of both panels and vmax their shared colour
    range; the exact panel's pixels are the exact density on that grid."""
    import matplotlib.pyplot as plt

    from mdn_helpers.datasets.inverted_sine import true_conditional_density

    _, _, model, _ = trained
    fig = plots.plot_density_comparison(model, n=30, x_lim=(-15.0, 15.0), vmax=0.6)
    im_model, im_exact = (ax.images[0] for ax in fig.axes[:2])
    assert im_model.get_clim() == im_exact.get_clim() == (0.0, 0.6)
    assert im_exact.get_extent()[:2] == [-15.0, 15.0]
    xs = torch.linspace(-15, 15, 30, dtype=torch.float64)
    ys = torch.linspace(-15, 15, 30, dtype=torch.float64)
    np.testing.assert_allclose(im_exact.get_array(), true_conditional_density(xs, ys).T.numpy(), rtol=1e-6)
    assert fig.axes[2].get_label() == "<colorbar>" and fig.axes[2].collections  # the colour bar exists
    plt.close(fig)
    default = plots.plot_density_comparison(model, n=30)
    assert default.axes[1].images[0].get_extent()[:2] == [-20.0, 20.0]
    top = np.quantile(grids.true_density_grid(nx=30, ny=30)[2], 0.995)  # default: the exact density's 99.5 %
    np.testing.assert_allclose(default.axes[1].images[0].get_clim(), (0.0, top))
    plt.close(default)
    with pytest.raises(ValueError, match="vmax must be > 0"):
        plots.plot_density_comparison(model, vmax=0.0)
    with pytest.raises(TypeError, match="vmax must be a real number"):
        plots.plot_density_comparison(model, vmax="0.6")
    with pytest.raises(ValueError, match="x_lim must be"):
        plots.plot_density_comparison(model, x_lim=(5.0, -5.0))
    assert len(plt.get_fignums()) == 0


def test_plot_nll_gap_draws_the_gap_and_the_density_of_x():
    import matplotlib.pyplot as plt

    from mdn_helpers.datasets.inverted_sine import log_normaliser

    xs = torch.linspace(-12, 12, 25)
    gap = torch.linspace(0.0, 0.5, 25)
    fig = plots.plot_nll_gap(gap, xs, marks=(-3.9, 3.9))
    ax, twin = fig.axes
    assert ax.get_title() and ax.get_xlabel() == "x" and ax.get_ylabel() and twin.get_ylabel() == "p(x)"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), gap.numpy())
    assert [ln.get_xdata()[0] for ln in ax.lines[1:]] == [-3.9, 3.9]
    assert len(ax.get_legend().get_texts()) == 3
    # the shaded p(x) integrates to about 1 over x (Z(x)/21 is a density)
    xg = torch.linspace(-25, 25, 2001, dtype=torch.float64)
    assert abs(float(torch.trapezoid(log_normaliser(xg).exp() / 21, xg)) - 1) < 1e-3
    top = twin.collections[0].get_paths()[0].vertices[:, 1].max()
    np.testing.assert_allclose(top, float((log_normaliser(xs).exp() / 21).max()), rtol=1e-6)
    plt.close(fig)
    with pytest.raises(ValueError, match="xs and gap must have the same length"):
        plots.plot_nll_gap(gap[:3], xs)
    assert len(plt.get_fignums()) == 0


def test_true_density_colour_range_comes_from_the_chosen_x_range():
    """Beyond |x| = 12.25 p(y | x) piles up against y = ±10.5 and is far brighter
    than the ridges where the data are; scale_x_lim keeps it out of the colour range."""
    import matplotlib.pyplot as plt

    xs, _ys, true = grids.true_density_grid((-15.0, 15.0), (-11.0, 11.0), nx=31, ny=45)
    inside = np.abs(xs) <= 12
    fig = plots.plot_true_density(n=31, x_lim=(-15, 15), y_lim=(-11, 11), scale_x_lim=(-12, 12))
    im = fig.axes[0].images[0]
    assert im.get_clim()[1] == pytest.approx(
        float(np.quantile(grids.true_density_grid((-15.0, 15.0), (-11.0, 11.0), nx=31, ny=31)[2][:, inside], 0.995))
    )
    assert im.get_extent() == pytest.approx((-15, 15, -11, 11))
    assert true[:, ~inside].max() > 2 * np.quantile(true[:, inside], 0.995)  # the edges would set it otherwise
    assert im.colorbar.extend == "max"  # the saturated values are marked by the colour bar's arrow
    default = plots.plot_true_density(n=31).axes[0].images[0].get_clim()[1]
    full = grids.true_density_grid(nx=31, ny=31)[2]
    assert default == pytest.approx(float(np.quantile(full, 0.995)))  # the default is unchanged
    for bad in (dict(x_lim=(3, -3)), dict(scale_x_lim=(30, 40)), dict(y_lim=(1,))):
        with pytest.raises(ValueError, match="lim"):
            plots.plot_true_density(n=10, **bad)
    plt.close("all")


def test_plot_components_gives_the_first_ten_components_ten_hues():
    from matplotlib.colors import rgb_to_hsv, to_rgb

    from mdn_helpers.mdn import MDN
    from mdn_helpers.seeding import seeded_init

    with seeded_init(0):
        model = MDN(n_hidden=8, n_components=12)
    fig = plots.plot_components(model)
    lines = fig.axes[0].get_lines()[:12]  # the weights panel: one line per component
    hues = [round(float(rgb_to_hsv(to_rgb(line.get_color()))[0]), 3) for line in lines]
    assert len(set(hues[:10])) == 10  # no two of the first ten share a hue
    nearest = min(range(10), key=lambda j: abs(hues[j] - hues[10]))
    assert nearest == 0 and to_rgb(lines[10].get_color()) != to_rgb(lines[0].get_color())  # lighter repeats
