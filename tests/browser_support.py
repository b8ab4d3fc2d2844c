"""Helpers for tests/test_browser.py: a throw-away JupyterLab server and headless Chromium.

The server runs from this project's environment (the interpreter running the
tests, i.e. `.venv`) on 127.0.0.1, a free port and a random token, in a
temporary copy of `notebooks/`, with its own (empty) Jupyter config, data,
runtime, workspaces and user-settings directories, so nothing on the machine
leaks in and nothing the test does leaks out. Every wait is bounded; `stop()`
always ends the server and the kernels it started.

`browser_gate()` decides whether the browser tests run, are skipped (locally,
with the reason) or fail (on CI, where a missing browser must not pass
unnoticed): see `gate()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

INSTALL_CHROMIUM = "install it as root on Debian/Ubuntu: `make chromium`, i.e. apt-get install chromium"
INSTALL_PLAYWRIGHT = "pip install -e '.[test]' (playwright is in the `test` extra)"


class Gate(NamedTuple):
    action: str  # "run", "skip" or "fail"
    reason: str  # empty for "run"


def on_ci(env: Mapping[str, str]) -> bool:
    """CI services set CI (to "true"); unset, empty, 0, false or no mean a local run."""
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def gate(env: Mapping[str, str], *, chromium: Path, chromium_found: bool, playwright_error: str | None) -> Gate:
    """Run the browser tests when Chromium and playwright are both there; otherwise skip them
    with what is missing, except on CI (`on_ci(env)`), where they fail with the same message."""
    missing = []
    if not chromium_found:
        missing.append(f"Chromium is not installed at {chromium} ({INSTALL_CHROMIUM})")
    if playwright_error is not None:
        missing.append(f"playwright cannot be imported ({playwright_error}; {INSTALL_PLAYWRIGHT})")
    if not missing:
        return Gate("run", "")
    if on_ci(env):
        ci = env.get("CI", "")
        return Gate("fail", f"on CI (CI={ci}) the browser tests must run, but: " + "; ".join(missing))
    return Gate("skip", "; ".join(missing))


def playwright_import_error() -> str | None:
    """None if `playwright.sync_api` imports, else the error in one line."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def browser_gate(env: Mapping[str, str] | None = None) -> Gate:
    """`gate()` for this machine: Chromium at `CHROMIUM` (looked up at call time), playwright importable."""
    return gate(
        os.environ if env is None else env,
        chromium=CHROMIUM,
        chromium_found=os.access(CHROMIUM, os.X_OK),
        playwright_error=playwright_import_error(),
    )


# User settings for the test's own settings directory (it starts empty, so
# these are the only settings that differ from JupyterLab's defaults).
LAB_SETTINGS = {
    # No news or update pop-ups (they would also reach for the network).
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
        "doNotDisturbMode": True,
    },
    # Every cell in the DOM, not only those in the viewport.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # The working copy is thrown away; no saves racing with the test.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Pids of all live descendants of `pid` (kernels run in their own session)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        return []
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LabServer:
    """`jupyter lab` on a temporary copy of `notebooks`; use as a context manager."""

    def __init__(self, notebooks: Path, files: list[str], *, log_path: Path, start_timeout: float = 90.0):
        self.notebooks, self.files, self.log_path = notebooks, files, log_path
        self.start_timeout = start_timeout
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._tmp = None
        self._kids: set[int] = set()
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}&reset"

    def __enter__(self) -> LabServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mdn-browser-")
        tmp = Path(self._tmp.name)
        root = tmp / "notebooks"
        root.mkdir()
        for name in self.files:
            if (self.notebooks / name).is_file():
                shutil.copy2(self.notebooks / name, root / name)
        settings = tmp / "user-settings"
        for rel, value in LAB_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        for d in ("config", "data", "runtime", "workspaces"):
            (tmp / d).mkdir()
        # PYTHONPATH is kept: the kernel must import the same mdn_helpers as the tests do (a checkout
        # on PYTHONPATH ahead of an editable install elsewhere).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
        env.update(
            JUPYTER_CONFIG_DIR=str(tmp / "config"),
            JUPYTER_DATA_DIR=str(tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        )
        jupyter = Path(sys.prefix) / "bin" / "jupyter"  # the environment running the tests: .venv
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.start_timeout
        for attempt in range(3):  # another process may grab the free port before the server binds it
            self.port = free_port()
            cmd = [
                str(jupyter),
                "lab",
                "--no-browser",
                f"--port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.root_dir={root}",
                f"--LabApp.user_settings_dir={settings}",
                f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
                "--LabApp.expose_app_in_browser=True",
                "--ServerApp.terminals_enabled=False",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI and these machines run as root
                cmd.append("--allow-root")
            if self._log is not None:
                self._log.close()
            self._log = open(self.log_path, "wb")  # noqa: SIM115 - the server writes to it until stop()
            self.proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if self._wait_up(deadline):
                return
            if "already in use" not in self.log_text() or attempt == 2:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")

    def _wait_up(self, deadline: float) -> bool:
        """True once the server answers; False if it exited; TimeoutError past `deadline`."""
        while True:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter lab not up after {self.start_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def remember_children(self) -> None:
        """Note the server's current descendants (kernels), to make sure they end with it."""
        if self.proc is not None and self.proc.poll() is None:
            self._kids.update(_descendants(self.proc.pid))

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the server then shuts its kernels down), wait, bounded; then make sure."""
        if self.proc is not None:
            self.remember_children()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            # Whatever it started and left behind (its process group, the kernels it knew).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            left = [p for p in self._kids if _alive(p)]
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            while left and time.monotonic() < deadline:
                time.sleep(0.2)
                left = [p for p in left if _alive(p)]
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
