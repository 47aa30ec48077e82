"""What live notifications and e-mail delivery cost, each against its bare baseline, in one run.

1. **Live poll** (``GET /notifications/poll`` answering 304): one gunicorn server (2 sync
   workers) serves the full product with a trivial ``/hello`` route; in interleaved rounds a
   threaded client sends the same number of requests to ``/hello`` and to the poll endpoint as a
   member, the way the page's script asks: the badge's URL with its signed token, no cookies,
   and a current ``If-None-Match`` (the answer is a bodyless 304 after one Redis ``MGET``).
   Goal: poll / hello throughput >= 0.8.
2. **E-mail delivery**: 1,000 grouped alerts (3 events each) queued to a member's e-mail
   channel are delivered by ``deliver_due`` (claim, render both parts in the member's language,
   build the message, send, record each delivery) to a local aiosmtpd server in another
   process; the baseline is a bare ``smtplib`` loop sending the same 1,000 messages, already
   built, over one connection. Rounds alternate which goes first. Goal: ours / bare >= 0.5.

Stores: SQLite and an embedded Redis in a temporary folder (or BENCH_DATABASE_URL /
BENCH_REDIS_URL).

    python bench/bench_notifications.py [--rounds 9] [--requests 1000] [--alerts 1000] [--mail-rounds 3]
"""
from __future__ import annotations

import argparse
import html
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402 - needs the project on sys.path
    BenchStores,
    GunicornServer,
    Variant,
    command_line,
    free_port,
    interleave,
    median,
    paired_ratio,
    summarize,
)
from bench.results import Check, emit  # noqa: E402 - needs the project on sys.path

GOAL_POLL = 0.8
GOAL_MAIL = 0.5
PASSWORD = "bench-password-0123456789"


def _app(env: dict[str, str], **config: Any) -> Any:
    os.environ.update(env)
    from app import create_app

    return create_app(config or None)


def prepare_member(env: dict[str, str], notifications: int = 5) -> tuple[str, str, int]:
    """Tables, a member with a few notifications, logged in through the real form; returns
    the badge's poll URL (with its signed token) from a page, its current ETag and cursor."""
    from extensions import db, get_redis
    from models import Notification
    from services.accounts import create_user

    app = _app(env)
    with app.app_context():
        db.drop_all()
        db.create_all()
        get_redis().flushdb()
        user = create_user("bench@example.com", "bench", PASSWORD)
        for i in range(notifications):
            db.session.add(Notification(user_id=user.id, kind="price_drop", title=f"Price drop {i}",
                                        event_kinds=" price_drop ", dedupe_key=f"bench:{i}"))
        db.session.commit()
        client = app.test_client()
        page = client.get("/auth/login", base_url="https://localhost").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
        response = client.post("/auth/login", base_url="https://localhost",
                               data={"login": "bench", "password": PASSWORD, "csrf_token": token},
                               headers={"Referer": "https://localhost/auth/login"})
        if response.status_code != 302:
            raise SystemExit(f"bench login failed: HTTP {response.status_code}")
        page = client.get("/dashboard", base_url="https://localhost").get_data(as_text=True)
        url = html.unescape(page.split('data-live-badge="', 1)[1].split('"', 1)[0])
        if "t=" not in url:
            raise SystemExit("the page's badge carries no poll token")
        poll = app.test_client().get(url, base_url="https://localhost")  # no cookies, like the page's script
        etag, cursor = poll.headers["ETag"], int(poll.get_json()["cursor"])
        db.engine.dispose()
    return url, etag, cursor


def poll_bench(env: dict[str, str], rounds: int, requests: int, concurrency: int, workers: int) -> float:
    url, etag, cursor = prepare_member(env)
    with GunicornServer("bench.apps:without_metrics()", env, workers=workers) as server:
        variants = [
            Variant("hello", server.url, "/hello"),
            Variant("poll (304)", server.url, f"{url}&since={cursor}", expected_status=304,
                    headers={"If-None-Match": etag, "Accept": "application/json"}),
        ]
        results = interleave(variants, rounds=rounds, requests=requests, concurrency=concurrency)
        server_command = " ".join(server.command[1:])
    ratio = paired_ratio(results, "poll (304)", "hello")
    print(f"server:    gunicorn {server_command}")
    print(f"load:      {rounds} interleaved rounds x {requests} requests, {concurrency} client threads, "
          "one connection per request")
    print(summarize(results))
    print(f"poll 304 / hello: {ratio:.3f}  ({'meets' if ratio >= GOAL_POLL else 'MISSES'} the goal of >= {GOAL_POLL})")
    return ratio


# ------------------------------------------------------------------------------------- e-mail


def prepare_alerts(alerts: int, events_per_alert: int = 3) -> None:
    """A member with an e-mail channel and ``alerts`` grouped alerts, each queued to it."""
    from decimal import Decimal

    from extensions import db
    from models import Delivery, Monitor, Notification, NotificationChannel, Product, ProductEvent, User

    db.drop_all()
    db.create_all()
    user = User(email="mail@example.com", username="mail", password_hash="x")
    db.session.add(user)
    db.session.flush()
    monitor = Monitor(user_id=user.id, kind="store", dhgate_id="21880856", url="/store/21880856", name="longlight508")
    channel = NotificationChannel(user_id=user.id, kind="email", target=user.email)
    db.session.add_all([monitor, channel])
    db.session.flush()
    products = [Product(item_code=f"{900000 + i}", title=f"LED lamp <{i}> & shade", url=f"https://dhgate.test/{i}",
                        image_url=f"https://img.dhgate.test/{i}.jpg", currency="USD", price_min=Decimal("40.00"))
                for i in range(50)]
    db.session.add_all(products)
    db.session.flush()
    for a in range(alerts):
        events = [ProductEvent(monitor_id=monitor.id, product_id=products[(a * events_per_alert + e) % 50].id,
                               kind="price_drop", old_value=Decimal("50.00"), new_value=Decimal("40.00"),
                               details={"percent": "20", "currency": "USD"}, dedupe_key=f"bench:{a}:{e}")
                  for e in range(events_per_alert)]
        db.session.add_all(events)
        db.session.flush()
        note = Notification(user_id=user.id, kind="monitor_alert", title=f"longlight508: {events_per_alert} price drops",
                            body="", link=f"/monitors/{monitor.id}", dedupe_key=f"alert:{a}", monitor_id=monitor.id,
                            event_kinds=" price_drop ",
                            details={"monitor_id": monitor.id, "event_ids": [e.id for e in events],
                                     "counts": {"price_drop": events_per_alert}})
        db.session.add(note)
        db.session.flush()
        db.session.add(Delivery(notification_id=note.id, channel="email", target=channel.target,
                                channel_id=channel.id, status="pending"))
    db.session.commit()


