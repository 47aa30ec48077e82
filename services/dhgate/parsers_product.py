"""Parser for DHgate product pages (a Next.js app-router page).

Structured data first, markup last:

1. JSON-LD ``Product``: ``name``, ``sku`` (the item code), ``image``, ``offers.price`` /
   ``lowPrice`` / ``highPrice``, ``offers.priceCurrency``, ``offers.availability``,
   ``aggregateRating``.
2. Page data in ``self.__next_f.push`` (see ``parsers_flight``): the row with
   ``maxAndMinPriceVo`` (``minBuyerPrice``/``maxBuyerPrice``, and ``dealMin/MaxBuyerPrice``
   while a promotion runs) and ``itemWholesaleRangeVos`` (quantity tiers); the row with
   ``itemCode`` + ``istate`` (``false`` = delisted), ``sellerSoldOut``, ``minOrder``,
   ``measureName``, ``saleNum``, ``seoName``; the seller row's ``supplierSeq`` (store number).
3. Markup: ``link[rel=canonical]`` or ``meta[property="og:url"]`` (the item code and slug when
   the data leaves them out; regional ``ie.``/``de.``/``m.`` hosts read like ``www.``),
   ``input#itemCode``, ``h1``, ``<title>``.

Names lose DHgate's title template ("… From &Price; | DHgate") whichever source gives them
(``clean_product_name``), and an emptied name falls through to the next source.

The price shown to buyers is the deal price when a promotion runs (JSON-LD agrees); the
regular buyer price then becomes the original price, as on store cards.
A removed item answers 404/410 or a Next.js not-found page (``NEXT_NOT_FOUND``): PageGone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from services.dhgate.parsers_common import (
    absolute_url,
    as_int,
    as_text,
    clean_product_name,
    first_present,
    node_attr,
    node_text,
    parse_html,
    screen_page,
)
from services.dhgate.parsers_flight import FlightData, flight_data
from services.dhgate.prices import decimal_from_json, parse_count
from services.dhgate.types import PageGone, PageUnparsable, ParsedPage, ParsedProduct, PriceTier
from services.dhgate.urls import ITEM_CODE, STORE_ID, product_path, product_ref_from_url

NOT_FOUND_MARKER = "NEXT_NOT_FOUND"  # the digest Next.js streams for notFound()
_OUT_OF_STOCK = ("outofstock", "soldout", "discontinued")
_IN_STOCK = ("instock", "limitedavailability", "instoreonly", "onlineonly", "preorder")
_OPEN_ENDED_QUANTITY = 1_000_000  # DHgate's last tier ends at 1,000,000 meaning "or more"


@dataclass
class _PageData:
    """The three page-data objects the product page streams (each may be absent)."""

    prices: dict[str, Any]
    item: dict[str, Any]
    seller: dict[str, Any]


def parse_product_page(html: str, status_code: int = 200) -> ParsedPage:
    """The one product on a product page (``delisted=True`` when DHgate marks it so).

    Raises PageBlocked, PageGone (404/410 or the not-found page), PageHttpError, or
    PageUnparsable when neither JSON-LD nor page data names the product.
    """
    html = screen_page(html, status_code, gone_means_removed=True)
    tree = parse_html(html)
    ld_product = _json_ld_product(tree)
    page_data = _page_data(flight_data(tree))
    if not ld_product and not page_data.item and not page_data.prices:
        if NOT_FOUND_MARKER in html:
            raise PageGone("DHgate shows its not-found page for this product")
        raise PageUnparsable("no JSON-LD Product and no product page data on the page")
    return ParsedPage(kind="product", products=[_product(tree, ld_product, page_data)])


# --------------------------------------------------------------------------- sources


def _json_ld_product(tree: LexborHTMLParser) -> dict[str, Any]:
    """The first JSON-LD object typed Product (in a list, an @graph or alone), or {}."""
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text(deep=True), strict=False)
        except ValueError:
            continue  # one broken block must not hide a good one
        for candidate in _json_ld_objects(data):
            if _is_product_type(candidate.get("@type")):
                return candidate
    return {}


def _json_ld_objects(data: Any) -> list[dict[str, Any]]:
    """The objects of a JSON-LD block: a single object, a list, or an @graph."""
    items = data if isinstance(data, list) else [data]
    objects: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            objects.append(item)
            graph = item.get("@graph")
            if isinstance(graph, list):
                objects.extend(node for node in graph if isinstance(node, dict))
    return objects


def _is_product_type(value: object) -> bool:
    """``"Product"`` or a list of types that includes it."""
    if isinstance(value, list):
        return "Product" in value
    return value == "Product"


def _page_data(flight: FlightData) -> _PageData:
    """Price, item and seller objects from the flight stream ({} for each one missing)."""
    if not flight:
        return _PageData({}, {}, {})
    return _PageData(
        prices=flight.find("maxAndMinPriceVo") or {},
        item=flight.find("itemCode", "istate") or flight.find("itemCode", "measureName") or {},
        seller=flight.find("supplierSeq") or {},
    )


# --------------------------------------------------------------------------- the product


def _product(tree: LexborHTMLParser, ld: dict[str, Any], data: _PageData) -> ParsedProduct:
    """Merge JSON-LD, page data and markup into one ParsedProduct."""
    offer = _offer(ld)
    reference = _page_reference(tree)
    item_code = _item_code(tree, ld, data, reference)
    slug = (reference[1] if reference else None) or as_text(data.item.get("seoName"))
    price_min, price_max, original_min, original_max = _prices(data.prices, offer)
    rating = _as_dict(ld.get("aggregateRating"))
    return ParsedProduct(
        item_code=item_code,
        title=_title(tree, ld, data),
        url=product_path(item_code, slug),
        image_url=_image(ld.get("image")),
        store_id=_store_id(data.seller),
        price_min=price_min,
        price_max=price_max,
        currency=as_text(offer.get("priceCurrency")),
        original_price_min=original_min,
        original_price_max=original_max,
        unit=as_text(data.item.get("measureName")),
        min_order=as_int(data.item.get("minOrder")),
        sold=parse_count(data.item.get("saleNum")),
        rating=decimal_from_json(rating.get("ratingValue")),
        rating_count=as_int(first_present(rating, "reviewCount", "ratingCount")),
        in_stock=_in_stock(offer, data.item),
        delisted=data.item.get("istate") is False,
        tiers=_tiers(data.prices),
    )


def _as_dict(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else {} (so that .get() chains stay safe)."""
    return value if isinstance(value, dict) else {}


