"""Run the whole product on one machine: web (gunicorn), RQ workers and scheduler.

Two workers run: ``worker`` for every queue but polling (a forked process per job, isolated),
and ``poller`` for the polling queue alone, running its batch jobs in-process (``--no-fork``):
each batch polls many monitors side by side (``services.polling.batch``). The scheduler runs in
a thread of the poller (``--with-scheduler``): the one process that never forks, so the only one
where a thread is safe; the forking worker stays thread-free apart from its heartbeat.

This is what ``make run`` starts. It makes sure Redis is there (it starts the embedded one when
``REDIS_URL`` is unset) so all processes share it, builds the app once and forks web, worker
and poller from it (``scripts/prefork.py``: they share the app's pages instead of each loading
it), supervises them, and on Ctrl-C or SIGTERM stops them all cleanly: SIGTERM first (the
worker finishes its job), SIGKILL only after a grace period. An app that cannot be built (a bad
setting) stops it before anything runs, with one line saying why.

Supervising never gives up on the product: a child that exits, for whatever reason, is started
again (forked again from the same clean parent) after a backoff that doubles with each exit in
a row (1 s, 2 s, 4 s … at most ``--backoff-max``), and a child that then runs quietly for
``--quiet-seconds`` has its crashes forgotten. Each child is independent, so the web keeps
serving whatever the worker does. An embedded Redis that stops is started again (its data is on
disk). Every exit and restart is one ``run:`` line saying what failed and when it comes back,
and the same states are written to ``supervisor.json`` in the instance folder for the Platform
page (``services.supervisor_status``).

``--demo`` (``make demo``) runs the same product against the sandbox marketplace, in an instance
folder of its own (``instance/demo/``: its own SQLite database, secret key and embedded Redis),
so demo data never mixes with the data of ``make run``. It migrates that database, creates the
demo member and its monitors, and prints a short banner: where to go, how to sign in, and what
is happening. Its e-mails go to a local mail sink (``scripts/demo.py mailsink``, a Maildir in
``instance/demo/mail``) that ``/demo/mail`` shows; nothing leaves the machine. The sandbox and
the mail sink are commands of their own (exec'ed), not forks of the app.
"""
from __future__ import annotations

import argparse
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as ``python scripts/run_all.py``: the project is one level up

from scripts.prefork import ForkedProcess, PreloadError, fork, preload_app, serve_web, work  # noqa: E402
from services.embedded_redis import (  # noqa: E402
    EmbeddedRedisError,
    ensure_embedded_redis,
    is_running,
    socket_path_for,
    stop_embedded_redis,
)
from services.supervisor_status import (  # noqa: E402
    WRITE_EVERY_SECONDS,
    ProcessStatus,
    remove_status,
    write_status,
)

BIN = Path(sys.executable).parent
GRACE_SECONDS = 15
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0  # a child that keeps failing is still tried once a minute
QUIET_SECONDS = 120.0  # a child that ran this long without exiting has its crashes forgotten
REDIS_CHECK_SECONDS = 2.0
DEMO_FOLDER = "demo"  # inside the instance folder
DEMO_POSTBACK_SECRET = "demo-only-affiliate-postback-secret"  # the sandbox network signs with it


