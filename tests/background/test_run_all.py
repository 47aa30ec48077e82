"""``make run``'s supervisor as a person uses it: start, the product answers, Ctrl-C stops it all,
the embedded Redis included; and ``make demo`` keeps its data in a folder of its own."""
from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
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
    assert not is_running(socket_path_for(instance))  # building the app and migrating start no Redis
    process = subprocess.Popen(
        [str(BIN / "python"), "scripts/run_all.py", "--port", str(port), "--web-workers", "1"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/healthz", process)
        assert is_running(socket_path_for(instance))  # run_all.py started the embedded Redis
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


def _demo_env(instance: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "APP_ENV")}
    env.update(APP_ENV="development", INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    return env


def test_the_demo_environment_is_a_folder_of_its_own(tmp_path: Path) -> None:
    """Whatever DATABASE_URL and REDIS_URL say, the demo uses instance/demo/."""
    run_all = _load_run_all()
    instance = tmp_path / "instance"
    args = run_all.parse_args(["--demo", "--port", "8123", "--sandbox-port", "8765"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INSTANCE_PATH", str(instance))
        patch.setenv("DATABASE_URL", "postgresql://someone@db.example/real")
        patch.setenv("REDIS_URL", "redis://redis.example:6379/0")
        env, embedded_dir = run_all.prepare_environment(args)
    demo = instance / "demo"
    try:
        assert env["INSTANCE_PATH"] == str(demo) and embedded_dir == demo
        assert env["DATABASE_URL"] == f"sqlite:///{demo / 'dhgate_monitor.db'}"
        assert env["REDIS_URL"] == f"unix://{socket_path_for(demo)}" and is_running(socket_path_for(demo))
        assert env["DHGATE_BASE_URL"] == "http://127.0.0.1:8765" and env["BASE_URL"] == "http://127.0.0.1:8123"
    finally:
        stop_embedded_redis(demo)


def _load_run_all():  # noqa: ANN202 - the script module
    return importlib.import_module("scripts.run_all")


@pytest.mark.slow
def test_make_demo_prints_a_banner_and_leaves_the_real_data_alone(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    port, sandbox_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [str(BIN / "python"), "scripts/run_all.py", "--demo", "--port", str(port), "--web-workers", "1",
         "--sandbox-port", str(sandbox_port)],
        cwd=PROJECT_ROOT, env=_demo_env(instance), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output[-3000:]
        banner = output[: output.index("Ctrl-C stops everything.")]
        assert f"open      http://127.0.0.1:{port}/auth/login" in banner
        assert "sign in   demo@example.com / demo-sandbox-password" in banner
        assert "watching  4 monitors (2 stores, 1 search, 1 product), each checked every 20 s" in banner
        assert f"on a pretend DHgate at http://127.0.0.1:{sandbox_port}" in banner
        assert "DHGATE_BASE_URL=" not in output  # no environment block that reads like instructions
        assert (instance / "demo" / "dhgate_monitor.db").exists()
        assert not (instance / "dhgate_monitor.db").exists()  # the data of `make run` is untouched
        assert not is_running(socket_path_for(instance / "demo")) and not is_running(socket_path_for(instance))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        stop_embedded_redis(instance / "demo")


def test_polling_has_a_non_forking_worker_of_its_own_with_the_scheduler_in_it() -> None:
    """``make run`` polls in batch jobs inside one process, which also runs the scheduler's
    thread; every other queue keeps a worker that forks per job, with no scheduler in it."""
    from scripts.run_all import POLL_QUEUE, WORKER_QUEUES, build_children, parse_args
    from services.polling.schedule import POLL_QUEUE as SCHEDULED_QUEUE
    from services.queue import QUEUES

    assert POLL_QUEUE == SCHEDULED_QUEUE
    assert tuple(queue for queue in QUEUES if queue != POLL_QUEUE) == WORKER_QUEUES
    children = {child.name: child.command for child in build_children(parse_args(["--port", "8123"]))}
    assert list(children) == ["web", "worker", "poller+scheduler"]
    assert children["poller+scheduler"][-4:] == ["--queues", "polling", "--no-fork", "--with-scheduler"]
    other = children["worker"][children["worker"].index("--queues") + 1].split(",")
    assert sorted(other) == ["default", "high", "maintenance"] and "--no-fork" not in children["worker"]
    assert "--with-scheduler" not in children["worker"]


def test_the_supervisor_does_not_load_the_application() -> None:
    """The supervisor only starts and watches processes: loading Flask, SQLAlchemy and RQ into
    it would cost ~25 MB of memory at rest for nothing."""
    probe = "import sys, scripts.run_all; print(sorted(m for m in ('flask', 'sqlalchemy', 'rq') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