def reset_deliveries() -> None:
    from sqlalchemy import update

    from extensions import db
    from models import Delivery, NotificationChannel

    db.session.execute(update(Delivery).values(status="pending", attempts=0, sent_at=None, claimed_until=None,
                                               next_attempt_at=None, last_error=None))
    db.session.execute(update(NotificationChannel).values(consecutive_failures=0, paused_reason=None))
    db.session.commit()


def built_messages() -> list[Any]:
    """The exact e-mails ``deliver_due`` sends, rendered and built once (for the bare loop)."""
    from sqlalchemy import select

    from extensions import db
    from models import Delivery, NotificationChannel, User
    from services.notifications.messages import build_email, render

    messages = []
    for delivery in db.session.scalars(select(Delivery).order_by(Delivery.id)):
        channel = db.session.get(NotificationChannel, delivery.channel_id)
        user = db.session.get(User, delivery.notification.user_id)
        assert channel is not None and user is not None
        messages.append(build_email(delivery, render(delivery.notification, channel, user), "bench@monitor.test"))
    return messages


def bare_send(messages: list[Any], port: int, cpu: list[float] | None = None) -> float:
    started, cpu_started = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for message in messages:
            client.send_message(message)
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    return time.perf_counter() - started


def ours_send(alerts: int, cpu: list[float] | None = None) -> float:
    from services.notifications.sending import deliver_due

    started, cpu_started = time.perf_counter(), time.process_time()
    report = deliver_due(limit=alerts)
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    if report.outcomes != {"sent": alerts}:
        raise SystemExit(f"delivery did not send every alert: {report.outcomes}")
    return elapsed


def mail_bench(env: dict[str, str], alerts: int, rounds: int) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                               "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        app = _app(env, MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USE_SSL=False,
                   MAIL_DEFAULT_SENDER="bench@monitor.test", BASE_URL="http://monitor.test")
        with app.app_context():
            prepare_alerts(alerts)
            messages = built_messages()
            ours: list[float] = []
            bare: list[float] = []
            ours_cpu: list[float] = []  # this process's CPU time (the server's is not counted)
            bare_cpu: list[float] = []
            for round_number in range(rounds):
                reset_deliveries()
                if round_number % 2:
                    bare.append(bare_send(messages, port, bare_cpu))
                    ours.append(ours_send(alerts, ours_cpu))
                else:
                    ours.append(ours_send(alerts, ours_cpu))
                    bare.append(bare_send(messages, port, bare_cpu))
            from extensions import db

            db.engine.dispose()
    finally:
        server.terminate()
        server.wait(timeout=10)
    ratio = median([b / o for b, o in zip(bare, ours, strict=True)])
    print(f"e-mail: {alerts} grouped alerts (3 events each) to aiosmtpd on 127.0.0.1:{port}, {rounds} rounds")
    print(f"  deliver_due    median {alerts / median(ours):8.1f} msg/s   (per round s: "
          f"{', '.join(f'{t:.2f}' for t in ours)})")
    print(f"  bare smtplib   median {alerts / median(bare):8.1f} msg/s   (per round s: "
          f"{', '.join(f'{t:.2f}' for t in bare)})")
    print(f"  CPU of this process per message (median): deliver_due {median(ours_cpu) / alerts * 1000:.2f} ms, "
          f"bare smtplib {median(bare_cpu) / alerts * 1000:.2f} ms")
    print(f"deliver_due / bare smtplib: {ratio:.3f}  "
          f"({'meets' if ratio >= GOAL_MAIL else 'MISSES'} the goal of >= {GOAL_MAIL}; median of per-round ratios)")
    return ratio


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as probe:
                probe.noop()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"aiosmtpd did not answer on port {port}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved HTTP rounds")
    parser.add_argument("--requests", type=int, default=1000, help="requests per variant and round")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--alerts", type=int, default=1000, help="grouped alerts delivered per round")
    parser.add_argument("--mail-rounds", type=int, default=3, help="e-mail rounds")
    args = parser.parse_args(argv)
    if min(args.rounds, args.requests, args.concurrency, args.workers, args.alerts, args.mail_rounds) < 1:
        parser.error("every count must be at least 1")
    print(f"command:   {command_line()}")
    with BenchStores() as stores:
        env = stores.env()
        poll = poll_bench(env, args.rounds, args.requests, args.concurrency, args.workers)
        mail = mail_bench(env, args.alerts, args.mail_rounds)
    checks = [Check("/notifications/poll 304 / /hello (req/s)", poll, ">=", GOAL_POLL),
              Check("deliver_due / bare smtplib (msg/s)", mail, ">=", GOAL_MAIL)]
    emit("notifications", checks)
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
