"""How fast the polling pipeline is next to bare HTTP, and whether a worker's memory stays flat.

Throughput: N store monitors of 3 pages each on the sandbox marketplace (its own process, on
loopback) are polled by 2 real RQ worker processes (``worker.py --burst``), first as baselines
and then as ordinary polls. A bare ``httpx`` loop fetches the very same page URLs with the same
concurrency (2 processes, one request at a time each), measured before, between and after, and
the median is the comparison: the pipeline (rate limiter, breaker, retries, parsing, change
detection, database) against the network alone. Goal: at least half the bare throughput.

Loopback makes the network nearly free, so the same comparison is repeated on 40 monitors with
every page delayed by ``--latency-ms`` (default 100 ms, a modest WAN round trip), which is
closer to polling the real site.

The ordinary polls are run twice with ``worker.py --no-fork`` (RQ's SimpleWorker as
``AppSimpleWorker``: each job inside the worker process; the better of the two counts) and once
with ``worker.py`` (RQ's default: a new process per job), so the cost of the process per job
shows separately. An ordinary poll that sees what the previous one saw takes the change-free
fast path (``services.polling.fastpath``); the report shows the products changed and events
each round found (none, on the unchanged sandbox).

The job-system floor: the same two workers run one RQ job per monitor that only fetches its 3
pages with a bare ``httpx`` client (no rate limiter, breaker, parsing or database). That is the
most any one-job-per-poll design can reach on this machine, and the report shows the pipeline
against it as well as against bare HTTP.

Where the time of a poll goes: every monitor is polled once more directly in the bench process
(no RQ), with timers around fetching + parsing, reading the monitor's rows, comparing card by card
(with any writes) and the rest (run, schedule, commits).

CPU and SQL of one poll (``--cpu-only`` runs just this part): in this process, rounds of
unchanged polls (``poll_monitor`` on every monitor) alternate with rounds of the bare work they
cannot avoid, fetching the same pages with one ``httpx.Client`` and parsing them with
``parse_page``; the CPU time (``time.process_time``, this process only: the sandbox and Redis
are processes of their own) of the median rounds is compared. Goal: <= 2. The SQL statements
of every poll are counted with a ``before_cursor_execute`` listener around ``poll_monitor``
(first polls, unchanged polls, and polls after the sandbox evolved: the changed ones), every
statement counted, the engine's read of the monitor included. Goals: unchanged <= 4,
changed <= 10, first <= 12.

Memory: a worker running its jobs in its own process (RQ's SimpleWorker, as ``AppSimpleWorker``)
polls the monitors again and again (the marketplace changing between rounds) for 1,000 polls;
its RSS after the first round (warm-up) is compared with the RSS at the end. Goal: < 10 % growth.

    python bench/bench_polling.py [--monitors 200] [--workers 2] [--memory-polls 1000] [--latency-ms 100]
    python bench/bench_polling.py --cpu-only [--monitors 50]

Uses SQLite and an embedded Redis in a temporary folder unless BENCH_DATABASE_URL /
BENCH_REDIS_URL are set (use a database and Redis db of their own: the bench fills them).
"""
from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAGES = 3
STORE_PAGE_SIZE = 24
GOAL_RATIO = 0.5
GOAL_GROWTH = 0.10
GOAL_CPU_RATIO = 2.0
GOAL_STATEMENTS = {"unchanged": 4, "changed": 10, "first": 12}  # every statement of a poll
CPU_ROUNDS = 7
WAN_MONITORS = 40
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


# ------------------------------------------------------------------------------ child modes


def serve_sandbox(stores: int, products_per_store: int) -> None:
    """Child: the sandbox marketplace, printing its URL on the first line."""
    from sandbox import SandboxServer

    server = SandboxServer(port=0, seed=11, stores=stores, products_per_store=products_per_store).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


def bare_fetch(urls: list[str]) -> int:
    """Child of the bare loop: fetch each URL in turn with one pooled client."""
    import httpx

    total = 0
    with httpx.Client(timeout=30) as client:
        for url in urls:
            response = client.get(url)
            response.raise_for_status()
            total += len(response.content)
    return total


_floor_client: Any = None