@dataclass
class Child:
    """One supervised process: forked from the preloaded parent (``target``, its exit status) or,
    for the demo's helpers, a command of its own."""

    name: str
    command: list[str] = field(default_factory=list)
    target: Callable[[], int] | None = None
    process: subprocess.Popen[bytes] | ForkedProcess | None = None
    restarts: int = 0  # over the supervisor's lifetime
    crashes: int = 0  # exits in a row, forgotten after a quiet run
    started_at: float = 0.0
    next_start: float | None = None  # monotonic time of the planned restart
    last_exit: int | None = None
    last_exit_at: float | None = None  # unix time

    def start(self, env: dict[str, str]) -> None:
        if self.target is not None:
            self.process = fork(self.target)  # the environment is the parent's: env, since preload
        else:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, start_new_session=True)
        self.started_at = time.monotonic()
        self.next_start = None

    def exited(self, *, backoff_max: float, quiet_seconds: float) -> float:
        """Record an exit that was just seen; the delay before the restart."""
        now = time.monotonic()
        if now - self.started_at >= quiet_seconds:
            self.crashes = 0  # it ran quietly for long enough: this is a fresh failure
        self.crashes += 1
        self.last_exit = self.process.returncode if self.process else None
        self.last_exit_at = time.time()
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (self.crashes - 1), backoff_max)
        self.next_start = now + delay
        return delay

    def status(self) -> ProcessStatus:
        if self.alive():
            state = "running"
        elif self.next_start is not None:
            state = "restarting"
        else:
            state = "starting"
        restart_at = None
        if self.next_start is not None:
            restart_at = time.time() + max(self.next_start - time.monotonic(), 0.0)
        return ProcessStatus(
            name=self.name, state=state, pid=self.process.pid if self.alive() and self.process else None,
            crashes=self.crashes, restarts=self.restarts, last_exit=self.last_exit,
            last_exit_at=self.last_exit_at, restart_at=restart_at,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        """Signal the child's whole group (a forking worker's horse, gunicorn's workers)."""
        if not self.alive():
            return
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:  # forked a moment ago: not yet the leader of its own group
            os.kill(self.process.pid, signum)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--demo", action="store_true", help="run against the local sandbox marketplace")
    parser.add_argument("--sandbox-port", type=int, default=8700)
    parser.add_argument("--mail-port", type=int, default=8725, help="the demo's local SMTP sink")
    parser.add_argument("--backoff-max", type=float, default=BACKOFF_MAX_SECONDS,
                        help="longest wait (s) before restarting a process that keeps exiting")
    parser.add_argument("--quiet-seconds", type=float, default=QUIET_SECONDS,
                        help="a process that runs this long (s) without exiting has its crashes forgotten")
    return parser.parse_args(argv)


def instance_folder(env: dict[str, str], *, demo: bool) -> Path:
    """The instance folder the children use: ``INSTANCE_PATH`` (default ``instance/``), and a
    ``demo/`` folder inside it for the demo."""
    folder = Path(env.get("INSTANCE_PATH") or ROOT / "instance").resolve()
    return folder / DEMO_FOLDER if demo else folder


def demo_mail_folder(args: argparse.Namespace) -> Path:
    return instance_folder(dict(os.environ), demo=True) / "mail"


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
        env.update(demo_mail_environment(folder, args.mail_port))
        # The sandbox also plays the affiliate network and pushes its orders to /affiliate/postback
        # (signed with this demo-only secret); clicks and the rollup move faster than in production.
        env.setdefault("AFFILIATE_ID", "demo-affiliate")
        env.setdefault("AFFILIATE_POSTBACK_SECRET", DEMO_POSTBACK_SECRET)
        env.setdefault("SCHEDULE_FLUSH_AFFILIATE_CLICKS", "every 10s")
        env.setdefault("SCHEDULE_ROLLUP_AFFILIATE", "every 30s")
    embedded_dir = None
    if not env.get("REDIS_URL"):
        embedded_dir = folder
        env["REDIS_URL"] = ensure_embedded_redis(folder)
    env.setdefault("BASE_URL", f"http://{args.host}:{args.port}")
    return env, embedded_dir


def demo_mail_environment(folder: Path, port: int) -> dict[str, str]:
    """Mail settings of the demo: every e-mail goes to the local sink, kept in ``folder/mail``,
    and apprise URLs on loopback are allowed (a newcomer's test endpoint runs on this machine)."""
    return {
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port), "MAIL_USE_TLS": "false", "MAIL_USE_SSL": "false",
        "MAIL_USERNAME": "", "MAIL_PASSWORD": "", "MAIL_DEFAULT_SENDER": "DHgate Monitor demo <demo@localhost>",
        "DEMO_MAIL_DIR": str(folder / "mail"), "NOTIFY_ALLOW_PRIVATE_HOSTS": "true",
    }
POLL_QUEUE = "polling"  # services.polling.schedule.POLL_QUEUE (a test keeps them equal)
# services.queue.QUEUES without the polling queue, in the same order (a test keeps them equal)
WORKER_QUEUES = ("high", "default", "maintenance")


def build_children(args: argparse.Namespace, app: Flask) -> list[Child]:
    """The supervised processes, each forked from this (preloaded) process with ``app``."""
    python = str(BIN / "python")
    children = [
        # gunicorn's arbiter forks its workers from the same preloaded pages (two workers).
        Child("web", target=functools.partial(serve_web, app, host=args.host, port=args.port,
                                              workers=args.web_workers)),
        Child("worker", target=functools.partial(work, app, WORKER_QUEUES)),
        # Polling gets a worker of its own that runs its batch jobs in-process: each batch polls
        # dozens of monitors side by side in threads, and a fork per job would cost more than
        # a short poll. It runs only our own polling code, whose claims are released and
        # recovered whatever happens to the process (services.polling.recovery). Never forking,
        # it is also where the scheduler's thread can safely run.
        Child("poller+scheduler", target=functools.partial(work, app, (POLL_QUEUE,), no_fork=True,
                                                           with_scheduler=True)),
    ]
    if args.demo:
        children.insert(0, Child("sandbox", [python, "scripts/demo.py", "sandbox", "--port", str(args.sandbox_port)]))
        children.insert(1, Child("mailsink", [python, "scripts/demo.py", "mailsink", "--port", str(args.mail_port),
                                              "--folder", str(demo_mail_folder(args))]))
    return children


