"""Generating the sandbox marketplace from a seed: stores, their names and their listings.

Everything derives from ``random.Random(seed)`` so a test, a demo and a benchmark see the same
marketplace for the same seed. Three separate random streams are used (building, evolving,
scripted additions) so that a scripted ``add_product`` in one test does not shift what
``evolve`` does afterwards.

``Marketplace`` holds the marketplace's state and knows how to grow it; it takes no lock of its
own. ``Catalog`` (which builds on it through ``EvolvingMarket``) is the thread-safe face and calls
these methods while holding its lock.
"""
from __future__ import annotations

import random
from decimal import Decimal

from .model import SandboxProduct, SandboxStore, money
from .wordlists import (
    BRANDS,
    CATEGORIES,
    STORE_NAME_PREFIXES,
    STORE_NAME_WORDS,
    Category,
)


class Marketplace:
    """The state of a generated marketplace (stores, products, counters) and how it grows.

    A subclass sets ``seed``, ``store_count`` and ``products_per_store`` and then calls
    ``_build``; the attributes below are what every layer above reads and changes.
    """

    seed: int
    store_count: int
    products_per_store: int
    _build_rng: random.Random
    _evolve_rng: random.Random
    _script_rng: random.Random
    _stores: dict[str, SandboxStore]
    _products: dict[str, SandboxProduct]
    _store_names: set[str]
    _tokens: dict[str, frozenset[str]]  # search words per item code, filled lazily by search
    _seq: int  # listing order of the newest product
    _step: int  # evolution steps since the build
    _version: int  # bumped by every change

    def _build(self) -> None:
        """Fresh state and random streams for ``seed``, then the initial stores and listings."""
        self._build_rng = random.Random(self.seed)
        self._evolve_rng = random.Random(self.seed * 7_919 + 1)
        self._script_rng = random.Random(self.seed * 104_729 + 2)
        self._stores = {}
        self._products = {}
        self._store_names = set()
        self._tokens = {}
        self._seq = 0
        self._step = 0
        self._version = 1
        for _ in range(self.store_count):
            self._new_store(self._build_rng, self.products_per_store)

    def _new_store(self, rng: random.Random, product_count: int, name: str | None = None) -> SandboxStore:
        """A store with an unused number and name, and ``product_count`` listings."""
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
        """An unused store name; store names identify stores on pages, so they never repeat."""
        while True:
            name = rng.choice(STORE_NAME_PREFIXES) + rng.choice(STORE_NAME_WORDS)
            if rng.random() < 0.4:
                name += str(rng.randint(1, 999))
            if name not in self._store_names:
                return name

    def _new_item_code(self, rng: random.Random) -> str:
        """An unused nine-digit item code, as DHgate's are."""
        code = str(rng.randint(300_000_000, 999_999_999))
        while code in self._products:
            code = str(rng.randint(300_000_000, 999_999_999))
        return code

    def _new_product(self, rng: random.Random, store: SandboxStore) -> SandboxProduct:
        """A plausible listing in one of the store's categories: price band, spread, sale,
        a long-tailed sold count, reviews; newest by listing order."""
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


def _category(name: str) -> Category:
    """The word list of the category a store sells in."""
    return next(c for c in CATEGORIES if c.name == name)


def _compose_title(rng: random.Random, category: Category) -> str:
    """A title built like sellers build theirs: [brand] head, two or three specs, tail."""
    parts: list[str] = []
    if rng.random() < 0.25:
        parts.append(rng.choice(BRANDS))
    parts.append(rng.choice(category.heads))
    parts.extend(rng.sample(category.specs, k=rng.randint(2, 3)))
    parts.append(rng.choice(category.tails))
    return " ".join(parts)
