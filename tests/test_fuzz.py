"""A fuzz test over the whole public API (hypothesis).

Every public function, method and constructor is called with a good set of
arguments in which one argument is replaced by a bad or extreme value: wrong
types, wrong shapes, empty and one-element tensors, NaN and ±inf, negative,
zero and huge sizes, tensors on the meta device. One of three outcomes is
allowed:
  * a result that holds no NaN (a number, tensor, model, figure, ...);
  * a ValueError or TypeError whose message names the argument;
  * from a trainer, TrainingDiverged (documented: a recipe such as lr = 1e12
    can diverge; the exception carries the last finite weights);
  * (load_checkpoint only) FileNotFoundError for a path with no file.
Anything else fails: another exception type, a NaN, a call that runs past
its time limit (SIGALRM), or a dead process (the cases that used to kill it
run in a subprocess, below).
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import mdn_helpers as mh
from mdn_helpers import mixture, plots
from mdn_helpers.loop import History, seeded_init

NAN, INF = float("nan"), float("inf")
SECONDS = 20  # per call: a bad value may fail, never hang


# ---------------------------------------------------------------------------
# Good arguments, cheap to run
# ---------------------------------------------------------------------------

with seeded_init(0):
    MODEL = mh.MDN(n_hidden=8, n_components=3)
    ENSEMBLE = mh.MDNEnsemble([mh.MDN(n_hidden=4, n_components=2), mh.MDN(n_hidden=4, n_components=2)])
    GEN = mh.SloganGenerator(n_random=8, n_hidden=8)
    CRITIC = mh.Critic(n_hidden=8)
X, Y = mh.seeded_sample(40, 0)
LAW = mh.ExactLaw()
LINEAR = mh.fit_linear_gaussian(X, Y)
PTS = torch.stack([X, Y], 1)
P = mixture.MixtureParams(torch.log_softmax(torch.zeros(5, 3), -1), torch.zeros(5, 3), torch.zeros(5, 3))
HIST = History(
    per_step={"loss": [2.0, 1.5], "lip_mean": [0.5, 0.4]},
    eval_steps=[0, 2],
    evals={"val_nll": [2.1, 1.6], "energy": [1.0, 0.5]},
)


@dataclass
class Case:
    """fn(**good) must work; each name in `fuzz` is replaced in turn."""

    name: str
    fn: Callable
    good: dict
    fuzz: tuple[str, ...]
    aliases: dict = field(default_factory=dict)  # argument → words its errors may use instead


def _trainer_kw(**kw):
    return dict(progress=False, **kw)


CASES = [
    Case("derive_seed", mh.derive_seed, dict(seed=0, tag="a"), ("seed", "tag")),
    Case("sample_inverted_sine", mh.sample_inverted_sine, dict(n=5), ("n", "generator", "device")),
    Case("seeded_sample", mh.seeded_sample, dict(n=5, seed=0), ("n", "seed", "device")),
    Case("inverted_sine_f", mh.inverted_sine_f, dict(y=Y), ("y",)),
    Case("true_log_density", mh.true_log_density, dict(x=X, y=Y, n_grid=101), ("x", "y", "n_grid")),
    Case("true_joint_log_density", mh.true_joint_log_density, dict(x=X, y=Y), ("x", "y")),
    Case(
        "true_conditional_density",
        mh.true_conditional_density,
        dict(x=X[:3], y=Y[:4], n_grid=101),
        ("x", "y", "n_grid"),
    ),
    Case("bayes_nll", mh.bayes_nll, dict(n_grid=101, n_x=101, x_pad=8.0), ("n_grid", "n_x", "x_pad")),
    Case(
        "make_splits",
        mh.make_splits,
        dict(n_train=5, n_val=5, n_test=5, seed=0),
        ("n_train", "n_val", "n_test", "seed"),
    ),
    Case("InvertedSine", mh.InvertedSine, dict(n=5, seed=0), ("n", "seed")),
    Case("InvertedSine(x, y)", mh.InvertedSine, dict(x=X, y=Y), ("x", "y")),
    Case(
        "MDN",
        mh.MDN,
        dict(n_in=1, n_hidden=4, n_components=2, n_layers=1),
        ("n_in", "n_hidden", "n_components", "n_layers", "activation", "eps", "x_loc", "x_scale", "y_loc", "y_scale"),
    ),
    Case("GaussianMixture1d", mh.GaussianMixture1d, dict(n_in=3, n_components=2), ("n_in", "n_components", "eps")),
    Case("MDNEnsemble", mh.MDNEnsemble, dict(members=[MODEL]), ("members",)),
    Case("MDN.nll", MODEL.nll, dict(x=X, y=Y, pi_bias=0.5, std_bias=0.5), ("x", "y", "pi_bias", "std_bias")),
    Case("MDN.sample", MODEL.sample, dict(x=X, pi_bias=0.5, std_bias=0.5), ("x", "pi_bias", "std_bias", "generator")),
    Case("MDN.log_params", MODEL.log_params, dict(x=X), ("x", "pi_bias", "std_bias")),
    Case("MDN.density", MODEL.density, dict(x=X[:5], y=Y[:6]), ("x", "y")),
    Case("MDNEnsemble.nll", ENSEMBLE.nll, dict(x=X, y=Y), ("x", "y", "pi_bias", "std_bias")),
    Case("mixture_nll", mixture.mixture_nll, dict(p=P, y=torch.zeros(5)), ("p", "y")),
    Case("mixture_sample", mixture.mixture_sample, dict(p=P), ("p", "generator")),
    Case(
        "fit_mdn",
        mh.fit_mdn,
        _trainer_kw(x=X, y=Y, steps=2),
        (
            "x",
            "y",
            "recipe",
            "seed",
            "device",
            "progress",
            "x_val",
            "y_val",
            "callback",
            "num_threads",
            "steps",
            "lr",
            "batch_size",
            "weight_decay",
            "x_jitter",
            "y_jitter",
            "patience",
            "n_components",
            "n_hidden",
            "eval_every",
            "schedule",
            "lr_drops",
            "fresh",
            "shuffle",
        ),
    ),
    Case(
        "fit_mdn_ensemble",
        mh.fit_mdn_ensemble,
        _trainer_kw(x=X, y=Y, steps=2, n_members=2),
        ("n_members", "x", "num_threads"),
    ),
    Case(
        "fit_mean_regression",
        mh.fit_mean_regression,
        dict(x=X, y=Y, steps=2),
        ("x", "y", "seed", "steps", "lr", "n_hidden", "progress", "num_threads"),
    ),
    Case(
        "train_slogan",
        mh.train_slogan,
        _trainer_kw(steps=1, batch_size=4, n_eval=20, n_random=4, n_hidden_generator=4, n_hidden_critic=4),
        (
            "data",
            "recipe",
            "seed",
            "device",
            "progress",
            "callback",
            "num_threads",
            "steps",
            "batch_size",
            "n_critic",
            "lr",
            "lr_critic",
            "betas",
            "ema",
            "lam",
            "n_eval",
            "burst_every",
            "n_train",
        ),
    ),
    Case("SloganGenerator", mh.SloganGenerator, dict(n_random=4, n_hidden=4), ("n_random", "n_hidden")),
    Case("SloganGenerator.sample", GEN.sample, dict(n=5), ("n", "generator")),
    Case("Critic", mh.Critic, dict(n_hidden=4), ("n_hidden",)),
    Case("Critic.forward", CRITIC, dict(xy=PTS), ("xy",)),
    Case(
        "slogan_critic_loss",
        mh.slogan_critic_loss,
        dict(critic=CRITIC, real=PTS[:6], fake=PTS[6:10], lam=10.0),
        ("critic", "real", "fake", "lam"),
    ),
    Case(
        "slogan_critic_terms",
        mh.slogan_critic_terms,
        dict(critic=CRITIC, real=PTS[:6], fake=PTS[6:10]),
        ("critic", "real", "fake"),
    ),
    Case("slogan_generator_loss", mh.slogan_generator_loss, dict(critic=CRITIC, fake=PTS[:5]), ("critic", "fake")),
    Case("energy_distance", mh.energy_distance, dict(a=PTS[:10], b=PTS[10:20], chunk=4), ("a", "b", "chunk")),
    Case("energy_noise_floor", mh.energy_noise_floor, dict(n=20, repeats=2, seed=0), ("n", "repeats", "seed")),
    Case("heldout_nll", mh.heldout_nll, dict(model=MODEL, x=X, y=Y, chunk=7), ("model", "x", "y", "chunk")),
    Case("mdn_energy_distance", mh.mdn_energy_distance, dict(model=MODEL, n=20, seed=0), ("model", "n", "seed")),
    Case("low_density_share", mh.low_density_share, dict(points=PTS, k=3.0), ("points", "k")),
    Case("mdn_joint_sample", mh.mdn_joint_sample, dict(model=MODEL, n=20, seed=0), ("model", "n", "seed")),
    Case("slogan_energy", mh.slogan_energy, dict(generator=GEN, n=20, seed=0), ("generator", "n", "seed")),
    Case("mixture_cdf", mh.mixture_cdf, dict(p=P, y=torch.zeros(5)), ("p", "y")),
    Case("mixture_quantile", mh.mixture_quantile, dict(p=P, q=0.3), ("p", "q")),
    Case("mixture_interval", mh.mixture_interval, dict(p=P, level=0.9), ("p", "level")),
    Case("mixture_crps", mh.mixture_crps, dict(p=P, y=torch.zeros(5)), ("p", "y")),
    Case("ExactLaw", mh.ExactLaw, dict(n_panels=10, order=4, chunk=8), ("n_panels", "order", "chunk")),
    Case("ExactLaw.log_prob", LAW.log_prob, dict(x=X, y=Y), ("x", "y")),
    Case("ExactLaw.cdf", LAW.cdf, dict(x=X, y=Y), ("x", "y")),
    Case("ExactLaw.quantile", LAW.quantile, dict(x=X, q=0.7), ("x", "q")),
    Case("ExactLaw.crps", LAW.crps, dict(x=X, y=Y), ("x", "y")),
    Case("MDN.cdf", MODEL.cdf, dict(x=X, y=Y, std_bias=0.5), ("x", "y", "pi_bias", "std_bias")),
    Case("MDN.quantile", MODEL.quantile, dict(x=X, q=0.2), ("x", "q", "pi_bias", "std_bias")),
    Case("MDN.crps", MODEL.crps, dict(x=X, y=Y), ("x", "y", "pi_bias", "std_bias")),
    Case("MDNEnsemble.cdf", ENSEMBLE.cdf, dict(x=X, y=Y), ("x", "y")),
    Case(
        "scorecard", mh.scorecard, dict(law=MODEL, x=X, y=Y, bins=4), ("law", "x", "y", "bins", "pi_bias", "std_bias")
    ),
    Case("fit_linear_gaussian", mh.fit_linear_gaussian, dict(x=X, y=Y), ("x", "y")),
    Case("LinearGaussian", mh.LinearGaussian, dict(coef=torch.tensor([0.0, 1.0]), sd=1.0), ("coef", "sd")),
    Case("LinearGaussian.log_prob", LINEAR.log_prob, dict(x=X, y=Y), ("x", "y")),
    Case("LinearGaussian.cdf", LINEAR.cdf, dict(x=X, y=Y), ("x", "y")),
    Case("LinearGaussian.quantile", LINEAR.quantile, dict(x=X, q=0.7), ("x", "q")),
    Case("LinearGaussian.crps", LINEAR.crps, dict(x=X, y=Y), ("x", "y")),
    Case("LinearGaussian.density", LINEAR.density, dict(x=X[:5], y=Y[:6]), ("x", "y")),
    Case("scorecard(LinearGaussian)", mh.scorecard, dict(law=LINEAR, x=X, y=Y, bins=4), ("x", "y", "bins")),
    Case("scorecard(ExactLaw)", mh.scorecard, dict(law=LAW, x=X, y=Y, bins=4), ("x", "y", "std_bias")),
    Case(
        "plot_pit",
        plots.plot_pit,
        dict(model=MODEL, x=X, y=Y, bins=2, hist_bins=5),
        ("model", "x", "y", "bins", "hist_bins", "exact", "std_bias"),
    ),
    Case("plot_data", plots.plot_data, dict(x=X, y=Y), ("x", "y")),
    Case("plot_samples", plots.plot_samples, dict(x=X, y=Y, x_model=X, y_model=Y), ("x", "y", "x_model", "y_model")),
    Case("plot_loss", plots.plot_loss, dict(history=HIST, bayes=1.3), ("history", "bayes", "reference")),
    Case("density_grid", plots.density_grid, dict(model=MODEL, nx=5, ny=6), ("model", "nx", "ny")),
    Case("plot_slices", plots.plot_slices, dict(model=MODEL, xs=(0.0, 1.0), n=20), ("model", "xs", "n")),
    Case(
        "plot_bias_grid",
        plots.plot_bias_grid,
        dict(model=MODEL, pi_biases=(0.0, 1.0), std_biases=(0.0,), n=20),
        ("model", "pi_biases", "std_biases", "n", "seed"),
        aliases={"pi_biases": ("pi_bias",), "std_biases": ("std_bias",)},
    ),
    Case("critic_grid", plots.critic_grid, dict(critic=CRITIC, n=5), ("critic", "n", "xlim", "ylim")),
    Case(
        "plot_critic", plots.plot_critic, dict(critic=CRITIC, x=X, y=Y, n=5), ("critic", "x", "y", "fake", "n", "vlim")
    ),
    Case("critic_color_range", plots.critic_color_range, dict(critic=CRITIC, points=PTS), ("critic", "points", "q")),
    Case(
        "plot_slogan_history",
        plots.plot_slogan_history,
        dict(history=HIST, noise_floor=(0.0, 0.1)),
        ("history", "noise_floor"),
    ),
]

BAD_VALUES = [
    None,
    "abc",
    True,
    1.5,
    -1,
    0,
    10**12,
    -(10**12),
    NAN,
    INF,
    -INF,
    [],
    [1.0, NAN],
    object(),
    torch.empty(0),
    torch.tensor(NAN),
    torch.zeros(1),
    torch.zeros(3, 3, 3),
    torch.full((40,), NAN),
    torch.full((40,), INF),
    torch.full((40,), 1e30),
    torch.zeros(40, dtype=torch.float64) + 3e38,
    torch.empty(40, device="meta"),
    torch.zeros(40, dtype=torch.int64),
    torch.zeros(40, 2),
    (1.0, 2.0, 3.0),
]


# ---------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def _has_nan(value: Any, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and value.device.type != "meta" and bool(torch.isnan(value).any())
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, nn.Module):
        return any(_has_nan(p) for p in value.parameters())
    if isinstance(value, (tuple, list)):
        return any(_has_nan(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v, depth + 1) for v in value.values())
    return False


def call_and_judge(case: Case, arg: str, bad: Any) -> str:
    """Call case.fn with `arg` = `bad`; return the outcome, or fail the test."""
    kwargs = dict(case.good, **{arg: bad})
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS)
    try:
        result = case.fn(**kwargs)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        names = (arg, *case.aliases.get(arg, ()))
        assert any(n in msg for n in names), (
            f"{case.name}({arg}={bad!r}): {type(exc).__name__} does not name {arg!r}: {msg}"
        )
        return "refused"
    except mh.TrainingDiverged as exc:
        assert case.fn in TRAINERS, f"{case.name}({arg}={bad!r}): TrainingDiverged from a non-trainer"
        assert not _has_nan(exc.model), f"{case.name}({arg}={bad!r}): diverged, and the weights kept hold NaN"
        return "diverged"
    except _Timeout:
        pytest.fail(f"{case.name}({arg}={bad!r}) ran past {SECONDS} s")
    except Exception as exc:  # noqa: BLE001 - any other type is the finding
        pytest.fail(f"{case.name}({arg}={bad!r}) raised {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        plt.close("all")
    assert not _has_nan(result), f"{case.name}({arg}={bad!r}) returned NaN"
    return "ok"


SLOTS = [(c, a) for c in CASES for a in c.fuzz]
TRAINERS = (mh.fit_mdn, mh.fit_mdn_ensemble, mh.fit_mean_regression, mh.train_slogan)


@pytest.mark.slow
def test_every_good_call_works():
    for case in CASES:
        assert not _has_nan(case.fn(**case.good)), case.name
        plt.close("all")


@settings(
    max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(slot=st.sampled_from(SLOTS), bad=st.sampled_from(BAD_VALUES))
@pytest.mark.slow
def test_bad_values_are_refused_by_name_or_give_a_clean_result(slot, bad):
    case, arg = slot
    call_and_judge(case, arg, bad)


# Random shapes and values for the tensor arguments, beyond the fixed list.
_special = st.sampled_from([0.0, 1.0, -1.0, 1e-45, 1e38, -1e38, NAN, INF, -INF, 3.5])
_tensors = st.builds(
    lambda shape, fill, dtype: torch.full(shape, fill, dtype=dtype),
    st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple),
    _special,
    st.sampled_from([torch.float32, torch.float64]),
)
TENSOR_SLOTS = [(c, a) for c, a in SLOTS if isinstance(c.good.get(a), torch.Tensor)]


@settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(slot=st.sampled_from(TENSOR_SLOTS), bad=_tensors)
def test_tensors_of_any_shape_and_value_are_refused_by_name_or_handled(slot, bad):
    case, arg = slot
    call_and_judge(case, arg, bad)


def test_checkpoint_paths_and_devices(tmp_path):
    good = Case("save_checkpoint", mh.save_checkpoint, dict(model=MODEL, path=tmp_path / "m.pt"), ("model", "extra"))
    for arg, bad in (("model", None), ("model", nn.Linear(1, 1)), ("extra", {"f": object()}), ("extra", "x")):
        call_and_judge(good, arg, bad)
    path = mh.save_checkpoint(MODEL, tmp_path / "m.pt")
    load = Case("load_checkpoint", mh.load_checkpoint, dict(path=path), ("path", "device"))
    for bad in ("bogus", "tpu", 3.5, None):
        call_and_judge(load, "device", bad)
    for bad in (tmp_path, tmp_path / "x.pt", 12):
        try:
            mh.load_checkpoint(bad)
        except FileNotFoundError as exc:
            assert str(bad) in str(exc)
        except (ValueError, TypeError) as exc:
            assert "path" in str(exc) or str(bad) in str(exc), exc


# ---------------------------------------------------------------------------
# What used to kill the process: in a subprocess
# ---------------------------------------------------------------------------

KILLERS = {
    "fit_mdn, 30,000 threads": "mh.fit_mdn(*mh.seeded_sample(50, 0), steps=3, num_threads=30000, progress=False)",
    "train_slogan, 10**5 threads": "mh.train_slogan(steps=1, num_threads=100000, progress=False)",
    "10**12 points": "mh.sample_inverted_sine(10**12)",
    "a million hidden units": "mh.MDN(n_hidden=10**6)",
    "energy distance on 10**6 points": "mh.energy_distance(torch.zeros(10**6, 2), torch.zeros(10**6, 2))",
}


@pytest.mark.parametrize("code", KILLERS.values(), ids=KILLERS.keys())
@pytest.mark.slow
def test_cases_that_used_to_kill_the_process_are_refused(code):
    script = textwrap.dedent(f"""
        import torch
        import mdn_helpers as mh
        try:
            {code}
        except ValueError as exc:
            print("ValueError:", exc)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ValueError:"), proc.stdout + proc.stderr[-2000:]
