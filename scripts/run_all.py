"""Run the whole product on one machine: web (gunicorn), RQ worker and scheduler.

This is what ``make run`` starts. It makes sure Redis is there (it starts the embedded one when
``REDIS_URL`` is unset) so all three processes share it, supervises the children (a child that
dies is restarted with backoff, a child that keeps dying stops the product with a clear line),
and on Ctrl-C or SIGTERM stops them all cleanly: SIGTERM first (the worker finishes its job),
SIGKILL only after a grace period.

``--demo`` (``make demo``) runs the same product against the sandbox marketplace, in an instance
folder of its own (``instance/demo/``: its own SQLite database, secret key and embedded Redis),
so demo data never mixes with the data of ``make run``. It migrates that database, creates the
demo member and its monitors, and prints a short banner: where to go, how to sign in, and what
is happening.
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
sys.path.insert(0, str(ROOT))  # run as ``python scripts/run_all.py``: the project is one level up

from services.embedded_redis import ensure_embedded_redis, stop_embedded_redis  # noqa: E402

BIN = Path(sys.executable).parent
GRACE_SECONDS = 15
MAX_RESTARTS = 5
DEMO_FOLDER = "demo"  # inside the instance folder


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


def instance_folder(env: dict[str, str], *, demo: bool) -> Path:
    """The instance folder the children use: ``INSTANCE_PATH`` (default ``instance/``), and a
    ``demo/`` folder inside it for the demo."""
    folder = Path(env.get("INSTANCE_PATH") or ROOT / "instance").resolve()
    return folder / DEMO_FOLDER if demo else folder


def prepare_environment(args: argparse.Namespace) -> tuple[dict[str, str], Path | None]:
    """The children's environment, with ``REDIS_URL`` resolved and the embedded Redis started
    when it is the one used; returns the folder of that embedded Redis (``None`` for a
    configured ``REDIS_URL``).

    The embedded Redis belongs to the instance folder, whoever started it: Ctrl-C stops it with
    everything else, and the next command that needs it starts it again. The demo uses its own
    folder, database and embedded Redis, whatever ``DATABASE_URL`` / ``REDIS_URL`` say.
    """
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    folder = instance_folder(env, demo=args.demo)
    if args.demo:
        folder.mkdir(parents=True, exist_ok=True)
        env["INSTANCE_PATH"] = str(folder)
        env["DATABASE_URL"] = f"sqlite:///{folder / 'dhgate_monitor.db'}"
        env["REDIS_URL"] = ""
        env["DHGATE_BASE_URL"] = f"http://127.0.0.1:{args.sandbox_port}"
        env["DHGATE_ALLOWED_HOSTS"] = "127.0.0.1,dhgate.com"
        # A demo should show events within a minute: look for due monitors every 10 s.
        env.setdefault("SCHEDULE_POLL_DUE_MONITORS", "every 10s")
    embedded_dir = None
    if not env.get("REDIS_URL"):
        embedded_dir = folder
        env["REDIS_URL"] = ensure_embedded_redis(folder)
    env.setdefault("BASE_URL", f"http://{args.host}:{args.port}")
    return env, embedded_dir


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


def prepare_demo(env: dict[str, str]) -> str | None:
    """Migrate the demo's own database and create the demo member; the banner to show, or
    ``None`` after printing why it failed."""
    steps = (
        ("migrating the demo database", [str(BIN / "flask"), "--app", "app:create_app", "db", "upgrade"]),
        ("preparing the demo", [str(BIN / "python"), "scripts/demo.py", "prepare",
                                "--sandbox-url", env["DHGATE_BASE_URL"]]),
    )
    output = ""
    for what, command in steps:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"run: {what} failed:\n{(done.stderr or done.stdout).strip()[-3000:]}", file=sys.stderr)
            return None
        output = done.stdout
    return output.strip()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    env, embedded_dir = prepare_environment(args)
    banner = f"DHgate Monitor is starting: http://{args.host}:{args.port}/"
    if args.demo:
        demo_banner = prepare_demo(env)
        if demo_banner is None:
            if embedded_dir is not None:
                stop_embedded_redis(embedded_dir)
            return 1
        banner = demo_banner
    children = build_children(args)
    print("\n" + "\n".join(f"  {line}" for line in banner.splitlines())
          + "\n  Ctrl-C stops everything.\n", flush=True)
    try:
        status = supervise(children, env)
    finally:
        print("run: stopping web, worker and scheduler…", flush=True)
        stop_all(children)
        if embedded_dir is not None:
            stop_embedded_redis(embedded_dir)
        print("run: stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
