"""Jobs the background tests enqueue: real functions a real worker imports and runs by path."""
from __future__ import annotations

import os
import threading
import time

from extensions import db, get_redis
from services.queue import job


@job("default", timeout=30)
def add(a: int, b: int) -> int:
    return a + b


@job("default", timeout=30)
def explode(tag: str) -> None:
    raise ValueError(f"boom {tag}")


@job("default", timeout=30, retries=2, retry_intervals=(0,))
def flaky(counter_key: str) -> int:
    """Fails on its first attempt, succeeds on the second."""
    attempt = int(get_redis().incr(counter_key))
    if attempt < 2:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


@job("default", timeout=60)
def slow(done_key: str, started_key: str, seconds: float) -> str:
    get_redis().set(started_key, "1")
    time.sleep(seconds)
    get_redis().set(done_key, "done")
    return "done"


@job("default", timeout=30)
def live_worker_names() -> list[str]:
    from services.worker_heartbeat import live_workers

    return [w.name for w in live_workers()]


@job("default", timeout=30)
def database_roundtrip() -> tuple[int, int]:
    """Uses the database from inside the job: the pid shows it ran in a forked work horse."""
    from sqlalchemy import text

    value = db.session.execute(text("SELECT 41 + 1")).scalar_one()
    return os.getpid(), int(value)


@job("default", timeout=30)
def worker_facts() -> dict[str, object]:
    """Where the job ran and whether the worker preloaded the fetcher before it."""
    from flask import current_app

    return {"pid": os.getpid(), "fetcher_preloaded": "dhm_dhgate_fetcher" in current_app.extensions}


@job("default", timeout=30, retries=1, retry_intervals=(6,))
def flaky_later(counter_key: str) -> int:
    """Fails on its first attempt; its one retry comes six seconds later (a delayed retry)."""
    attempt = int(get_redis().incr(counter_key))
    if attempt < 2:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


@job("default", timeout=30)
def fails_once(counter_key: str, webhook_url: str | None = None, api_token: str | None = None) -> int:
    """Fails on its first run (no retries of its own), succeeds when run again: what an admin's
    "retry" from the queue tools must achieve. The extra arguments carry secrets to be masked."""
    attempt = int(get_redis().incr(counter_key))
    if attempt < 2:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


SURVIVORS: list[bytes] = []  # what ``fragment_memory`` keeps alive; the test clears it


@job("default", timeout=60)
def fragment_memory(threads: int, blocks: int) -> int:
    """Allocate ``blocks`` 3 kB blocks in each of ``threads`` threads (each gets an allocator
    arena of its own, as a polling batch's threads do), keep one in 64 and free the rest: the
    freed pages sit between live blocks, where only ``malloc_trim`` returns them."""
    def churn() -> None:
        allocated = [bytes(3000) for _ in range(blocks)]
        SURVIVORS.extend(allocated[::64])

    workers = [threading.Thread(target=churn) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(SURVIVORS)