def _offer(ld: dict[str, Any]) -> dict[str, Any]:
    """The JSON-LD offer (the first one when there is a list)."""
    offers = ld.get("offers")
    if isinstance(offers, list):
        offers = offers[0] if offers else None
    return _as_dict(offers)


def _page_reference(tree: LexborHTMLParser) -> tuple[str, str | None] | None:
    """(item code, slug) from the canonical link, else from ``og:url`` (whichever is a product link).

    A page saved from a regional or mobile host still names its product in one of the two,
    even when the file name or the address it was saved from says nothing.
    """
    for selector, attribute in (('link[rel="canonical"]', "href"), ('meta[property="og:url"]', "content")):
        reference = product_ref_from_url(node_attr(tree.css_first(selector), attribute))
        if reference is not None:
            return reference
    return None


def _item_code(
    tree: LexborHTMLParser,
    ld: dict[str, Any],
    data: _PageData,
    reference: tuple[str, str | None] | None,
) -> str:
    """The item code: JSON-LD sku, page data, hidden input, then the canonical link or og:url."""
    candidates = (
        as_text(ld.get("sku")),
        as_text(data.item.get("itemCode")),
        node_attr(tree.css_first("input#itemCode"), "value"),
        reference[0] if reference else None,
    )
    for candidate in candidates:
        if candidate and ITEM_CODE.fullmatch(candidate):
            return candidate
    raise PageUnparsable("the product page names no item code")


