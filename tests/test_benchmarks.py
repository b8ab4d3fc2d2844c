"""The benchmark harness runs end to end at tiny sizes and prints the JSON it promises.

Plumbing only: `--smoke` trains for a handful of steps, so no figure is checked
against a goal, and nothing here is timed.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NUMBERS = [
    "bayes_nll",
    "mdn_seed_best_nll",
    "mdn_seed_seconds_to_best",
    "mdn_nll_n1000",
    "mdn_seconds_n1000",
    "mdn_speedup_to_seed_best",
    "mdn_nll_fresh",
    "mdn_seconds_fresh",
    "mdn_nll_best",
    "mdn_seconds_best",
    "slogan_energy",
    "slogan_noise",
    "slogan_seconds",
    "explorer_setup_ms",
    "cpu_threads",
    "penguins_nll_mdn",
    "penguins_nll_linear",
    "penguins_nll_gaussian",
    "penguins_seconds",
]


@pytest.mark.slow
def test_smoke_run_prints_flat_json_with_the_promised_keys(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    rec = tmp_path / "recorded.json"
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", "--record", str(rec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert isinstance(result, dict)
    for key in NUMBERS:
        value = result[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)
    assert isinstance(result["device"], str) and isinstance(result["torch_version"], str)
    assert all(not isinstance(v, (dict, list)) for v in result.values()), "the JSON object must be flat"
    assert any("met?" in line for line in lines[:-1]), "the human-readable table comes before the JSON"
    # --record writes the figures the notebooks quote, with the keys the committed file has
    written = json.loads(rec.read_text())
    assert written["mode"] == "smoke" and written["mdn_seed_best_nll"] == result["mdn_seed_best_nll"]
    committed = json.loads((ROOT / "benchmarks" / "recorded.json").read_text())
    assert set(written) == set(committed)


def test_recorded_figures_are_those_of_the_full_run_in_results_md():
    """The notebooks read benchmarks/recorded.json; it must be a full run's figures,
    the same run whose JSON RESULTS.md prints."""
    committed = json.loads((ROOT / "benchmarks" / "recorded.json").read_text())
    assert committed["mode"] == "full"
    line = next(
        ln
        for ln in (ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines()
        if ln.startswith("{") and '"mdn_seed_best_nll"' in ln
    )
    full = json.loads(line)
    for key, value in committed.items():
        if key in full:
            assert full[key] == value, key
    assert 1.288 < committed["bayes_nll"] < committed["mdn_nll_n1000"] < committed["mdn_seed_best_nll"]
    # notebook 01 prints the final-epoch NLL beside the best-over-epochs one (picked on the test set)
    assert committed["mdn_seed_best_nll"] <= committed["mdn_seed_final_nll"] == full["mdn_seed_final_nll"]
