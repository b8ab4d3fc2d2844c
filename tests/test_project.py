"""Project-level checks: pinned dependencies agree, the CLI writes its files."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pins_from_pyproject() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    return dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", r).groups() for r in reqs)


def _pins_from_environment() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.fullmatch(r"\s*-\s+([A-Za-z0-9_.-]+)==(\S+)\s*", line)
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def test_environment_yml_and_pyproject_agree():
    py, env = _pins_from_pyproject(), _pins_from_environment()
    assert py, "no pins found in pyproject.toml"
    assert py == env


def test_every_dependency_is_pinned_exactly():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for r in meta["dependencies"]:
        assert "==" in r, f"{r} is not pinned (a bare torch pulls a multi-GB CUDA build)"


@pytest.mark.slow
def test_cli_mdn_writes_checkpoint_and_figures(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "mdn_helpers", "mdn", "--out", str(out), "--steps", "200", "--n-test", "5000",
         "--no-progress"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for f in result["figures"] + [result["checkpoint"]]:
        assert Path(f).is_file() and Path(f).stat().st_size > 1000, f
    assert {Path(f).name for f in result["figures"]} == {"mdn_samples.png", "mdn_loss.png", "mdn_density.png"}
    assert 1.2 < result["heldout_nll"] < 3.0


def test_cli_rejects_bad_arguments(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mdn_helpers", "mdn", "--out", str(tmp_path), "--steps", "-5"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "steps must be >= 0" in proc.stderr
