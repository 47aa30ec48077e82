"""How the sandbox marketplace changes on its own as time passes.

A monitor is only worth testing against a marketplace that moves: listings appear, prices go up
and down, items sell out and come back, sold counters tick, listings are hidden and later
removed for good (their page then answers 410). ``EvolvingMarket`` adds one evolution step to the
generated ``Marketplace``, drawing only from the evolve random stream so the same seed evolves
the same way whatever tests scripted in between. Like ``Marketplace`` it takes no lock; the
``Catalog`` holds its lock around every step.
"""
from __future__ import annotations

import random
from decimal import Decimal

from .generation import Marketplace
from .model import CENT, Change, ProductStatus, SandboxProduct, money, price_view, reprice

DELISTED_STEPS_BEFORE_REMOVAL = 2


class EvolvingMarket(Marketplace):
    """A ``Marketplace`` that can take one step of simulated time."""

    def _evolve_once(self, rng: random.Random) -> list[Change]:
        """One step: each store may list something new, then every product may change once
        (the caller has already advanced ``_step``)."""
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
        """At most one change to one product, or None. A listing made during this very step is
        left alone so its "new_product" change is not contradicted by a second one."""
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
            before = price_view(product)
            percent = Decimal(rng.randint(3, 30)) * (1 if rng.random() < 0.5 else -1)
            factor = (100 + percent) / 100
            low = max(CENT, money(product.price_min * factor))
            reprice(product, low, max(low, money(product.price_max * factor)))
            return Change("price", product.store_id, product.item_code, before, price_view(product))
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
