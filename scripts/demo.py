"""The offline demo: a local DHgate imitation that changes by itself, and a member watching it.

Three commands, all idempotent and safe to run again:

* ``python scripts/demo.py sandbox [--port 8700] [--seed 1] [--stores 12] [--evolve-every 20]``
  serves the sandbox marketplace in the foreground. Every ``--evolve-every`` seconds it lists new
  products, moves prices, sells out and restocks, so there is always something to notice. It
  also plays the affiliate network: ``--conversion-share`` of the tracked clicks that land on it
  become orders, pushed as signed postbacks to ``--postback-url`` (default
  ``$BASE_URL/affiliate/postback`` when ``AFFILIATE_POSTBACK_SECRET`` is set, as ``make demo`` does).
* ``python scripts/demo.py mailsink --port 8725 --folder instance/demo/mail`` runs a local SMTP
  server (aiosmtpd) in the foreground that keeps every message it receives in a Maildir; the
  demo's ``MAIL_*`` settings point at it and ``/demo/mail`` shows what it holds.
* ``python scripts/demo.py prepare --sandbox-url http://127.0.0.1:8700 [--seed 1] [--stores 12]``
  creates (or refreshes) the member ``demo@example.com`` with two store monitors, a search and a
  product, and prints a short banner: where to sign in, as whom, and what happens next. It does
  not need the sandbox running: the marketplace is deterministic for a seed, so the store
  numbers and item codes are worked out locally.

``make demo`` (``scripts/run_all.py --demo``) runs all three in an instance folder of its own
(``instance/demo/``), so the demo never writes into the database of ``make run``.

The demo member is on the "business" tier and its monitors poll every 20 s, below every tier's
minimum: only this script sets that, directly on the rows, for the demo's sake.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as ``python scripts/demo.py``: the project is one level up

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy.exc import OperationalError, ProgrammingError  # noqa: E402

from app import create_app  # noqa: E402
from config import ConfigError  # noqa: E402
from extensions import db  # noqa: E402
from models import Keyword, Monitor  # noqa: E402
from sandbox import Catalog, run_sandbox  # noqa: E402
from services.accounts import create_user, find_user, set_password  # noqa: E402
from services.demo_mail import store as store_mail  # noqa: E402
from services.dhgate.urls import product_target, search_target, store_target  # noqa: E402
from services.notifications.channels import add_email_channel, list_channels  # noqa: E402

DEMO_EMAIL = "demo@example.com"
DEMO_USERNAME = "demo"
DEFAULT_PASSWORD = "demo-sandbox-password"
DEMO_INTERVAL = 20  # seconds; the demo scheduler looks for due monitors every 10 s
DEMO_KEYWORDS = ("wireless", "led")
SEARCH_CANDIDATES = ("led strip", "wireless earbuds", "phone case", "running shoes", "led", "wireless")
PRODUCTS_PER_STORE = 40  # what run_sandbox serves


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sandbox = commands.add_parser("sandbox", help="serve the sandbox marketplace in the foreground")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8700)
    sandbox.add_argument("--seed", type=int, default=1)
    sandbox.add_argument("--stores", type=int, default=12)
    sandbox.add_argument("--evolve-every", type=float, default=10.0, metavar="SECONDS")
    sink = commands.add_parser("mailsink", help="receive the demo's e-mails on a local SMTP server")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=8725)
    sink.add_argument("--folder", required=True, help="the Maildir the messages are kept in")
    sandbox.add_argument("--conversion-share", type=float, default=0.5,
                         help="share of tracked clicks the sandbox's affiliate network turns into orders")
    sandbox.add_argument("--postback-url", default=_default_postback_url(),
                         help="where the network pushes its orders (default: BASE_URL/affiliate/postback "
                              "when AFFILIATE_POSTBACK_SECRET is set)")
    sandbox.add_argument("--postback-secret", default=os.environ.get("AFFILIATE_POSTBACK_SECRET"))
    prepare = commands.add_parser("prepare", help="create the demo member and its monitors")
    prepare.add_argument("--sandbox-url", default="http://127.0.0.1:8700")
    prepare.add_argument("--seed", type=int, default=1)
    prepare.add_argument("--stores", type=int, default=12)
    prepare.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", DEFAULT_PASSWORD))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "sandbox":
        run_sandbox(args.host, args.port, args.seed, args.stores, args.evolve_every or None,
                    postback_url=args.postback_url, postback_secret=args.postback_secret,
                    conversion_share=args.conversion_share)
        return 0
    if args.command == "mailsink":
        return run_mail_sink(args.host, args.port, args.folder)
    return prepare(args)


# ---------------------------------------------------------------------------------- mail sink


class MaildirSink:
    """aiosmtpd handler: every message it accepts is kept in the demo's Maildir."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        store_mail(self.folder, envelope.content, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def start_mail_sink(host: str, port: int, folder: str) -> Controller:
    """The SMTP server in a thread of this process (the tests use it the same way)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    controller = Controller(MaildirSink(folder), hostname=host, port=port)
    controller.start()
    return controller


def run_mail_sink(host: str, port: int, folder: str) -> int:
    controller = start_mail_sink(host, port, folder)
    print(f"demo: mail sink on smtp://{host}:{port}, keeping mails in {folder}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0
def _default_postback_url() -> str | None:
    base = os.environ.get("BASE_URL")
    return f"{base.rstrip('/')}/affiliate/postback" if base and os.environ.get("AFFILIATE_POSTBACK_SECRET") else None


# ----------------------------------------------------------------------------------- prepare


def demo_targets(seed: int, stores: int) -> list[dict[str, Any]]:
    """The demo's monitors, picked from the marketplace the sandbox builds for this seed."""
    if stores < 3:
        raise SystemExit("demo: the sandbox needs at least 3 stores")
    catalog = Catalog(seed=seed, stores=stores, products_per_store=PRODUCTS_PER_STORE)
    store_ids = catalog.store_ids()
    targets: list[dict[str, Any]] = []
    for store_id in store_ids[:2]:
        info = catalog.store(store_id)
        target = store_target(store_id)
        targets.append({"target": target, "name": f"Store: {info.name if info else store_id}"})
    keyword = next((k for k in SEARCH_CANDIDATES if 0 < catalog.search(k).total <= 200), SEARCH_CANDIDATES[-1])
    targets.append({"target": search_target(keyword), "name": f"Search: {keyword}"})
    product = next(p for p in catalog.products(store_ids[2]) if p.in_stock)
    targets.append({
        "target": product_target(product.item_code, product.slug),
        "name": product.title[:100],
        "target_price": (product.price_min * Decimal("0.9")).quantize(Decimal("0.01")),
    })
    return targets


