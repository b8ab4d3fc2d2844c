"""End to end, as a reader: JupyterLab in headless Chromium runs and shows the notebooks.

- 02_mdn.ipynb: clear, run all cells, no cell errors, then the `pi_bias` and
  `std_bias` sliders move with the keyboard and each move redraws the figure
  under them (the PNG in the Output widget changes).
- 03_slogan.ipynb, rendered as committed (not run): the critic's heat map cell
  shows its image.

Screenshots go to build/browser/. Needs Debian's Chromium (/usr/bin/chromium)
and playwright (the `test` extra); skipped where either is absent.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

from browser_support import CHROMIUM, CHROMIUM_ARGS, LabServer

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SHOTS = ROOT / "build" / "browser"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (it is in the `test` extra: pip install -e '.[test]')")

expect = sync_api.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"),
]

RUN_TIMEOUT_S = 150      # all of 02 (training ~10-40 s, more on a busy machine)
REDRAW_TIMEOUT_S = 30    # one slider move -> new PNG in the Output widget
UI_TIMEOUT_MS = 60_000   # JupyterLab's page and a notebook to be ready
CRITIC_CALL = "plot_critic("  # the cell of 03 that draws the critic's heat map (a call, not the import)

# --- JavaScript run in the page (JupyterLab exposed as window.jupyterapp) ----------------------------

# The notebook `path` is open, current, loaded and its cells rendered; with `kernel`, its kernel idle.
JS_READY = """([path, kernel]) => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path || !w.context.isReady || !w.content) return false;
  if (w.content.widgets.length === 0 || !w.content.node.querySelector('.jp-Cell')) return false;
  if (!kernel) return true;
  const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

# Where the run stands: kernel status, prompts still [*], code cells without a count, errors.
JS_RUN_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const code = w.content.widgets.filter(c => c.model.type === 'code');
  const prompts = [...w.content.node.querySelectorAll('.jp-InputArea-prompt')].map(p => p.textContent);
  const errors = [];
  code.forEach((c, i) => {
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
    }
  });
  w.content.node.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').forEach(n => {
    const t = n.textContent || '';
    if (/Traceback|Error/.test(t)) errors.push('stderr: ' + t.slice(0, 500));
  });
  return {
    kernel: k ? k.status : 'none',
    indicator: ind ? ind.getAttribute('data-status') : null,
    running: prompts.filter(t => t.includes('*')).length,
    not_run: code.filter(c => c.model.executionCount === null).length,
    code: code.length,
    errors,
  };
}"""

# The figure under the sliders: its PNG (data URL) once loaded, else null.
JS_FIGURE = """() => {
  const imgs = document.querySelectorAll('.mdn-bias-figure img');
  if (imgs.length !== 1) return null;
  const i = imgs[0];
  return (i.complete && i.naturalWidth > 0) ? i.src : null;
}"""

# Cells whose source contains `needle`: mark them (data-e2e=mark-0, mark-1, ...) and describe their images.
JS_MARK_CELLS = """([needle, mark]) => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.widgets.filter(c => c.model.sharedModel.getSource().includes(needle));
  return cells.map((cell, k) => {
    cell.node.setAttribute('data-e2e', `${mark}-${k}`);
    return [...cell.node.querySelectorAll('.jp-OutputArea-output img')].map(i => (
      {complete: i.complete, width: i.naturalWidth, height: i.naturalHeight, src: i.src.slice(0, 30)}));
  });
}"""


# --- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab():
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*_failure.png"):
        old.unlink()
    with LabServer(NOTEBOOKS, ["02_mdn.ipynb", "03_slogan.ipynb"], log_path=SHOTS / "jupyterlab.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@contextlib.contextmanager
def screenshot_on_failure(page, name: str):
    """On any failure inside, a full-page screenshot build/browser/<name>_failure.png, then re-raise."""
    try:
        yield
    except BaseException:
        try:
            page.screenshot(path=str(SHOTS / f"{name}_failure.png"), full_page=True, timeout=10_000)
        except Exception:  # noqa: BLE001 - best effort: the test has failed already
            pass
        raise


def open_notebook(page, lab: LabServer, name: str, *, kernel: bool) -> None:
    page.goto(lab.lab_url(name), wait_until="domcontentloaded")
    page.wait_for_function(JS_READY, arg=[name, kernel], timeout=UI_TIMEOUT_MS, polling=250)


def wait_until(what: str, check, timeout_s: float, interval_s: float = 0.25, describe=None):
    """Poll `check()` until it returns something truthy; bounded. `describe()` says what was seen last."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval_s)
    seen = f"; last seen: {describe()!r}" if describe else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{seen}")


