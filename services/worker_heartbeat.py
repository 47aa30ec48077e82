"""Worker liveness in Redis, so "nothing happens because no worker is running" is visible.

Each worker writes its heartbeat (a sorted set: worker name -> time of the last beat) plus a
small JSON description with a TTL. Health checks and the admin dashboard read them: a worker
whose last beat is older than ``WORKER_STALE_SECONDS`` counts as gone, even if it was killed
with ``kill -9`` and never said goodbye. A worker on *this* machine is known to be gone sooner:
each beat names the machine (``machine_id``: boot and process namespace) and the worker's pid,
and a pid that no longer runs on the same machine means the worker died, whatever its last beat
says. Recovery of the polls a dead worker held (``services.polling.recovery``) relies on both.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

import redis
from flask import current_app

from extensions import get_redis

_DAY = 86400


def _heartbeats_key(prefix: str) -> str:
    return f"{prefix}workers:heartbeat"


def _info_key(prefix: str, name: str) -> str:
    return f"{prefix}workers:info:{name}"


@dataclass
class WorkerState:
    """What the dashboard shows about one worker."""

    name: str
    last_heartbeat: datetime
    alive: bool
    hostname: str = ""
    pid: int | None = None
    queues: list[str] = field(default_factory=list)
    state: str = ""
    current_job: str | None = None
    machine: str = ""


@cache
def machine_id() -> str:
    """Who can see this process's pids: the kernel's boot id and the pid namespace (``""`` where
    that cannot be known, e.g. not Linux). Two processes with the same ``machine_id`` can tell
    from a pid whether the other still runs; containers on one host have different ones."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}:{namespace}"


def identity() -> dict[str, Any]:
    """What a beat says about the process writing it (``process_gone`` reads it back)."""
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "machine": machine_id()}


def process_gone(hostname: str, pid: int | None, machine: str) -> bool:
    """True only when the worker ran on this very machine and its pid no longer runs.

    A pid reused by another process reads as "still running": staleness catches that case.
    """
    if not machine or machine != machine_id() or hostname != socket.gethostname() or not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists but belongs to someone else
        return False
    return False


def beat(connection: redis.Redis, prefix: str, name: str, info: dict[str, Any], ttl: int) -> None:
    """Record that worker ``name`` is alive now (one pipelined round trip)."""
    now = time.time()
    with connection.pipeline(transaction=False) as pipe:
        pipe.zadd(_heartbeats_key(prefix), {name: now})
        pipe.set(_info_key(prefix, name), json.dumps(info, default=str), ex=ttl)
        pipe.zremrangebyscore(_heartbeats_key(prefix), "-inf", now - _DAY)  # forget long-gone workers
        pipe.execute()


def forget(connection: redis.Redis, prefix: str, name: str) -> None:
    """A worker that stops cleanly removes itself at once."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.zrem(_heartbeats_key(prefix), name)
        pipe.delete(_info_key(prefix, name))
        pipe.execute()


def list_workers(connection: redis.Redis | None = None, *, stale_after: float | None = None) -> list[WorkerState]:
    """Workers seen in the last day, newest heartbeat first; ``alive`` tells fresh from stale."""
    connection = connection or get_redis()
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    stale_after = stale_after if stale_after is not None else current_app.config["WORKER_STALE_SECONDS"]
    now = time.time()
    # With scores the reply is (member, score) pairs; the client's types cannot tell that apart.
    entries = cast(
        "list[tuple[bytes | str, float]]",
        connection.zrevrangebyscore(_heartbeats_key(prefix), "+inf", now - _DAY, withscores=True),
    )
    if not entries:
        return []
    names = [n.decode() if isinstance(n, bytes) else str(n) for n, _ in entries]
    infos = connection.mget([_info_key(prefix, n) for n in names])
    workers = []
    for (name, (_, score), raw) in zip(names, entries, infos, strict=True):
        info = json.loads(raw) if raw else {}
        hostname, pid, machine = str(info.get("hostname", "")), info.get("pid"), str(info.get("machine", ""))
        workers.append(
            WorkerState(
                name=name,
                last_heartbeat=datetime.fromtimestamp(score, UTC),
                alive=now - score <= stale_after and not process_gone(hostname, pid, machine),
                hostname=hostname,
                pid=pid,
                machine=machine,
                queues=list(info.get("queues", [])),
                state=str(info.get("state", "")),
                current_job=info.get("current_job"),
            )
        )
    return workers


def live_workers(connection: redis.Redis | None = None) -> list[WorkerState]:
    return [w for w in list_workers(connection) if w.alive]
