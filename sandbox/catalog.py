"""The sandbox marketplace's data: stores and products generated from a seed, and how they change.

Everything derives from ``random.Random(seed)`` so a test, a demo and a benchmark see the same
marketplace for the same seed. Three separate random streams are used (building, evolving,
scripted additions) so that a scripted ``add_product`` in one test does not shift what
``evolve`` does afterwards.

The catalog is shared between the HTTP server's request threads, the optional background
evolver and the control API, so every public method takes one re-entrant lock and read methods
hand out copies, never the live objects.
"""
from __future__ import annotations

import copy
import math
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any

from .wordlists import (
    BRANDS,
    CATEGORIES,
    STORE_NAME_PREFIXES,
    STORE_NAME_WORDS,
    Category,
)

CENT = Decimal("0.01")
STORE_PAGE_SIZE = 24  # DHgate store tabs show 24 cards per page by default
SEARCH_PAGE_SIZE = 40
STORE_TABS: tuple[str, ...] = ("products", "top-selling", "sale-items")
LAST_TIER_END_QTY = 1_000_000  # the real page data closes the last quantity tier with this
MAX_STORES = 5_000
MAX_PRODUCTS_PER_STORE = 2_000
DELISTED_STEPS_BEFORE_REMOVAL = 2


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
            "original_min": _str_or_none(self.original_min),
            "original_max": _str_or_none(self.original_max),
            "unit": self.unit,
            "min_order": self.min_order,
            "sold": self.sold,
            "rating": _str_or_none(self.rating),
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


