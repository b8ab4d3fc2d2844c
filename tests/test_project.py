"""Project-level checks: pinned dependencies agree, the CLI writes its files."""

import json
import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")


def _lock() -> dict[str, str]:
    """constraints.txt: {normalised name: exact version}."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            assert m, f"constraints.txt: not an exact pin: {line!r}"
            pins[_name(m.group(1))] = m.group(2)
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _direct_requirements() -> list[str]:
    meta = _project()
    return list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]


def _pins_from_environment() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.fullmatch(r"\s*-\s+([A-Za-z0-9_.-]+)==(\S+)\s*", line)
        if m:
            pins[_name(m.group(1))] = m.group(2)
    return pins


def test_environment_yml_follows_the_lock():
    lock, env = _lock(), _pins_from_environment()
    direct = {_name(r) for r in _direct_requirements()}
    assert set(env) == direct, "environment.yml must list exactly the direct dependencies of pyproject.toml"
    assert {n: lock.get(n) for n in env} == env


def test_the_lock_satisfies_pyproject_and_runtime_bounds_are_not_pins():
    from packaging.requirements import Requirement

    lock = _lock()
    for r in _direct_requirements():
        req = Requirement(r)
        assert _name(req.name) in lock, f"{req.name} is missing from constraints.txt"
        assert req.specifier.contains(lock[_name(req.name)]), f"constraints.txt's {req.name} breaks {r!r}"
    for r in _project()["dependencies"]:
        assert "==" not in r and ">=" in r, f"{r}: runtime dependencies take lower bounds (the lock pins)"


def test_the_package_declares_what_it_imports():
    """Every third-party module mdn_helpers imports is a runtime dependency, or an extra's for widgets.py."""
    import ast

    runtime = {_name(r) for r in _project()["dependencies"]}
    notebooks = {_name(r) for r in _project()["optional-dependencies"]["notebooks"]}
    dist = {"ipywidgets": "ipywidgets", "anywidget": "anywidget", "traitlets": "ipywidgets", "IPython": "ipykernel"}
    for path in sorted((ROOT / "mdn_helpers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            for mod in mods:
                top = mod.split(".")[0]
                if top in sys.stdlib_module_names or top == "mdn_helpers":
                    continue
                name = dist.get(top, top)
                allowed = runtime | (notebooks if path.name in ("widgets.py", "plots.py") else set())
                assert name in allowed, f"{path.name} imports {top}, which pyproject.toml does not declare"


@pytest.mark.slow
def test_the_wheel_installs_with_runtime_dependencies_only(tmp_path):
    """Build the wheel, install it into a fresh venv with the runtime dependencies alone, train 50 steps."""
    run = dict(capture_output=True, text=True, timeout=600)
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "-o", str(tmp_path / "dist"), str(ROOT)], **run)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("mdn_helpers-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, **run)
    py = str(venv / "bin" / "python")
    pip = subprocess.run([py, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)], **run)
    assert pip.returncode == 0, pip.stderr[-2000:]
    installed = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], check=True, **run).stdout.lower()
    for extra in ("jupyterlab", "ipykernel", "scipy", "nbval", "pytest"):  # (pandas comes with seaborn)
        assert f"{extra}==" not in installed, f"{extra} came with the runtime install"
    out = tmp_path / "out"
    cli = subprocess.run(
        [py, "-m", "mdn_helpers", "mdn", "--steps", "50", "--n-test", "2000", "--no-progress", "--out", str(out)],
        cwd=tmp_path,  # not the source tree: the installed package is what runs
        **run,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    result = json.loads(cli.stdout)
    assert Path(result["checkpoint"]).is_file() and math.isfinite(result["heldout_nll"])
    version = subprocess.run([py, "-c", "import mdn_helpers; print(mdn_helpers.__version__)"], cwd=tmp_path, **run)
    assert version.stdout.strip() == _project()["version"]


@pytest.mark.slow
def test_cli_mdn_writes_checkpoint_and_figures(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdn_helpers",
            "mdn",
            "--out",
            str(out),
            "--steps",
            "200",
            "--n-test",
            "5000",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for f in result["figures"] + [result["checkpoint"]]:
        assert Path(f).is_file() and Path(f).stat().st_size > 1000, f
    assert {Path(f).name for f in result["figures"]} == {"mdn_samples.png", "mdn_loss.png", "mdn_density.png"}
    assert 1.2 < result["heldout_nll"] < 3.0


@pytest.mark.slow
def test_cli_rejects_bad_arguments(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mdn_helpers", "mdn", "--out", str(tmp_path), "--steps", "-5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "steps must be >= 0" in proc.stderr


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.slow
def test_cli_out_on_an_existing_file_is_one_error_line_without_a_traceback(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    proc = subprocess.run(
        [sys.executable, "-m", "mdn_helpers", "mdn", "--out", str(target), "--steps", "1", "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
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
        assert main([*argv, "--out", str(out), "--no-progress"]) == 2, argv
        assert message in _one_error_line(capsys.readouterr().err), argv
    assert not out.exists()  # the folder is made only once the other arguments passed
    # a folder that cannot be made: its parent is a file
    (tmp_path / "f").write_text("")
    for argv, message in (
        (["mdn", "--out", str(tmp_path / "f" / "sub")], "cannot create the folder"),
        (["slogan", "--out", str(tmp_path / "f")], "is an existing file"),
    ):
        assert main([*argv, "--no-progress"]) == 2, argv
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
