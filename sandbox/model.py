"""The sandbox marketplace's data model: what a store, a listing and a change are.

These are plain values shared by every other part of the sandbox (generation, evolution, the
catalog's reading and scripted changes, and the page renderers), so they live apart from the
code that creates and changes them: a renderer can import what a product is without pulling in
how a marketplace is generated. Money is Decimal throughout, never float, so a price a test sets
is exactly the price a page shows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

CENT = Decimal("0.01")
STORE_PAGE_SIZE = 24  # DHgate store tabs show 24 cards per page by default
SEARCH_PAGE_SIZE = 40
STORE_TABS: tuple[str, ...] = ("products", "top-selling", "sale-items")
LAST_TIER_END_QTY = 1_000_000  # the real page data closes the last quantity tier with this
MAX_STORES = 5_000
MAX_PRODUCTS_PER_STORE = 2_000


class ProductStatus(str, Enum):
    """Where a listing is in its life: shown, hidden but answering, or gone (HTTP 410)."""

    LISTED = "listed"
    DELISTED = "delisted"  # product page still answers, with istate false
    REMOVED = "removed"  # product page answers 410


class CatalogError(ValueError):
    """A change the catalog refuses; the message can be shown to a person as is."""


class UnknownStore(CatalogError, LookupError):
    """No store with that number exists in the sandbox."""


class UnknownProduct(CatalogError, LookupError):
    """No product with that item code exists in the sandbox."""


@dataclass(frozen=True)
class Tier:
    """A wholesale quantity tier as the product page data lists it."""

    min_qty: int
    max_qty: int | None  # None: open-ended (rendered as LAST_TIER_END_QTY like the real site)
    price: Decimal  # what the buyer pays
    original_price: Decimal  # the list price before a sale (equal to price when not on sale)


@dataclass
class SandboxProduct:
    """One listing. Prices are the current selling prices; ``original_*`` is set while on sale."""

    item_code: str
    store_id: str
    title: str
    price_min: Decimal
    price_max: Decimal
    original_min: Decimal | None = None
    original_max: Decimal | None = None
    unit: str = "Piece"
    min_order: int = 1
    sold: int = 0
    rating: Decimal | None = None  # 0..5, one decimal; None while nobody reviewed it
    rating_count: int = 0
    in_stock: bool = True
    status: ProductStatus = ProductStatus.LISTED
    listed_seq: int = 0  # order of listing: higher is newer
    status_step: int = 0  # catalog step at which ``status`` last changed

    @property
    def slug(self) -> str:
        """The URL slug DHgate derives from the first words of the title."""
        return slug_for(self.title)

    @property
    def on_sale(self) -> bool:
        """True while a list price above the selling price is shown (``li.costprice``)."""
        return self.original_min is not None

    @property
    def tiers(self) -> list[Tier]:
        """Quantity tiers consistent with the price range: the first tier costs ``price_max``,
        the last ``price_min``, so a page's tiers and its headline range always agree."""
        original_min = self.original_min if self.original_min is not None else self.price_min
        original_max = self.original_max if self.original_max is not None else self.price_max
        if self.price_min == self.price_max:
            return [Tier(self.min_order, None, self.price_min, original_min)]
        second = self.min_order * 10 if self.min_order > 1 else 10
        third = second * 5
        return [
            Tier(self.min_order, second - 1, self.price_max, original_max),
            Tier(second, third - 1, money((self.price_min + self.price_max) / 2),
                 money((original_min + original_max) / 2)),
            Tier(third, None, self.price_min, original_min),
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (money as strings) for the control API and change records."""
        return {
            "item_code": self.item_code,
            "store_id": self.store_id,
            "title": self.title,
            "slug": self.slug,
            "price_min": str(self.price_min),
            "price_max": str(self.price_max),
            "original_min": str_or_none(self.original_min),
            "original_max": str_or_none(self.original_max),
            "unit": self.unit,
            "min_order": self.min_order,
            "sold": self.sold,
            "rating": str_or_none(self.rating),
            "rating_count": self.rating_count,
            "in_stock": self.in_stock,
            "status": self.status.value,
            "tiers": [
                {"min_qty": t.min_qty, "max_qty": t.max_qty, "price": str(t.price),
                 "original_price": str(t.original_price)}
                for t in self.tiers
            ],
        }


@dataclass
class SandboxStore:
    """A seller's store; ``item_codes`` keeps every listing it ever had, in listing order."""

    store_id: str
    name: str
    supplier_id: str
    positive_feedback: Decimal
    transactions: int
    categories: tuple[str, ...]
    item_codes: list[str] = field(default_factory=list)

    def info(self) -> StoreInfo:
        """An immutable copy without the product list, safe to hand to other threads."""
        return StoreInfo(self.store_id, self.name, self.supplier_id, self.positive_feedback,
                         self.transactions)


@dataclass(frozen=True)
class StoreInfo:
    """What a page shows about a store."""

    store_id: str
    name: str
    supplier_id: str
    positive_feedback: Decimal  # percent, e.g. 96.6
    transactions: int


@dataclass(frozen=True)
class StoreListing:
    """One page of a store tab, already clamped to the existing pages."""

    store: StoreInfo
    tab: str
    requested_page: int
    page_index: int
    page_count: int
    total: int
    page_size: int
    products: tuple[SandboxProduct, ...]
    version: int


@dataclass(frozen=True)
class SearchListing:
    """One page of search results; past the last page it is the last page again."""

    keyword: str
    requested_page: int
    page_index: int
    page_count: int
    total: int
    page_size: int
    products: tuple[SandboxProduct, ...]
    stores: dict[str, StoreInfo]
    version: int


@dataclass(frozen=True)
class Change:
    """What one change did, so tests and the change detector's checks can compare exactly."""

    kind: str  # new_store, new_product, price, sale, stock, sold, delisted, relisted, removed
    store_id: str
    item_code: str | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the control API."""
        return {"kind": self.kind, "store_id": self.store_id, "item_code": self.item_code,
                "before": dict(self.before), "after": dict(self.after)}


def money(value: Decimal) -> Decimal:
    """Round to cents the way price tags do (half up)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def slug_for(title: str) -> str:
    """``"Men's Polos Luxury Brand Short Sleeve Polo Shirt"`` -> ``men-s-polos-luxury-brand-short-sleeve``."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words[:7]) or "item"


def title_tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words, as search matches them."""
    return re.findall(r"[a-z0-9]+", text.lower())


def str_or_none(value: Decimal | None) -> str | None:
    """Money as a string for JSON, or None (JSON has no exact decimal type)."""
    return None if value is None else str(value)


def price_view(product: SandboxProduct) -> dict[str, Any]:
    """The price fields of a product, as a change record's before/after shows them."""
    return {"price_min": str(product.price_min), "price_max": str(product.price_max),
            "original_min": str_or_none(product.original_min),
            "original_max": str_or_none(product.original_max)}


def reprice(product: SandboxProduct, low: Decimal, high: Decimal) -> None:
    """New selling range; a sale whose list price would no longer lie above it ends, because a
    "was" price at or below the price charged is no sale."""
    product.price_min, product.price_max = low, high
    if product.original_min is not None and (
        low >= product.original_min or high > (product.original_max or product.original_min)
    ):
        product.original_min = product.original_max = None
