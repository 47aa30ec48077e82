"""The admin dashboard and the monitor pages at 30 days of volume, under gunicorn.

A fresh database is migrated and filled by ``flask demo seed-volume`` (30 days of minute-grain
request metrics for 50 endpoints, 200 monitors with 10,000 products, 100,000 price points,
50,000 notifications; the seeding time is printed). Two gunicorn servers (2 sync workers each)
serve the full product on it: one with the dashboard's 30-second cache, one with the cache off.

* ``/dashboard/platform`` from its cache vs ``/hello``, interleaved rounds   goal: ratio >= 0.5
  (also printed: vs ``/hello`` sent with the same admin's cookie, which pays the per-request
  session and user lookup every logged-in page pays)
* ``/dashboard/platform`` uncached (every request measures everything)       goal: median <= 300 ms
* the volume member's ``/monitors/`` and one monitor's products page          goal: median <= 100 ms

Latencies are timed one request at a time (median of ``--samples``), interleaved between the
pages so the machine's noise hits each alike. Stores: SQLite and an embedded Redis in a
temporary folder (or BENCH_DATABASE_URL / BENCH_REDIS_URL, which must then be empty).

    python bench/bench_volume.py [--days 30] [--rounds 7] [--requests 300] [--samples 25]
"""
from __future__ import annotations

import argparse
import http.client
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402 - needs the project on sys.path
    BIN,
    PROJECT_ROOT,
    BenchStores,
    GunicornServer,
    Variant,
    command_line,
    interleave,
    paired_ratio,
    summarize,
)
from bench.results import Check, emit  # noqa: E402 - needs the project on sys.path

GOAL_CACHED_RATIO = 0.5
GOAL_UNCACHED_MS = 300.0
GOAL_PAGE_MS = 100.0
FLASK = [str(BIN / "flask"), "--app", "app:create_app"]
PASSWORD = "a volume bench password"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PRODUCTS_LINK = re.compile(r'href="(/monitors/\d+/products)[^"]*"')


def flask(env: Mapping[str, str], *argv: str) -> str:
    done = subprocess.run([*FLASK, *argv], cwd=PROJECT_ROOT, env=dict(env), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(argv[:2])} failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return done.stdout


def request(base_url: str, method: str, path: str, headers: Mapping[str, str] | None = None,
            body: str | None = None) -> tuple[int, dict[str, str], str, list[str]]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        cookies = [value.split(";", 1)[0] for name, value in response.getheaders() if name.lower() == "set-cookie"]
        return response.status, dict(response.getheaders()), text, cookies
    finally:
        connection.close()


def login(base_url: str, username: str) -> str:
    """Log in through the real form; returns the Cookie header of the logged-in browser."""
    status, _, page, cookies = request(base_url, "GET", "/auth/login")
    token = CSRF.search(page)
    if status != 200 or token is None:
        raise SystemExit(f"login page answered {status} without a CSRF token")
    jar = dict(cookie.split("=", 1) for cookie in cookies)
    body = urlencode({"login": username, "password": PASSWORD, "csrf_token": token.group(1)})
    status, _, _, cookies = request(base_url, "POST", "/auth/login", {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
    }, body)
    jar.update(cookie.split("=", 1) for cookie in cookies)
    if status != 302:
        raise SystemExit(f"login of {username} answered {status}")
    # Like a browser, keep what the first page after logging in sets (the session's CSRF secret).
    _, _, _, cookies = request(base_url, "GET", "/dashboard", {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
    jar.update(cookie.split("=", 1) for cookie in cookies)
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def latencies(variants: list[Variant], samples: int) -> dict[str, list[float]]:
    """Milliseconds per request, one request at a time, rotating through the variants."""
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    for variant in variants:  # warm up
        request(variant.base_url, "GET", variant.path, variant.headers)
    for sample in range(samples):
        shift = sample % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            started = time.perf_counter()
            status, _, _, _ = request(variant.base_url, "GET", variant.path, variant.headers)
            times[variant.name].append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"{variant.name}: HTTP {status}")
    return times


def seed(env: Mapping[str, str], days: int) -> float:
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "admin@example.com", "admin", "--admin", "--password", PASSWORD)
    started = time.perf_counter()
    output = flask({**env, "VOLUME_PASSWORD": PASSWORD}, "demo", "seed-volume", "--days", str(days))
    elapsed = time.perf_counter() - started
    print(f"seed:      {output.strip()} in {elapsed:.0f} s")
    return elapsed


