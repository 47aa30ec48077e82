"""Parser for DHgate store pages (the server-rendered store template, any product tab).

Structure (see the shared samples): product cards are ``#proGallery .gitem``; in each card
``a.pic[itemcode]`` holds the item code and link, ``a.pro-title[title]`` the full title,
``img.gthumbnail`` the image, ``li.price`` the price ("<span>US $13.96 - 14.63</span> / Piece"),
``li.costprice span`` the crossed-out price, ``.pro-sold .num`` the sold count ("5K+") and
``.pro-rating`` a star bar (``span[style="width:90%"]``, 100% = 5 stars) plus a review count.
``.filter-page .word`` reads "Page 1/87" (one-based on screen; ``page_index`` is zero-based).

Empty store marker: a store with no products is a *complete* document (its raw HTML ends with
``</html>``) whose ``#proGallery`` grid exists and holds no ``.gitem`` card. Anything else
without cards (no grid, or a cut-off response) raises ``PageUnparsable``, so that a garbled
or truncated answer can never empty a store. The sandbox marketplace renders the same.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from selectolax.lexbor import LexborNode

from services.dhgate.parsers_common import (
    absolute_url,
    clean_product_name,
    is_complete_document,
    node_attr,
    node_text,
    parse_html,
    screen_page,
)
from services.dhgate.prices import parse_count, parse_price_range
from services.dhgate.types import PageUnparsable, ParsedPage, ParsedProduct
from services.dhgate.urls import ITEM_CODE, STORE_ID, product_path, product_ref_from_url

_PAGE_WORD = re.compile(r"(\d+)\s*/\s*(\d+)")
_WIDTH = re.compile(r"width\s*:\s*(\d+(?:\.\d+)?)\s*%")
_LAZY_IMAGE_ATTRIBUTES = ("src", "data-src", "data-original", "lazy-src")
_FIVE_STARS = Decimal(5)
# What each card yields, by CSS selector relative to the card (first match wins).
_CARD_FIELDS: dict[str, str] = {
    "link": "a.pic",
    "title": "a.pro-title",
    "image": "img.gthumbnail",
    "price": "li.price",
    "price_text": "li.price span",
    "original": "li.costprice span",
    "sold": ".pro-sold .num",
    "rating_bar": ".pro-rating .rating > span",
    "rating_count": ".pro-rating .num",
}


def parse_store_page(html: str, status_code: int = 200) -> ParsedPage:
    """Products, page position and store name from one store page.

    Raises PageBlocked, PageGone (404/410: unknown store), PageHttpError or PageUnparsable.
    """
    html = screen_page(html, status_code, gone_means_removed=True)
    if not is_complete_document(html):
        raise PageUnparsable("the store page is truncated (no closing </html>)")
    tree = parse_html(html)
    gallery = tree.css_first("#proGallery")
    if gallery is None:
        raise PageUnparsable("no product grid (#proGallery) on the store page")
    store_id = _store_id(tree.root)
    products: list[ParsedProduct] = []
    skipped = 0
    for fields in _card_fields(gallery):
        product = _parse_card(fields, store_id)
        if product is None:
            skipped += 1
        else:
            products.append(product)
    if skipped and not products:
        raise PageUnparsable(f"none of the {skipped} product cards has an item code")
    page_index, page_count = _page_position(tree.root)
    return ParsedPage(
        kind="store",
        products=products,
        page_index=page_index,
        page_count=page_count,
        skipped=skipped,
        store_name=node_text(tree.css_first(".sto-name")),
    )


def _card_fields(gallery: LexborNode) -> list[dict[str, LexborNode]]:
    """For each ``.gitem`` card, its first node matching each of ``_CARD_FIELDS``.

    One query per field over the whole grid, each hit assigned to its card by walking up its
    parents, costs a fifth of running every selector inside every card; the result is the
    same as ``card.css_first(selector)`` per card.
    """
    cards = gallery.css(".gitem")
    position_of = {card.mem_id: position for position, card in enumerate(cards)}
    fields: list[dict[str, LexborNode]] = [{} for _ in cards]
    for name, selector in _CARD_FIELDS.items():
        for node in gallery.css(selector):
            position = _card_position(node, position_of, gallery.mem_id)
            if position is not None and name not in fields[position]:
                fields[position][name] = node
    return fields


def _card_position(node: LexborNode, position_of: dict[int, int], stop: int) -> int | None:
    """Index of the card that contains ``node`` (None when it sits outside every card)."""
    parent = node.parent
    while parent is not None and parent.mem_id != stop:
        position = position_of.get(parent.mem_id)
        if position is not None:
            return position
        parent = parent.parent
    return None


def _store_id(root: LexborNode | None) -> str | None:
    """The store number from the page's hidden search form (``suppliernum``)."""
    if root is None:
        return None
    value = node_attr(root.css_first('input[name="suppliernum"]'), "value")
    return value if value and STORE_ID.fullmatch(value) else None


