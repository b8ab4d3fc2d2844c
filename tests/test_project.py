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


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_cli_out_on_an_existing_file_is_one_error_line_without_a_traceback(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    proc = subprocess.run([sys.executable, "-m", "mdn_helpers", "mdn", "--out", str(target), "--steps", "1",
                           "--no-progress"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "--out" in _one_error_line(proc.stderr) and "is an existing file" in proc.stderr
    assert proc.stdout == "" and target.read_text() == "not a folder"


def test_cli_checks_every_argument_before_training(tmp_path, capsys, monkeypatch):
    from mdn_helpers import slogan_train, train
    from mdn_helpers.__main__ import main

    def no_training(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(train, "fit_mdn", no_training)
    monkeypatch.setattr(slogan_train, "train_slogan", no_training)
    out = tmp_path / "never"
    for argv, message in (
            (["mdn", "--n-test", "1000000000000"], "--n-test must be <="),
            (["mdn", "--n-train", "1"], "--n-train must be >= 2"),
            (["mdn", "--n-train", "10000000000"], "--n-train must be <="),
            (["mdn", "--steps", "10000000000"], "--steps must be <="),
            (["mdn", "--seed", "-1"], "--seed must be >= 0"),
            (["mdn", "--device", "bogus"], "--device: device must be"),
            (["slogan", "--n-eval", "1000000"], "--n-eval must be <="),
            (["slogan", "--steps", "-2"], "--steps must be >= 0"),
    ):
        assert main(argv + ["--out", str(out), "--no-progress"]) == 2, argv
        assert message in _one_error_line(capsys.readouterr().err), argv
    assert not out.exists()  # the folder is made only once the other arguments passed
    # a folder that cannot be made: its parent is a file
    (tmp_path / "f").write_text("")
    for argv, message in ((["mdn", "--out", str(tmp_path / "f" / "sub")], "cannot create the folder"),
                          (["slogan", "--out", str(tmp_path / "f")], "is an existing file")):
        assert main(argv + ["--no-progress"]) == 2, argv
        assert message in _one_error_line(capsys.readouterr().err), argv
    # an argparse error is one line too
    with pytest.raises(SystemExit) as info:
        main(["mdn", "--n-test", "abc"])
    assert info.value.code == 2
    assert "invalid int value" in _one_error_line(capsys.readouterr().err)


def test_cli_unwritable_out_folder_is_one_error_line(tmp_path, capsys, monkeypatch):
    import os
    import tempfile

    from mdn_helpers import train
    from mdn_helpers.__main__ import main

    monkeypatch.setattr(train, "fit_mdn", lambda *a, **k: (_ for _ in ()).throw(AssertionError("training started")))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        try:  # as root, permissions do not stop writes: then only the simulated refusal below applies
            (ro / "probe").write_text("")
            (ro / "probe").unlink()
            blocked = False
        except PermissionError:
            blocked = True
        if blocked:
            assert main(["mdn", "--out", str(ro), "--no-progress"]) == 2
            assert "cannot write in the folder" in _one_error_line(capsys.readouterr().err)
            # a folder to be made inside it
            assert main(["mdn", "--out", str(ro / "sub"), "--no-progress"]) == 2
            assert "cannot create the folder" in _one_error_line(capsys.readouterr().err)
    finally:
        ro.chmod(0o755)

    # the operating system refusing the test write, whoever runs the tests
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(["mdn", "--out", str(tmp_path / "w"), "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "cannot write in the folder (Permission denied)" in line and "--out" in line
    assert os.listdir(tmp_path / "w") == []
