"""Polling at scale: many polls in flight per worker, the request budget, shared fetches.

Four measurements, each in one run of this script, against the sandbox marketplace served from
a thread of this process (a threaded server: slow pages sleep in their request threads and hold
no core):

1. **Throughput with slow pages.** Every page takes ``--latency-ms`` (1,000 ms by default, a slow
   DHgate answer) and the budget is raised so it does not bind. One polling worker process
   (``worker.py --queues polling --no-fork``, as ``make run`` starts it) polls ``--monitors``
   product monitors from the batch jobs one scheduler tick enqueued; the time is RQ's own, from
   the first batch's start to the last one's end. A bare ``httpx.AsyncClient`` loop fetches the
   same URLs at the same concurrency (before and after; the mean counts). Goals: ≥ 0.9 of the
   bare loop, ≥ 300 polls a minute, the worker's peak RSS within 150 MB. A bare thread pool
   sharing one ``httpx.Client`` fetches them too, to compare threads with asyncio as such.
2. **The budget under excess demand.** ``--rate`` requests a second, burst 1, far more polls due
   than that; two polling worker processes share the budget through Redis. The sandbox notes
   when each request arrives: requests in the middle ``--window`` seconds ÷ the budget of that
   window (goal 0.95–1.00, one request more allowed for the window's edges), and the busiest
   five seconds anywhere (same goal). The busiest single second is shown too: arrivals jitter
   by tens of milliseconds on a loaded machine after they leave the worker, so a one-second
   window can catch an extra request at either edge.
3. **Redis round trips per poll, job system included**: one scheduler tick and a polling worker
   (both in this process, so every request to Redis is counted where redis-py sends it: a
   pipeline or a script is one round trip), ÷ polls. The second round of a running worker is
   counted: the first opens the connections it then keeps. Product monitors (one page each) and store
   monitors (three pages each) separately; the goal is set on the product monitors, since every
   further page costs one rate-limit reservation.
4. **Fetches of a shared page per tick**: ten members watch the same store; one tick, one worker;
   the sandbox's count for each of its pages.

    python bench/bench_scale.py [--monitors 256] [--latency-ms 1000] [--rate 10] [--window 8]

Uses SQLite and an embedded Redis in a temporary folder unless BENCH_DATABASE_URL /
BENCH_REDIS_URL are set (use a database and Redis db of their own: the bench fills them).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("APP_ENV", "development")

from bench.common import BenchStores  # noqa: E402
from bench.results import Check, emit  # noqa: E402

CONCURRENCY = 32  # POLL_CONCURRENCY's default
JOB_SIZE = 256  # POLL_JOB_SIZE's default
SHARED = 10
STORE_POLLS = 64  # store monitors (two pages each) in the round-trip count
GOALS = {"throughput": 0.9, "polls_per_minute": 300.0, "rss_mb": 150.0, "budget_low": 0.95, "budget_high": 1.0,
         "round_trips": 3.0, "shared_fetches": 1.0}


class Bench:
    """The stores, the sandbox and an app on them; one per run."""

    def __init__(self, stores: BenchStores, products: int) -> None:
        from sandbox import SandboxServer

        self.stores = stores
        per_store = 30
        self.sandbox = SandboxServer(seed=5, stores=max(STORE_POLLS + 2, products // per_store + 2),
                                     products_per_store=per_store).start()
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self.sandbox.app.serving.latency.seconds = self._arrived  # type: ignore[method-assign]
        self.latency = 0.0
        self.settings: dict[str, Any] = {
            "DHGATE_BASE_URL": self.sandbox.base_url, "DHGATE_REQUESTS_PER_SECOND": 100000.0,
            "DHGATE_RATE_BURST": 1000, "DHGATE_TIMEOUT_SECONDS": 30.0, "POLL_SPREAD_SECONDS": 0,
            "POLL_CONCURRENCY": CONCURRENCY, "POLL_JOB_SIZE": JOB_SIZE, "DHGATE_MAX_PAGES": 3,
        }
        self.app = self.new_app()

    def _arrived(self) -> float:
        """The sandbox's latency hook: note the arrival, then wait the configured latency."""
        with self._lock:
            self.arrivals.append(time.monotonic())
        return self.latency

    def config(self) -> dict[str, Any]:
        return {"SQLALCHEMY_DATABASE_URI": self.stores.database_url, "REDIS_URL": self.stores.redis_url,
                "INSTANCE_PATH": str(self.stores.folder / "instance"), "SECRET_KEY": "bench-secret-key-0123456789abcdef",
                **self.settings}

    def env(self) -> dict[str, str]:
        config = self.config()
        return {**os.environ, "DATABASE_URL": config.pop("SQLALCHEMY_DATABASE_URI"),
                **{key: str(value) for key, value in config.items()}}

    def new_app(self) -> Any:
        from app import create_app

        return create_app(self.config())

    def reset(self, **settings: Any) -> None:
        """Empty tables and Redis, fresh counts, new settings."""
        from extensions import db, get_redis

        self.settings.update(settings)
        self.app = self.new_app()
        with self.app.app_context():
            import models  # noqa: F401

            db.drop_all()
            db.create_all()
            get_redis().flushdb()
            db.engine.dispose()
        self.sandbox.reset_counts()
        self.arrivals.clear()

    def product_monitors(self, count: int, users: int = 1) -> list[str]:
        """``count`` due product monitors spread over ``users`` members; returns their URLs."""
        codes = [p.item_code for s in self.sandbox.catalog.store_ids() for p in self.sandbox.catalog.products(s)]
        if len(codes) < count:
            raise SystemExit(f"the sandbox has {len(codes)} products, {count} asked for")
        self._monitors([("product", code) for code in codes[:count]], users)
        return [self.sandbox.product_url(code) for code in codes[:count]]

    def _monitors(self, targets: list[tuple[str, str]], users: int) -> None:
        from extensions import db
        from models import Monitor, User

        with self.app.app_context():
            members = [User(email=f"bench{n}@example.com", username=f"bench{n}", password_hash="x",
                            subscription_tier="business") for n in range(users)]
            db.session.add_all(members)
            db.session.flush()
            db.session.add_all([
                Monitor(user_id=members[n % users].id, kind=kind, dhgate_id=target, name=f"{kind} {target}",
                        url=f"/product/x/{target}.html" if kind == "product" else f"/store/top-selling/{target}.html",
                        poll_interval=3600)
                for n, (kind, target) in enumerate(targets)
            ])
            db.session.commit()
            db.engine.dispose()

    def tick(self) -> int:
        """One scheduler tick in this process: claim and enqueue."""
        from extensions import db
        from jobs.monitoring import poll_due_monitors

        with self.app.app_context():
            try:
                return poll_due_monitors()
            finally:
                db.session.remove()

    def batch_times(self) -> tuple[float, float]:
        """First start and last end of the batch jobs that ran, on Redis's clock (RQ's)."""
        from rq import Queue
        from rq.registry import FinishedJobRegistry

        from extensions import get_redis

        with self.app.app_context():
            connection = get_redis()
            ids = FinishedJobRegistry("polling", connection=connection).get_job_ids()
            jobs = [job for job in Queue("polling", connection=connection).job_class.fetch_many(ids, connection=connection)
                    if job is not None]
        if not jobs:
            raise SystemExit("no polling job finished")
        return (min(job.started_at.timestamp() for job in jobs), max(job.ended_at.timestamp() for job in jobs))

    def stop(self) -> None:
        self.sandbox.stop()


