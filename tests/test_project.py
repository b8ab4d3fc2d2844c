"""Project-level checks: pinned dependencies agree, the CLI writes its files, and the browser tests
and `make chromium` skip locally but fail on CI when Chromium or playwright is missing."""

import json
import math
import os
import re
import subprocess
import sys
import time
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
    for path in sorted((ROOT / "mdn_helpers").rglob("*.py")):
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


def _layout_modules() -> set[str]:
    """The mdn_helpers submodules that README.md's "Layout" section lists: `name.py` or `name/`
    under `mdn_helpers/`, and a package's own modules (indented below it) as `package.name`."""
    layout = (ROOT / "README.md").read_text().split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = layout.split("\nmdn_helpers/\n", 1)[1].split("\ntests/", 1)[0]
    found, package = set(), None
    for line in block.splitlines():
        m = re.match(r"( +)(\w+)(\.py|/)(\s|$)", line)
        if not m or m.group(2).startswith("_"):
            continue
        if len(m.group(1)) == 2:
            found.add(m.group(2))
            package = m.group(2) if m.group(3) == "/" else None
        elif package is not None:
            found.add(f"{package}.{m.group(2)}")
    return found


def _notebook_names() -> list[tuple[str, str, str]]:
    """(notebook, module, name) for each name a chapter's code cells take from mdn_helpers:
    `from mdn_helpers[.sub] import name`, and `alias.name` on a module imported from it
    (`import mdn_helpers as mh`, `from mdn_helpers import plots`)."""
    import ast
    import importlib.util

    found = []
    for chapter in (ROOT / "notebooks" / "chapters.txt").read_text().split():
        cells = json.loads((ROOT / "notebooks" / chapter).read_text())["cells"]
        modules = {}  # alias -> module name, from the cells so far
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            tree = ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name.split(".")[0] == "mdn_helpers":
                            modules[a.asname or a.name] = a.name
                elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mdn_helpers":
                    for a in node.names:
                        found.append((chapter, node.module, a.name))
                        if node.module == "mdn_helpers" and importlib.util.find_spec(f"mdn_helpers.{a.name}"):
                            modules[a.asname or a.name] = f"mdn_helpers.{a.name}"  # a submodule
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                    found.append((chapter, modules[node.value.id], node.attr))
    return found


def test_the_notebooks_use_the_public_api_only():
    """Every name a notebook takes from mdn_helpers is in `mdn_helpers.__all__`, or in the `__all__`
    of a submodule that README.md's Layout section documents; every name in those resolves."""
    import importlib

    import mdn_helpers

    documented = _layout_modules()
    assert {"datasets", "datasets.inverted_sine", "plots", "grids", "seeding"} <= documented
    for name in mdn_helpers.__all__:
        assert hasattr(mdn_helpers, name), f"mdn_helpers.__all__ names {name}, which mdn_helpers lacks"
    for sub in sorted(documented):
        module = importlib.import_module(f"mdn_helpers.{sub}")
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"mdn_helpers.{sub}.__all__ names {name}, which it lacks"
    names = _notebook_names()
    assert len({chapter for chapter, _, _ in names}) == len((ROOT / "notebooks" / "chapters.txt").read_text().split())
    wrong = []
    for chapter, module, name in names:
        sub = module.removeprefix("mdn_helpers").removeprefix(".")
        if module == "mdn_helpers" and name in documented:
            sub, name = name, None  # `from mdn_helpers import plots`: a documented submodule
        if sub and sub not in documented:
            wrong.append(f"{chapter}: {module}.{name}: {sub} is not in README.md's Layout section")
            continue
        public = importlib.import_module(f"mdn_helpers.{sub}" if sub else "mdn_helpers").__dict__.get("__all__")
        if public is None:
            wrong.append(f"{chapter}: mdn_helpers.{sub} has no __all__")
        elif name is not None and name not in public:
            wrong.append(f"{chapter}: {name} is not in {module}.__all__")
    assert not wrong, "\n".join(wrong)


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
    monkeypatch.setattr(slogan_train, "fit_slogan", no_training)
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


NOBODY = 65534  # the unprivileged user (and group) of Debian and most Linux systems