def _page_position(root: LexborNode | None) -> tuple[int, int | None]:
    """(zero-based page index, page count) from "Page 1/87"; (0, None) when not shown."""
    text = node_text(root.css_first(".filter-page .word")) if root is not None else None
    match = _PAGE_WORD.search(text) if text else None
    if match is None:
        return 0, None
    current, count = int(match.group(1)), int(match.group(2))
    return max(current - 1, 0), count


def _parse_card(fields: dict[str, LexborNode], store_id: str | None) -> ParsedProduct | None:
    """One product card, or None when it carries no item code (then it cannot be tracked)."""
    link = fields.get("link")
    reference = product_ref_from_url(node_attr(link, "href"))
    item_code = _card_item_code(link, reference)
    if item_code is None:
        return None
    image = fields.get("image")
    price = parse_price_range(node_text(fields.get("price_text")))
    original = parse_price_range(node_text(fields.get("original")))
    rating, rating_count = _rating(fields.get("rating_bar"), fields.get("rating_count"))
    return ParsedProduct(
        item_code=item_code,
        title=_card_title(fields.get("title"), image),
        url=product_path(item_code, reference[1] if reference else None),
        image_url=_image_url(image),
        store_id=store_id,
        price_min=price.low,
        price_max=price.high,
        currency=price.currency or original.currency,
        original_price_min=original.low,
        original_price_max=original.high,
        unit=_unit(fields.get("price")),
        sold=parse_count(node_text(fields.get("sold"))),
        rating=rating,
        rating_count=rating_count,
    )


def _card_item_code(
    link: LexborNode | None, reference: tuple[str, str | None] | None
) -> str | None:
    """The ``itemcode`` attribute, else the number at the end of the product link."""
    code = node_attr(link, "itemcode")
    if code and ITEM_CODE.fullmatch(code):
        return code
    return reference[0] if reference else None


def _card_title(title_link: LexborNode | None, image: LexborNode | None) -> str:
    """Full title from ``a.pro-title[title]``; the visible (shortened) text or alt as fallback.

    An empty string means "not shown", since a product always has some title on DHgate.
    """
    return (
        clean_product_name(node_attr(title_link, "title"))
        or clean_product_name(node_text(title_link))
        or clean_product_name(node_attr(image, "alt"))
        or ""
    )


def _image_url(image: LexborNode | None) -> str | None:
    """The thumbnail link, looking past lazy-loading placeholders."""
    if image is None:
        return None
    attributes = image.attributes
    for name in _LAZY_IMAGE_ATTRIBUTES:
        value = (attributes.get(name) or "").strip()
        if value and not value.startswith("data:"):
            return absolute_url(value)
    return None


def _unit(price_item: LexborNode | None) -> str | None:
    """The sales unit after the price: "US $14.90 / Piece" -> "Piece"."""
    text = node_text(price_item)
    if not text or "/" not in text:
        return None
    return text.rsplit("/", 1)[1].strip() or None


def _rating(
    bar: LexborNode | None, count_node: LexborNode | None
) -> tuple[Decimal | None, int | None]:
    """(stars 0..5, review count) from the star bar width ("width:90%" -> 4.5)."""
    count = parse_count(node_text(count_node))
    return _stars(node_attr(bar, "style")), count


@lru_cache(maxsize=256)
def _stars(style: str | None) -> Decimal | None:
    """Stars from a bar style; cached because only a handful of widths ever occur."""
    match = _WIDTH.search(style) if style else None
    if match is None:
        return None
    try:
        stars = Decimal(match.group(1)) / 20
    except InvalidOperation:
        return None
    return min(stars, _FIVE_STARS).normalize()
