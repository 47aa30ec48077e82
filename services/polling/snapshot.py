"""Fetch and parse every page a monitor needs: the "what does DHgate show now" half of a poll.

A snapshot either succeeds as a whole or fails as a whole. One blocked, failed or unparsable
page makes the entire poll a failure with that page's outcome, and none of the products of the
pages that did work is used: half a store read as the whole store would report the other half
as missing. The snapshot also says whether it covered the *whole* listing (``complete``), which
decides whether products absent from it may count towards "missing".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from services.dhgate.fetcher import DHgateFetcher
from services.dhgate.parsers import parse_page
from services.dhgate.types import DHgatePageError, ParsedPage, ParsedProduct, PollOutcome
from services.dhgate.urls import product_path, search_page_path, store_page_path

STORE_PAGE_SIZE = 24  # cards per store page; a full page without a pager may not be the last


@dataclass
class Snapshot:
    """What one poll saw. ``products`` is empty unless ``outcome`` is OK."""

    kind: str
    outcome: PollOutcome
    products: list[ParsedProduct] = field(default_factory=list)
    pages: int = 0
    http_status: int | None = None
    complete: bool = False  # every product of the listing was seen
    gone: bool = False  # the store or product itself no longer exists (404/410, not-found page)
    error: str | None = None
    store_name: str | None = None  # the name a store page shows (its first page's)

    @property
    def succeeded(self) -> bool:
        """Whether product state may change: a full read, or a product that is definitely gone."""
        return self.outcome is PollOutcome.OK or (self.outcome is PollOutcome.GONE and self.kind == "product")


@dataclass
class _PageFailure:
    outcome: PollOutcome
    status: int | None
    error: str


def take_snapshot(
    kind: str, dhgate_id: str, fetcher: DHgateFetcher, *, max_pages: int, deadline: float
) -> Snapshot:
    """Fetch and parse a monitor's pages within ``deadline`` (a ``time.monotonic()`` value)."""
    if kind == "product":
        return _product_snapshot(dhgate_id, fetcher, deadline)
    if kind in ("store", "search"):
        return _listing_snapshot(kind, dhgate_id, fetcher, max_pages, deadline)
    raise ValueError(f"unknown monitor kind {kind!r}")


def _fetch_page(kind: str, path: str, fetcher: DHgateFetcher, deadline: float) -> tuple[ParsedPage | _PageFailure, int | None]:
    """One page fetched and parsed, or why not."""
    if time.monotonic() >= deadline:
        return _PageFailure(PollOutcome.TIMEOUT, None, "the poll's time budget ran out"), None
    result = fetcher.fetch(path, deadline=deadline)
    if not result.answered:
        return _PageFailure(result.outcome, result.status_code, result.error or result.outcome.value), result.status_code
    try:
        return parse_page(kind, result.text or "", result.status_code or 200), result.status_code
    except DHgatePageError as exc:
        return _PageFailure(exc.outcome, result.status_code, str(exc) or type(exc).__name__), result.status_code


def _product_snapshot(item_code: str, fetcher: DHgateFetcher, deadline: float) -> Snapshot:
    page, status = _fetch_page("product", product_path(item_code), fetcher, deadline)
    if isinstance(page, _PageFailure):
        gone = page.outcome is PollOutcome.GONE
        return Snapshot("product", page.outcome, pages=1 if status else 0, http_status=status,
                        gone=gone, error=page.error)
    product = page.products[0]
    if product.item_code != item_code:
        return Snapshot("product", PollOutcome.PARSE_ERROR, pages=1, http_status=status,
                        error=f"the page shows item {product.item_code}, not {item_code}")
    return Snapshot("product", PollOutcome.OK, [product], pages=1, http_status=status, complete=True)


def _listing_snapshot(kind: str, dhgate_id: str, fetcher: DHgateFetcher, max_pages: int, deadline: float) -> Snapshot:
    """Store pages 0..N (N from the page's own "Page 1/N", capped), or search pages until a
    page repeats the previous one (DHgate answers the last page again past the end)."""
    products: dict[str, ParsedProduct] = {}
    previous_codes: set[str] | None = None
    complete = True
    pages = 0
    status: int | None = None
    store_name: str | None = None
    index = 0
    while True:
        path = store_page_path(dhgate_id, index) if kind == "store" else search_page_path(dhgate_id, index)
        page, status = _fetch_page(kind, path, fetcher, deadline)
        if isinstance(page, _PageFailure):
            outcome = page.outcome
            gone = outcome is PollOutcome.GONE and index == 0
            if outcome is PollOutcome.GONE and index > 0:
                outcome = PollOutcome.HTTP_ERROR  # a later page vanishing says nothing about the store
            return Snapshot(kind, outcome, pages=pages + (1 if status else 0), http_status=status,
                            gone=gone, error=f"page {index + 1}: {page.error}")
        pages += 1
        store_name = store_name or page.store_name
        codes = {product.item_code for product in page.products}
        if previous_codes is not None and codes == previous_codes:
            break  # the listing ended: DHgate repeats the last page
        if page.skipped:
            complete = False  # unreadable cards: their products may be there after all
        for product in page.products:
            products.setdefault(product.item_code, product)
        if kind == "store" and page.page_index != index:
            break  # asked past the end: the page announced the last page instead
        if not page.products:
            break
        if page.page_count is not None and index + 1 >= page.page_count:
            break
        if page.page_count is None and kind == "store":
            # No pager: a single page, unless it is full (then more may follow unseen).
            complete = complete and len(page.products) < STORE_PAGE_SIZE
            break
        if index + 1 >= max_pages:
            complete = False  # more pages exist (or may exist) beyond the cap
            break
        previous_codes = codes
        index += 1
    return Snapshot(kind, PollOutcome.OK, list(products.values()), pages=pages, http_status=status,
                    complete=complete, store_name=store_name if kind == "store" else None)
