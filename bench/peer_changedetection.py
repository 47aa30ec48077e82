"""changedetection.io as a peer in a benchmark: installed from PyPI into a virtualenv of its own
under ``.peer/`` (ignored by git, none of its code is part of this project), started on
loopback with its plain HTTP fetcher, and driven through its REST API (``/api/v1``, key in the
``x-api-key`` header, read from the ``changedetection.json`` its datastore writes at start).

Used by ``bench/bench_peer.py``. Standard library only, so it runs before anything else is
imported; the peer's own Python packages never enter this process.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PEER_HOME = PROJECT_ROOT / ".peer"  # in .gitignore
VERSION = "0.60.10"
FETCH_WORKERS = 5  # changedetection.io's default (settings.requests.workers)
INSTALL_TIMEOUT = 1200


class PeerUnavailable(RuntimeError):
    """changedetection.io cannot be installed or started here; the message says why in one line."""


def install(version: str = VERSION) -> Path:
    """The ``changedetection.io`` launcher of the pinned version, installed on first use."""
    venv = PEER_HOME / f"changedetection-{version}"
    launcher = venv / "bin" / "changedetection.io"
    if launcher.exists():
        return launcher
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = ([sys.executable, "-m", "venv", str(venv)],
             [str(venv / "bin" / "pip"), "install", "--quiet", f"changedetection.io=={version}"])
    print(f"peer: installing changedetection.io {version} into {venv} (first run only)…", flush=True)
    for command in steps:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeerUnavailable(f"installing changedetection.io {version} failed: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PeerUnavailable(f"installing changedetection.io {version} failed: {last[0]}")
    if not launcher.exists():
        raise PeerUnavailable(f"changedetection.io {version} installed no launcher at {launcher}")
    return launcher


class Peer:
    """A running changedetection.io with an empty datastore of its own."""

    def __init__(self, launcher: Path, folder: Path, port: int) -> None:
        self.launcher = launcher
        self.datastore = folder / "changedetection-data"
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.api_key = ""
        self._log = folder / "changedetection.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self, placeholder_url: str) -> None:
        """Start it and wait for its API. ``placeholder_url`` is given on the command line so a
        fresh datastore gets no default watches (they point at the internet); it is deleted
        again through the API before the bench adds its own."""
        env = {**os.environ, "ALLOW_IANA_RESTRICTED_ADDRESSES": "true",  # the sandbox is on loopback
               "LOGGER_LEVEL": "WARNING", "FETCH_WORKERS": str(FETCH_WORKERS)}
        env.pop("PYTHONPATH", None)
        command = [str(self.launcher), "-d", str(self.datastore), "-C", "-h", "127.0.0.1", "-p", str(self.port),
                   "-u", placeholder_url]
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + 90
        settings = self.datastore / "changedetection.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PeerUnavailable(f"changedetection.io exited with {self.process.returncode}; see {self._log}")
            if settings.exists():
                try:
                    self.api_key = json.loads(settings.read_text())["settings"]["application"]["api_access_token"]
                    self.call("GET", "/systeminfo")
                    break
                except (ValueError, KeyError, OSError):
                    pass
            time.sleep(0.3)
        else:
            self.stop()
            raise PeerUnavailable(f"changedetection.io did not answer within 90 s; see {self._log}")
        for uuid in self.watches():
            self.call("DELETE", f"/watch/{uuid}")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"x-api-key": self.api_key, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
            text = response.read().decode()
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text

    def add_watch(self, url: str) -> None:
        """A watch on ``url`` with the restock and price processor, as for a product page."""
        self.call("POST", "/watch", {"url": url, "processor": "restock_diff", "fetch_backend": "html_requests"})

    def watches(self) -> dict[str, dict[str, Any]]:
        """Every watch by uuid, with ``last_checked`` and ``last_changed`` (unix seconds)."""
        listed = self.call("GET", "/watch")
        return dict(listed) if isinstance(listed, dict) else {}

    def recheck_all(self) -> None:
        self.call("GET", "/watch?recheck_all=1")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status < 500)
    except (urllib.error.URLError, OSError):
        return False