@dataclass
class Supervision:
    """How ``supervise`` restarts children, and where it reports."""

    backoff_max: float = BACKOFF_MAX_SECONDS
    quiet_seconds: float = QUIET_SECONDS
    status_folder: Path | None = None  # the instance folder: ``supervisor.json`` goes there
    embedded_redis: Path | None = None  # the folder of an embedded Redis to keep running
    _last_write: float = field(default=float("-inf"), init=False)
    _last_redis_check: float = field(default=float("-inf"), init=False)
    _redis_failures: int = field(default=0, init=False)

    def report(self, children: list[Child], *, force: bool = False) -> None:
        if self.status_folder is None:
            return
        now = time.monotonic()
        if not force and now - self._last_write < WRITE_EVERY_SECONDS:
            return
        self._last_write = now
        try:
            write_status(self.status_folder, [child.status() for child in children])
        except OSError as exc:
            say(f"cannot write the process status for the Platform page ({exc})")

    def keep_redis_running(self) -> None:
        """Start the embedded Redis again when it stopped (a crash, an OOM kill)."""
        if self.embedded_redis is None:
            return
        now = time.monotonic()
        wait = min(REDIS_CHECK_SECONDS * 2 ** self._redis_failures, self.backoff_max)
        if now - self._last_redis_check < wait:
            return
        self._last_redis_check = now
        if is_running(socket_path_for(self.embedded_redis)):
            self._redis_failures = 0
            return
        say("the embedded Redis stopped; starting it again (its data is kept on disk)")
        try:
            ensure_embedded_redis(self.embedded_redis)
            self._redis_failures = 0
            say("the embedded Redis is back")
        except EmbeddedRedisError as exc:
            self._redis_failures += 1
            say(f"the embedded Redis failed to start: {exc}")


def say(line: str) -> None:
    print(f"run: {line}", file=sys.stderr, flush=True)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def supervise(children: list[Child], env: dict[str, str], supervision: Supervision | None = None) -> int:
    """Keep the children running until we are asked to stop; returns the exit status.

    It never gives up: each child is restarted with its own backoff, so a worker that keeps
    crashing never takes the web (or anything else) down with it.
    """
    supervision = supervision or Supervision()
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in children:
        child.start(env)
    supervision.report(children, force=True)
    while not stopping:
        time.sleep(0.5)
        changed = False
        supervision.keep_redis_running()
        for child in children:
            if child.alive() or stopping:
                continue
            if child.next_start is None:
                code = child.process.returncode if child.process else None
                delay = child.exited(backoff_max=supervision.backoff_max, quiet_seconds=supervision.quiet_seconds)
                streak = f"{child.crashes} exits in a row" if child.crashes > 1 else "first exit"
                say(f"{child.name} {describe_exit(code)} ({streak}); restarting in {delay:g}s")
                changed = True
            elif time.monotonic() >= child.next_start:
                child.restarts += 1
                child.start(env)
                say(f"{child.name} restarted (pid {child.process.pid if child.process else '?'})")
                changed = True
        supervision.report(children, force=changed)
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
    try:
        app = preload_app(env)
    except PreloadError as exc:
        say(f"cannot start: {exc}")
        if embedded_dir is not None:
            stop_embedded_redis(embedded_dir)
        return 2
    children = build_children(args, app)
    print("\n" + "\n".join(f"  {line}" for line in banner.splitlines())
          + "\n  Ctrl-C stops everything.\n", flush=True)
    status_folder = Path(env.get("INSTANCE_PATH") or instance_folder(env, demo=args.demo))
    status_folder.mkdir(parents=True, exist_ok=True)
    supervision = Supervision(backoff_max=args.backoff_max, quiet_seconds=args.quiet_seconds,
                              status_folder=status_folder, embedded_redis=embedded_dir)
    try:
        status = supervise(children, env, supervision)
    finally:
        print("run: stopping web, worker and poller…", flush=True)
        stop_all(children)
        remove_status(status_folder)
        if embedded_dir is not None:
            stop_embedded_redis(embedded_dir)
        print("run: stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
