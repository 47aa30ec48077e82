"""DHgate page parsers: the one module the fetcher, the worker and the CLI import.

Each parser takes the page text and its HTTP status and returns a ``ParsedPage`` or raises a
``DHgatePageError`` subclass (blocked, gone, HTTP error, unparsable) whose ``outcome`` is what
the poll records. None of them ever returns "no products" for a page it does not understand.
The parsers themselves live in ``parsers_store``, ``parsers_search`` and ``parsers_product``.
"""

from __future__ import annotations

from collections.abc import Callable

from services.dhgate.parsers_common import detect_blocked
from services.dhgate.parsers_product import NOT_FOUND_MARKER, parse_product_page
from services.dhgate.parsers_search import parse_search_page
from services.dhgate.parsers_store import parse_store_page
from services.dhgate.types import ParsedPage, ParsedProduct
from services.formatting import price_range

__all__ = [
    "PARSERS",
    "describe",
    "detect_blocked",
    "parse_page",
    "parse_product_page",
    "parse_search_page",
    "parse_store_page",
    "sniff_kind",
]

PARSERS: dict[str, Callable[[str, int], ParsedPage]] = {
    "store": parse_store_page,
    "search": parse_search_page,
    "product": parse_product_page,
}


def parse_page(kind: str, html: str, status_code: int = 200) -> ParsedPage:
    """Parse ``html`` as a page of ``kind`` ("store", "search" or "product")."""
    try:
        parser = PARSERS[kind]
    except KeyError:
        raise ValueError(f"unknown page kind {kind!r}; expected one of {sorted(PARSERS)}") from None
    return parser(html, status_code)


def sniff_kind(html: str) -> str | None:
    """Guess which kind of DHgate page a saved file is, from structural markers only.

    Returns None when nothing is recognisable (block pages included: parsing them with any
    kind raises PageBlocked, which explains more than a guess would).
    """
    if 'id="proGallery"' in html or "id='proGallery'" in html:
        return "store"
    if "__NEXT_DATA__" in html and "totalProducts" in html:
        return "search"
    if (
        "maxAndMinPriceVo" in html
        or NOT_FOUND_MARKER in html
        or ("application/ld+json" in html and '"Product"' in html)
    ):
        return "product"
    return None


def describe(page: ParsedPage) -> str:
    """A readable multi-line summary of what the parser saw (for ``flask dhgate parse``)."""
    lines = [_page_header(page)]
    lines.extend(_product_lines(index, product) for index, product in enumerate(page.products, 1))
    if page.kind == "product" and page.products and page.products[0].tiers:
        lines.append("  quantity tiers:")
        lines.extend(
            f"    {tier.min_qty}{'-' + str(tier.max_qty) if tier.max_qty else '+'}: {tier.price}"
            for tier in page.products[0].tiers
        )
    return "\n".join(lines)


def _page_header(page: ParsedPage) -> str:
    """First line: kind, position, counts."""
    position = f"page {page.page_index + 1}"
    if page.page_count:
        position += f" of {page.page_count}"
    parts = [f"{page.kind} page", position, f"{len(page.products)} products"]
    if page.store_name:
        parts.insert(1, f"store “{page.store_name}”")
    if page.total_results is not None:
        parts.append(f"{page.total_results} results in total")
    if page.skipped:
        parts.append(f"{page.skipped} unreadable entries skipped (page incomplete)")
    return " · ".join(parts)


def _product_lines(index: int, product: ParsedProduct) -> str:
    """Two lines per product: identity and title, then the numbers that are known."""
    facts = [_price_text(product)]
    if product.unit:
        facts.append(f"per {product.unit}")
    if product.original_price_min is not None:
        facts.append(f"was {price_range(product.original_price_min, product.original_price_max, product.currency)}")
    optional = (
        ("min order", product.min_order),
        ("sold", product.sold),
        ("rating", product.rating),
        ("reviews", product.rating_count),
        ("seller feedback %", product.feedback_percent),
        ("store", product.store_id),
    )
    facts.extend(f"{label} {value}" for label, value in optional if value is not None)
    if product.in_stock is not None:
        facts.append("in stock" if product.in_stock else "OUT OF STOCK")
    if product.delisted:
        facts.append("DELISTED")
    title = product.title or "(no title)"
    return f"{index:>3}. {product.item_code}  {title[:90]}\n       " + " · ".join(facts)


def _price_text(product: ParsedProduct) -> str:
    """The price as text, e.g. "$1.20 – $3.40", or "price not shown"."""
    if product.price_min is None:
        return "price not shown"
    return price_range(product.price_min, product.price_max, product.currency)
