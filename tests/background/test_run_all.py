"""``make run``'s supervisor as a person uses it: start, the product answers, Ctrl-C stops it all,
the embedded Redis included; and ``make demo`` keeps its data in a folder of its own. The
supervisor is the preloaded parent its children are forked from, so it must stay clean: no
thread, no connection of its own (the whole tree's memory is measured by ``bench/bench_peer.py``)."""
from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from flask import Flask

from services.embedded_redis import embedded_redis_url, is_running, socket_path_for, stop_embedded_redis
from services.supervisor_status import read_status
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
        children = _supervised(instance)
        assert set(children) == {"web", "worker", "poller+scheduler"}
        assert _scheduler_pid(instance) == children["poller+scheduler"]  # the scheduler is a thread there
        assert_clean_parent(process.pid, children)
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


def _supervised(instance: Path) -> dict[str, int]:
    """The supervisor's children by name, once all of them run (``supervisor.json``)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = read_status(instance)
        if status and status.processes and all(p.state == "running" and p.pid for p in status.processes):
            return {p.name: int(p.pid or 0) for p in status.processes}
        time.sleep(0.2)
    raise AssertionError("the supervised processes did not all run within 60 s")


def _scheduler_pid(instance: Path) -> int:
    """The pid of the scheduler copy holding the lock (``host:pid:random``)."""
    client = redis.Redis.from_url(embedded_redis_url(instance))
    try:
        deadline = time.monotonic() + 60
        while (holder := client.get("dhm:scheduler:lock")) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        client.close()
    assert holder is not None, "no scheduler took the lock"
    return int(holder.decode().split(":")[1])


def assert_clean_parent(supervisor_pid: int, children: dict[str, int]) -> None:
    """Web, worker and poller are forks of the supervisor (the app's pages are shared, no new
    interpreter), and the supervisor, from which every restart forks again, has no thread and
    no connection: a fork of a process with threads can inherit a held lock, and a socket
    shared between two processes corrupts both."""
    supervisor = psutil.Process(supervisor_pid)
    for name, pid in children.items():
        child = psutil.Process(pid)
        assert child.ppid() == supervisor_pid and child.cmdline() == supervisor.cmdline(), name
    assert supervisor.num_threads() == 1
    assert supervisor.net_connections("all") == []  # TCP and unix sockets: Redis, PostgreSQL
    assert [f.path for f in supervisor.open_files() if ".db" in Path(f.path).name] == []  # SQLite


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


def test_polling_has_a_non_forking_worker_of_its_own_with_the_scheduler_in_it(app: Flask) -> None:
    """``make run`` polls in batch jobs inside one process, which also runs the scheduler's
    thread; every other queue keeps a worker that forks per job, with no scheduler in it."""
    from scripts.prefork import serve_web, work
    from scripts.run_all import POLL_QUEUE, WORKER_QUEUES, build_children, parse_args
    from services.polling.schedule import POLL_QUEUE as SCHEDULED_QUEUE
    from services.queue import QUEUES

    assert POLL_QUEUE == SCHEDULED_QUEUE
    assert tuple(queue for queue in QUEUES if queue != POLL_QUEUE) == WORKER_QUEUES
    children = {child.name: child.target for child in build_children(parse_args(["--port", "8123"]), app)}
    assert list(children) == ["web", "worker", "poller+scheduler"]
    web, worker, poller = children.values()
    assert web.func is serve_web and web.keywords == {"host": "127.0.0.1", "port": 8123, "workers": 2}
    assert poller.func is work and poller.args == (app, ("polling",))
    assert poller.keywords == {"no_fork": True, "with_scheduler": True}
    assert worker.func is work and worker.args == (app, ("high", "default", "maintenance")) and not worker.keywords


def test_an_app_that_cannot_be_built_stops_make_run_in_one_line(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY")}
    env.update(APP_ENV="development", INSTANCE_PATH=str(instance), DHGATE_BASE_URL="ftp://www.dhgate.com")
    try:
        done = subprocess.run([str(BIN / "python"), "scripts/run_all.py", "--port", str(_free_port())],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    finally:
        stop_embedded_redis(instance)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "run: cannot start: DHGATE_BASE_URL must be an http(s) URL such as https://www.dhgate.com, "
        "got 'ftp://www.dhgate.com'"]
    assert not is_running(socket_path_for(instance))  # the Redis it started is stopped again