def floor_job(urls: list[str]) -> int:
    """RQ job of the floor round: fetch a monitor's pages with one pooled client, nothing else."""
    global _floor_client
    import httpx

    if _floor_client is None:
        _floor_client = httpx.Client(timeout=30)
    total = 0
    for url in urls:
        response = _floor_client.get(url)
        response.raise_for_status()
        total += len(response.content)
    return total


def memory_worker(config: dict[str, Any], monitor_ids: list[int], polls: int, sandbox_url: str) -> None:
    """Child: an in-process RQ worker polling ``polls`` times; prints RSS figures as JSON."""
    import httpx
    import psutil

    from app import create_app
    from services.polling.schedule import POLL_JOB, poll_job_id
    from services.queue import enqueue
    from services.worker_runtime import AppSimpleWorker, build_worker

    app = create_app(config)
    process = psutil.Process()
    samples: list[tuple[int, int]] = []
    done = 0
    with app.app_context():
        while done < polls:
            batch = monitor_ids[: min(len(monitor_ids), polls - done)]
            for monitor_id in batch:
                enqueue(POLL_JOB, job_id=poll_job_id(monitor_id), queue="polling", monitor_id=monitor_id)
            worker = build_worker(app, ["polling"], worker_class=AppSimpleWorker)
            worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
            worker.connection.close()
            del worker
            done += len(batch)
            httpx.post(f"{sandbox_url}/__sandbox__/evolve", timeout=30)  # something to notice next round
            gc.collect()
            samples.append((done, process.memory_info().rss))
    print(json.dumps({"samples": samples}), flush=True)


# ------------------------------------------------------------------------------ CPU and SQL


def cpu_and_statements(config: dict[str, Any], monitor_ids: list[int], store_ids: list[str], base_url: str,
                       *, baseline: bool) -> dict[str, Any]:
    """CPU of unchanged polls against bare fetch + parse of the same pages, and the SQL
    statements of first (``baseline``: polled here first), unchanged and changed polls."""
    import httpx
    from sqlalchemy import event

    from app import create_app
    from extensions import db
    from services.dhgate.parsers import parse_page
    from services.dhgate.urls import store_page_path
    from services.polling import engine as polling

    app = create_app(config)
    counts: list[int] = []

    def count(*_args: Any) -> None:
        counts[-1] += 1

    def poll_all() -> tuple[list[int], int]:
        """Statements of each poll, and how many took the fast path."""
        start, fast = len(counts), 0
        for monitor_id in monitor_ids:
            counts.append(0)
            fast += polling.took_fast_path(polling.poll_monitor(monitor_id))
        return counts[start:], fast

    urls = [base_url + store_page_path(store, page) for store in store_ids for page in range(PAGES)]
    with app.app_context(), httpx.Client(timeout=30) as client:
        def bare_all() -> None:
            for url in urls:
                response = client.get(url)
                parse_page("store", response.text, response.status_code)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            first = poll_all()[0] if baseline else []
            poll_all()  # warm: every monitor settled, caches filled
            bare_all()
            bare_cpu: list[float] = []
            poll_cpu: list[float] = []
            unchanged: list[int] = []
            fast = 0
            for _ in range(CPU_ROUNDS):
                started = time.process_time()
                bare_all()
                bare_cpu.append(time.process_time() - started)
                started = time.process_time()
                statements, fast_polls = poll_all()
                poll_cpu.append(time.process_time() - started)
                unchanged += statements
                fast += fast_polls
            httpx.post(f"{base_url}/__sandbox__/evolve", json={"steps": 3}, timeout=30)
            changed_counts, changed_fast = poll_all()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        db.engine.dispose()
    polls = len(monitor_ids)
    changed = [n for n in changed_counts if n != statistics.mode(unchanged)] or changed_counts
    return {
        "bare_ms": statistics.median(bare_cpu) * 1000 / polls, "poll_ms": statistics.median(poll_cpu) * 1000 / polls,
        "fast_share": fast / (polls * CPU_ROUNDS), "first": first, "unchanged": unchanged,
        "changed": changed, "changed_polls": polls - changed_fast,
    }


