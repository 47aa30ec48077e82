"""What the worker's overrides of RQ internals save, measured with and without them in one run.

``AppWorkerMixin`` overrides three RQ methods to skip Redis round trips on short jobs (see
``services.worker_runtime``): RQ's heartbeat at most once a second (``heartbeat``), the same
state written once (``state``) and ``rq suspend`` checked at most once a second
(``suspension``). Here one in-process ``AppSimpleWorker`` runs the same no-op jobs (one
``--jobs`` batch per variant per round, in rotating order) with all three, with none, and with
each one left out, and prints per job the milliseconds and the Redis round trips (requests the
client sent; a pipeline is one), side by side, with the ratios against "all":

* none vs all                               goal: >= 1.20x the round trips (else drop them all)
* all but one vs all, for each override     goal: >= 1.02x the round trips (else drop that one)

The goals are judged on round trips, which a busy machine does not blur; the time ratios are
printed next to them (on a quiet machine they follow the round trips: 3.96 -> 2.05 ms per job).

Stores: SQLite and an embedded Redis in a temporary folder (or BENCH_DATABASE_URL /
BENCH_REDIS_URL).

    python bench/bench_worker.py [--rounds 7] [--jobs 400]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.connection import AbstractConnection  # noqa: E402
from rq import Queue  # noqa: E402

from app import create_app  # noqa: E402
from bench.common import SECRET, BenchStores, command_line, paired_ratio  # noqa: E402
from services.worker_runtime import AppSimpleWorker, AppWorkerMixin, build_worker  # noqa: E402

GOAL_ALL = 1.20  # all overrides against none
GOAL_EACH = 1.02  # all overrides against all but one
SAVINGS = tuple(sorted(AppWorkerMixin.rq_savings))


def noop() -> None:
    """The job: nothing, so the worker's own cost per job is all that is measured."""


class RoundTrips:
    """Counts requests sent to Redis by this process (a pipeline is one), while installed."""

    def __init__(self) -> None:
        self.count = 0
        self._original = AbstractConnection.send_packed_command

    def __enter__(self) -> RoundTrips:
        original = self._original

        def counting(connection: AbstractConnection, command: object, check_health: bool = True) -> None:
            self.count += 1
            original(connection, command, check_health)

        AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        AbstractConnection.send_packed_command = self._original  # type: ignore[method-assign]


def variants() -> dict[str, frozenset[str]]:
    table = {"all": frozenset(SAVINGS), "none": frozenset()}
    for name in SAVINGS:
        table[f"without {name}"] = frozenset(SAVINGS) - {name}
    return table


def one_batch(app, savings: frozenset[str], jobs: int) -> tuple[float, float]:  # noqa: ANN001 - a Flask app
    """(milliseconds, Redis round trips) per job for one burst of ``jobs`` no-op jobs."""
    worker_class = type("BenchWorker", (AppSimpleWorker,), {"rq_savings": savings})
    worker = build_worker(app, ["default"], worker_class=worker_class)
    queue = Queue("default", connection=worker.connection)
    queue.enqueue_many([Queue.prepare_data("bench.bench_worker.noop", result_ttl=60) for _ in range(jobs)])
    with RoundTrips() as trips:
        started = time.perf_counter()
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        elapsed = time.perf_counter() - started
    worker.connection.close()
    return elapsed * 1000 / jobs, trips.count / jobs


def run(rounds: int, jobs: int) -> int:
    table = variants()
    times: dict[str, list[float]] = {name: [] for name in table}
    trips: dict[str, list[float]] = {name: [] for name in table}
    with BenchStores() as stores:
        app = create_app({"SQLALCHEMY_DATABASE_URI": stores.database_url, "REDIS_URL": stores.redis_url,
                          "INSTANCE_PATH": str(stores.folder / "instance"), "SECRET_KEY": SECRET})
        with app.app_context():
            one_batch(app, table["all"], jobs // 4)  # warm-up: imports, connections, registrations
            names = list(table)
            for round_number in range(rounds):
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    elapsed, sent = one_batch(app, table[name], jobs)
                    times[name].append(elapsed)
                    trips[name].append(sent)
    print(f"command:  {command_line()}")
    print(f"setup:    one in-process AppSimpleWorker, {jobs} no-op jobs per batch, {rounds} rounds, "
          f"variants in rotating order")
    width = max(len(name) for name in table)
    for name in table:
        print(f"  {name.ljust(width)}  {statistics.median(times[name]):6.3f} ms/job  "
              f"{statistics.median(trips[name]):5.2f} round trips/job  "
              f"(ms min {min(times[name]):.3f}, max {max(times[name]):.3f})")
    overall = paired_ratio(trips, "none", "all")
    ok = overall >= GOAL_ALL
    print(f"ratio:    none/all: {overall:.2f}x the round trips, {paired_ratio(times, 'none', 'all'):.2f}x the time "
          f"({'meets' if ok else 'MISSES'} the goal of >= {GOAL_ALL:.2f}x round trips)")
    for name in SAVINGS:
        variant = f"without {name}"
        share = paired_ratio(trips, variant, "all")
        keep = share >= GOAL_EACH
        ok = ok and keep
        print(f"          {variant}/all: {share:.2f}x the round trips, {paired_ratio(times, variant, 'all'):.2f}x "
              f"the time ({'keep it' if keep else 'DROP it'}: goal >= {GOAL_EACH:.2f}x round trips)")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of every variant (default 7)")
    parser.add_argument("--jobs", type=int, default=400, help="no-op jobs per batch (default 400)")
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1 or arguments.jobs < 4:
        parser.error("--rounds must be at least 1 and --jobs at least 4")
    return run(arguments.rounds, arguments.jobs)


if __name__ == "__main__":
    sys.exit(main())
