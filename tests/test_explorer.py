"""The bias explorer's Python side: the grid is the model's mixture, bad data is refused with a
clear error, the page is self-contained, the widget is two jslinked sliders over the canvas.

What the JavaScript computes from the grid (biased weights and scales, samples) is checked
against the model in the browser, in tests/test_browser.py.
"""

import base64
import json
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from mdn_helpers.datasets.inverted_sine import seeded_sample
from mdn_helpers.explorer import (
    MAX_GRID,
    ExplorerGrid,
    check_grid,
    explorer_grid,
    explorer_js,
    explorer_page,
    explorer_spec,
    write_explorer_page,
)
from mdn_helpers.mdn import MDN, MDNEnsemble
from mdn_helpers.mixture import Mixture
from mdn_helpers.widgets import STATIC_TEXT, ExplorerCanvas, bias_explorer

ROOT = Path(__file__).resolve().parents[1]
BIASES = [(0.0, 0.0), (1.0, 0.5), (3.0, 2.0), (5.0, 10.0)]


def _models():
    torch.manual_seed(7)
    return {
        "mdn": MDN(n_hidden=8, n_components=4, y_scale=3.0, y_loc=1.0),
        "mdn_eps": MDN(n_hidden=8, n_components=3, eps=0.2, y_scale=2.0),
        "ensemble": MDNEnsemble([MDN(n_hidden=8, n_components=2, eps=0.05), MDN(n_hidden=8, n_components=3)]),
    }


def _bias_like_the_js(grid: ExplorerGrid, pi_bias: float, std_bias: float):
    """The rule explorer.js applies, written out in numpy (float64): weights and scales (g, k)."""
    a = grid.log_pi.numpy() * (1 + pi_bias)
    log_pi = a - np.logaddexp.reduce(a, axis=-1, keepdims=True)
    log_sigma = grid.log_sigma.numpy() - std_bias
    eps = grid.eps.numpy()
    log_sigma = np.where(eps > 0, np.logaddexp(log_sigma, np.log(np.where(eps > 0, eps, 1.0))), log_sigma)
    return np.exp(log_pi), np.exp(log_sigma)


@pytest.mark.parametrize("name", ["mdn", "mdn_eps", "ensemble"])
def test_grid_with_the_biases_applied_is_the_models_mixture(name):
    model = _models()[name]
    grid = explorer_grid(model, n_grid=50)
    assert grid.x.shape == (50,) and grid.mu.shape == (50, model.n_components)
    for pb, sb in BIASES:
        with torch.no_grad():
            mix = model.mixture(grid.x.float(), pb, sb)
            pi, mu, sigma = (t.double().numpy() for t in (mix.log_pi.exp(), mix.loc, mix.log_scale.exp()))
        got_pi, got_sigma = _bias_like_the_js(grid, pb, sb)
        np.testing.assert_allclose(got_pi, pi, rtol=1e-5, atol=1e-12, err_msg=f"{name} pi at {pb, sb}")
        np.testing.assert_allclose(got_sigma, sigma, rtol=1e-5, err_msg=f"{name} sigma at {pb, sb}")
        np.testing.assert_array_equal(grid.mu.numpy(), mu)


def test_the_floor_is_kept_under_the_scales():
    model = _models()["mdn_eps"]
    grid = explorer_grid(model, n_grid=20)
    assert torch.all(grid.eps == 0.2)
    _, sigma = _bias_like_the_js(grid, 0.0, 10.0)
    assert sigma.min() >= 0.2 * (1 - 1e-6)  # std_bias shrinks exp(log σ), never below eps


def test_explorer_grid_refuses_models_it_cannot_show():
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        explorer_grid(None)
    with pytest.raises(TypeError, match=r"model must have a .mixture\(\) method"):
        explorer_grid(torch.nn.Linear(1, 1))
    broken = MDN(n_hidden=4, n_components=2)
    with torch.no_grad():
        broken.head.lin.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="model gives non-finite log_pi"):
        explorer_grid(broken)
    with pytest.raises(ValueError, match="x must not be empty"):
        explorer_grid(MDN(n_hidden=4, n_components=2), torch.zeros(0))
    with pytest.raises(ValueError, match="x must be finite"):
        explorer_grid(MDN(n_hidden=4, n_components=2), torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="x must have at most"):
        explorer_grid(MDN(n_hidden=4, n_components=2), torch.zeros(MAX_GRID + 1))
    with pytest.raises(ValueError, match="n_grid must be >= 2"):
        explorer_grid(MDN(n_hidden=4, n_components=2), n_grid=1)

    class OtherFloor(MDN):  # a floor the explorer does not know about
        def mixture(self, x, pi_bias=0.0, std_bias=0.0):
            m = super().mixture(x, pi_bias, std_bias)
            return Mixture(m.log_pi, m.loc, torch.logaddexp(m.log_scale, torch.zeros_like(m.log_scale)))

    with pytest.raises(ValueError, match="the explorer cannot show a OtherFloor"):
        explorer_grid(OtherFloor(n_hidden=4, n_components=2))


