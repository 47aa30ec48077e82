"""The sandbox marketplace's catalog: the thread-safe face of the generated, evolving market.

The catalog is shared between the HTTP server's request threads, the optional background
evolver and the control API, so every public method takes one re-entrant lock and read methods
hand out copies, never the live objects. What the data is lives in :mod:`.model`, how it is
generated in :mod:`.generation`, how it changes on its own in :mod:`.evolution`, and how
scripted input is checked in :mod:`.inputs`; this module adds reading (store tabs, search, the
summary) and the scripted changes tests and the control API make.
"""
from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .evolution import EvolvingMarket
from .inputs import SETTABLE_FIELDS, apply_fields, as_bool, as_int, parse_money, same_spread
from .model import (
    MAX_PRODUCTS_PER_STORE,
    MAX_STORES,
    SEARCH_PAGE_SIZE,
    STORE_PAGE_SIZE,
    STORE_TABS,
    CatalogError,
    Change,
    ProductStatus,
    SandboxProduct,
    SandboxStore,
    SearchListing,
    StoreInfo,
    StoreListing,
    UnknownProduct,
    UnknownStore,
    price_view,
    reprice,
    title_tokens,
)


def _page_slice(count: int, page: int, size: int) -> tuple[int, int]:
    """(page_index, page_count) with the page clamped into range; an empty list has one page."""
    page_count = max(1, math.ceil(count / size))
    return min(max(page, 0), page_count - 1), page_count


class Catalog(EvolvingMarket):
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
        self.seed = as_int(seed, "seed")
        self.store_count = as_int(stores, "stores")
        self.products_per_store = as_int(products_per_store, "products_per_store")
        if self.store_count > MAX_STORES:
            raise CatalogError(f"stores must be at most {MAX_STORES}, got {self.store_count}")
        if self.products_per_store > MAX_PRODUCTS_PER_STORE:
            raise CatalogError(f"products_per_store must be at most {MAX_PRODUCTS_PER_STORE}")
        self.store_page_size = as_int(store_page_size, "store_page_size", minimum=1)
        self.search_page_size = as_int(search_page_size, "search_page_size", minimum=1)
        self._lock = threading.RLock()
        self._build()

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
        count = as_int(products, "products")
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
        unknown = set(fields_) - SETTABLE_FIELDS
        if unknown:
            raise CatalogError(f"unknown product field(s): {', '.join(sorted(unknown))}; "
                               f"allowed: {', '.join(sorted(SETTABLE_FIELDS))}")
        with self._lock:
            store = self._require_store(store_id)
            code = fields_.get("item_code")
            if code is not None:
                code = str(code).strip()
                if not re.fullmatch(r"\d{6,12}", code) or code in self._products:
                    raise CatalogError(f"item_code {code!r} must be 6-12 digits and unused")
            generated = self._new_product(self._script_rng, store)
            try:
                product = apply_fields(copy.copy(generated), fields_)
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
            before = price_view(product)
            reprice(product, low, high)
            self._version += 1
            return Change("price", product.store_id, product.item_code, before, price_view(product))

    def set_original_price(self, item_code: str, original_min: Any = None,
                           original_max: Any = None) -> Change:
        """Put a product on sale (list price above the selling price) or end the sale (None)."""
        with self._lock:
            product = self._require_product(item_code)
            before = price_view(product)
            if original_min is None:
                product.original_min = product.original_max = None
            else:
                low = parse_money(original_min, "original_min")
                high = (parse_money(original_max, "original_max") if original_max is not None
                        else same_spread(low, product))
                if low <= product.price_min or high < product.price_max or high < low:
                    raise CatalogError("the list price must lie above the selling price range")
                product.original_min, product.original_max = low, high
            self._version += 1
            return Change("sale", product.store_id, product.item_code, before, price_view(product))

    def set_stock(self, item_code: str, in_stock: Any) -> Change:
        """Sold out (False) or available again (True)."""
        available = as_bool(in_stock, "in_stock")
        with self._lock:
            product = self._require_product(item_code)
            before = {"in_stock": product.in_stock}
            product.in_stock = available
            self._version += 1
            return Change("stock", product.store_id, product.item_code, before, {"in_stock": available})

    def set_sold(self, item_code: str, sold: Any) -> Change:
        """The sold counter the cards show ("5K+")."""
        count = as_int(sold, "sold")
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
        count = as_int(steps, "steps", minimum=1)
        changes: list[Change] = []
        with self._lock:
            for _ in range(count):
                self._step += 1
                changes.extend(self._evolve_once(self._evolve_rng))
                self._version += 1
        return changes

    # ------------------------------------------------------------------ helpers

    def _require_store(self, store_id: str) -> SandboxStore:
        """The live store, or ``UnknownStore`` (a 404 from the control API)."""
        store = self._stores.get(str(store_id).strip())
        if store is None:
            raise UnknownStore(f"no store {store_id!r} in the sandbox")
        return store

    def _require_product(self, item_code: str) -> SandboxProduct:
        """The live product in any status, or ``UnknownProduct`` (a 404 from the control API)."""
        product = self._products.get(str(item_code).strip())
        if product is None:
            raise UnknownProduct(f"no product {item_code!r} in the sandbox")
        return product


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
