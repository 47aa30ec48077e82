"""What the DHgate parsers produce and the fetcher reports.

These types are the contract between the sandbox marketplace, the parsers, the fetcher and the
change detector. They carry no Flask or SQLAlchemy imports so that the parsers can run from the
CLI, the worker or a benchmark without an app.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Literal

MonitorKind = Literal["store", "search", "product"]


class PollOutcome(str, Enum):
    """How a fetch+parse ended. Only ``OK`` and ``GONE`` may change product state."""

    OK = "ok"
    BLOCKED = "blocked"  # Access Denied, challenge, captcha, 403: says nothing about products
    GONE = "gone"  # 404/410 or a not-found page for a product
    UNREACHABLE = "unreachable"  # no answer at all: DNS failure, connection refused or reset
    HTTP_ERROR = "http_error"  # DHgate answered, with an HTTP error (or a response we refused)
    TIMEOUT = "timeout"
    PARSE_ERROR = "parse_error"
    CIRCUIT_OPEN = "circuit_open"  # we did not even try: the host's breaker is open


@dataclass(frozen=True)
class MonitorTarget:
    """A normalised thing to watch: the result of pasting any DHgate URL or keywords."""

    kind: MonitorKind
    dhgate_id: str  # store number, search keywords (normalised), or item code
    url: str  # canonical URL on the configured DHgate host (path + query, host added by fetcher)
    name: str  # a sensible default display name


@dataclass(frozen=True)
class PriceTier:
    """A wholesale quantity tier: buy at least ``min_qty`` (up to ``max_qty``) for ``price``."""

    min_qty: int
    max_qty: int | None
    price: Decimal


@dataclass
class ParsedProduct:
    """One product as seen on a store, search or product page.

    Fields a page does not show are ``None`` (unknown), never a guessed default, so the change
    detector can tell "not shown" from "changed".
    """

    item_code: str
    title: str
    url: str
    image_url: str | None = None
    store_id: str | None = None  # store number when the page shows it
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    currency: str | None = None  # ISO code, e.g. "USD"
    original_price_min: Decimal | None = None
    original_price_max: Decimal | None = None
    unit: str | None = None  # "Piece", "Pair", ...
    min_order: int | None = None
    sold: int | None = None  # "5K+" -> 5000 (lower bound)
    rating: Decimal | None = None  # 0..5
    rating_count: int | None = None
    in_stock: bool | None = None
    delisted: bool = False
    tiers: list[PriceTier] = field(default_factory=list)
    # The seller's positive feedback share (search results show it per product), 0..100.
    # Kept apart from ``rating`` because it rates the seller, not the product.
    feedback_percent: Decimal | None = None


@dataclass
class ParsedPage:
    """A successfully parsed page.

    ``page_index`` is zero-based like DHgate's own pagination; ``page_count`` is the total the
    page announces ("Page 1/87" -> 87) or ``None`` when it does not say.
    """

    kind: MonitorKind
    products: list[ParsedProduct]
    page_index: int = 0
    page_count: int | None = None
    total_results: int | None = None
    # Product cards or records the parser saw but could not read (no item code). A page with
    # skipped entries is incomplete, so products absent from it must not count as missing.
    skipped: int = 0
    # The store's display name when the page shows it (a better default monitor name).
    store_name: str | None = None


class DHgatePageError(Exception):
    """Base class: a page that must not be read as a list of products."""

    outcome: PollOutcome = PollOutcome.PARSE_ERROR


class PageBlocked(DHgatePageError):
    """An anti-bot answer (Access Denied, challenge, captcha). Never means "no products"."""

    outcome = PollOutcome.BLOCKED


class PageGone(DHgatePageError):
    """The product (or store) no longer exists: a not-found page."""

    outcome = PollOutcome.GONE


class PageUnparsable(DHgatePageError):
    """The page is garbled, truncated or its structure changed: we cannot trust what it says."""

    outcome = PollOutcome.PARSE_ERROR


class PageHttpError(DHgatePageError):
    """An HTTP error status the page itself does not explain (500, 502, an odd 404 on search)."""

    outcome = PollOutcome.HTTP_ERROR


class InvalidDHgateInput(ValueError):
    """Raised by URL normalisation with a message that can be shown to the person as is."""