def _as_unprivileged_user(fn, *, timeout_s: float = 60.0):
    """`fn()` (returning JSON-able data) run by an unprivileged user, and its return value.

    Not root: here, as this user. Root (CI, these machines), where permissions stop nothing: in a
    forked child that drops to uid/gid NOBODY with no supplementary groups first. Forked, not a new
    interpreter, because that user may not be able to read the interpreter (here it lives under
    /root); the child runs only code already imported. Skips, with the reason, where the drop fails.
    """
    import os
    import select
    import signal
    import traceback

    if os.geteuid() != 0:
        return fn()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                payload = {"dropped": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()]}
            except OSError as exc:
                payload = {"setuid_error": f"{type(exc).__name__}: {exc}"}
            else:
                try:
                    payload["value"] = fn()
                except BaseException:  # noqa: BLE001 - reported to the parent, which fails
                    payload["error"] = traceback.format_exc()
            with os.fdopen(w, "w") as f:
                json.dump(payload, f)
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout_s
    try:
        while True:
            ready, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"the unprivileged child did not finish within {timeout_s:.0f} s")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the unprivileged child failed (status {status})"
    payload = json.loads(b"".join(chunks))
    if "setuid_error" in payload:
        pytest.skip(f"running as root and cannot become uid {NOBODY} ({payload['setuid_error']})")
    assert payload["dropped"] == [NOBODY, NOBODY, NOBODY, NOBODY, []], payload["dropped"]
    assert "error" not in payload, payload["error"]
    return payload["value"]


def test_cli_unwritable_out_folder_is_one_error_line(tmp_path, capsys, monkeypatch):
    """A folder the OS will not let the CLI write in, or make a folder in, is one error line, and
    nothing is trained. Checked for real as an unprivileged user (root drops to `nobody` in a
    forked child), and with the refusal simulated, whoever runs the tests."""
    import contextlib
    import io
    import os
    import shutil
    import stat
    import tempfile

    from mdn_helpers import train
    from mdn_helpers.__main__ import _prepare_out, main

    monkeypatch.setattr(train, "fit_mdn", lambda *a, **k: (_ for _ in ()).throw(AssertionError("training started")))

    # the operating system refusing the test write, simulated
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", refuse)
        assert main(["mdn", "--out", str(tmp_path / "w"), "--no-progress"]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert "cannot write in the folder (Permission denied)" in line and "--out" in line
        assert os.listdir(tmp_path / "w") == []

    # the real refusal: a 0o555 folder (no writes for anyone but root) and a 0o777 one (the control:
    # the unprivileged user can reach the tree and write where allowed), in a folder that user can
    # search (tmp_path's parents are 0o700 root-owned)
    base = Path(tempfile.mkdtemp(prefix="mdn-unwritable-"))
    try:
        base.chmod(0o755)
        if os.geteuid() == 0:
            for parent in base.parents:
                if not parent.stat().st_mode & stat.S_IXOTH:
                    pytest.skip(f"{parent} is not searchable by uid {NOBODY}; set TMPDIR to a folder that is")
        ro, rw = base / "ro", base / "rw"
        ro.mkdir()
        rw.mkdir()
        ro.chmod(0o555)
        rw.chmod(0o777)

        def real_half():
            runs = []
            for out in (ro, ro / "sub"):
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    code = main(["mdn", "--out", str(out), "--no-progress"])
                runs.append([code, err.getvalue()])
            made = _prepare_out(str(rw / "made"))  # the control: allowed here
            return {"euid": os.geteuid(), "runs": runs, "made": str(made)}

        expected_uid = NOBODY if os.geteuid() == 0 else os.geteuid()
        if expected_uid != NOBODY:  # not root: this user's writes are checked, unless it bypasses them
            with contextlib.suppress(PermissionError):
                (ro / "probe").write_text("")
                (ro / "probe").unlink()
                pytest.skip(f"uid {expected_uid} can write in a 0o555 folder (a capability?): no refusal to test")
        got = _as_unprivileged_user(real_half)
        assert got["euid"] == expected_uid
        (code, err), (code_sub, err_sub) = got["runs"]
        assert code == 2 and "cannot write in the folder (Permission denied)" in _one_error_line(err)
        assert code_sub == 2 and "cannot create the folder (Permission denied)" in _one_error_line(err_sub)
        assert os.listdir(ro) == []
        assert Path(got["made"]) == rw / "made" and (rw / "made").is_dir()
        assert (rw / "made").stat().st_uid == expected_uid  # made by the unprivileged user, not by root
        assert os.listdir(rw / "made") == []  # the write probe was removed
    finally:
        if (base / "ro").exists():
            (base / "ro").chmod(0o755)
        shutil.rmtree(base)


# --- the browser tests: skipped locally, failed on CI, when Chromium or playwright is missing ---------


def test_browser_gate_skips_locally_and_fails_on_ci_when_something_is_missing(tmp_path):
    from browser_support import gate

    chromium = tmp_path / "chromium"
    no_pw = "ModuleNotFoundError: No module named 'playwright'"
    for env in ({}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}, {"CI": "No"}):  # a local run
        assert gate(env, chromium=chromium, chromium_found=True, playwright_error=None) == ("run", "")
        action, reason = gate(env, chromium=chromium, chromium_found=False, playwright_error=None)
        assert action == "skip" and f"Chromium is not installed at {chromium}" in reason
        assert "make chromium" in reason and "apt-get install chromium" in reason and "playwright" not in reason
        action, reason = gate(env, chromium=chromium, chromium_found=True, playwright_error=no_pw)
        assert action == "skip" and no_pw in reason and "pip install -e '.[test]'" in reason
        assert "Chromium" not in reason
    for env in ({"CI": "true"}, {"CI": "1"}, {"CI": " TRUE "}):  # CI
        assert gate(env, chromium=chromium, chromium_found=True, playwright_error=None) == ("run", "")
        action, reason = gate(env, chromium=chromium, chromium_found=False, playwright_error=no_pw)
        assert action == "fail" and reason.startswith(f"on CI (CI={env['CI']}) the browser tests must run")
        assert f"Chromium is not installed at {chromium}" in reason and "apt-get install chromium" in reason
        assert no_pw in reason and "pip install -e '.[test]'" in reason