def prepare(args: argparse.Namespace) -> int:
    """Create or refresh the demo member and its monitors, then print the demo's banner."""
    try:
        app = create_app()
    except ConfigError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    targets = demo_targets(args.seed, args.stores)
    with app.app_context():  # outside a request, messages are in the default language
        try:
            _ensure_demo(args.password, targets)
        except (OperationalError, ProgrammingError) as exc:
            print(f"demo: the database is not ready ({type(exc).__name__}); run `make migrate` first",
                  file=sys.stderr)
            return 1
        except ValueError as exc:  # AccountError: e.g. a DEMO_PASSWORD that is too short
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        base_url = app.config["BASE_URL"]
        instance = app.instance_path
    print(banner(base_url, args.password, targets, args.sandbox_url, instance))
    return 0


def banner(base_url: str, password: str, targets: list[dict[str, Any]], sandbox_url: str, instance: str) -> str:
    """What a person needs to start: where to go, how to sign in, what they are looking at."""
    kinds = [item["target"].kind for item in targets]
    plural = {"store": "stores", "search": "searches", "product": "products"}
    watching = ", ".join(f"{kinds.count(kind)} {plural.get(kind, kind) if kinds.count(kind) > 1 else kind}"
                         for kind in dict.fromkeys(kinds))
    return "\n".join((
        "DHgate Monitor demo",
        f"open      {base_url.rstrip('/')}/auth/login",
        f"sign in   {DEMO_EMAIL} / {password}",
        f"watching  {len(targets)} monitors ({watching}), each checked every {DEMO_INTERVAL} s,",
        f"          on a pretend DHgate at {sandbox_url}: it lists new products, moves prices",
        "          and sells out every few seconds, so changes show up within a minute",
        f"mail      {base_url.rstrip('/')}/demo/mail shows the e-mails it sends (to a local mail sink)",
        "affiliate click “View on DHgate” on a product: the pretend DHgate notes the click and turns",
        "          half of them into orders, pushed back within a minute; see Affiliate for clicks",
        "          and commission",
        f"data      {instance} (apart from `make run`)",
    ))


def _ensure_demo(password: str, targets: list[dict[str, Any]]) -> tuple[str, list[str]]:
    user = find_user(DEMO_EMAIL)
    if user is None:
        user = create_user(DEMO_EMAIL, DEMO_USERNAME, password, subscription_tier="business", commit=False)
        db.session.flush()
    else:
        set_password(user, password, commit=False)
        user.subscription_tier = "business"
        user.is_active = True
    lines: list[str] = []
    now = datetime.now(UTC)
    for item in targets:
        target = item["target"]
        monitor = db.session.query(Monitor).filter_by(user_id=user.id, kind=target.kind,
                                                      dhgate_id=target.dhgate_id).one_or_none()
        if monitor is None:
            monitor = Monitor(user_id=user.id, kind=target.kind, dhgate_id=target.dhgate_id, url=target.url,
                              name=item["name"], next_poll_at=now)
            db.session.add(monitor)
        monitor.poll_interval = DEMO_INTERVAL
        monitor.active = True
        if monitor.next_poll_at is None or monitor.next_poll_at > now:
            monitor.next_poll_at = now
        if item.get("target_price") is not None:
            monitor.target_price = item["target_price"]
        db.session.flush()
        lines.append(f"#{monitor.id} {target.kind} {target.dhgate_id} ({monitor.name}), every {DEMO_INTERVAL} s")
    existing = {k.term for k in db.session.query(Keyword).filter_by(user_id=user.id, monitor_id=None)}
    for term in DEMO_KEYWORDS:
        if term not in existing:
            db.session.add(Keyword(user_id=user.id, term=term))
    db.session.commit()
    if not any(channel.kind == "email" for channel in list_channels(user.id)):
        add_email_channel(user)  # alerts are mailed to the demo's mail sink
    return user.username, lines


if __name__ == "__main__":
    sys.exit(main())
