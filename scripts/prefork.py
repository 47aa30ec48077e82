"""The preloaded parent of ``make run``: the app is built once, and web, worker and poller are
forked from it instead of each starting a fresh interpreter that builds it again.

Each of those processes used to load the whole app on its own (~75–95 MB PSS each). Forked from
one parent that already holds it, they share those pages copy-on-write; ``gc.freeze()`` keeps
the collector from touching (and so copying) the objects built before the fork. The web is
gunicorn's own arbiter, run through its Python API (``gunicorn.app.base.BaseApplication``), so
its workers fork once more from the same pages, as ``gunicorn --preload`` did.

The parent stays clean, because every child (and every restart) is forked from it:

- building the app opens no connection and starts no thread (the same rule ``--preload`` already
  relied on), and the parent then only supervises: it never runs a request, a job or the
  scheduler, and the only sockets it opens are the embedded Redis's ``PING`` checks;
- what a child needs Redis for (the fetcher's breaker, the worker's connection, the scheduler's
  lock) is done in the child, after the fork.

A child is forked with SIGINT and SIGTERM blocked, sets its own session (the supervisor stops a
child with ``killpg``), restores the default signal handlers and only then runs. It never
returns into the supervisor's loop: whatever happens, it ends in ``os._exit`` after the exit
handlers a normal interpreter exit would run (the request metrics' last push, logging's flush).
"""
from __future__ import annotations

import atexit
import gc
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers import sync as _gunicorn_sync_worker  # noqa: F401 - imported before forking

from app import create_app
from config import ConfigError
from services.dhgate.http_client import tls_context
from services.queue import discover_jobs
from services.worker_runtime import WorkerStartError, run_worker

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PreloadError(RuntimeError):
    """The app could not be built (a bad setting, a broken import); the message is one line."""


def preload_app(env: Mapping[str, str]) -> Flask:
    """Build the app the children will run, with their environment, and load what they need.

    The job modules and the TLS settings are loaded here so every child shares them; nothing
    here may connect anywhere (``tests/background/test_run_all.py`` looks at the running parent).
    """
    os.environ.update(env)
    try:
        app = create_app()
        with app.app_context():  # some job modules read the app's settings as they load
            discover_jobs()  # imports every job module (and through them the poll path)
        # The CA bundle, parsed once for every child, and the HTTP transport httpx imports on first
        # use (httpcore, h11: ~40 modules each worker would otherwise load on its own). Building a
        # transport connects nowhere.
        httpx.HTTPTransport(verify=tls_context()).close()
    except Exception as exc:  # noqa: BLE001 - one line, whatever it is (a ConfigError says what to fix)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise PreloadError(first if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {first}") from None
    gc.collect()
    gc.freeze()  # what is built so far is never scanned again: its pages stay shared
    return app


class ForkedProcess:
    """A forked child as the supervisor sees it: the part of ``subprocess.Popen`` it uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status once it ended (negative: the signal that killed it), else ``None``."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: it is gone, how is unknown
                self.returncode = -signal.SIGKILL
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def fork(target: Callable[[], int]) -> ForkedProcess:
    """Fork a child that runs ``target`` (its exit status) and never comes back here."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # no stop request may reach the child's
    try:                                                     # copy of the supervisor's handler
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return ForkedProcess(pid)
    _run_child(target)
    raise AssertionError("unreachable")  # pragma: no cover - _run_child ends the process


def _run_child(target: Callable[[], int]) -> None:
    code = 1
    try:
        os.setsid()
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        code = target()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported, then this process ends like any other
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # what sys.exit would run: metrics' last push, logging's flush
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


# -- what the children run -------------------------------------------------------------------

class WebServer(BaseApplication):
    """gunicorn's arbiter serving the preloaded app (what ``gunicorn --preload wsgi:app`` ran)."""

    def __init__(self, app: Flask, options: Mapping[str, Any]) -> None:
        self.application = app
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def serve_web(app: Flask, *, host: str, port: int, workers: int) -> int:
    """The web: gunicorn's arbiter, whose workers fork again from the same pages."""
    # No control socket (gunicorn >= 25.1 opens one by default, for ``gunicornc``): the supervisor
    # manages this server; the socket's path is per user, not per server, so two servers on one
    # machine would fight over it; and it is one thread less in the process that forks workers.
    WebServer(app, {"bind": f"{host}:{port}", "workers": workers, "preload_app": True, "accesslog": "-",
                    "graceful_timeout": 10, "timeout": 60, "proc_name": "dhgate-monitor-web",
                    "control_socket_disable": True}).run()
    return 0


def work(app: Flask, queues: Sequence[str], *, no_fork: bool = False, with_scheduler: bool = False) -> int:
    """A worker on ``queues`` (``python worker.py`` does the same after building its own app)."""
    logging.basicConfig(level="INFO", format=LOG_FORMAT)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        run_worker(app, queues, no_fork=no_fork, with_scheduler=with_scheduler)
    except WorkerStartError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 1
    return 0