def test_browser_gate_looks_at_this_machine(tmp_path, monkeypatch):
    """`browser_gate()` finds Chromium at browser_support.CHROMIUM (executable) and imports playwright."""
    import types

    import browser_support

    missing = tmp_path / "missing" / "chromium"
    monkeypatch.setattr(browser_support, "CHROMIUM", missing)
    monkeypatch.setitem(sys.modules, "playwright", types.ModuleType("playwright"))
    monkeypatch.setitem(sys.modules, "playwright.sync_api", types.ModuleType("playwright.sync_api"))
    action, reason = browser_support.browser_gate({"CI": "true"})
    assert action == "fail" and f"Chromium is not installed at {missing}" in reason and "playwright" not in reason
    action, reason = browser_support.browser_gate({})
    assert action == "skip" and f"Chromium is not installed at {missing}" in reason

    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setattr(browser_support, "CHROMIUM", fake)
    assert browser_support.browser_gate({"CI": "true"}).action == "fail"  # not executable
    fake.chmod(0o755)
    assert browser_support.browser_gate({"CI": "true"}) == ("run", "")
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # its import fails
    action, reason = browser_support.browser_gate({"CI": "true"})
    assert action == "fail" and "playwright cannot be imported (ModuleNotFoundError" in reason
    assert "Chromium" not in reason


def _browser_tests_without_chromium(env: dict[str, str]) -> subprocess.CompletedProcess:
    """tests/test_browser.py run by pytest in a subprocess, with CHROMIUM pointing nowhere."""
    code = (
        "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; import browser_support; "
        "browser_support.CHROMIUM = Path('/nonexistent/chromium'); import pytest; "
        "sys.exit(pytest.main(['tests/test_browser.py', '-q', '-rsE', '-p', 'no:cacheprovider']))"
    )
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=300
    )


def test_browser_tests_are_skipped_locally_and_fail_on_ci_without_chromium():
    """The gate as tests/test_browser.py applies it: every test skipped with the reason, or, on CI,
    every test failing with it before anything starts (no JupyterLab, no training)."""
    local = _browser_tests_without_chromium({})
    assert local.returncode == 0, local.stdout + local.stderr
    assert "Chromium is not installed at /nonexistent/chromium" in local.stdout
    assert re.search(r"\b(\d+) skipped in ", local.stdout), local.stdout
    n_tests = int(re.search(r"\b(\d+) skipped in ", local.stdout).group(1))
    assert n_tests >= 5 and "passed" not in local.stdout and "error" not in local.stdout
    ci = _browser_tests_without_chromium({"CI": "true"})
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert re.search(rf"\b{n_tests} errors in ", ci.stdout), ci.stdout  # every test, none left out
    assert "passed" not in ci.stdout and "skipped" not in ci.stdout
    assert "on CI (CI=true) the browser tests must run, but: Chromium is not installed at /nonexistent/chromium" in (
        ci.stdout
    )
    assert "jupyterlab.log" not in ci.stdout


def test_make_chromium_fails_on_ci_when_it_cannot_install_chromium(tmp_path):
    """`make chromium` with no Chromium and no apt-get (a PATH holding only what the Makefile needs):
    a note and success locally, an error and failure on CI."""
    import shutil

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("id", "cat"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    missing = tmp_path / "missing" / "chromium"
    run = [make, "-s", "--no-print-directory", "-C", str(ROOT), "chromium", f"CHROMIUM={missing}"]
    for ci, rc in (({}, 0), ({"CI": "false"}, 0), ({"CI": "true"}, 2)):
        proc = subprocess.run(run, env={"PATH": str(bin_), **ci}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == rc, (ci, proc.stdout, proc.stderr)
        if rc == 0:
            assert proc.stdout.strip() == f"note: {missing} not installed; tests/test_browser.py will be skipped"
            assert proc.stderr == ""
        else:
            assert f"error: CI=true: {missing} is not installed and could not be" in proc.stderr
            assert "apt-get install chromium" in proc.stderr
    assert not missing.parent.exists()