def run(days: int, rounds: int, requests: int, samples: int, concurrency: int) -> int:
    with BenchStores() as stores:
        env = stores.env(SESSION_COOKIE_SECURE="false", RATELIMIT_ENABLED="false")
        seed(env, days)
        with GunicornServer("bench.apps:with_metrics()", env) as cached, \
                GunicornServer("bench.apps:with_metrics()", {**env, "DASHBOARD_CACHE_SECONDS": "0"}) as uncached:
            admin = {"Cookie": login(cached.url, "admin")}
            admin_uncached = {"Cookie": login(uncached.url, "admin")}
            member = {"Cookie": login(cached.url, "volume")}
            _, _, monitors_page, _ = request(cached.url, "GET", "/monitors/", member)
            products = PRODUCTS_LINK.search(monitors_page)
            products_path = products.group(1) if products else "/monitors/1/products"
            throughput = interleave([
                Variant("hello", cached.url, "/hello"),
                Variant("hello (logged in)", cached.url, "/hello", headers=admin),
                Variant("dashboard (cached)", cached.url, "/dashboard/platform", headers=admin),
            ], rounds=rounds, requests=requests, concurrency=concurrency, warmup=50)
            times = latencies([
                Variant("dashboard (uncached)", uncached.url, "/dashboard/platform", headers=admin_uncached),
                Variant("monitors list", cached.url, "/monitors/", headers=member),
                Variant("products page", cached.url, products_path, headers=member),
            ], samples)
            server_command = " ".join(cached.command[1:])
    ratio = paired_ratio(throughput, "dashboard (cached)", "hello")
    logged_in_ratio = paired_ratio(throughput, "dashboard (cached)", "hello (logged in)")
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"command:   {command_line()}")
    print(f"server:    gunicorn {server_command}")
    print(f"load:      {rounds} interleaved rounds x {requests} requests, {concurrency} client threads; "
          f"latencies: {samples} sequential requests per page, interleaved")
    print(summarize(throughput))
    for name, values in times.items():
        print(f"  {name:22s} median {medians[name]:7.1f} ms  (min {min(values):.1f}, max {max(values):.1f})")
    print(f"products page measured: {products_path} (as served: whatever pagination it has)")
    print(f"cached dashboard / hello: {ratio:.3f}  ({'meets' if ratio >= GOAL_CACHED_RATIO else 'MISSES'} >= {GOAL_CACHED_RATIO})")
    print(f"cached dashboard / hello sent with the same admin's cookie (every logged-in request loads "
          f"its session and user): {logged_in_ratio:.3f}")
    checks = [
        Check("dashboard cached / hello (req/s)", ratio, ">=", GOAL_CACHED_RATIO),
        Check("dashboard uncached median (ms)", medians["dashboard (uncached)"], "<=", GOAL_UNCACHED_MS),
        Check("monitors list median (ms)", medians["monitors list"], "<=", GOAL_PAGE_MS),
        Check("products page median (ms)", medians["products page"], "<=", GOAL_PAGE_MS),
    ]
    emit("volume", checks)
    return 0 if all(check.passed for check in checks) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--days", type=int, default=30, help="days of volume data")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300, help="requests per variant and round")
    parser.add_argument("--samples", type=int, default=25, help="sequential requests per page for latencies")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    args = parser.parse_args(argv)
    if min(args.days, args.rounds, args.requests, args.samples, args.concurrency) < 1:
        parser.error("every count must be at least 1")
    return run(args.days, args.rounds, args.requests, args.samples, args.concurrency)


if __name__ == "__main__":
    raise SystemExit(main())