def _grid(g=6, k=3):
    x = torch.linspace(-1, 1, g)
    return ExplorerGrid(x, torch.zeros(g, k), torch.randn(g, k), torch.zeros(g, k), torch.zeros(k))


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (lambda G: G._replace(mu=G.mu.clone().fill_(float("nan"))), ValueError, "grid.mu must be finite"),
        (lambda G: G._replace(log_pi=G.log_pi.clone().fill_(float("inf"))), ValueError, "grid.log_pi must be finite"),
        (
            lambda G: G._replace(log_sigma=torch.full_like(G.log_sigma, float("nan"))),
            ValueError,
            "grid.log_sigma must be finite",
        ),
        (lambda G: G._replace(x=torch.zeros(0)), ValueError, "grid.x must not be empty"),
        (lambda G: G._replace(x=torch.tensor([0.0] * 5 + [float("nan")])), ValueError, "grid.x must be finite"),
        (lambda G: G._replace(mu=torch.zeros(6, 4)), ValueError, r"grid.mu must have shape \(6, 3\)"),
        (lambda G: G._replace(log_pi=torch.zeros(5, 3)), ValueError, r"grid.log_pi must have shape \(6, k\)"),
        (lambda G: G._replace(log_sigma=torch.zeros(6)), ValueError, r"grid.log_sigma must have shape \(6, 3\)"),
        (lambda G: G._replace(log_pi=torch.zeros(6, 0)), ValueError, r"grid.log_pi must have shape"),
        (lambda G: G._replace(eps=torch.zeros(2)), ValueError, r"grid.eps must have shape \(3,\)"),
        (lambda G: G._replace(eps=-torch.ones(3)), ValueError, "grid.eps must be >= 0"),
        (
            lambda G: G._replace(mu=torch.full((6, 3), 1e39, dtype=torch.float64)),
            ValueError,
            "grid.mu must be representable in float32",
        ),
        (lambda G: tuple(G)[:4], TypeError, "grid must be an ExplorerGrid"),
        (lambda G: "grid", TypeError, "grid must be an ExplorerGrid"),
    ],
)
def test_bad_grids_are_refused_by_the_widget_and_the_page_writer(bad, error, message, tmp_path):
    grid = bad(_grid())
    for call in (
        lambda: check_grid(grid),
        lambda: explorer_spec(grid),
        lambda: ExplorerCanvas(grid),
        lambda: write_explorer_page(tmp_path / "page", grid),
    ):
        with pytest.raises(error, match=message):
            call()
    assert not (tmp_path / "page").exists()  # nothing written


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(n=0), ValueError, "n must be >= 1"),
        (dict(n=10**6), ValueError, "n must be <="),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
        (
            dict(data=(torch.zeros(3), torch.zeros(4))),
            ValueError,
            "data\\[0\\] and data\\[1\\] must have the same length",
        ),
        (dict(data=(torch.zeros(3), torch.tensor([0.0, float("nan"), 1.0]))), ValueError, "data\\[1\\] must be finite"),
        (dict(data=(torch.zeros(0), torch.zeros(0))), ValueError, "data\\[0\\] must not be empty"),
        (dict(data=torch.zeros(3)), TypeError, "data must be a pair"),
        (dict(data=(torch.zeros(2, 2), torch.zeros(2, 2))), ValueError, "data\\[0\\] must be 1-d"),
    ],
)
def test_bad_options_are_refused(kwargs, error, message, tmp_path):
    for call in (
        lambda: explorer_spec(_grid(), **kwargs),
        lambda: ExplorerCanvas(_grid(), **kwargs),
        lambda: write_explorer_page(tmp_path, _grid(), **kwargs),
    ):
        with pytest.raises(error, match=message):
            call()
    assert not (tmp_path / "bias_explorer.html").exists()


def _decode(b64, shape):
    return np.frombuffer(base64.b64decode(b64), dtype="<f4").reshape(shape)