def _title(tree: LexborHTMLParser, ld: dict[str, Any], data: _PageData) -> str:
    """Product name from JSON-LD, page data, the page heading or <title> ("" when none)."""
    return (
        clean_product_name(as_text(ld.get("name")))
        or clean_product_name(as_text(data.item.get("productName")))
        or clean_product_name(node_text(tree.css_first("h1")))
        or clean_product_name(node_text(tree.css_first("title")))
        or ""
    )


def _image(value: object) -> str | None:
    """First image of JSON-LD ``image``: a URL, an ImageObject, or a list of either."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = first_present(value, "contentURL", "contentUrl", "url")
    return absolute_url(as_text(value))


def _store_id(seller: dict[str, Any]) -> str | None:
    """The store number (``supplierSeq``) from the seller's page data."""
    value = as_text(seller.get("supplierSeq"))
    return value if value and STORE_ID.fullmatch(value) else None


def _prices(
    price_data: dict[str, Any], offer: dict[str, Any]
) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
    """(price min, price max, original min, original max).

    From page data when present: the deal prices while a promotion runs, with the regular
    buyer prices as originals. Otherwise JSON-LD's price (or lowPrice/highPrice).
    """
    vo = _as_dict(price_data.get("maxAndMinPriceVo"))
    regular_min = _positive(vo.get("minBuyerPrice"))
    regular_max = _positive(vo.get("maxBuyerPrice")) or regular_min
    deal_min = _positive(vo.get("dealMinBuyerPrice"))
    deal_max = _positive(vo.get("dealMaxBuyerPrice")) or deal_min
    if deal_min is not None and (regular_min is None or deal_min < regular_min):
        return deal_min, deal_max, regular_min, regular_max
    if regular_min is not None:
        return regular_min, regular_max, None, None
    low = _positive(first_present(offer, "price", "lowPrice"))
    high = _positive(offer.get("highPrice")) or low
    return low, high, None, None


def _positive(value: object) -> Decimal | None:
    """A price above zero (DHgate writes 0 for "no such price")."""
    amount = decimal_from_json(value)
    return amount if amount is not None and amount > 0 else None


def _tiers(price_data: dict[str, Any]) -> list[PriceTier]:
    """Quantity tiers from ``itemWholesaleRangeVos``, at the price buyers pay now."""
    tiers: list[PriceTier] = []
    ranges = price_data.get("itemWholesaleRangeVos")
    for entry in ranges if isinstance(ranges, list) else []:
        tier = _tier(entry) if isinstance(entry, dict) else None
        if tier is not None:
            tiers.append(tier)
    return sorted(tiers, key=lambda tier: tier.min_qty)


def _tier(entry: dict[str, Any]) -> PriceTier | None:
    """One tier; the promotion price when there is one, the regular price otherwise."""
    min_qty = as_int(entry.get("startQty"))
    price = _positive(entry.get("promDiscountPrice")) or _positive(entry.get("originalPrice"))
    if min_qty is None or price is None:
        return None
    max_qty = as_int(entry.get("endQty"))
    if max_qty is not None and (max_qty >= _OPEN_ENDED_QUANTITY or max_qty < min_qty):
        max_qty = None
    return PriceTier(min_qty=min_qty, max_qty=max_qty, price=price)


def _in_stock(offer: dict[str, Any], item: dict[str, Any]) -> bool | None:
    """False when sold out (seller flag or JSON-LD), True when shown as available, else None."""
    if item.get("sellerSoldOut") is True:
        return False
    availability = (as_text(offer.get("availability")) or "").rsplit("/", 1)[-1].lower()
    if availability in _OUT_OF_STOCK:
        return False
    if availability in _IN_STOCK or item.get("sellerSoldOut") is False:
        return True
    return None
