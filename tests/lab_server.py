"""A real Jupyter server for browser tests: ``jupyter lab`` on 127.0.0.1, serving JupyterLab 4 at ``/lab``
and Notebook 7 at ``/notebooks`` from one process, with everything it writes kept in a temporary folder.

:func:`running_server` is a context manager: it starts the server (a free port, a random token, the root
folder given), waits until ``/api/status`` answers, and always stops it (terminate, then kill) however the
block ends. Kernels inherit ``PYTHONPATH`` with this checkout first, so the chapters import its classicnets.
The user's own Jupyter configuration, settings and workspaces are not read: the config, data, runtime,
settings and workspace folders are the temporary folder's; the widget extension (``jupyterlab_widgets``)
still comes from ``sys.prefix/share/jupyter/labextensions``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10

# User settings for both frontends (they read the same settings folder): no news or update checks (no
# request leaves the machine, no notification covers the page), every cell attached to the page (so a
# test sees all outputs without scrolling), no autosave to race with the test.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


@dataclass
class Server:
    """A running server: ``url`` (``http://127.0.0.1:<port>``), ``token``, ``root`` (the folder it serves)."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    def page(self, path: str) -> str:
        """The address of ``path`` (``lab/tree/x.ipynb``, ``notebooks/x.ipynb``) with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}/{path}{sep}token={self.token}"

    def get(self, api: str) -> object:
        """The JSON of a REST call (``api/status``, ``api/sessions``)."""
        request = urllib.request.Request(f"{self.url}/{api}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(folder: Path) -> None:
    for name, values in SETTINGS.items():
        path = folder / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


def _environment(state: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ):
        (state / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(state / sub)
    _write_settings(state / "settings")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["OMP_NUM_THREADS"] = "1"  # four kernels on two cores: torch on one thread each (as book/build.py)
    return env


def _command(port: int, token: str, root: Path) -> list:
    return [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        "--ServerApp.allow_root=True",  # CI runs as root
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LanguageServerManager.autodetect=False",
    ]


def _wait_until_up(server: Server, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited ({server.process.returncode}):\n{_tail(server.log)}")
        try:
            server.get("api/status")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer in {START_TIMEOUT_S} s:\n{_tail(server.log)}") from None
            time.sleep(0.1)  # polling a socket that is not open yet


def _tail(log: Path, n: int = 4000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-n:] if log.exists() else ""


def _kernels(pid: int) -> List[int]:
    """The kernel processes ``pid`` started (its children running ipykernel), read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"ipykernel" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
    return found


def _stop(process: subprocess.Popen) -> None:
    """Terminate the server (it shuts its kernels down); kill it, and any kernel it left, if it does not."""
    kernels = _kernels(process.pid)
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
    for pid in kernels:  # each runs in a session of its own: a killed server leaves it behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_server(root: Path, state: Path) -> Iterator[Server]:
    """``jupyter lab`` serving ``root``, its state (config, settings, runtime, log) in ``state``; stopped on exit."""
    port, token = free_port(), secrets.token_hex(16)
    state.mkdir(parents=True, exist_ok=True)
    log = state / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            _command(port, token, root),
            cwd=root,
            env=_environment(state),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(f"http://127.0.0.1:{port}", token, root, process, log)
    try:
        _wait_until_up(server, time.monotonic() + START_TIMEOUT_S)
        yield server
    finally:
        _stop(process)
