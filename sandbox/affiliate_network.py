"""The sandbox plays DHgate's affiliate network too: it notes our click reference when a tracked
redirect lands on a product page, turns a share of those clicks into orders, serves them as the
network's conversion report (CSV) and can push them as signed postbacks.

Deterministic for a seed: whether a click becomes an order, its quantity, category and final
status all come from ``Random(f"{seed}:{click_ref}")``, so the same clicks always make the same
orders. Orders start ``pending``; ``confirm()`` settles them (most confirmed, some rejected), as
a network does after the return window, so a second import or push shows statuses flipping.

The report's columns are names networks use (``order_number``, ``sub_id``, ``sale_amount``...),
which the product's importer recognises without a mapping. It states no commission: the
product computes it from its category rates. Postbacks are signed the way the product checks
them: HMAC-SHA256 over ``timestamp + "." + body`` with the shared secret. This module imports
nothing of the product (the sandbox rule).
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

CATEGORIES = ("electronics", "fashion", "beauty", "home")
REPORT_COLUMNS = ("order_number", "sub_id", "sale_amount", "currency", "status", "order_date", "product_category")
MAX_REF_LENGTH = 64
REJECTED_SHARE = 0.2  # of the orders, once settled
PUSH_TIMEOUT_SECONDS = 10.0


@dataclass
class Landing:
    click_ref: str
    item_code: str
    price: Decimal
    at: datetime


@dataclass
class Order:
    order_id: str
    click_ref: str
    item_code: str
    value: Decimal
    category: str
    ordered_at: datetime
    status: str = "pending"
    pushed_status: str | None = None  # the status last delivered by postback

    def record(self) -> dict[str, str]:
        """The order as the postback body and the report row carry it (product field names)."""
        return {"order_id": self.order_id, "click_ref": self.click_ref, "order_value": str(self.value),
                "currency": "USD", "status": self.status,
                "ordered_at": self.ordered_at.isoformat(timespec="seconds"), "category": self.category}


class AffiliateNetwork:
    """Landings, the orders they turn into, the report and the postbacks; thread-safe."""

    def __init__(self, seed: int = 1, conversion_share: float = 0.3, ref_param: str = "subid") -> None:
        self.seed = seed
        self.ref_param = ref_param
        self.conversion_share = _share(conversion_share)
        self._lock = threading.Lock()
        self._landings: dict[str, Landing] = {}
        self._orders: dict[str, Order] = {}

    # ------------------------------------------------------------ clicks and orders

    def note_landing(self, click_ref: str | None, item_code: str, price: Decimal,
                     at: datetime | None = None) -> Order | None:
        """A visitor arrived on a product page through a link carrying ``click_ref``; the order
        it turns into (the first time, when the dice say so), else None."""
        ref = (click_ref or "").strip()
        if not ref or len(ref) > MAX_REF_LENGTH:
            return None
        moment = at or datetime.now(UTC)
        with self._lock:
            if ref in self._landings:
                return None  # a reload of the landing page is not a second click
            self._landings[ref] = Landing(ref, item_code, price, moment)
            dice = random.Random(f"{self.seed}:{ref}")
            if dice.random() >= self.conversion_share:
                return None
            quantity = dice.randint(1, 3)
            order = Order(
                order_id="SBX-" + hashlib.sha256(f"{self.seed}:{ref}".encode()).hexdigest()[:12].upper(),
                click_ref=ref, item_code=item_code, value=(price * quantity).quantize(Decimal("0.01")),
                category=dice.choice(CATEGORIES), ordered_at=moment.replace(microsecond=0),
            )
            self._orders[order.order_id] = order
            return order

    def confirm(self) -> dict[str, int]:
        """Settle every pending order: confirmed, or rejected for a (deterministic) share."""
        settled = {"confirmed": 0, "rejected": 0}
        with self._lock:
            for order in self._orders.values():
                if order.status == "pending":
                    dice = random.Random(f"{self.seed}:{order.click_ref}:settle")
                    order.status = "rejected" if dice.random() < REJECTED_SHARE else "confirmed"
                    settled[order.status] += 1
        return settled

    def configure(self, conversion_share: Any = None, ref_param: Any = None) -> None:
        with self._lock:
            if conversion_share is not None:
                self.conversion_share = _share(conversion_share)
            if ref_param is not None:
                if not isinstance(ref_param, str) or not ref_param.strip():
                    raise ValueError("ref_param must be a query parameter name")
                self.ref_param = ref_param.strip()

    def reset(self) -> None:
        with self._lock:
            self._landings.clear()
            self._orders.clear()

    def orders(self) -> list[Order]:
        with self._lock:
            return sorted(self._orders.values(), key=lambda o: (o.ordered_at, o.order_id))

    def state(self) -> dict[str, Any]:
        orders = self.orders()
        with self._lock:
            landings = len(self._landings)
        return {"seed": self.seed, "conversion_share": self.conversion_share, "ref_param": self.ref_param,
                "landings": landings, "orders": [o.record() for o in orders]}

    # ------------------------------------------------------------ the report and postbacks

    def report_csv(self) -> str:
        """The conversion report, as the network's export offers it."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(REPORT_COLUMNS)
        for order in self.orders():
            writer.writerow([order.order_id, order.click_ref, order.value, "USD", order.status,
                             order.ordered_at.isoformat(timespec="seconds"), order.category])
        return out.getvalue()

    def push(self, url: str, secret: str, *, all_orders: bool = False,
             min_age_seconds: float = 0.0) -> list[dict[str, Any]]:
        """POST each order whose status has not been delivered yet (every order with
        ``all_orders``) to ``url``, signed with ``secret``; what each answered. Orders younger
        than ``min_age_seconds`` wait (a network reports with a delay, and the click it names
        has time to reach the product's database)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError("the postback url must be http(s)")
        if not secret:
            raise ValueError("the postback secret is required")
        results = []
        now = datetime.now(UTC)
        for order in self.orders():
            if not all_orders and order.pushed_status == order.status:
                continue
            if (now - order.ordered_at).total_seconds() < min_age_seconds:
                continue
            status, answer = send_postback(url, secret, order.record())
            if 200 <= status < 300:
                order.pushed_status = order.status
            results.append({"order_id": order.order_id, "status": status, "answer": answer})
        return results


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def send_postback(url: str, secret: str, record: dict[str, str]) -> tuple[int, Any]:
    """One signed postback; (HTTP status, decoded answer), status 0 when unreachable."""
    body = json.dumps(record, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Affiliate-Timestamp": timestamp,
        "X-Affiliate-Signature": "sha256=" + sign(secret, timestamp, body)})
    try:
        with urllib.request.urlopen(request, timeout=PUSH_TIMEOUT_SECONDS) as response:  # noqa: S310 (http(s) only)
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _decode(exc.read())
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:200]


def _share(value: Any) -> float:
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"conversion_share must be a number from 0 to 1, got {value!r}") from None
    if not 0 <= share <= 1:
        raise ValueError(f"conversion_share must be a number from 0 to 1, got {value!r}")
    return share


class Pusher:
    """Pushes the network's new and settled orders every ``every`` seconds (the demo's network)."""

    def __init__(self, network: AffiliateNetwork, url: str, secret: str, every: float, delay: float) -> None:
        self.network, self.url, self.secret, self.every, self.delay = network, url, secret, every, delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-affiliate-pusher", daemon=True)

    def start(self) -> Pusher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=PUSH_TIMEOUT_SECONDS + 1)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.network.push(self.url, self.secret, min_age_seconds=self.delay)
