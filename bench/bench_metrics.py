"""What the request-metrics middleware and /readyz cost, measured under gunicorn.

Two gunicorn servers with the same settings (2 sync workers) serve the full product: one with
the metrics middleware, one without. In interleaved rounds a threaded client sends the same
number of requests to

* ``/hello`` with metrics      vs ``/hello`` without metrics   goal: ratio >= 0.95
* ``/readyz`` (with metrics)   vs ``/hello`` (with metrics)    goal: ratio >= 0.80

and prints the medians and ratios. Under gunicorn every request also pays for the connection and
the server, so it also times the two apps' WSGI calls in this process (no network), interleaved
the same way, and prints the middleware's own cost per request in microseconds.

Stores: SQLite and an embedded Redis in a temporary folder (or BENCH_DATABASE_URL /
BENCH_REDIS_URL).

    python bench/bench_metrics.py [--rounds 15] [--requests 1000] [--concurrency 4]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402 - needs the project on sys.path
    BenchStores,
    GunicornServer,
    Variant,
    command_line,
    interleave,
    paired_ratio,
    summarize,
)
from bench.results import Check, emit  # noqa: E402 - needs the project on sys.path

GOAL_MIDDLEWARE = 0.95
GOAL_READYZ = 0.80


def in_process_cost(env: dict[str, str], pairs: int = 100, batch: int = 200) -> tuple[float, float]:
    """Microseconds of one ``/hello`` WSGI call without the middleware, and what the middleware
    adds: the median of paired differences between short adjacent batches (pairs alternate
    which app goes first), which cancels the machine's drift far better than two long runs."""
    from werkzeug.test import EnvironBuilder

    os.environ.update(env)
    from bench.apps import with_metrics, without_metrics

    measured, bare = with_metrics(), without_metrics()
    environ = EnvironBuilder(path="/hello").get_environ()

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        return None

    def time_calls(app: object, n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            body = app(dict(environ), start_response)  # type: ignore[operator]
            b"".join(body)
            body.close()
        return (time.perf_counter() - started) / n * 1e6

    time_calls(measured, 500)
    time_calls(bare, 500)
    differences, baseline = [], []
    for pair in range(pairs):
        if pair % 2:
            with_us, without_us = time_calls(measured, batch), time_calls(bare, batch)
        else:
            without_us, with_us = time_calls(bare, batch), time_calls(measured, batch)
        differences.append(with_us - without_us)
        baseline.append(without_us)
    return statistics.median(baseline), statistics.median(differences)


def run(rounds: int, requests: int, concurrency: int, workers: int) -> int:
    with BenchStores() as stores:
        env = stores.env()
        with GunicornServer("bench.apps:with_metrics()", env, workers=workers) as measured, \
                GunicornServer("bench.apps:without_metrics()", env, workers=workers) as bare:
            variants = [
                Variant("hello (metrics on)", measured.url, "/hello"),
                Variant("hello (metrics off)", bare.url, "/hello"),
                Variant("readyz (metrics on)", measured.url, "/readyz"),
            ]
            results = interleave(variants, rounds=rounds, requests=requests, concurrency=concurrency)
            server_command = " ".join(measured.command[1:])
        bare_us, added_us = in_process_cost(env)
    middleware = paired_ratio(results, "hello (metrics on)", "hello (metrics off)")
    readyz = paired_ratio(results, "readyz (metrics on)", "hello (metrics on)")
    print(f"command:   {command_line()}")
    print(f"server:    gunicorn {server_command}")
    print(f"load:      {rounds} interleaved rounds x {requests} requests, {concurrency} client threads, one connection per request")
    print(summarize(results))
    print(f"in process: /hello WSGI call {bare_us:.1f} us without metrics; the middleware adds "
          f"{added_us:+.1f} us ({100 * added_us / bare_us:+.1f} %; median of paired batch differences)")
    print("ratios are medians of the per-round ratios (each round measures the variants back to back)")
    print(f"middleware ratio: {middleware:.3f}  ({'meets' if middleware >= GOAL_MIDDLEWARE else 'MISSES'} the goal of >= {GOAL_MIDDLEWARE})")
    print(f"readyz ratio:     {readyz:.3f}  ({'meets' if readyz >= GOAL_READYZ else 'MISSES'} the goal of >= {GOAL_READYZ})")
    checks = [Check("/hello with metrics / without (req/s)", middleware, ">=", GOAL_MIDDLEWARE),
              Check("/readyz / /hello (req/s)", readyz, ">=", GOAL_READYZ)]
    emit("metrics", checks)
    return 0 if all(check.passed for check in checks) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=1000, help="requests per variant and round")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server")
    args = parser.parse_args(argv)
    if min(args.rounds, args.requests, args.concurrency, args.workers) < 1:
        parser.error("every count must be at least 1")
    return run(args.rounds, args.requests, args.concurrency, args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
