"""Parser for DHgate search result pages (a Next.js page with its data in ``__NEXT_DATA__``).

The results are read from ``script#__NEXT_DATA__`` -> ``props.pageProps.data``:

- ``totalProducts``: list of records with ``itemcode``, ``productname``, ``price``
  ("US $19.39 - 21.05"), ``minOrder`` ("1 Piece"), ``productDetailUrl``, ``recentlysold``,
  ``feedBackPercent`` ("100.0%"), ``sellerStoreUrl`` and an image link (``imageUrl``/``imgUrl``).
  An empty list is a legitimate "no results"; a missing list means the page is not understood.
- Pagination, when present: ``pageInfo`` (or ``pagination``/``page``, or the data object
  itself) with ``pageNum`` (zero-based, as in the request URL), ``totalPage`` and
  ``totalCount``; common alternative names are accepted too.
"""

from __future__ import annotations

import html as html_module
import re
from decimal import Decimal
from typing import Any

from services.dhgate.parsers_common import (
    absolute_url,
    as_int,
    as_text,
    clean_product_name,
    dig,
    first_present,
    load_json,
    parse_html,
    screen_page,
)
from services.dhgate.prices import (
    PriceRange,
    decimal_from_json,
    parse_count,
    parse_price_range,
)
from services.dhgate.types import PageUnparsable, ParsedPage, ParsedProduct
from services.dhgate.urls import ITEM_CODE, product_path, product_ref_from_url, store_id_from_url

_TAG = re.compile(r"<[^>]+>")
_UNIT_AFTER_NUMBER = re.compile(r"\d[\d,]*\s*(.+)")
_PAGINATION_KEYS = ("pageInfo", "pagination", "pageVo", "page")
_CURRENT_PAGE_KEYS = ("pageNum", "pageNo", "currentPage", "curPage")
_PAGE_COUNT_KEYS = ("totalPage", "totalPages", "pageCount", "pages")
_TOTAL_KEYS = ("totalCount", "totalNum", "totalResults", "total", "count")
# "10 Pieces" -> "Piece": the unit is stored in the singular, as store and product pages show it.
_SINGULAR_UNITS = {
    "pieces": "Piece",
    "pairs": "Pair",
    "sets": "Set",
    "lots": "Lot",
    "boxes": "Box",
    "bags": "Bag",
    "packs": "Pack",
    "rolls": "Roll",
    "meters": "Meter",
    "dozens": "Dozen",
    "cartons": "Carton",
    "sheets": "Sheet",
    "units": "Unit",
    "kilograms": "Kilogram",
}
_IMAGE_KEYS = ("imageUrl", "imgUrl", "imageurl", "imgurl", "thumbUrl", "image", "imgUrlList")


def parse_search_page(html: str, status_code: int = 200) -> ParsedPage:
    """Products and page position from one search results page.

    Raises PageBlocked, PageHttpError (any 4xx/5xx: a search cannot be "gone") or
    PageUnparsable when ``__NEXT_DATA__`` or its product list is missing or invalid.
    """
    html = screen_page(html, status_code, gone_means_removed=False)
    data = _search_data(html)
    records = data.get("totalProducts")
    if not isinstance(records, list):
        raise PageUnparsable("__NEXT_DATA__ has no totalProducts list")
    products = [product for record in records if (product := _parse_record(record))]
    skipped = len(records) - len(products)
    if skipped and not products:
        raise PageUnparsable(f"none of the {skipped} search results has an item code")
    page_index, page_count, total = _pagination(data)
    return ParsedPage(
        kind="search",
        products=products,
        page_index=page_index,
        page_count=page_count,
        total_results=total,
        skipped=skipped,
    )


def _search_data(html: str) -> dict[str, Any]:
    """``props.pageProps.data`` of the page's ``__NEXT_DATA__`` script."""
    script = parse_html(html).css_first("script#__NEXT_DATA__")
    if script is None:
        raise PageUnparsable("no __NEXT_DATA__ script on the search page")
    data = dig(load_json(script.text(deep=True), "__NEXT_DATA__"), "props", "pageProps", "data")
    if not isinstance(data, dict):
        raise PageUnparsable("__NEXT_DATA__ has no props.pageProps.data object")
    return data


def _parse_record(record: object) -> ParsedProduct | None:
    """One search result, or None when it has no usable item code."""
    if not isinstance(record, dict):
        return None
    detail_url = as_text(record.get("productDetailUrl"))
    reference = product_ref_from_url(detail_url)
    item_code = as_text(record.get("itemcode") or record.get("itemCode"))
    if not (item_code and ITEM_CODE.fullmatch(item_code)):
        item_code = reference[0] if reference else None
    if item_code is None:
        return None
    price = _price(record.get("price"))
    original = _price(first_present(record, "originalPrice", "orgPrice"))
    min_order, order_unit = _min_order(record.get("minOrder"))
    return ParsedProduct(
        item_code=item_code,
        title=_plain_title(record.get("productname") or record.get("productName")),
        url=product_path(item_code, reference[1] if reference else None),
        image_url=_image(record),
        store_id=store_id_from_url(as_text(record.get("sellerStoreUrl"))),
        price_min=price.low,
        price_max=price.high,
        currency=price.currency or original.currency,
        original_price_min=original.low,
        original_price_max=original.high,
        unit=as_text(record.get("measureName")) or order_unit,
        min_order=min_order,
        sold=parse_count(record.get("recentlysold")),
        feedback_percent=_percent(record.get("feedBackPercent")),
    )


def _plain_title(value: object) -> str:
    """Product name without search-term highlighting tags, HTML entities or title template."""
    text = as_text(value) or ""
    if "<" in text:
        text = _TAG.sub("", text)
    return clean_product_name(" ".join(html_module.unescape(text).split())) or ""


def _price(value: object) -> PriceRange:
    """A price given as text ("US $1.20 - 3.40") or as a bare JSON number."""
    if isinstance(value, str):
        return parse_price_range(value)
    amount = decimal_from_json(value)
    return PriceRange(amount, amount, None)


def _min_order(value: object) -> tuple[int | None, str | None]:
    """Minimum order and unit: "1 Piece" -> (1, "Piece"); a bare number -> (n, None)."""
    number = as_int(value)
    text = as_text(value)
    match = _UNIT_AFTER_NUMBER.search(text) if isinstance(value, str) and text else None
    if match is None:
        return number, None
    unit = match.group(1).strip()
    return number, _SINGULAR_UNITS.get(unit.lower(), unit)


def _percent(value: object) -> Decimal | None:
    """A percentage ("100.0%" or 99.5) as Decimal, None when outside 0..100."""
    if isinstance(value, str):
        value = value.strip().rstrip("%").strip()
    percent = decimal_from_json(value)
    return percent if percent is not None and percent <= 100 else None


def _image(record: dict[str, Any]) -> str | None:
    """The first image link a record offers, under any of its usual names."""
    value = first_present(record, *_IMAGE_KEYS)
    if isinstance(value, list):
        value = value[0] if value else None
    return absolute_url(as_text(value))


def _pagination(data: dict[str, Any]) -> tuple[int, int | None, int | None]:
    """(zero-based page index, page count, total results) where the data states them."""
    source = next((data[key] for key in _PAGINATION_KEYS if isinstance(data.get(key), dict)), data)
    current = as_int(first_present(source, *_CURRENT_PAGE_KEYS))
    count = as_int(first_present(source, *_PAGE_COUNT_KEYS))
    total = as_int(first_present(source, *_TOTAL_KEYS))
    if total is None and source is not data:
        total = as_int(first_present(data, *_TOTAL_KEYS))
    return max(current or 0, 0), count, total
