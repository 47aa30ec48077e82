"""The paginated monitors list and a monitor's products page at real volume, under gunicorn.

A member with 200 monitors and 10,000 products (50 per monitor, a week of events on a fifth of
them) logs in over HTTP; then, in interleaved rounds with one client thread (so a request's time
is its latency), the same gunicorn server answers

* ``/monitors/``                        (first page of 25)    goal: median <= 100 ms
* ``/monitors/?page=8&sort=last_check`` (the last page)       goal: median <= 100 ms
* ``/monitors/<id>/products``           (first page of 25)    goal: median <= 100 ms
* ``/hello``                            (a trivial route, the yardstick for the ratios printed)

and prints each page's median latency, its size, and its throughput as a share of ``/hello``'s.

Stores: SQLite and an embedded Redis in a temporary folder (or BENCH_DATABASE_URL /
BENCH_REDIS_URL).

    python bench/bench_lists.py [--rounds 9] [--requests 60] [--monitors 200] [--products 50]
"""
from __future__ import annotations

import argparse
import http.client
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402 - needs the project on sys.path
    BenchStores,
    GunicornServer,
    Variant,
    command_line,
    interleave,
    median,
    paired_ratio,
    summarize,
)
from bench.results import Check, emit  # noqa: E402 - needs the project on sys.path

GOAL_MS = 100.0
PASSWORD = "bench password that is long enough"


def prepare_database(env: dict[str, str], monitors: int, products_each: int) -> int:
    """Tables, the member, their monitors, products, links and events; returns a monitor id."""
    import os

    os.environ.update(env)
    from sqlalchemy import insert

    from app import create_app
    from extensions import db
    from models import Monitor, MonitorProduct, Product, ProductEvent
    from services.accounts import create_user

    app = create_app()
    with app.app_context():
        db.drop_all()
        db.create_all()
        user = create_user("bench@example.com", "bench", PASSWORD, subscription_tier="business")
        now = datetime.now(UTC)
        db.session.execute(insert(Monitor), [
            {"user_id": user.id, "kind": "store", "dhgate_id": str(100000 + n), "url": f"/store/{100000 + n}.html",
             "name": f"Store {n:03d}", "last_status": "ok", "last_polled_at": now - timedelta(minutes=n),
             "next_poll_at": now + timedelta(hours=1), "created_at": now - timedelta(days=n), "updated_at": now}
            for n in range(monitors)
        ])
        monitor_ids = list(db.session.scalars(db.select(Monitor.id).order_by(Monitor.id)))
        db.session.execute(insert(Product), [
            {"item_code": f"{m}-{p}", "title": f"Thing {p} of store {m}", "url": f"/product/{m}-{p}.html",
             "price_min": 5 + p % 40, "price_max": 6 + p % 40, "first_price_min": 6 + p % 40, "currency": "USD",
             "status": "listed", "first_seen_at": now - timedelta(days=p % 30), "last_seen_at": now}
            for m in monitor_ids for p in range(products_each)
        ])
        product_ids = {code: pid for pid, code in db.session.execute(db.select(Product.id, Product.item_code))}
        db.session.execute(insert(MonitorProduct), [
            {"monitor_id": m, "product_id": product_ids[f"{m}-{p}"], "first_seen_at": now - timedelta(days=p % 30),
             "last_seen_at": now}
            for m in monitor_ids for p in range(products_each)
        ])
        db.session.execute(insert(ProductEvent), [
            {"monitor_id": m, "product_id": product_ids[f"{m}-{p}"], "kind": "price_drop",
             "dedupe_key": f"{m}-{p}", "created_at": now - timedelta(hours=p)}
            for m in monitor_ids for p in range(0, products_each, 5)
        ])
        db.session.commit()
        db.engine.dispose()
        return monitor_ids[0]


def login_cookie(base_url: str) -> str:
    """Log the member in through the real form; the ``Cookie`` header their browser would send."""
    parts = urlsplit(base_url)

    def request(method: str, path: str, body: str | None = None, cookie: str = "") -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Cookie": cookie} if cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        return connection.getresponse()

    page = request("GET", "/auth/login")
    html = page.read().decode()
    cookie = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or [])
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if match is None:
        raise SystemExit("the login page has no CSRF token")
    form = urlencode({"login": "bench", "password": PASSWORD, "csrf_token": match.group(1)})
    done = request("POST", "/auth/login", form, cookie)
    done.read()
    if done.status != 302:
        raise SystemExit(f"logging in failed: HTTP {done.status}")
    return "; ".join(c.split(";", 1)[0] for c in done.headers.get_all("Set-Cookie") or [])


def page_size(base_url: str, path: str, cookie: str) -> int:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path, headers={"Cookie": cookie})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return len(body)


def run(rounds: int, requests: int, monitors: int, products_each: int, workers: int) -> int:
    with BenchStores() as stores:
        env = stores.env()  # the client copies cookies itself, so "Secure" ones travel over loopback HTTP
        monitor_id = prepare_database(env, monitors, products_each)
        with GunicornServer("bench.apps:with_metrics()", env, workers=workers) as server:
            cookie = login_cookie(server.url)
            last_page = max(1, -(-monitors // 25))
            pages = {
                "monitors list": "/monitors/",
                "monitors list, last page": f"/monitors/?page={last_page}&sort=last_check",
                "products page": f"/monitors/{monitor_id}/products",
            }
            sizes = {name: page_size(server.url, path, cookie) for name, path in pages.items()}
            variants = [Variant(name, server.url, path, headers={"Cookie": cookie}) for name, path in pages.items()]
            variants.append(Variant("hello", server.url, "/hello"))
            results = interleave(variants, rounds=rounds, requests=requests, concurrency=1, warmup=20)
            server_command = " ".join(server.command[1:])
    latency = {name: 1000.0 / median(values) for name, values in results.items()}
    print(f"command:   {command_line()}")
    print(f"server:    gunicorn {server_command}")
    print(f"data:      1 member, {monitors} monitors, {monitors * products_each} products ({products_each} per monitor)")
    print(f"load:      {rounds} interleaved rounds x {requests} requests per page, 1 client thread")
    print(summarize(results))
    for name in pages:
        share = paired_ratio(results, name, "hello")
        print(f"{name:26s} median {latency[name]:6.1f} ms  {sizes[name] / 1024:5.1f} KiB  "
              f"{share:.3f} of /hello's req/s  ({'meets' if latency[name] <= GOAL_MS else 'MISSES'} <= {GOAL_MS:g} ms)")
    checks = [Check(f"{name} median ms", latency[name], "<=", GOAL_MS) for name in pages]
    emit("lists", checks)
    return 0 if all(check.passed for check in checks) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=60, help="requests per page and round")
    parser.add_argument("--monitors", type=int, default=200)
    parser.add_argument("--products", type=int, default=50, help="products per monitor")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    args = parser.parse_args(argv)
    if min(args.rounds, args.requests, args.monitors, args.products, args.workers) < 1:
        parser.error("every count must be at least 1")
    return run(args.rounds, args.requests, args.monitors, args.products, args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
