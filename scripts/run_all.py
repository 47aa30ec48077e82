"""Run the whole product on one machine: web (gunicorn), RQ worker and scheduler.

This is what ``make run`` starts. It makes sure Redis is there (the embedded one when
``REDIS_URL`` is unset) so all three processes share it, supervises the children (a child that
dies is restarted with backoff, a child that keeps dying stops the product with a clear line),
and on Ctrl-C or SIGTERM stops them all cleanly: SIGTERM first (the worker finishes its job),
SIGKILL only after a grace period.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GRACE_SECONDS = 15
MAX_RESTARTS = 5


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = field(default=0.0)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, start_new_session=True)
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--demo", action="store_true", help="run against the local sandbox marketplace")
    parser.add_argument("--sandbox-port", type=int, default=8700)
    return parser.parse_args(argv)


def prepare_environment(args: argparse.Namespace) -> tuple[dict[str, str], bool]:
    """The children's environment, with REDIS_URL resolved; True when Redis is the embedded one.

    The embedded Redis belongs to the instance folder, whoever started it (``make run`` first
    runs ``flask db upgrade``, which already does): Ctrl-C stops it with everything else, and
    the next command that needs it starts it again.
    """
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    embedded_redis = not env.get("REDIS_URL")
    if embedded_redis:
        from services.embedded_redis import ensure_embedded_redis

        env["REDIS_URL"] = ensure_embedded_redis(Path(env.get("INSTANCE_PATH", ROOT / "instance")))
    if args.demo:
        env["DHGATE_BASE_URL"] = f"http://127.0.0.1:{args.sandbox_port}"
        env["DHGATE_ALLOWED_HOSTS"] = "127.0.0.1,dhgate.com"
        # A demo should show events within a minute: look for due monitors every 10 s.
        env.setdefault("SCHEDULE_POLL_DUE_MONITORS", "every 10s")
    env.setdefault("BASE_URL", f"http://{args.host}:{args.port}")
    return env, embedded_redis


def build_children(args: argparse.Namespace) -> list[Child]:
    python = str(BIN / "python")
    children = [
        Child("web", [str(BIN / "gunicorn"), "wsgi:app", "--bind", f"{args.host}:{args.port}",
                      "--workers", str(args.web_workers), "--access-logfile", "-",
                      "--graceful-timeout", "10", "--timeout", "60"]),
        Child("worker", [python, "worker.py"]),
        Child("scheduler", [str(BIN / "flask"), "--app", "app:create_app", "scheduler", "run"]),
    ]
    if args.demo:
        children.insert(0, Child("sandbox", [python, "scripts/demo.py", "sandbox", "--port", str(args.sandbox_port)]))
    return children


def supervise(children: list[Child], env: dict[str, str]) -> int:
    """Keep the children running until we are asked to stop; returns the exit status."""
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in children:
        child.start(env)
    while not stopping:
        time.sleep(0.5)
        for child in children:
            if child.alive() or stopping:
                continue
            code = child.process.returncode if child.process else None
            if child.restarts >= MAX_RESTARTS:
                print(f"run: {child.name} keeps stopping (exit {code}); shutting down", file=sys.stderr)
                return 1
            if child.next_start == 0.0:
                delay = min(2 ** child.restarts, 30)
                child.next_start = time.monotonic() + delay
                print(f"run: {child.name} exited with {code}; restarting in {delay}s", file=sys.stderr)
            elif time.monotonic() >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start(env)
    return 0


def stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        child.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    while any(c.alive() for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    for child in children:
        child.kill()


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    args = parse_args(argv)
    env, embedded_redis = prepare_environment(args)
    if args.demo:
        prepare = subprocess.run(
            [str(BIN / "python"), "scripts/demo.py", "prepare", "--sandbox-url", env["DHGATE_BASE_URL"]],
            cwd=ROOT, env=env, check=False,
        )
        if prepare.returncode != 0:
            print("run: preparing the demo failed", file=sys.stderr)
            return prepare.returncode
    children = build_children(args)
    print(f"\n  DHgate Monitor is starting: http://{args.host}:{args.port}/  (Ctrl-C stops everything)\n", flush=True)
    try:
        status = supervise(children, env)
    finally:
        print("run: stopping web, worker and scheduler…", flush=True)
        stop_all(children)
        if embedded_redis:
            from services.embedded_redis import stop_embedded_redis

            stop_embedded_redis(Path(env.get("INSTANCE_PATH", ROOT / "instance")))
        print("run: stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