def worker_command(burst: bool = True) -> list[str]:
    command = [sys.executable, "worker.py", "--queues", "polling", "--no-fork", "--log-level", "WARNING"]
    return command + (["--burst"] if burst else [])


# ---------------------------------------------------------------------------- 1. throughput


async def _bare_loop(urls: list[str], concurrency: int) -> float:
    import httpx

    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def one(url: str) -> None:
            async with limit:
                response = await client.get(url)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started


def bare_seconds(urls: list[str], concurrency: int) -> float:
    return asyncio.run(_bare_loop(urls, concurrency))


def bare_thread_seconds(urls: list[str], concurrency: int) -> float:
    """The same fetches from a thread pool sharing one ``httpx.Client`` (how batches fetch)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        def one(url: str) -> None:
            client.get(url).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, urls))
        return time.perf_counter() - started


def throughput(bench: Bench, monitors: int, latency_ms: float) -> dict[str, float]:
    import psutil

    bench.reset()
    urls = bench.product_monitors(monitors, users=8)
    bench.latency = 0.0
    bare_seconds(urls, CONCURRENCY)  # every page rendered once: both sides then read the cache
    bench.latency = latency_ms / 1000
    bare = [bare_seconds(urls, CONCURRENCY)]
    if bench.tick() != monitors:
        raise SystemExit("the tick did not claim every monitor")
    worker = subprocess.Popen(worker_command(), cwd=PROJECT_ROOT, env=bench.env())
    peak = 0
    process = psutil.Process(worker.pid)
    while worker.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    if worker.returncode:
        raise SystemExit(f"the polling worker failed with {worker.returncode}")
    first, last = bench.batch_times()
    threads = bare_thread_seconds(urls, CONCURRENCY)
    bare.append(bare_seconds(urls, CONCURRENCY))
    bench.latency = 0.0
    ours = last - first
    bare_mean = sum(bare) / len(bare)
    return {"ours": ours, "bare": bare_mean, "ratio": bare_mean / ours, "per_minute": monitors / ours * 60,
            "rss_mb": peak / 2**20, "bare_rounds": bare, "threads": threads}


# ---------------------------------------------------------------------------- 2. budget


def budget(bench: Bench, rate: float, window: float) -> dict[str, float]:
    monitors = int(rate * (window + 4))
    bench.reset(DHGATE_REQUESTS_PER_SECOND=rate, DHGATE_RATE_BURST=1, POLL_JOB_SIZE=monitors // 2 + 1,
                POLL_CLAIM_LEASE_SECONDS=900)
    bench.product_monitors(monitors, users=4)
    bench.settings["POLL_BATCH_SIZE"] = monitors  # one tick claims all: demand far beyond the budget
    bench.latency = 0.1
    claimed = bench.tick()
    workers = [subprocess.Popen(worker_command(), cwd=PROJECT_ROOT, env=bench.env()) for _ in range(2)]
    codes = [worker.wait() for worker in workers]
    bench.latency = 0.0
    if any(codes):
        raise SystemExit(f"a polling worker failed: {codes}")
    times = sorted(bench.arrivals)
    start = times[0] + 1.0
    sent = sum(1 for t in times if start <= t < start + window)
    return {"claimed": claimed, "requests": len(times), "sent": sent, "ratio": sent / (rate * window),
            "ceiling": sent / (rate * window + 1), "busiest": _busiest(times, 1.0),
            "busiest_5s": _busiest(times, 5.0), "rate": rate}


def _busiest(times: list[float], seconds: float) -> int:
    """The most arrivals in any window of ``seconds`` (windows start at an arrival)."""
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


# ---------------------------------------------------------------------------- 3. round trips


@contextmanager
def counting_round_trips() -> Iterator[Callable[[], int]]:
    """Count every request redis-py sends (one per command, pipeline or script call)."""
    from redis.connection import AbstractConnection

    original = AbstractConnection.send_packed_command
    count = [0]

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        original(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield lambda: count[0]
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def round_trips(bench: Bench, kind: str, count: int) -> dict[str, float]:
    from sqlalchemy import func, select, update

    from extensions import db
    from models import Monitor, PollRun
    from services.worker_runtime import AppSimpleWorker, build_worker, preload

    bench.reset(DHGATE_REQUESTS_PER_SECOND=100000.0, DHGATE_RATE_BURST=1000, POLL_JOB_SIZE=JOB_SIZE)
    if kind == "product":
        bench.product_monitors(count)
    else:
        bench._monitors([("store", store) for store in bench.sandbox.catalog.store_ids()[:count]], users=1)
    with bench.app.app_context():
        preload()
        worker = build_worker(bench.app, ["polling"], worker_class=AppSimpleWorker)
    bench.tick()  # a first round opens the connections a running worker keeps: not counted
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    with bench.app.app_context():
        db.session.execute(update(Monitor).values(next_poll_at=None))
        db.session.commit()
        mark = db.session.scalar(select(func.max(PollRun.id)))
    with counting_round_trips() as counted:
        polls = bench.tick()
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        trips = counted()
    with bench.app.app_context():
        runs = db.session.scalar(select(func.count()).where(PollRun.id > mark, PollRun.outcome == "ok"))
        pages = db.session.scalar(select(func.sum(PollRun.pages)).where(PollRun.id > mark)) or 0
        db.session.remove()
    if runs != polls:
        raise SystemExit(f"{polls} polls enqueued, {runs} ran")
    return {"polls": polls, "trips": trips, "per_poll": trips / polls, "pages_per_poll": pages / polls}


# ---------------------------------------------------------------------------- 4. shared fetches


def shared_fetches(bench: Bench) -> dict[str, float]:
    from services.worker_runtime import AppSimpleWorker, build_worker

    bench.reset(DHGATE_REQUESTS_PER_SECOND=100000.0, DHGATE_RATE_BURST=1000)
    store = bench.sandbox.catalog.store_ids()[0]
    bench._monitors([("store", store)] * SHARED, users=SHARED)
    polls = bench.tick()
    with bench.app.app_context():
        build_worker(bench.app, ["polling"], worker_class=AppSimpleWorker).work(
            burst=True, with_scheduler=False, logging_level="WARNING")
    counts = {path: n for path, n in bench.sandbox.requests.paths().items() if f"/{store}" in path}
    return {"polls": polls, "pages": len(counts), "most": max(counts.values()), "requests": sum(counts.values())}


# ---------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--monitors", type=int, default=256, help="product monitors for the throughput run")
    parser.add_argument("--latency-ms", type=float, default=1000.0, help="per page in the throughput run")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second in the budget run")
    parser.add_argument("--window", type=float, default=8.0, help="seconds of the budget run counted")
    args = parser.parse_args(argv)
    if args.monitors < CONCURRENCY or args.rate <= 0 or args.window < 2 or args.latency_ms < 0:
        parser.error(f"--monitors at least {CONCURRENCY}, --rate above 0, --window at least 2, --latency-ms >= 0")
    with BenchStores() as stores:
        bench = Bench(stores, args.monitors)
        try:
            speed = throughput(bench, args.monitors, args.latency_ms)
            spend = budget(bench, args.rate, args.window)
            products = round_trips(bench, "product", 64)
            listings = round_trips(bench, "store", STORE_POLLS)
            shared = shared_fetches(bench)
        finally:
            bench.stop()
    database = stores.database_url.split(":", 1)[0]
    print(f"command:    {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"setup:      sandbox in a thread of the bench process, {database}, {os.cpu_count()} CPUs")
    print(f"throughput: {speed['per_minute']:,.0f} polls/min in one worker process ({args.monitors} product monitors, "
          f"{args.latency_ms:g} ms per page, {speed['ours']:.2f} s) vs bare httpx.AsyncClient "
          f"{args.monitors / speed['bare'] * 60:,.0f}/min at concurrency {CONCURRENCY} "
          f"(rounds {', '.join(f'{t:.2f}s' for t in speed['bare_rounds'])}): {speed['ratio']:.2f}x; "
          f"worker peak RSS {speed['rss_mb']:.0f} MB")
    print(f"            bare httpx.Client in a pool of {CONCURRENCY} threads: {speed['threads']:.2f} s, "
          f"{speed['bare'] / speed['threads']:.2f}x the AsyncClient loop's speed")
    print(f"budget:     {spend['sent']} requests in the middle {args.window:g} s at {spend['rate']:g}/s "
          f"(2 worker processes, {spend['claimed']} polls due, {spend['requests']} requests in all): "
          f"{spend['ratio']:.3f} of the budget; busiest 5 s {spend['busiest_5s']} requests "
          f"(budget {spend['rate'] * 5:g} + 1), busiest second {spend['busiest']}")
    print(f"redis:      {products['per_poll']:.2f} round trips per poll with the job system "
          f"({products['trips']} for {products['polls']} product polls, 1 page each); "
          f"{listings['per_poll']:.2f} per store poll ({listings['pages_per_poll']:.1f} pages each)")
    print(f"shared:     {SHARED} monitors on one store, one tick: {shared['pages']} pages fetched "
          f"{shared['requests']} times in all, at most {shared['most']} time(s) each")
    emit("scale", [
        Check(f"polls/min of one worker ÷ bare AsyncClient, {args.latency_ms:g} ms pages", speed["ratio"], ">=",
              GOALS["throughput"]),
        Check(f"polls/min of one worker, {args.latency_ms:g} ms pages", speed["per_minute"], ">=",
              GOALS["polls_per_minute"]),
        Check("worker peak RSS (MB) while polling", speed["rss_mb"], "<=", GOALS["rss_mb"]),
        Check("requests sent ÷ budget, excess demand, 2 workers", spend["ratio"], ">=", GOALS["budget_low"]),
        Check("requests sent ÷ (budget + 1), the same window", spend["ceiling"], "<=", GOALS["budget_high"]),
        Check("busiest 5 s ÷ (5 s of budget + 1)", spend["busiest_5s"] / (spend["rate"] * 5 + 1), "<=",
              GOALS["budget_high"]),
        Check("Redis round trips per product poll, job system included", products["per_poll"], "<=",
              GOALS["round_trips"]),
        Check("fetches of a page 10 monitors watch, per tick", shared["most"], "<=", GOALS["shared_fetches"]),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