def parse_money(value: Any, name: str) -> Decimal:
    """A positive amount in USD from a Decimal, int or numeric string; floats are refused
    because they cannot carry cents exactly."""
    if isinstance(value, (bool, float)):
        raise CatalogError(f"{name} must be a decimal string or Decimal, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CatalogError(f"{name} must be an amount like 12.50, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise CatalogError(f"{name} must be a positive amount, got {value!r}")
    return money(amount)


def slug_for(title: str) -> str:
    """``"Men's Polos Luxury Brand Short Sleeve Polo Shirt"`` -> ``men-s-polos-luxury-brand-short-sleeve``."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words[:7]) or "item"


def title_tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words, as search matches them."""
    return re.findall(r"[a-z0-9]+", text.lower())


def _str_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _as_int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise CatalogError(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise CatalogError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise CatalogError(f"{name} must be at least {minimum}, got {number}")
    return number


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise CatalogError(f"{name} must be true or false, got {value!r}")


def _page_slice(count: int, page: int, size: int) -> tuple[int, int]:
    """(page_index, page_count) with the page clamped into range; an empty list has one page."""
    page_count = max(1, math.ceil(count / size))
    return min(max(page, 0), page_count - 1), page_count


class Catalog:
    """A deterministic, thread-safe marketplace: N stores with products, and their evolution."""

    def __init__(
        self,
        seed: int = 1,
        stores: int = 12,
        products_per_store: int = 40,
        *,
        store_page_size: int = STORE_PAGE_SIZE,
        search_page_size: int = SEARCH_PAGE_SIZE,
    ) -> None:
        self.seed = _as_int(seed, "seed")
        self.store_count = _as_int(stores, "stores")
        self.products_per_store = _as_int(products_per_store, "products_per_store")
        if self.store_count > MAX_STORES:
            raise CatalogError(f"stores must be at most {MAX_STORES}, got {self.store_count}")
        if self.products_per_store > MAX_PRODUCTS_PER_STORE:
            raise CatalogError(f"products_per_store must be at most {MAX_PRODUCTS_PER_STORE}")
        self.store_page_size = _as_int(store_page_size, "store_page_size", minimum=1)
        self.search_page_size = _as_int(search_page_size, "search_page_size", minimum=1)
        self._lock = threading.RLock()
        self._build()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self._build_rng = random.Random(self.seed)
        self._evolve_rng = random.Random(self.seed * 7_919 + 1)
        self._script_rng = random.Random(self.seed * 104_729 + 2)
        self._stores: dict[str, SandboxStore] = {}
        self._products: dict[str, SandboxProduct] = {}
        self._store_names: set[str] = set()
        self._tokens: dict[str, frozenset[str]] = {}
        self._seq = 0
        self._step = 0
        self._version = 1
        for _ in range(self.store_count):
            self._new_store(self._build_rng, self.products_per_store)

    def _new_store(self, rng: random.Random, product_count: int, name: str | None = None) -> SandboxStore:
        store_id = str(rng.randint(10_000_000, 29_999_999))
        while store_id in self._stores:
            store_id = str(rng.randint(10_000_000, 29_999_999))
        store = SandboxStore(
            store_id=store_id,
            name=name or self._new_store_name(rng),
            supplier_id=f"{rng.getrandbits(128):032x}",
            positive_feedback=Decimal(rng.randint(900, 1000)).scaleb(-1),
            transactions=rng.randint(50, 60_000),
            categories=tuple(c.name for c in rng.sample(CATEGORIES, 2)),
        )
        self._stores[store_id] = store
        self._store_names.add(store.name)
        for _ in range(product_count):
            self._new_product(rng, store)
        return store

    def _new_store_name(self, rng: random.Random) -> str:
        while True:
            name = rng.choice(STORE_NAME_PREFIXES) + rng.choice(STORE_NAME_WORDS)
            if rng.random() < 0.4:
                name += str(rng.randint(1, 999))
            if name not in self._store_names:
                return name

    def _new_item_code(self, rng: random.Random) -> str:
        code = str(rng.randint(300_000_000, 999_999_999))
        while code in self._products:
            code = str(rng.randint(300_000_000, 999_999_999))
        return code

    def _new_product(self, rng: random.Random, store: SandboxStore) -> SandboxProduct:
        category = _category(rng.choice(store.categories))
        low, high = (int(Decimal(bound) * 100) for bound in category.price_band)
        price_min = Decimal(rng.randint(low, high)).scaleb(-2)
        spread = rng.choice((0, 0, 0, 5, 12, 25, 60, 100))
        price_max = money(price_min * (100 + spread) / 100)
        original_min = original_max = None
        if rng.random() < 0.3:
            keep = Decimal(100 - rng.choice((15, 20, 30, 40, 50, 55))) / 100
            original_min, original_max = money(price_min / keep), money(price_max / keep)
        sold = min(60_000, int(rng.paretovariate(1.1) * 8) - 8)
        rating_count = rng.randint(0, max(1, sold // 3)) if sold else 0
        self._seq += 1
        product = SandboxProduct(
            item_code=self._new_item_code(rng),
            store_id=store.store_id,
            title=_compose_title(rng, category),
            price_min=price_min,
            price_max=price_max,
            original_min=original_min,
            original_max=original_max,
            unit=rng.choice(category.units),
            min_order=rng.choice((1, 1, 1, 1, 2, 2, 5, 10, 20, 50, 100)),
            sold=sold,
            rating=Decimal(rng.randint(38, 50)).scaleb(-1) if rating_count else None,
            rating_count=rating_count,
            in_stock=rng.random() > 0.05,
            listed_seq=self._seq,
            status_step=self._step,
        )
        self._products[product.item_code] = product
        store.item_codes.append(product.item_code)
        return product

    # ------------------------------------------------------------------ reading

    @property
    def version(self) -> int:
        """Bumped by every change; pages rendered for one version stay valid until it moves."""
        with self._lock:
            return self._version

    @property
    def step(self) -> int:
        """How many evolution steps have run since the catalog was built or reset."""
        with self._lock:
            return self._step

    def store_ids(self) -> list[str]:
        """Store numbers in creation order."""
        with self._lock:
            return list(self._stores)

    def store(self, store_id: str) -> StoreInfo | None:
        """The store, or None when the sandbox has no such store."""
        with self._lock:
            store = self._stores.get(str(store_id))
            return store.info() if store else None

    def product(self, item_code: str) -> SandboxProduct | None:
        """A copy of the product in any status, or None when it never existed."""
        with self._lock:
            product = self._products.get(str(item_code))
            return copy.copy(product) if product else None

    def products(self, store_id: str | None = None,
                 statuses: Iterable[ProductStatus] | None = None) -> list[SandboxProduct]:
        """Copies of products (all stores, or one), in listing order, optionally by status."""
        wanted = set(statuses) if statuses is not None else None
        with self._lock:
            if store_id is None:
                pool: Iterable[SandboxProduct] = self._products.values()
            else:
                pool = (self._products[c] for c in self._require_store(store_id).item_codes)
            return [copy.copy(p) for p in pool if wanted is None or p.status in wanted]

    def store_listing(self, store_id: str, tab: str = "products", page: int = 0) -> StoreListing | None:
        """One page of a store tab (zero-based ``page``, clamped), or None for an unknown store."""
        if tab not in STORE_TABS:
            raise CatalogError(f"tab must be one of {', '.join(STORE_TABS)}, got {tab!r}")
        with self._lock:
            store = self._stores.get(str(store_id))
            if store is None:
                return None
            items = self._tab_items(store, tab)
            page_index, page_count = _page_slice(len(items), page, self.store_page_size)
            start = page_index * self.store_page_size
            return StoreListing(
                store=store.info(), tab=tab, requested_page=page, page_index=page_index,
                page_count=page_count, total=len(items), page_size=self.store_page_size,
                products=tuple(copy.copy(p) for p in items[start:start + self.store_page_size]),
                version=self._version,
            )

    def _tab_items(self, store: SandboxStore, tab: str) -> list[SandboxProduct]:
        listed = [p for p in (self._products[c] for c in store.item_codes)
                  if p.status is ProductStatus.LISTED]
        if tab == "top-selling":
            return sorted(listed, key=lambda p: (-p.sold, -p.listed_seq))
        if tab == "sale-items":
            listed = [p for p in listed if p.on_sale]
        return sorted(listed, key=lambda p: -p.listed_seq)

    def search(self, keyword: str, page: int = 0) -> SearchListing:
        """Listed products whose title has every keyword word as a word prefix, best sellers
        first; a page past the end answers the last page again, as DHgate does."""
        wanted = title_tokens(keyword)
        with self._lock:
            hits = [p for p in self._products.values()
                    if p.status is ProductStatus.LISTED and wanted and self._matches(p, wanted)]
            hits.sort(key=lambda p: (-p.sold, p.item_code))
            page_index, page_count = _page_slice(len(hits), page, self.search_page_size)
            start = page_index * self.search_page_size
            chosen = tuple(copy.copy(p) for p in hits[start:start + self.search_page_size])
            return SearchListing(
                keyword=keyword, requested_page=page, page_index=page_index,
                page_count=page_count, total=len(hits), page_size=self.search_page_size,
                products=chosen, stores={p.store_id: self._stores[p.store_id].info() for p in chosen},
                version=self._version,
            )

    def _matches(self, product: SandboxProduct, wanted: list[str]) -> bool:
        tokens = self._tokens.get(product.item_code)
        if tokens is None:
            tokens = self._tokens[product.item_code] = frozenset(title_tokens(product.title))
        return all(any(t.startswith(w) for t in tokens) for w in wanted)

    def summary(self) -> dict[str, Any]:
        """Counts per store and status for the control API's state answer."""
        with self._lock:
            stores = []
            for store in self._stores.values():
                counts = {s.value: 0 for s in ProductStatus}
                out_of_stock = 0
                for code in store.item_codes:
                    product = self._products[code]
                    counts[product.status.value] += 1
                    out_of_stock += product.status is ProductStatus.LISTED and not product.in_stock
                stores.append({"store_id": store.store_id, "name": store.name,
                               "supplier_id": store.supplier_id, **counts,
                               "out_of_stock": out_of_stock})
            return {"seed": self.seed, "version": self._version, "step": self._step,
                    "products_total": len(self._products), "stores": stores}

    # ------------------------------------------------------------------ scripted changes

    def add_store(self, name: str | None = None, products: int = 0) -> Change:
        """A new store (default: with no products, the "empty store" case)."""
        count = _as_int(products, "products")
        if count > MAX_PRODUCTS_PER_STORE:
            raise CatalogError(f"products must be at most {MAX_PRODUCTS_PER_STORE}")
        with self._lock:
            if name is not None and (not str(name).strip() or name in self._store_names):
                raise CatalogError(f"store name {name!r} is empty or already taken")
            store = self._new_store(self._script_rng, count, name=name)
            self._version += 1
            return Change("new_store", store.store_id, after={"name": store.name, "products": count})

    def add_product(self, store_id: str, **fields_: Any) -> Change:
        """A new listing in a store; any product field may be given, the rest are generated."""
        unknown = set(fields_) - _SETTABLE_FIELDS
        if unknown:
            raise CatalogError(f"unknown product field(s): {', '.join(sorted(unknown))}; "
                               f"allowed: {', '.join(sorted(_SETTABLE_FIELDS))}")
        with self._lock:
            store = self._require_store(store_id)
            code = fields_.get("item_code")
            if code is not None:
                code = str(code).strip()
                if not re.fullmatch(r"\d{6,12}", code) or code in self._products:
                    raise CatalogError(f"item_code {code!r} must be 6-12 digits and unused")
            generated = self._new_product(self._script_rng, store)
            try:
                product = _apply_fields(copy.copy(generated), fields_)
            except CatalogError:
                self._products.pop(generated.item_code)
                store.item_codes.pop()
                raise
            if product.item_code != generated.item_code:
                self._products.pop(generated.item_code)
                store.item_codes[-1] = product.item_code
            self._products[product.item_code] = product
            self._tokens.pop(product.item_code, None)
            self._version += 1
            return Change("new_product", store.store_id, product.item_code, after=product.to_dict())

    def set_price(self, item_code: str, price_min: Any, price_max: Any = None) -> Change:
        """New selling price range (a single price when ``price_max`` is omitted). A sale whose
        list price would no longer be above the selling price ends."""
        low = parse_money(price_min, "price_min")
        high = parse_money(price_max, "price_max") if price_max is not None else low
        if high < low:
            raise CatalogError(f"price_max {high} is below price_min {low}")
        with self._lock:
            product = self._require_product(item_code)
            before = _price_view(product)
            _reprice(product, low, high)
            self._version += 1
            return Change("price", product.store_id, product.item_code, before, _price_view(product))

    def set_original_price(self, item_code: str, original_min: Any = None,
                           original_max: Any = None) -> Change:
        """Put a product on sale (list price above the selling price) or end the sale (None)."""
        with self._lock:
            product = self._require_product(item_code)
            before = _price_view(product)
            if original_min is None:
                product.original_min = product.original_max = None
            else:
                low = parse_money(original_min, "original_min")
                high = (parse_money(original_max, "original_max") if original_max is not None
                        else _same_spread(low, product))
                if low <= product.price_min or high < product.price_max or high < low:
                    raise CatalogError("the list price must lie above the selling price range")
                product.original_min, product.original_max = low, high
            self._version += 1
            return Change("sale", product.store_id, product.item_code, before, _price_view(product))

    def set_stock(self, item_code: str, in_stock: Any) -> Change:
        """Sold out (False) or available again (True)."""
        available = _as_bool(in_stock, "in_stock")
        with self._lock:
            product = self._require_product(item_code)
            before = {"in_stock": product.in_stock}
            product.in_stock = available
            self._version += 1
            return Change("stock", product.store_id, product.item_code, before, {"in_stock": available})

    def set_sold(self, item_code: str, sold: Any) -> Change:
        """The sold counter the cards show ("5K+")."""
        count = _as_int(sold, "sold")
        with self._lock:
            product = self._require_product(item_code)
            before = {"sold": product.sold}
            product.sold = count
            self._version += 1
            return Change("sold", product.store_id, product.item_code, before, {"sold": count})

    def delist(self, item_code: str) -> Change:
        """Hide the listing: gone from store and search pages, product page says istate false."""
        return self._set_status(item_code, ProductStatus.DELISTED, "delisted")

    def relist(self, item_code: str) -> Change:
        """Bring a delisted (or removed) listing back."""
        return self._set_status(item_code, ProductStatus.LISTED, "relisted")

    def remove(self, item_code: str) -> Change:
        """Delete the listing: its product page answers 410 with the not-found page."""
        return self._set_status(item_code, ProductStatus.REMOVED, "removed")

    def _set_status(self, item_code: str, status: ProductStatus, kind: str) -> Change:
        with self._lock:
            product = self._require_product(item_code)
            before = {"status": product.status.value}
            product.status = status
            product.status_step = self._step
            self._version += 1
            return Change(kind, product.store_id, product.item_code, before, {"status": status.value})

    def change(self, action: str, **params: Any) -> Change:
        """Run a scripted change by name (the control API's entry point)."""
        method = _CHANGE_ACTIONS.get(action)
        if method is None:
            raise CatalogError(f"unknown change {action!r}; known: {', '.join(sorted(_CHANGE_ACTIONS))}")
        try:
            return method(self, **params)
        except TypeError as exc:  # wrong or missing parameters for that change
            raise CatalogError(f"bad parameters for {action}: {exc}") from None

    def reset(self) -> None:
        """Back to the freshly built marketplace for the same seed (version moves on, so no
        page rendered before the reset is served from a cache afterwards)."""
        with self._lock:
            last_version = self._version
            self._build()
            self._version = last_version + 1

    # ------------------------------------------------------------------ evolution

    def evolve(self, steps: int = 1) -> list[Change]:
        """Let time pass: new listings, price moves of 3-30 %, sell-outs and restocks, sales
        counters ticking, delistings, and delisted items disappearing for good (410)."""
        count = _as_int(steps, "steps", minimum=1)
        changes: list[Change] = []
        with self._lock:
            for _ in range(count):
                self._step += 1
                changes.extend(self._evolve_once(self._evolve_rng))
                self._version += 1
        return changes

    def _evolve_once(self, rng: random.Random) -> list[Change]:
        changes: list[Change] = []
        for store in list(self._stores.values()):
            if rng.random() < 0.25:
                product = self._new_product(rng, store)
                product.status_step = self._step
                changes.append(Change("new_product", store.store_id, product.item_code,
                                      after=product.to_dict()))
        for product in list(self._products.values()):
            change = self._evolve_product(rng, product)
            if change is not None:
                changes.append(change)
        return changes

    def _evolve_product(self, rng: random.Random, product: SandboxProduct) -> Change | None:
        if product.status is ProductStatus.REMOVED:
            return None
        if product.status is ProductStatus.DELISTED:
            if self._step - product.status_step >= DELISTED_STEPS_BEFORE_REMOVAL and rng.random() < 0.5:
                product.status, product.status_step = ProductStatus.REMOVED, self._step
                return Change("removed", product.store_id, product.item_code,
                              {"status": "delisted"}, {"status": "removed"})
            return None
        if product.status_step == self._step:  # listed during this very step
            return None
        if not product.in_stock:
            if rng.random() < 0.3:
                product.in_stock = True
                return Change("stock", product.store_id, product.item_code,
                              {"in_stock": False}, {"in_stock": True})
            return None
        roll = rng.random()
        if roll < 0.04:
            before = _price_view(product)
            percent = Decimal(rng.randint(3, 30)) * (1 if rng.random() < 0.5 else -1)
            factor = (100 + percent) / 100
            low = max(CENT, money(product.price_min * factor))
            _reprice(product, low, max(low, money(product.price_max * factor)))
            return Change("price", product.store_id, product.item_code, before, _price_view(product))
        if roll < 0.055:
            product.in_stock = False
            return Change("stock", product.store_id, product.item_code,
                          {"in_stock": True}, {"in_stock": False})
        if roll < 0.062:
            product.status, product.status_step = ProductStatus.DELISTED, self._step
            return Change("delisted", product.store_id, product.item_code,
                          {"status": "listed"}, {"status": "delisted"})
        if roll < 0.25:
            before_sold = product.sold
            product.sold += rng.randint(1, 5 + product.sold // 20)
            return Change("sold", product.store_id, product.item_code,
                          {"sold": before_sold}, {"sold": product.sold})
        return None

    # ------------------------------------------------------------------ helpers

    def _require_store(self, store_id: str) -> SandboxStore:
        store = self._stores.get(str(store_id).strip())
        if store is None:
            raise UnknownStore(f"no store {store_id!r} in the sandbox")
        return store

    def _require_product(self, item_code: str) -> SandboxProduct:
        product = self._products.get(str(item_code).strip())
        if product is None:
            raise UnknownProduct(f"no product {item_code!r} in the sandbox")
        return product


_SETTABLE_FIELDS = frozenset({
    "item_code", "title", "price_min", "price_max", "original_min", "original_max", "unit",
    "min_order", "sold", "rating", "rating_count", "in_stock",
})

_CHANGE_ACTIONS: dict[str, Callable[..., Change]] = {
    "add_store": Catalog.add_store,
    "add_product": Catalog.add_product,
    "set_price": Catalog.set_price,
    "set_original_price": Catalog.set_original_price,
    "set_stock": Catalog.set_stock,
    "set_sold": Catalog.set_sold,
    "delist": Catalog.delist,
    "relist": Catalog.relist,
    "remove": Catalog.remove,
}


def _category(name: str) -> Category:
    return next(c for c in CATEGORIES if c.name == name)


def _compose_title(rng: random.Random, category: Category) -> str:
    parts: list[str] = []
    if rng.random() < 0.25:
        parts.append(rng.choice(BRANDS))
    parts.append(rng.choice(category.heads))
    parts.extend(rng.sample(category.specs, k=rng.randint(2, 3)))
    parts.append(rng.choice(category.tails))
    return " ".join(parts)


def _price_view(product: SandboxProduct) -> dict[str, Any]:
    return {"price_min": str(product.price_min), "price_max": str(product.price_max),
            "original_min": _str_or_none(product.original_min),
            "original_max": _str_or_none(product.original_max)}


def _same_spread(original_min: Decimal, product: SandboxProduct) -> Decimal:
    """A list-price maximum with the same spread as the selling range (sales cut evenly)."""
    return money(original_min * product.price_max / product.price_min)


def _reprice(product: SandboxProduct, low: Decimal, high: Decimal) -> None:
    product.price_min, product.price_max = low, high
    if product.original_min is not None and (
        low >= product.original_min or high > (product.original_max or product.original_min)
    ):
        product.original_min = product.original_max = None


def _apply_fields(product: SandboxProduct, given: dict[str, Any]) -> SandboxProduct:
    """Validated explicit fields over a generated product (prices kept consistent)."""
    if "item_code" in given:
        product.item_code = str(given["item_code"]).strip()
    if "title" in given:
        title = str(given["title"]).strip()
        if not title:
            raise CatalogError("title must not be empty")
        product.title = title
    if "price_min" in given or "price_max" in given:
        low = parse_money(given.get("price_min", given.get("price_max")), "price_min")
        high = parse_money(given["price_max"], "price_max") if "price_max" in given else low
        if high < low:
            raise CatalogError(f"price_max {high} is below price_min {low}")
        product.price_min, product.price_max = low, high
        product.original_min = product.original_max = None
    if given.get("original_min") is not None:
        low = parse_money(given["original_min"], "original_min")
        high = (parse_money(given["original_max"], "original_max") if given.get("original_max") is not None
                else _same_spread(low, product))
        if low <= product.price_min or high < product.price_max:
            raise CatalogError("the list price must lie above the selling price range")
        product.original_min, product.original_max = low, high
    elif "original_min" in given:
        product.original_min = product.original_max = None
    if "unit" in given:
        product.unit = str(given["unit"]).strip() or "Piece"
    if "min_order" in given:
        product.min_order = _as_int(given["min_order"], "min_order", minimum=1)
    if "sold" in given:
        product.sold = _as_int(given["sold"], "sold")
    if "rating_count" in given:
        product.rating_count = _as_int(given["rating_count"], "rating_count")
    if "rating" in given:
        product.rating = _parse_rating(given["rating"])
        if product.rating is not None and "rating_count" not in given:
            product.rating_count = max(product.rating_count, 1)
    if product.rating_count and product.rating is None:
        product.rating = Decimal("5.0")
    if not product.rating_count:
        product.rating = None  # nobody reviewed it: the card shows no stars
    if "in_stock" in given:
        product.in_stock = _as_bool(given["in_stock"], "in_stock")
    return product


def _parse_rating(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        rating = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise CatalogError(f"rating must be a number from 0 to 5, got {value!r}") from None
    if not Decimal(0) <= rating <= Decimal(5):
        raise CatalogError(f"rating must be from 0 to 5, got {value!r}")
    return rating