class _Refs(HTMLParser):
    """Every src/href, every tag, the scripts' text."""

    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.scripts, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.refs += [v for k, v in attrs if k in ("src", "href", "action", "srcset", "poster", "data")]
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_page_is_self_contained_and_carries_the_data(tmp_path):
    model = _models()["mdn_eps"]
    grid = explorer_grid(model, n_grid=30)
    x, y = seeded_sample(200, 0)
    path = write_explorer_page(tmp_path / "out", grid, data=(x, y), n=300, seed=4)
    assert path == tmp_path / "out" / "bias_explorer.html"
    text = path.read_text(encoding="utf-8")
    assert text == explorer_page(grid, data=(x, y), n=300, seed=4)  # same input, same page
    page = _Refs()
    page.feed(text)
    # no network: no reference outside the page but data: URLs, nothing fetched by script or style
    assert all(r.startswith("data:") for r in page.refs), page.refs
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", text, re.I)
    for needle in ("fetch(", "XMLHttpRequest", "import(", "@import", "url(", "WebSocket", "sendBeacon"):
        assert needle not in text, needle
    assert "default-src 'none'" in text  # and the browser is told so
    # two labelled range inputs with read-outs
    inputs = {a["id"]: a for t, a in page.tags if t == "input"}
    assert {k: (v["type"], v["min"], v["max"]) for k, v in inputs.items()} == {
        "pi_bias": ("range", "0.0", "5.0"),
        "std_bias": ("range", "0.0", "10.0"),
    }
    labels = {a["for"] for t, a in page.tags if t == "label"}
    outputs = {a["id"] for t, a in page.tags if t == "output"}
    assert labels == {"pi_bias", "std_bias"} and outputs == {"pi_bias-value", "std_bias-value"}
    # the one JavaScript source, inline; the data, inline
    assert any(explorer_js() in s for s in page.scripts)
    assert [a.get("id") for t, a in page.tags if t == "script"] == ["mdn-explorer-spec", None]
    spec = json.loads(page.scripts[0].replace("<\\/", "</"))
    g, k = grid.mu.shape
    assert (spec["g"], spec["k"], spec["n"], spec["data_n"]) == (30, 3, 300, 200)
    np.testing.assert_array_equal(_decode(spec["mu"], (g, k)), grid.mu.numpy().astype("<f4"))
    np.testing.assert_array_equal(_decode(spec["x"], (g,)), grid.x.numpy().astype("<f4"))
    np.testing.assert_array_equal(_decode(spec["data_y"], (200,)), y.numpy().astype("<f4"))
    assert spec["eps"] == pytest.approx([0.2] * 3)


@pytest.mark.slow
def test_explorer_js_ships_with_an_installed_copy(tmp_path):
    """The wheel carries explorer.js (package data), so a non-editable install finds it too."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("mdn_helpers-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        assert z.read("mdn_helpers/explorer.js").decode() == explorer_js()


def test_widget_is_two_jslinked_sliders_over_the_canvas():
    model = _models()["mdn"]
    x, y = seeded_sample(100, 0)
    box = bias_explorer(model, data=(x, y), n=500, seed=3)
    sliders, canvas = box.children
    pi, sd = sliders.children
    assert (pi.description, pi.min, pi.max, pi.value) == ("pi_bias", 0.0, 5.0, 0.0)
    assert (sd.description, sd.min, sd.max, sd.value) == ("std_bias", 0.0, 10.0, 0.0)
    assert canvas is box.canvas and "mdn-bias-figure" in canvas._dom_classes
    assert {(link.source, link.target) for link in box.links} == {
        ((pi, "value"), (canvas, "pi_bias")),
        ((sd, "value"), (canvas, "std_bias")),
    }
    assert canvas.spec == explorer_spec(box.grid, data=(x, y), n=500, seed=3)
    assert canvas.spec["n"] == 500 and canvas.spec["data_n"] == 100
    assert "export default" in canvas._esm and "function render" in canvas._esm
    # static readers see a sentence, not the widget tree
    assert repr(box) == STATIC_TEXT and box._repr_mimebundle_()["text/plain"] == STATIC_TEXT
    with pytest.raises(ValueError, match="pi_bias must be >= -1"):
        canvas.pi_bias = -3.0
    with pytest.raises(ValueError, match="std_bias must be within"):
        canvas.std_bias = 50.0


def test_widget_refuses_a_model_with_nan_parameters():
    broken = MDN(n_hidden=4, n_components=2)
    with torch.no_grad():
        broken.head.lin.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="model gives non-finite"):
        bias_explorer(broken)


def test_cli_writes_the_page_from_a_checkpoint(tmp_path, capsys, monkeypatch):
    from mdn_helpers import train
    from mdn_helpers.__main__ import main
    from mdn_helpers.checkpoint import save_checkpoint

    monkeypatch.setattr(train, "fit_mdn", lambda *a, **k: (_ for _ in ()).throw(AssertionError("training started")))
    ckpt = save_checkpoint(_models()["mdn"], tmp_path / "m.pt")
    assert (
        main(["explorer", "--checkpoint", str(ckpt), "--out", str(tmp_path / "site"), "--n", "100", "--n-train", "50"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    page = Path(result["page"])
    assert page == tmp_path / "site" / "bias_explorer.html" and result["bytes"] == page.stat().st_size
    assert '"n":100' in page.read_text() and '"data_n":50' in page.read_text()
    for argv, message in (
        (["--checkpoint", str(tmp_path / "none.pt")], "no such file"),
        (["--n", "0"], "--n must be >= 1"),
        (["--n-train", "1"], "--n-train must be >= 2"),
    ):
        assert main(["explorer", "--out", str(tmp_path / "never"), *argv]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_committed_page_runs_the_current_script():
    """docs/bias_explorer.html (built by `make explorer`) carries today's explorer.js."""
    page = (ROOT / "docs" / "bias_explorer.html").read_text(encoding="utf-8")
    assert explorer_js() in page, "docs/bias_explorer.html is stale: run `make explorer`"
