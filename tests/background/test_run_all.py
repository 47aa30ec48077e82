"""``make run``'s supervisor as a person uses it: start, the product answers, Ctrl-C stops it all,
the embedded Redis included (even though ``flask db upgrade`` had started it beforehand)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from services.embedded_redis import is_running, socket_path_for, stop_embedded_redis
from tests.background.conftest import BIN, PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"run_all.py exited early with {process.returncode}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200 and response.json() == {"status": "ok"}:  # /healthz's answer
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.mark.slow
def test_ctrl_c_stops_web_worker_scheduler_and_the_embedded_redis(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "APP_ENV")}
    env.update(APP_ENV="development", INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    port = _free_port()
    upgrade = subprocess.run([str(BIN / "flask"), "--app", "app:create_app", "db", "upgrade"],
                             cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    assert is_running(socket_path_for(instance))  # the CLI started the embedded Redis, as in `make run`
    process = subprocess.Popen(
        [str(BIN / "python"), "scripts/run_all.py", "--port", str(port), "--web-workers", "1"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output[-3000:]
        assert "run: stopped." in output and "Traceback" not in output
        assert not is_running(socket_path_for(instance))
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        stop_embedded_redis(instance)