def report_cpu(cpu: dict[str, Any]) -> list[Any]:
    """Print the CPU and SQL figures, and their checks."""
    from bench.results import Check

    ratio = cpu["poll_ms"] / cpu["bare_ms"]

    def spread(values: list[int]) -> str:
        if not values:
            return "not measured"
        low, high = min(values), max(values)
        return f"{low}" if low == high else f"{low}-{high} (median {statistics.median(values):g})"

    print(f"cpu:       {cpu['poll_ms']:.2f} CPU-ms per unchanged poll vs {cpu['bare_ms']:.2f} for bare fetch + parse "
          f"of the same pages: {ratio:.2f}x (goal <= {GOAL_CPU_RATIO:g}; {cpu['fast_share']:.0%} fast path; "
          f"median of {CPU_ROUNDS} alternating rounds, this process only)")
    print(f"sql:       statements per poll, every one counted: first {spread(cpu['first'])}, "
          f"unchanged {spread(cpu['unchanged'])}, changed {spread(cpu['changed'])} "
          f"({cpu['changed_polls']} polls changed after the sandbox evolved 3 steps)")
    checks = [Check("CPU per unchanged poll / bare fetch + parse", ratio, "<=", GOAL_CPU_RATIO),
              Check("SQL statements per unchanged poll", max(cpu["unchanged"]), "<=", GOAL_STATEMENTS["unchanged"]),
              Check("SQL statements per changed poll", max(cpu["changed"]), "<=", GOAL_STATEMENTS["changed"])]
    if cpu["first"]:
        checks.append(Check("SQL statements per first poll", max(cpu["first"]), "<=", GOAL_STATEMENTS["first"]))
    return checks


def cpu_only(monitors: int) -> int:
    """``--cpu-only``: a sandbox and a fresh database, then ``cpu_and_statements`` alone."""
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("APP_ENV", "development")
    import httpx

    from services.embedded_redis import ensure_embedded_redis, stop_embedded_redis

    scratch = Path(tempfile.mkdtemp(prefix="bench-polling-cpu-"))
    embedded = not os.environ.get("BENCH_REDIS_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL") or ensure_embedded_redis(scratch / "redis")
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{scratch / 'bench.db'}"
    sandbox, base_url = start_sandbox(monitors, STORE_PAGE_SIZE * (PAGES - 1) + STORE_PAGE_SIZE // 2)
    try:
        store_ids = [store["store_id"] for store in
                     httpx.get(f"{base_url}/__sandbox__/state", timeout=60).json()["stores"]][:monitors]
        config = {"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "SECRET_KEY": SECRET,
                  "INSTANCE_PATH": str(scratch / "instance"), "DHGATE_BASE_URL": base_url,
                  "DHGATE_REQUESTS_PER_SECOND": 100000.0, "DHGATE_RATE_BURST": 1000, "DHGATE_MAX_PAGES": PAGES}
        monitor_ids = prepare_database(config, store_ids)
        cpu = cpu_and_statements(config, monitor_ids, store_ids, base_url, baseline=True)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        if embedded:
            stop_embedded_redis(scratch / "redis")
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"command:   {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"setup:     {monitors} store monitors x {PAGES} pages, sandbox on loopback (own process), "
          f"{database_url.split(':', 1)[0]}, {os.cpu_count()} CPUs")
    checks = report_cpu(cpu)
    from bench.results import emit

    emit("polling-cpu", checks)
    return 0 if all(check.passed for check in checks) else 1


# ------------------------------------------------------------------------------ the bench