def figure_after_change(page, old: str, what: str) -> str:
    """The new figure once it differs from `old` and has stopped changing (kernel idle, same PNG twice)."""
    def settled():
        state = page.evaluate(JS_RUN_STATE)
        src = page.evaluate(JS_FIGURE)
        if not src or src == old or state["kernel"] != "idle":
            return None
        time.sleep(0.5)
        return src if page.evaluate(JS_FIGURE) == src and page.evaluate(JS_RUN_STATE)["kernel"] == "idle" else None

    def describe():
        return {**page.evaluate(JS_RUN_STATE), "figure_changed": page.evaluate(JS_FIGURE) != old}
    return wait_until(f"the figure to redraw after moving {what}", settled, REDRAW_TIMEOUT_S, describe=describe)


# --- tests -------------------------------------------------------------------------------------------

def test_02_runs_without_errors_and_sliders_redraw_the_figure(page, lab):
    with screenshot_on_failure(page, "02_mdn"):
        check_02(page, lab)


def test_03_shows_the_critic_heat_map(page, lab):
    nb = NOTEBOOKS / "03_slogan.ipynb"
    assert nb.is_file(), f"{nb.relative_to(ROOT)} is missing"
    with screenshot_on_failure(page, "03_slogan"):
        check_03(page, lab, nb.name)


def check_02(page, lab):
    open_notebook(page, lab, "02_mdn.ipynb", kernel=True)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    cleared = page.evaluate(JS_RUN_STATE)
    assert cleared["not_run"] == cleared["code"] > 0, cleared
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    lab.remember_children()

    def finished():
        s = page.evaluate(JS_RUN_STATE)
        done = (s["kernel"] == "idle" and s["indicator"] in (None, "idle") and s["running"] == 0
                and (s["not_run"] == 0 or s["errors"]))
        return s if done else None
    t0 = time.monotonic()
    state = wait_until("02_mdn.ipynb to run to the end", finished, RUN_TIMEOUT_S, interval_s=1.0,
                       describe=lambda: page.evaluate(JS_RUN_STATE))
    print(f"02_mdn.ipynb ran in {time.monotonic() - t0:.1f} s")
    assert not state["errors"], "cells failed in the browser:\n" + "\n".join(state["errors"])
    assert state["not_run"] == 0, state

    # The explorer: one live copy of each slider, and its figure.
    pi = page.locator(".mdn-pi-bias .noUi-handle")
    sd = page.locator(".mdn-std-bias .noUi-handle")
    assert pi.count() == 1 and sd.count() == 1, (pi.count(), sd.count())
    outputs = page.locator(".jp-Cell", has=page.locator(".mdn-bias-figure")).locator(".jp-Cell-outputArea")
    outputs.scroll_into_view_if_needed()
    before = wait_until("the explorer's figure (.mdn-bias-figure img)", lambda: page.evaluate(JS_FIGURE),
                        REDRAW_TIMEOUT_S)
    expect(page.locator(".mdn-pi-bias .widget-readout")).to_have_text("0.0")
    outputs.screenshot(path=str(SHOTS / "02_sliders_before.png"))
    log_mark = len(lab.log_text())

    pi.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(page.locator(".mdn-pi-bias .widget-readout")).to_have_text("1.0", timeout=10_000)
    after_pi = figure_after_change(page, before, "pi_bias")

    sd.focus()
    page.keyboard.press("End")
    expect(page.locator(".mdn-std-bias .widget-readout")).to_have_text("10.0", timeout=10_000)
    after_sd = figure_after_change(page, after_pi, "std_bias")
    outputs.screenshot(path=str(SHOTS / "02_sliders_after.png"))

    assert before != after_pi != after_sd
    state = page.evaluate(JS_RUN_STATE)
    assert not state["errors"], "errors after moving the sliders:\n" + "\n".join(state["errors"])
    # An exception in a widget callback outside the Output widget only reaches the kernel's log.
    log = lab.log_text()[log_mark:]
    assert "Traceback" not in log and "Exception in comm_msg" not in log, log[-3000:]


def check_03(page, lab, name):
    open_notebook(page, lab, name, kernel=False)
    cells = page.evaluate(JS_MARK_CELLS, [CRITIC_CALL, "critic"])
    assert cells, f"no cell in {name} calls {CRITIC_CALL}...)"

    def loaded():  # every cell that draws the critic shows a decoded image
        found = page.evaluate(JS_MARK_CELLS, [CRITIC_CALL, "critic"])
        ok = all(imgs and all(i["complete"] and i["width"] > 0 for i in imgs) for imgs in found)
        return found if ok else None
    cells = wait_until(f"the critic heat map in every cell calling {CRITIC_CALL}...) of {name}", loaded, 30,
                       describe=lambda: page.evaluate(JS_MARK_CELLS, [CRITIC_CALL, "critic"]))
    for imgs in cells:
        assert imgs[0]["src"].startswith("data:image/png"), imgs
        assert imgs[0]["width"] >= 200 and imgs[0]["height"] >= 150, imgs
    cell = page.locator('[data-e2e="critic-0"]')
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-Cell-outputArea").screenshot(path=str(SHOTS / "03_critic_heat_map.png"))
