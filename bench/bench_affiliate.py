"""What the affiliate redirect and the daily rollup cost, each measured against its baseline in one run.

* ``/go/<token>`` vs ``/hello`` under gunicorn          goal: ratio of req/s >= 0.70
  One gunicorn (2 sync workers, the full product with request metrics) serves both routes, so
  both sides have the same server, middleware and connections. The redirect verifies the signed
  token, reads the product and the affiliate settings, and runs the click script in Redis for
  every request (a browser User-Agent, so it is a counted click; a repeat within the dedupe
  window is decided inside that same script, so repeats cost the same round trip).
* ``rollup`` of 1,000,000 clicks and 20,000 orders vs one bare SQL aggregate   goal: <= 1.5x the time
  The rollup (``services.affiliate_rollup.rollup`` over the 90 days: per-month chunks, each
  aggregating clicks and orders, deleting and writing ``affiliate_performance`` and committing)
  against a single SELECT that computes the same per member and day figures over the same rows
  (clicks grouped by member and day, UNION ALL the non-rejected orders joined to their click,
  grouped again) and fetches them. Rows are made by bulk INSERT ... SELECT (a recursive CTE on
  SQLite, generate_series on PostgreSQL), never ORM objects. On SQLite always; on PostgreSQL
  when ``--postgres URL`` (or ``BENCH_POSTGRES_URL``) names a database the bench may wipe.

    python bench/bench_affiliate.py [--rounds 7] [--requests 1000] [--clicks 1000000] [--orders 20000]
                                    [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test_aff]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

from bench.common import (  # noqa: E402 - needs the project on sys.path
    SECRET,
    BenchStores,
    GunicornServer,
    Variant,
    command_line,
    interleave,
    paired_ratio,
    summarize,
)
from bench.results import Check, emit  # noqa: E402 - needs the project on sys.path

GOAL_REDIRECT = 0.70
GOAL_ROLLUP = 1.5
DAYS = 90
USERS = 500
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")
START = datetime(2026, 8, 1, tzinfo=UTC)


def _app(database_url: str, redis_url: str, folder: Path) -> Any:
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                       "INSTANCE_PATH": str(folder / "instance"), "SECRET_KEY": SECRET})


def _fresh_schema(app: Any) -> None:
    from extensions import db

    with app.app_context():
        db.drop_all()
        db.create_all()


# --------------------------------------------------------------------------- the redirect


def redirect_token(app: Any) -> str:
    """One member, monitor and product on a DHgate URL; the signed page link to it."""
    from extensions import db
    from models import Monitor, Product
    from services.accounts import create_user
    from services.affiliate_links import make_token

    with app.app_context():
        user = create_user("bench@example.com", "bench", "bench-password-long-enough")
        monitor = Monitor(user_id=user.id, kind="store", dhgate_id="21880856",
                          url="https://www.dhgate.com/store/21880856", name="bench store")
        db.session.add(monitor)
        db.session.flush()
        product = Product(item_code="1000001", title="bench lamp",
                          url="https://www.dhgate.com/product/bench-lamp/1000001.html")
        db.session.add(product)
        db.session.commit()
        return make_token(user.id, product.id, monitor.id, "page")


def bench_redirect(rounds: int, requests: int, concurrency: int, workers: int) -> tuple[float, str]:
    with BenchStores() as stores:
        app = _app(stores.database_url, stores.redis_url, stores.folder)
        _fresh_schema(app)
        token = redirect_token(app)
        env = stores.env(AFFILIATE_ID="bench-affiliate")
        with GunicornServer("bench.apps:with_metrics()", env, workers=workers) as server:
            headers = {"User-Agent": BROWSER}
            variants = [Variant("/hello", server.url, "/hello", headers=headers),
                        Variant("/go/<token>", server.url, f"/go/{token}", expected_status=302, headers=headers)]
            results = interleave(variants, rounds=rounds, requests=requests, concurrency=concurrency)
            command = " ".join(server.command[1:])
    print(f"server:    gunicorn {command}")
    print(f"load:      {rounds} interleaved rounds x {requests} requests, {concurrency} client threads, "
          "one connection per request")
    print(summarize(results))
    return paired_ratio(results, "/go/<token>", "/hello"), command


# --------------------------------------------------------------------------- the rollup


def _sqlite_rows(clicks: int, orders: int) -> list[tuple[str, dict[str, Any]]]:
    moment = "strftime('%Y-%m-%d %H:%M:%S', :start, '+' || ((i * 7919) % :span) || ' seconds') || '.000000'"
    order_moment = ("strftime('%Y-%m-%d %H:%M:%S', :start, '+' || (((((i * 37) % :clicks) * 7919) % :span) + 3600)"
                    " || ' seconds') || '.000000'")
    return [
        ("INSERT INTO affiliate_clicks (user_id, clicked_at, click_ref, source) "
         "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :clicks - 1) "
         f"SELECT (i % :users) + 1, {moment}, 'c' || i, 'page' FROM n", {}),
        ("INSERT INTO affiliate_conversions (order_id, click_id, order_value, commission, currency, status, "
         "ordered_at, created_at, updated_at) "
         "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :orders - 1) "
         "SELECT 'o' || i, ((i * 37) % :clicks) + 1, 10 + (i % 90), (10 + (i % 90)) * 0.05, 'USD', "
         "CASE WHEN i % 10 = 0 THEN 'rejected' WHEN i % 10 < 4 THEN 'pending' ELSE 'confirmed' END, "
         f"{order_moment}, :now, :now FROM n", {}),
    ]


def _postgres_rows(clicks: int, orders: int) -> list[tuple[str, dict[str, Any]]]:
    moment = "CAST(:start AS timestamptz) + make_interval(secs => (i * 7919) % :span)"
    order_moment = "CAST(:start AS timestamptz) + make_interval(secs => (((i * 37) % :clicks) * 7919) % :span + 3600)"
    return [
        ("INSERT INTO affiliate_clicks (user_id, clicked_at, click_ref, source) "
         f"SELECT (i % :users) + 1, {moment}, 'c' || i, 'page' FROM generate_series(0::bigint, :clicks - 1) AS i", {}),
        ("INSERT INTO affiliate_conversions (order_id, click_id, order_value, commission, currency, status, "
         "ordered_at, created_at, updated_at) "
         "SELECT 'o' || i, ((i * 37) % :clicks) + 1, 10 + (i % 90), (10 + (i % 90)) * 0.05, 'USD', "
         "CASE WHEN i % 10 = 0 THEN 'rejected' WHEN i % 10 < 4 THEN 'pending' ELSE 'confirmed' END, "
         f"{order_moment}, CAST(:now AS timestamptz), CAST(:now AS timestamptz) "
         "FROM generate_series(0::bigint, :orders - 1) AS i", {}),
    ]


def fill(app: Any, clicks: int, orders: int) -> None:
    """``USERS`` members, then the clicks and orders by bulk SQL (ids start at 1 on a fresh schema)."""
    from extensions import db
    from models import User

    with app.app_context():
        now = datetime.now(UTC)
        db.session.execute(insert(User.__table__), [
            {"email": f"m{n}@example.com", "username": f"m{n}", "password_hash": "x", "role": "member",
             "subscription_tier": "free", "api_quota": 1000, "is_active": True, "theme": "system",
             "timezone": "UTC", "failed_login_count": 0, "must_change_password": False,
             "created_at": now, "updated_at": now} for n in range(USERS)])
        postgres = db.engine.dialect.name == "postgresql"
        statements = _postgres_rows(clicks, orders) if postgres else _sqlite_rows(clicks, orders)
        params = {"clicks": clicks, "orders": orders, "users": USERS, "span": DAYS * 86400,
                  "start": START.isoformat() if postgres else START.strftime("%Y-%m-%d %H:%M:%S"),
                  "now": now.isoformat() if postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f")}
        for sql, extra in statements:
            db.session.execute(text(sql), {**params, **extra})
        db.session.commit()
        if postgres:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        else:
            db.session.execute(text("ANALYZE"))
        counted = db.session.execute(text("SELECT (SELECT count(*) FROM affiliate_clicks), "
                                          "(SELECT count(*) FROM affiliate_conversions)")).one()
        assert tuple(counted) == (clicks, orders), counted


def bare_aggregate_sql(postgres: bool) -> str:
    day = "(CAST({0} AT TIME ZONE 'UTC' AS date))" if postgres else "date({0})"
    click_day, order_day = day.format("c.clicked_at"), day.format("o.ordered_at")
    return (
        "SELECT user_id, day, sum(clicks), sum(orders), sum(revenue), sum(commission) FROM ("
        f" SELECT c.user_id AS user_id, {click_day} AS day, count(*) AS clicks, 0 AS orders, 0 AS revenue,"
        "  0 AS commission FROM affiliate_clicks c"
        "  WHERE c.clicked_at >= :since AND c.clicked_at < :until AND c.user_id IS NOT NULL"
        f"  GROUP BY c.user_id, {click_day}"
        " UNION ALL"
        f" SELECT c.user_id, {order_day}, 0, count(*), sum(o.order_value), sum(o.commission)"
        "  FROM affiliate_conversions o JOIN affiliate_clicks c ON c.id = o.click_id"
        "  WHERE o.ordered_at >= :since AND o.ordered_at < :until AND o.status != 'rejected'"
        "  AND c.user_id IS NOT NULL"
        f"  GROUP BY c.user_id, {order_day}"
        ") AS t GROUP BY user_id, day"
    )


def time_rollup(app: Any, first: date, last: date) -> tuple[float, int]:
    from services.affiliate_rollup import rollup

    with app.app_context():
        started = time.perf_counter()
        report = rollup(first, last)
        return time.perf_counter() - started, report.rows


def time_bare(app: Any, first: date, last: date) -> tuple[float, int]:
    from extensions import db

    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        params = ({"since": since, "until": until} if postgres else
                  {"since": since.strftime("%Y-%m-%d %H:%M:%S.%f"), "until": until.strftime("%Y-%m-%d %H:%M:%S.%f")})
        started = time.perf_counter()
        rows = db.session.execute(text(bare_aggregate_sql(postgres)), params).all()
        elapsed = time.perf_counter() - started
        db.session.rollback()
        return elapsed, len(rows)


def bench_rollup(name: str, database_url: str, rounds: int, clicks: int, orders: int) -> float:
    with BenchStores() as stores:
        app = _app(database_url, stores.redis_url, stores.folder)
        _fresh_schema(app)
        started = time.perf_counter()
        fill(app, clicks, orders)
        print(f"{name}: {clicks:,} clicks and {orders:,} orders of {USERS} members over {DAYS} days "
              f"inserted by bulk SQL in {time.perf_counter() - started:.1f} s")
        first, last = START.date(), START.date() + timedelta(days=DAYS)
        time_rollup(app, first, last)  # warm-up: caches, statistics, the table written once
        time_bare(app, first, last)
        rollups, bares, ratios = [], [], []
        written = fetched = 0
        for round_number in range(rounds):
            if round_number % 2:
                bare, fetched = time_bare(app, first, last)
                took, written = time_rollup(app, first, last)
            else:
                took, written = time_rollup(app, first, last)
                bare, fetched = time_bare(app, first, last)
            rollups.append(took)
            bares.append(bare)
            ratios.append(took / bare)
        with app.app_context():
            from extensions import db

            db.engine.dispose()
    ratio = statistics.median(ratios)
    print(f"{name}: rollup median {statistics.median(rollups):.2f} s ({written} rows written); "
          f"bare aggregate median {statistics.median(bares):.2f} s ({fetched} rows fetched); "
          f"ratio {ratio:.2f} (median of {rounds} paired rounds, order alternating)")
    if written != fetched:
        raise SystemExit(f"{name}: the rollup wrote {written} rows but the bare aggregate found {fetched}")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1000, help="requests per variant and round")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--rollup-rounds", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"),
                        help="a PostgreSQL database the bench may wipe (e.g. .../test_aff)")
    parser.add_argument("--skip-redirect", action="store_true", help="only the rollup part")
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite rollup (e.g. only PostgreSQL)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.requests, args.concurrency, args.workers, args.clicks, args.orders,
           args.rollup_rounds) < 1:
        parser.error("every count must be at least 1")
    print(f"command:   {command_line()}")
    checks: list[Check] = []
    if not args.skip_redirect:
        redirect, _command = bench_redirect(args.rounds, args.requests, args.concurrency, args.workers)
        checks.append(Check("/go/<token> / /hello (req/s)", redirect, ">=", GOAL_REDIRECT))
    if not args.skip_sqlite:
        with BenchStores() as scratch:
            sqlite_url = f"sqlite:///{scratch.folder / 'rollup.db'}"
            sqlite = bench_rollup("sqlite", sqlite_url, args.rollup_rounds, args.clicks, args.orders)
        checks.append(Check("rollup / bare aggregate, SQLite (time)", sqlite, "<=", GOAL_ROLLUP))
    if args.postgres:
        postgres = bench_rollup("postgresql", args.postgres, args.rollup_rounds, args.clicks, args.orders)
        checks.append(Check("rollup / bare aggregate, PostgreSQL (time)", postgres, "<=", GOAL_ROLLUP))
    else:
        print("postgresql: skipped (no --postgres URL / BENCH_POSTGRES_URL)")
    for check in checks:
        print(f"{check.name}: {check.measured:.3f}  ({'meets' if check.passed else 'MISSES'} the goal of "
              f"{check.op} {check.goal})")
    emit("affiliate", checks)
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