def start_sandbox(stores: int, products_per_store: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, __file__, "_sandbox", str(stores), str(products_per_store)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        process.kill()
        raise SystemExit("the sandbox did not start")
    return process, base_url


def prepare_database(config: dict[str, Any], store_ids: list[str]) -> list[int]:
    """Tables, a member and one store monitor per store; returns the monitor ids."""
    from app import create_app
    from extensions import db, get_redis
    from models import Monitor, User

    app = create_app(config)
    with app.app_context():
        import models  # noqa: F401

        db.drop_all()
        db.create_all()
        get_redis().flushdb()
        user = User(email="bench@example.com", username="bench", password_hash="x", subscription_tier="business")
        db.session.add(user)
        db.session.flush()
        monitors = [Monitor(user_id=user.id, kind="store", dhgate_id=store, url=f"/store/top-selling/{store}.html",
                            name=f"Store {store}", poll_interval=60) for store in store_ids]
        db.session.add_all(monitors)
        db.session.commit()
        ids = [monitor.id for monitor in monitors]
        db.engine.dispose()
    return ids


def bare_round(urls: list[str], workers: int) -> float:
    """Seconds for ``workers`` processes to fetch ``urls`` between them, one at a time each."""
    shares = [urls[index::workers] for index in range(workers)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        pool.map(bare_fetch, [shares[0][:2]] * workers)  # processes up, imports done
        started = time.perf_counter()
        pool.map(bare_fetch, shares)
        return time.perf_counter() - started


def polling_round(
    config: dict[str, Any], env: dict[str, str], workers: int, monitors: int, mode: str,
    only: list[int] | None = None,
) -> dict[str, Any]:
    """Make every monitor (or those in ``only``) due, enqueue the polls, run ``workers`` burst
    workers; timings.

    ``mode`` "fork": ``worker.py`` (RQ's default worker: a fresh process per job);
    "simple": ``worker.py --no-fork`` (``AppSimpleWorker``), each job inside the worker process.
    """
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select, update

    from app import create_app
    from extensions import db
    from jobs.monitoring import poll_due_monitors
    from models import Monitor, PollRun, ProductEvent

    app = create_app(config)
    with app.app_context():
        later = datetime.now(UTC) + timedelta(days=1)
        db.session.execute(update(Monitor).values(next_poll_at=None if only is None else later, claimed_until=None))
        if only is not None:
            db.session.execute(update(Monitor).where(Monitor.id.in_(only)).values(next_poll_at=None))
        db.session.commit()
        mark = datetime.now(UTC)
        enqueued = poll_due_monitors()
        if enqueued != monitors:
            raise SystemExit(f"expected {monitors} polls enqueued, got {enqueued}")
        db.engine.dispose()
    command = [sys.executable, "worker.py", "--burst", "--queues", "polling", "--log-level", "WARNING"]
    if mode == "simple":
        command.append("--no-fork")
    started = time.perf_counter()
    children = [subprocess.Popen(command, cwd=PROJECT_ROOT, env=env) for _ in range(workers)]
    codes = [child.wait() for child in children]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}")
    with app.app_context():
        runs = db.session.execute(
            select(func.count(), func.min(PollRun.started_at), func.max(PollRun.finished_at),
                   func.sum(PollRun.pages), func.avg(PollRun.duration_ms))
            .where(PollRun.started_at >= mark, PollRun.outcome == "ok")
        ).one()
        changed = db.session.scalar(select(func.coalesce(func.sum(PollRun.products_changed), 0))
                                    .where(PollRun.started_at >= mark))
        events = db.session.scalar(select(func.count()).select_from(ProductEvent).where(ProductEvent.created_at >= mark))
        outcomes = dict(db.session.execute(
            select(PollRun.outcome, func.count()).where(PollRun.started_at >= mark).group_by(PollRun.outcome)).all())
        db.engine.dispose()
    ok, first, last, pages, mean_ms = runs
    if ok != monitors:
        raise SystemExit(f"only {ok} of {monitors} polls succeeded: {outcomes}")
    window = (last - first).total_seconds()
    return {"wall": wall, "window": window, "pages": int(pages or 0), "poll_ms": float(mean_ms or 0),
            "command": shlex.join(["python", *command[1:]]), "changed": int(changed or 0), "events": int(events or 0)}


def floor_round(config: dict[str, Any], env: dict[str, str], workers: int, urls: list[str]) -> dict[str, Any]:
    """One RQ job per monitor that only fetches its pages (``floor_job``), run by the same
    ``worker.py --no-fork`` workers as the polls; the window from RQ's own job timestamps."""
    import redis
    from rq import Queue
    from rq.job import Job

    connection = redis.Redis.from_url(config["REDIS_URL"])
    queue = Queue("polling", connection=connection)
    jobs = [queue.enqueue("bench.bench_polling.floor_job",  # imported by the workers from the project root
                          urls[start:start + PAGES], result_ttl=600)
            for start in range(0, len(urls), PAGES)]
    command = [sys.executable, "worker.py", "--burst", "--queues", "polling", "--log-level", "WARNING", "--no-fork"]
    children = [subprocess.Popen(command, cwd=PROJECT_ROOT, env=env) for _ in range(workers)]
    codes = [child.wait() for child in children]
    if any(codes):
        raise SystemExit(f"a worker failed in the floor round: exit codes {codes}")
    done = Job.fetch_many([job.id for job in jobs], connection=connection)
    failed = [job.id for job in done if job is None or job.get_status() != "finished"]
    if failed:
        raise SystemExit(f"{len(failed)} floor jobs did not finish")
    window = (max(job.ended_at for job in done) - min(job.started_at for job in done)).total_seconds()
    connection.close()
    return {"window": window, "jobs": len(jobs)}


def poll_breakdown(config: dict[str, Any], monitor_ids: list[int]) -> dict[str, float]:
    """Where the time of an unchanged poll goes: every monitor polled once more, directly in
    this process (no RQ, no second worker), with timers around the phases. Milliseconds per
    poll; "rest" is the run, the schedule and the commits."""
    from app import create_app
    from services.polling import cards
    from services.polling import engine as polling

    spent: dict[str, float] = {}

    def timed(module: Any, name: str, label: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started

        setattr(module, name, wrapper)

    timed(polling, "take_monitor_snapshot", "fetch + parse")
    timed(cards, "monitor_rows", "read rows")
    timed(polling, "record_cards", "read + compare")
    app = create_app(config)
    with app.app_context():
        started = time.perf_counter()
        fast = sum(polling.took_fast_path(polling.poll_monitor(monitor_id)) for monitor_id in monitor_ids)
        total = time.perf_counter() - started
    per_poll = {label: seconds * 1000 / len(monitor_ids) for label, seconds in spent.items()}
    per_poll["compare"] = per_poll.pop("read + compare", 0.0) - per_poll.get("read rows", 0.0)
    per_poll["total"] = total * 1000 / len(monitor_ids)
    per_poll["rest"] = per_poll["total"] - sum(value for key, value in per_poll.items() if key != "total")
    per_poll["fast_share"] = fast / len(monitor_ids)
    return per_poll


def wan_rounds(config: dict[str, Any], env: dict[str, str], workers: int, monitor_ids: list[int], urls: list[str],
               base_url: str, latency_ms: int) -> dict[str, Any]:
    """The same comparison with every page delayed by ``latency_ms`` (a WAN round trip), on a
    subset of monitors so that it stays short."""
    import httpx

    count = min(len(monitor_ids), WAN_MONITORS)
    subset_urls = urls[: count * PAGES]
    httpx.post(f"{base_url}/__sandbox__/fault", json={"mode": "slow", "delay": latency_ms / 1000}, timeout=30)
    try:
        bare = bare_round(subset_urls, workers)
        ours = polling_round(config, env, workers, count, "simple", only=monitor_ids[:count])
    finally:
        httpx.delete(f"{base_url}/__sandbox__/fault", timeout=30)
    return {"monitors": count, "latency_ms": latency_ms, "bare": bare, "ours": ours}


def run(monitors: int, workers: int, memory_polls: int, latency_ms: int) -> int:
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("APP_ENV", "development")
    from services.dhgate.urls import store_page_path
    from services.embedded_redis import ensure_embedded_redis, stop_embedded_redis

    scratch = Path(tempfile.mkdtemp(prefix="bench-polling-"))
    embedded = not os.environ.get("BENCH_REDIS_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL") or ensure_embedded_redis(scratch / "redis")
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{scratch / 'bench.db'}"
    products_per_store = STORE_PAGE_SIZE * (PAGES - 1) + STORE_PAGE_SIZE // 2  # 3 pages: 24, 24, 12
    sandbox, base_url = start_sandbox(monitors, products_per_store)
    try:
        import httpx

        store_ids = httpx.get(f"{base_url}/__sandbox__/state", timeout=60).json()["stores"]
        store_ids = [store["store_id"] for store in store_ids][:monitors]
        settings = {
            "DHGATE_BASE_URL": base_url, "DHGATE_REQUESTS_PER_SECOND": 100000.0, "DHGATE_RATE_BURST": 1000,
            "DHGATE_MAX_PAGES": PAGES, "POLL_SPREAD_SECONDS": 0, "POLL_JOB_SIZE": -(-monitors // workers),
        }
        config = {"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                  "INSTANCE_PATH": str(scratch / "instance"), "SECRET_KEY": SECRET, **settings}
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "INSTANCE_PATH": str(scratch / "instance"), "SECRET_KEY": SECRET,
               **{key: str(value) for key, value in settings.items()}}
        monitor_ids = prepare_database(config, store_ids)
        urls = [base_url + store_page_path(store, page) for store in store_ids for page in range(PAGES)]
        bare_fetch(urls)  # every page rendered once: both sides then read the sandbox's cache
        bare_times = [bare_round(urls, workers)]
        rounds = {"baseline": polling_round(config, env, workers, monitors, "simple")}
        bare_times.append(bare_round(urls, workers))
        rounds["simple"] = polling_round(config, env, workers, monitors, "simple")
        bare_times.append(bare_round(urls, workers))
        rounds["fork"] = polling_round(config, env, workers, monitors, "fork")
        bare_times.append(bare_round(urls, workers))
        rounds["simple2"] = polling_round(config, env, workers, monitors, "simple")
        bare_times.append(bare_round(urls, workers))
        floor = floor_round(config, env, workers, urls)
        bare_times.append(bare_round(urls, workers))
        bare = statistics.median(bare_times)
        breakdown = poll_breakdown(config, monitor_ids)
        cpu = cpu_and_statements(config, monitor_ids, store_ids, base_url, baseline=False)
        memory = measure_memory(config, monitor_ids, memory_polls, base_url) if memory_polls else None
        wan = wan_rounds(config, env, workers, monitor_ids, urls, base_url, latency_ms) if latency_ms else None
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        if embedded:
            stop_embedded_redis(scratch / "redis")
        shutil.rmtree(scratch, ignore_errors=True)
    steady = min((rounds["simple"], rounds["simple2"]), key=lambda r: r["window"])
    report(monitors, workers, bare, bare_times, rounds["baseline"], steady, rounds["fork"], memory, database_url, wan,
           floor, breakdown)
    from bench.results import Check, emit

    checks = [Check("polling / bare httpx (monitors/min)", bare / steady["window"], ">=", GOAL_RATIO),
              *report_cpu(cpu)]
    if memory is not None:
        checks.append(Check("worker RSS growth over the polls", memory["growth"], "<", GOAL_GROWTH))
    emit("polling", checks)
    return 0 if all(check.passed for check in checks) else 1


def measure_memory(config: dict[str, Any], monitor_ids: list[int], polls: int, sandbox_url: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "_memory", json.dumps({"config": config, "ids": monitor_ids,
                                                                "polls": polls, "sandbox": sandbox_url})]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the memory worker failed:\n{done.stderr[-3000:]}")
    samples = json.loads(done.stdout.strip().splitlines()[-1])["samples"]
    warm_polls, warm = samples[0]
    end_polls, end = samples[-1]
    return {"warm": warm, "warm_polls": warm_polls, "end": end, "end_polls": end_polls,
            "growth": (end - warm) / warm, "samples": samples}


def report(monitors: int, workers: int, bare: float, bare_times: list[float], baseline: dict[str, Any],
           steady: dict[str, Any], forked: dict[str, Any], memory: dict[str, Any] | None, database_url: str,
           wan: dict[str, Any] | None, floor: dict[str, Any], breakdown: dict[str, float]) -> None:
    def per_minute(seconds: float) -> float:
        return monitors / seconds * 60

    ratio = bare / steady["window"]
    db_name = database_url.split(":", 1)[0]
    print(f"command:   {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"setup:     {monitors} store monitors x {PAGES} pages, {workers} worker processes, sandbox on "
          f"loopback (own process), {db_name}, {os.cpu_count()} CPUs")
    print(f"bare:      {per_minute(bare):9,.0f} monitors/min  (httpx, {workers} processes, same "
          f"{monitors * PAGES} URLs; rounds {', '.join(f'{t:.2f}s' for t in bare_times)})")
    print(f"baseline:  {per_minute(baseline['window']):9,.0f} monitors/min  (first polls: every product new; "
          f"{baseline['window']:.2f}s of polling, {baseline['wall']:.2f}s with worker start-up, "
          f"{baseline['poll_ms']:.0f} ms per poll inside the job)")
    print(f"polling:   {per_minute(steady['window']):9,.0f} monitors/min  (ordinary polls, RQ SimpleWorker; "
          f"{steady['window']:.2f}s of polling, {steady['wall']:.2f}s with worker start-up, "
          f"{steady['poll_ms']:.0f} ms per poll inside the job; {steady['changed']} products changed, "
          f"{steady['events']} events)")
    print(f"           workers: {steady['command']}")
    print(f"forking:   {per_minute(forked['window']):9,.0f} monitors/min  (ordinary polls, worker.py: a process "
          f"per job; {forked['window']:.2f}s of polling, {forked['poll_ms']:.0f} ms per poll inside the job)")
    print(f"           workers: {forked['command']}")
    print(f"floor:     {per_minute(floor['window']):9,.0f} monitors/min  (the same workers, one RQ job per monitor "
          f"that only fetches its {PAGES} pages with bare httpx: {bare / floor['window']:.2f}x bare, the most a "
          f"job per poll can reach here)")
    parts = ", ".join(f"{label} {breakdown[label]:.1f}" for label in
                      ("fetch + parse", "read rows", "compare", "rest") if label in breakdown)
    print(f"one poll:  {breakdown['total']:.1f} ms in one process (no RQ) = {parts} ms "
          f"({breakdown['fast_share']:.0%} took the change-free fast path)")
    verdict = "meets" if ratio >= GOAL_RATIO else "MISSES"
    print(f"ratio:     {ratio:.2f}x bare with SimpleWorker ({verdict} the goal of >= {GOAL_RATIO}); "
          f"{bare / forked['window']:.2f}x with worker.py's process per job; "
          f"{floor['window'] / steady['window']:.2f}x the job-system floor")
    if wan is not None:
        wan_ratio = wan["bare"] / wan["ours"]["window"]
        print(f"with WAN:  {wan['monitors'] / wan['ours']['window'] * 60:9,.0f} monitors/min vs bare "
              f"{wan['monitors'] / wan['bare'] * 60:,.0f} with {wan['latency_ms']} ms per page "
              f"({wan['monitors']} monitors): {wan_ratio:.2f}x bare")
    if memory is None:
        print("memory:    skipped (--memory-polls 0)")
        return
    growth_verdict = "meets" if memory["growth"] < GOAL_GROWTH else "MISSES"
    print(f"memory:    worker RSS {memory['warm'] / 2**20:.1f} MB after {memory['warm_polls']} polls (warm-up), "
          f"{memory['end'] / 2**20:.1f} MB after {memory['end_polls']} polls: {memory['growth']:+.1%} "
          f"({growth_verdict} the goal of < {GOAL_GROWTH:.0%})")
    trail = ", ".join(f"{polls}: {rss / 2**20:.1f}" for polls, rss in memory["samples"])
    print(f"           RSS (MB) by polls done: {trail}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_sandbox":
        sys.path.insert(0, str(PROJECT_ROOT))
        serve_sandbox(int(argv[1]), int(argv[2]))
        return 0
    if argv and argv[0] == "_memory":
        sys.path.insert(0, str(PROJECT_ROOT))
        os.environ.setdefault("APP_ENV", "development")
        spec = json.loads(argv[1])
        memory_worker(spec["config"], spec["ids"], spec["polls"], spec["sandbox"])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--monitors", type=int, default=200, help="store monitors (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--memory-polls", type=int, default=1000, help="polls for the memory check (0: skip)")
    parser.add_argument("--latency-ms", type=int, default=100,
                        help="also compare with this delay per page, like a WAN round trip (0: skip)")
    parser.add_argument("--cpu-only", action="store_true",
                        help="measure only the CPU and SQL statements of a poll, in this process")
    arguments = parser.parse_args(argv)
    if arguments.cpu_only:
        if arguments.monitors < 1:
            parser.error("--monitors must be at least 1")
        return cpu_only(arguments.monitors)
    if arguments.monitors < 1 or arguments.workers < 1 or arguments.memory_polls < 0 or arguments.latency_ms < 0:
        parser.error("--monitors and --workers must be at least 1, --memory-polls and --latency-ms at least 0")
    return run(arguments.monitors, arguments.workers, arguments.memory_polls, arguments.latency_ms)


if __name__ == "__main__":
    raise SystemExit(main())
