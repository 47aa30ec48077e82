"""HTML for the sandbox's pages, shaped like the real DHgate pages (small, but the same bones).

The parsers are written against real pages (``dhgate-samples``), so these pages keep exactly the
structure they read and little else:

* store tabs: the legacy server-rendered template: ``.filter-page .word`` "Page 1/2" above
  ``#proGallery`` with ``.gitem`` cards (``a.pic[itemcode]``, ``a.pro-title[title]``,
  ``img.gthumbnail``, ``li.price span`` + "/ Piece", ``li.costprice span``, ``.pro-sold .num``,
  ``.pro-rating``), and the ``div.page`` pager below;
* search: a Next.js page whose data sits in ``script#__NEXT_DATA__`` →
  ``props.pageProps.data.totalProducts[]``;
* product: a Next.js app-router page: a JSON-LD ``Product`` block, the price only as a loading
  skeleton in the HTML, and the page data in ``self.__next_f.push([1,"..."])`` chunks, both as
  separate rows referenced by ``"$50"`` and inline in the component props, like the real page.

Links are absolute on the host the request came to, as the real site links to itself. Money is
rendered from Decimal without ever passing through float.
"""
from __future__ import annotations

import hashlib
import html
import json
import random
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .model import (
    LAST_TIER_END_QTY,
    ProductStatus,
    SandboxProduct,
    SearchListing,
    StoreInfo,
    StoreListing,
)
from .wordlists import plural_unit

TAB_LABELS: dict[str, tuple[str, str, str]] = {
    # tab: (page title words, "found in ..." words, anchor DHgate appends to pager links)
    "products": ("Products", "Products", "#st-navigation-products"),
    "top-selling": ("Top Selling", "Topselling", "#st-navigatin-topselling"),
    "sale-items": ("Sale Items", "Sale Items", "#st-navigation-saleitems"),
}
CARD_TITLE_CHARS = 60
_DECIMAL_MARK = re.compile(r'"@@dec@@(-?\d+(?:\.\d+)?)@@"')


# ---------------------------------------------------------------- helpers


def esc(text: object) -> str:
    """HTML-escape for text and attribute values."""
    return html.escape(str(text), quote=True)


def to_json(value: Any) -> str:
    """Compact JSON where Decimal becomes a JSON number with its exact digits (no float)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return f"@@dec@@{obj}@@"
        raise TypeError(f"cannot serialise {type(obj).__name__}")

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    return _DECIMAL_MARK.sub(r"\1", text)


def script_safe(json_text: str) -> str:
    """Escape JSON for a ``<script>`` body the way Next.js does (no ``</script>`` breakout)."""
    return (json_text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def price_text(low: Decimal, high: Decimal) -> str:
    """``US $13.96 - 14.63`` or ``US $9.90``, as cards and search records print prices."""
    if low == high:
        return f"US ${low:.2f}"
    return f"US ${low:.2f} - {high:.2f}"


def sold_text(sold: int) -> str:
    """``5K+`` from 5000 and up, the plain number below."""
    return f"{sold // 1000}K+" if sold >= 1000 else str(sold)


def min_order_text(product: SandboxProduct) -> str:
    """``1 Piece`` / ``2 Pieces``."""
    unit = product.unit if product.min_order == 1 else plural_unit(product.unit)
    return f"{product.min_order} {unit}"


def short_title(title: str) -> str:
    """Cards cut long titles to about 60 characters with an ellipsis."""
    return title if len(title) <= CARD_TITLE_CHARS else title[:CARD_TITLE_CHARS].rstrip() + "..."


def product_url(base: str, product: SandboxProduct) -> str:
    """Canonical product URL on this host."""
    return f"{base}/product/{product.slug}/{product.item_code}.html"


def image_url(base: str, item_code: str) -> str:
    """Absolute on this host. DHgate's CDN links are protocol-relative and always https; the
    sandbox speaks plain http, so a protocol-relative link would point browsers at a port that
    does not speak TLS."""
    return f"{base}/__sandbox__/img/{item_code}.svg"


def store_tab_url(base: str, tab: str, store_id: str, page: int) -> str:
    """Zero-based pages: page 0 is ``/store/{tab}/{n}.html``, page 1 ``/store/{tab}/{n}/1.html``."""
    if page <= 0:
        return f"{base}/store/{tab}/{store_id}.html"
    return f"{base}/store/{tab}/{store_id}/{page}.html"


def request_id(*parts: object) -> str:
    """A stable tracking id, like the hex ids DHgate puts in links, so cached pages match."""
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


# ---------------------------------------------------------------- store pages


def render_store_page(listing: StoreListing, base: str) -> str:
    """A store tab page in the legacy server-rendered template."""
    store, tab = listing.store, listing.tab
    title_words, found_words, anchor = TAB_LABELS[tab]
    rid = request_id(store.store_id, tab, listing.page_index, listing.version)
    cards = "".join(_store_card(i, product, base, tab, rid) for i, product in enumerate(listing.products))
    search_form = {"supplierid": store.supplier_id, "suppliernum": store.store_id,
                   "pagesize": str(listing.page_size), "searchkey": ""}
    return f"""<!DOCTYPE HTML>
<html lang="en" class="en">
<head>
    <meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>
    <title>{esc(store.name.capitalize())} - Shop {title_words} at the Top Store | DHgate.com</title>
    <meta name="description" content="Great savings on {title_words.lower()} at DHgate from {esc(store.name)}."/>
</head>
<body>
<div class="layout">
{_store_header(store, base)}
    <div class="col-main">
            <div class="mainout" id="MainContent">
                <div class="searchresult">
                    <div class="searchresult-note"><span class="num">{listing.total:,}</span> matching products found in {found_words}</div>
                </div>
                <!--filter start-->
                <div class="filter clearfix">
{_filter_pager(listing, base, anchor)}
                    <div class="filter-view">
                            <span class="view-galleryed"></span>
                    </div>
                </div>
                <!--filter end-->
                <!-- gallery -->
                        <div class="gitemwrap clearfix" id="proGallery" spm-c="{tab.replace('-', '')}-products">
{cards}                        </div>
{_bottom_pager(listing, base, anchor)}
            </div>
    </div>
</div>
<form action="/wholesale/store.do" method="GET" name="mainForm">
    <input type="hidden" name="act" value="sellerStore"/>
    <input type="hidden" id="listsearchkey" name="searchkey" value=""/>
    <input type="hidden" name="suppliernum" value="{store.store_id}"/>
    <input type="hidden" name="viewtype" value="3"/>
    <input type="hidden" name="pagesize" value="{listing.page_size}"/>
</form>
<script type="text/javascript">
    SL.searchFormJSONStr = '{to_json(search_form)}';
    SL.supplierID = '{store.supplier_id}';
</script>
</body>
</html>
"""


def _store_header(store: StoreInfo, base: str) -> str:
    tabs = "".join(
        f'<li><a href="{store_tab_url(base, tab, store.store_id, 0)}{anchor}">{words}</a></li>'
        for tab, (words, _, anchor) in TAB_LABELS.items()
    )
    return f"""    <div class="infowrap zz-topInfoWrap" id="topInfoWrap">
        <div id="storeInfoMain" class="storeinfo">
            <div class="seller-info-right">
                <div class="selle-name">
                    <a class="sto-name" href="{base}/store/{store.store_id}">
                    {esc(store.name)}
                    </a>
                    <span class="add-favorite-btn j-add-store" supplierid="{store.supplier_id}">
                        <span>Add to Favorites</span>
                    </span>
                </div>
                <div class="feedback-score">
                    <ul class="feedback-info">
                        <li><a rel="nofollow" href="{base}/store/{store.store_id}">
                        {store.positive_feedback}%
                        </a>Positive Feedback</li>
                        <li class="feedback-statistic"><a rel="nofollow" class="num" href="{base}/store/{store.store_id}">
                        {store.transactions}
                        </a>Transactions</li>
                    </ul>
                </div>
            </div>
        </div>
        <div class="storenav"><ul><li><a href="{base}/store/{store.store_id}">Store Home</a></li>{tabs}</ul></div>
    </div>"""


def _pager_link(listing: StoreListing, base: str, anchor: str, page: int, css: str, text: str = "") -> str:
    """A pager link to another page of the same tab, as DHgate writes them."""
    href = store_tab_url(base, listing.tab, listing.store.store_id, page) + anchor
    return f'<a href="{href}" rel="nofollow" class="{css}">{text}</a>'


def _filter_pager(listing: StoreListing, base: str, anchor: str) -> str:
    index, count = listing.page_index, listing.page_count
    pre = _pager_link(listing, base, anchor, index - 1, "pre") if index > 0 else '<span class="pre"></span>'
    nxt = (_pager_link(listing, base, anchor, index + 1, "next") if index < count - 1
           else '<span class="next"></span>')
    return f"""                    <div class="filter-page">
                        <span class="word">Page {index + 1}/{count}</span>
                            {pre}
                            {nxt}
                    </div>"""


def _bottom_pager(listing: StoreListing, base: str, anchor: str) -> str:
    index, count = listing.page_index, listing.page_count
    first = max(0, min(index - 4, count - 10))
    links = [
        f'<b class="item-box">{page + 1}</b>' if page == index
        else _pager_link(listing, base, anchor, page, "item-box", str(page + 1))
        for page in range(first, min(count, first + 10))
    ]
    pre = (_pager_link(listing, base, anchor, index - 1, "pre item-box") if index > 0
           else '<span class="unpre item-box"></span>')
    nxt = (_pager_link(listing, base, anchor, index + 1, "next item-box") if index < count - 1
           else '<span class="unnext item-box"></span>')
    return f"""                <div class="page">
                        {pre}<span class="pagelist">{"".join(links)}</span>{nxt}
                        <div class="perpage">
                            Items per page:
                                <strong>{listing.page_size}</strong>
                        </div>
                </div>"""


def _store_card(index: int, product: SandboxProduct, base: str, tab: str, rid: str) -> str:
    link = (f"{product_url(base, product)}#st1-{index}-store|{rid}|recentlysold;"
            f"stprod|{product.store_id}")
    spm = tab.replace("-", "") + "-products"
    short = esc(short_title(product.title))
    cost = ""
    if product.original_min is not None and product.original_max is not None:
        cost = f'\n                                                <li class="costprice"><span>{price_text(product.original_min, product.original_max)}</span></li>'
    sold = ""
    if product.sold > 0:
        sold = f'\n                                            <div class="pro-sold" bstore="o-12"> <span class="num">{sold_text(product.sold)} </span> Sold</div>'
    rating = ""
    if product.rating is not None and product.rating_count > 0:
        rating = f"""
                                                <span class="rating">
                                                    <span style="width:{product.rating * 20:.0f}%;"></span>
                                                </span>
                                                    (<span class="num">{product.rating_count}</span>)"""
    return f"""                                <div index="{index}" class="gitem
                                    ">
                                    <div class="gpro">
                                        <a spm-index="{index + 1}" spm-c="{spm}" event-type="expose" href="{esc(link)}" class="pic" itemcode="{product.item_code}">
                                            <img alt="{short}" src="{image_url(base, product.item_code)}" class="gthumbnail"/>
                                        </a>
                                        <a spm-index="{index + 1}" spm-c="{spm}" href="{esc(link)}" class="pro-title" title="{esc(product.title)}">
                                            {short}
                                        </a>
                                    </div>
                                    <ul class="pricewrap">
                                        <li class="vip">
                                        </li>
                                                <li class="price"><span>{price_text(product.price_min, product.price_max)}</span> / {esc(product.unit)}</li>{cost}
                                    </ul>
                                    <div class="list-pro">{sold}
                                        <div class="pro-rating">{rating}
                                        </div>
                                        <div class="cart" impressioninfo="" itemcodeid="{product.item_code}">
                                            <span spm-index="{index + 1}" event-type="click" spm-c="staddtocart" class="n-yellow-button">Add to Cart</span>
                                        </div>
                                    </div>
                                </div>
"""


def render_store_not_found(store_id: str) -> str:
    """What an unknown store number answers (with 404): no gallery, nothing to misread."""
    return f"""<!DOCTYPE HTML>
<html lang="en" class="en">
<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"/><title>Page Not Found | DHgate.com</title></head>
<body>
<div class="errorpage">
    <h1>Sorry, the page you requested can not be found.</h1>
    <p>The store {esc(store_id)} does not exist or has been closed.</p>
</div>
</body>
</html>
"""


# ---------------------------------------------------------------- search pages


def search_record(product: SandboxProduct, store: StoreInfo, base: str, position: int,
                  page_index: int, rid: str) -> dict[str, Any]:
    """One ``totalProducts[]`` record, with the field names scrapers of the real page read."""
    record: dict[str, Any] = {
        "itemcode": product.item_code,
        "productname": product.title,
        "price": price_text(product.price_min, product.price_max),
        "minOrder": min_order_text(product),
        "measureName": product.unit,
        "productDetailUrl": (f"{product_url(base, product)}?d1_page_num={page_index + 1}"
                             f"#s1-{position}-1;searl|{rid[:10]}:{position + 1}"),
        "imageUrl": image_url(base, product.item_code),
        "recentlysold": str(product.sold),
        "feedBackPercent": f"{store.positive_feedback}%",
        "domainname": store.name,
        "supplierid": store.supplier_id,
        "sellerStoreUrl": f"{base}/store/{store.store_id}#listing_store-{position}",
    }
    if product.original_min is not None and product.original_max is not None:
        record["originalPrice"] = price_text(product.original_min, product.original_max)
    return record


def render_search_page(listing: SearchListing, base: str) -> str:
    """A search results page: the products live in ``script#__NEXT_DATA__``."""
    rid = request_id("search", listing.keyword, listing.page_index, listing.version)
    records = [
        search_record(p, listing.stores[p.store_id], base, i, listing.page_index, rid)
        for i, p in enumerate(listing.products)
    ]
    data = {
        "props": {
            "pageProps": {
                "data": {
                    "totalProducts": records,
                    "totalCount": listing.total,
                    "pageNum": listing.page_index,
                    "pageSize": listing.page_size,
                    "pageCount": listing.page_count,
                    "searchKey": listing.keyword,
                },
                "lang": "en",
                "currency": "USD",
            },
            "__N_SSP": True,
        },
        "page": "/wholesale/search",
        "query": {"act": "search", "searchkey": listing.keyword, "pageNum": str(listing.requested_page)},
        "buildId": "sandbox",
        "isFallback": False,
        "gssp": True,
        "locale": "en",
        "scriptLoader": [],
    }
    items = "".join(
        f'<li class="search-item"><a href="{esc(product_url(base, p))}">{esc(p.title)}</a> '
        f"<span>{price_text(p.price_min, p.price_max)}</span></li>"
        for p in listing.products
    )
    keyword = esc(listing.keyword)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/><title>Wholesale {keyword} - Buy Cheap {keyword} from Best Wholesalers | DHgate.com</title></head>
<body><div id="__next"><div class="search-result"><h1 class="search-title">{listing.total:,} results for "{keyword}"</h1><ul class="search-list">{items}</ul></div></div>
<script id="__NEXT_DATA__" type="application/json">{script_safe(to_json(data))}</script>
</body></html>
"""


# ---------------------------------------------------------------- product pages


def _price_vo(product: SandboxProduct) -> dict[str, Any]:
    """``maxAndMinPriceVo``: on a sale the real site keeps the list price in min/maxBuyerPrice
    and the price actually charged in dealMin/dealMaxBuyerPrice; without a sale both agree."""
    list_min = product.original_min if product.original_min is not None else product.price_min
    list_max = product.original_max if product.original_max is not None else product.price_max
    discount = 0
    if product.original_min is not None:
        discount = round((1 - product.price_min / list_min) * 100)
    return {
        "promoStatus": "2" if product.on_sale else "0",
        "promDiscount": discount,
        "maxBuyerPrice": list_max,
        "minBuyerPrice": list_min,
        "minBuyerPriceUSD": list_min,
        "dealMaxBuyerPrice": product.price_max,
        "dealMinBuyerPrice": product.price_min,
        "dealMinBuyerPriceUSD": product.price_min,
        "showNewBuyerPrice": False,
        "newBuyerLowPrice": False,
    }


def _tier_rows(product: SandboxProduct) -> list[dict[str, Any]]:
    return [
        {
            "startQty": tier.min_qty,
            "endQty": tier.max_qty if tier.max_qty is not None else LAST_TIER_END_QTY,
            "originalPrice": tier.original_price,
            "promDiscountPrice": tier.price,
            "orgInternationalPrice": tier.original_price,
            "disInternationalPrice": tier.price,
            "discount": 0,
            "vipPrice": 0,
            "newBuyerLowPrice": False,
        }
        for tier in product.tiers
    ]


def _prod_item(product: SandboxProduct, store: StoreInfo) -> dict[str, Any]:
    return {
        "itemCode": product.item_code,
        "productId": request_id("product", product.item_code)[:32],
        "productName": product.title,
        "supplierId": store.supplier_id,
        "measureName": product.unit,
        "sellerSoldOut": not product.in_stock,
        "istate": product.status is ProductStatus.LISTED,
        "seoName": product.slug,
        "minOrder": str(product.min_order),
        "saleNum": product.sold,
        "lots": 1,
        "plural": plural_unit(product.unit),
        "canonical": f"product/{product.slug}/{product.item_code}.html",
        "maxSaleQty": "100000",
    }


def _seller(store: StoreInfo) -> dict[str, Any]:
    return {
        "supplierid": store.supplier_id,
        "suppliername": store.name,
        "contactpersondomainname": store.name,
        "supplierSeq": int(store.store_id),
        "showpercentum": str(store.positive_feedback),
        "transactions": str(store.transactions),
        "ishaveStore": True,
    }


# DHgate's 2026 product pages put the page-title template, placeholder unresolved, into the
# JSON-LD name and the <title>. Products with an odd item code get it, the others the older
# "From {store}, ${price} | DHgate.Com" title, so tests and the demo meet both.
TITLE_TAIL_2026 = " From &Price; | DHgate"


def has_2026_title(product: SandboxProduct) -> bool:
    """Whether the product's page carries the 2026 title template (odd item codes)."""
    return int(product.item_code) % 2 == 1


def product_json_ld(product: SandboxProduct, store: StoreInfo, base: str) -> list[dict[str, Any]]:
    """The JSON-LD ``Product`` (+ breadcrumb) block; ``offers.price`` is the lowest price charged."""
    available = product.in_stock and product.status is ProductStatus.LISTED
    item: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "Product",
        "name": product.title + TITLE_TAIL_2026 if has_2026_title(product) else product.title,
        "image": [f"{base}/__sandbox__/img/{product.item_code}.svg"],
        "description": product.title,
        "brand": {"@type": "Brand", "name": "dhgate"},
        "sku": product.item_code,
        "mpn": product.item_code[-3:],
    }
    if product.rating is not None and product.rating_count > 0:
        item["aggregateRating"] = {"@type": "AggregateRating", "ratingValue": product.rating,
                                   "reviewCount": product.rating_count}
    item["offers"] = {
        "@type": "Offer",
        "priceCurrency": "USD",
        "price": product.price_min,
        "availability": "https://schema.org/InStock" if available else "https://schema.org/OutOfStock",
        "url": product_url(base, product),
        "offerCount": product.sold,
    }
    crumbs = {
        "@context": "http://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": 1, "item": {"@id": base, "name": "DHgate"}},
            {"@type": "ListItem", "position": 2, "item": {"@id": "", "name": product.title}},
        ],
    }
    return [item, crumbs]


def _push(payload: str) -> str:
    """One ``self.__next_f.push([1,"..."])`` script: the flight rows as an escaped JS string."""
    return f"<script>self.__next_f.push([1,{script_safe(json.dumps(payload, ensure_ascii=False))}])</script>"


def _flight_pushes(product: SandboxProduct, store: StoreInfo) -> list[str]:
    """The page data as the real page streams it: rows ``21`` (seller), ``4b`` (prodItem),
    ``50`` (maxAndMinPriceVo), ``52...`` (tiers, split across two pushes mid-row as the real
    stream is), ``51``/``4f`` (references), then the component row with everything inline."""
    tiers = _tier_rows(product)
    first_tier_row = 0x52
    tier_rows = "".join(f"{first_tier_row + i:x}:{to_json(t)}\n" for i, t in enumerate(tiers))
    refs = to_json([f"${first_tier_row + i:x}" for i in range(len(tiers))])
    cut = len(tier_rows) // 2
    inline = [
        "$", "div", None, {
            "className": "productMain",
            "spm-c": "product_main",
            "children": [["$", "$L2c", None, {
                "lang": "en",
                "dispCurrency": "USD",
                "itemCode": product.item_code,
                "prodItem": _prod_item(product, store),
                "prodPrice": {"maxAndMinPriceVo": _price_vo(product),
                              "itemWholesaleRangeVos": tiers, "taxAmo": 0},
                "prodSeller": "$21",
            }]],
        },
    ]
    return [
        '<script>(self.__next_f=self.__next_f||[]).push([0]);self.__next_f.push([2,null])</script>',
        _push('1:HL["/__sandbox__/static/product.css","style"]\n0:"$L2"\n'),
        _push(f"21:{to_json(_seller(store))}\n"),
        _push(f"4b:{to_json(_prod_item(product, store))}\n"),
        _push(f"50:{to_json(_price_vo(product))}\n"),
        _push(tier_rows[:cut]),
        _push(tier_rows[cut:] + f"51:{refs}\n"
              + '4f:{"maxAndMinPriceVo":"$50","itemWholesaleRangeVos":"$51","taxAmo":0}\n'),
        _push(f"9:{to_json(inline)}\n"),
        _push(""),
    ]


def render_product_page(product: SandboxProduct, store: StoreInfo, base: str) -> str:
    """A product page: title and rating in the HTML, prices only in the structured data."""
    title = esc(product.title)
    delisted = product.status is not ProductStatus.LISTED
    notice = ('<div class="productOffline_offline">Sorry, this item is no longer available.</div>'
              if delisted else "")
    stars = ""
    if product.rating is not None and product.rating_count > 0:
        stars = (f'<div class="productSellerMsg_starWarp" id="starLevel"><span class="productSellerMsg_starGary">'
                 f'<span class="productSellerMsg_starLight" style="width:{product.rating * 20:.0f}%"></span></span>'
                 f"<span>{product.rating}</span></div>"
                 f'<span class="productSellerMsg_reviewsCount"><a rel="nofollow">(<!-- -->{product.rating_count}'
                 f"<!-- --> <!-- -->Reviews<!-- -->)</a></span><b>|</b>")
    json_ld = script_safe(to_json(product_json_ld(product, store, base)))
    if has_2026_title(product):
        page_title = title + esc(TITLE_TAIL_2026)
    else:
        page_title = f"{title} From {esc(store.name.capitalize())}, ${product.price_min:.2f} | DHgate.Com"
    return (
        '<!DOCTYPE html><html lang="EN"><head><meta charSet="utf-8"/>'
        f"<title>{page_title}</title>"
        f'<link rel="canonical" href="{product_url(base, product)}"/></head>'
        '<body spm-b="pd"><div class="productMain_productMain">'
        f'<div class="masterMap_bigMap"><img src="{image_url(base, product.item_code)}" alt="{title}" id="masterImg"/></div>'
        '<div class="productInfo_productInfoWarp"><div class="productInfo_productInfo">'
        f"{notice}<h1>{title}</h1>"
        f'<div class="productSellerMsg_sellerInfo">{stars}'
        f'<span class="productSellerMsg_sold">{product.sold}<!-- --> <!-- -->sold</span></div>'
        '<div class="productPrice_priceWarp"><div class="productPrice_proPrice"><span aria-live="polite" aria-busy="true">'
        '<span class="react-loading-skeleton productPrice_priceSkeleton" style="height:24px">\u200c</span></span></div></div>'
        '<div class="productRangePrice_skuBulkSavingListWarp"><span aria-live="polite" aria-busy="true">'
        '<span class="react-loading-skeleton productRangePrice_rangeSkeleton82">\u200c</span></span></div>'
        "</div></div>"
        f'<div class="storeNavagation"><a class="storeNavagation_storeName" href="{base}/store/{store.store_id}">'
        f"<b>{esc(store.name)}</b></a></div>"
        f'<input type="hidden" id="itemCode" value="{product.item_code}"/>'
        f'<input type="hidden" id="supplierid" value="{store.supplier_id}"/>'
        f'<script type="application/ld+json">{json_ld}</script>'
        "</div>"
        + "".join(_flight_pushes(product, store))
        + "</body></html>\n"
    )


def render_not_found_page(item_code: str) -> str:
    """The Next.js not-found page a removed or unknown item answers (condensed real sample)."""
    code = json.dumps(str(item_code))[1:-1]
    rows = [
        '0:"$L2"\n',
        ('2:[null,["$","html",null,{"lang":"EN","children":[["$","head",null,{}],["$","body",null,'
         '{"spm-b":"pd","children":[["$","$Lb",null,{"notFound":[["$","title",null,{"children":'
         '"404: This page could not be found."}],["$","div",null,{"children":[["$","h1",null,'
         '{"className":"next-error-h1","children":"404"}],["$","div",null,{"children":["$","h2",null,'
         '{"children":"This page could not be found."}]}]]}]]}]]}]]}],null]\n'),
        (f'e:[["$","meta",null,{{"name":"robots","content":"noindex"}}],["$","$L19",null,'
         f'{{"relatedKeywords":"","type":"notfound","itemCode":"{code}","lang":"en","isBot":false}}]]\n'),
        '9:null\n1e:E{"digest":"NEXT_NOT_FOUND"}\n',
    ]
    return (
        '<!DOCTYPE html><html id="__next_error__"><head><meta charSet="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1, maximum-scale=1, user-scalable=0"/>'
        '<meta name="robots" content="noindex"/></head><body>'
        '<script>(self.__next_f=self.__next_f||[]).push([0]);self.__next_f.push([2,null])</script>'
        + "".join(_push(row) for row in rows)
        + _push("")
        + "</body></html>\n"
    )


# ---------------------------------------------------------------- failure pages


def _entity_url(url: str) -> str:
    return "".join(f"&#{ord(ch)};" if ch in ":/." else esc(ch) for ch in url)


def render_access_denied(url: str, reference: str) -> str:
    """The CDN's "Access Denied" answer (same shape as the captured sample)."""
    ref = _entity_url(reference)
    return f"""<HTML><HEAD>
<TITLE>Access Denied</TITLE>
</HEAD><BODY>
<H1>Access Denied</H1>

You don't have permission to access "{_entity_url(url)}" on this server.<P>
Reference&#32;&#35;{ref}
<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;{ref}</P>
</BODY>
</HTML>
"""


def render_challenge(ray_id: str) -> str:
    """A bot-check interstitial ("Just a moment...") that needs JavaScript and cookies."""
    return f"""<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">
</head><body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">www.dhgate.com</h1>
<h2 id="challenge-running" class="h2">Checking if the site connection is secure</h2>
<noscript><div id="challenge-error-title">Enable JavaScript and cookies to continue</div></noscript>
<div id="challenge-body-text" class="core-msg spacer">www.dhgate.com needs to review the security of your connection before proceeding.</div>
</div></div>
<script>(function(){{window._cf_chl_opt={{cvId: '3',cRay: '{ray_id}',cType: 'managed'}};}}());</script>
<div class="footer" role="contentinfo"><div class="footer-inner">Ray ID: <code>{ray_id}</code></div></div>
</body></html>
"""


def render_rate_limited(retry_after: int) -> str:
    """What a 429 carries: says nothing about products."""
    return (f"<html><head><title>429 Too Many Requests</title></head><body><h1>Too Many Requests</h1>"
            f"<p>Please retry after {retry_after} seconds.</p></body></html>\n")


def render_http_error(status: int, title: str, message: str) -> str:
    """A bare error page (upstream errors, unknown paths)."""
    return (f"<html><head><title>{status} {esc(title)}</title></head><body>"
            f"<h1>{esc(title)}</h1><p>{esc(message)}</p></body></html>\n")


def render_server_error(status: int) -> str:
    """What a 5xx from the origin or CDN carries."""
    return render_http_error(status, "Service Unavailable",
                             "The server is temporarily unable to service your request.")


def render_garbled(rng: random.Random, style: str) -> bytes:
    """Junk in place of a page: random bytes, or broken markup without any product data."""
    if style == "bytes":
        return rng.randbytes(2048)
    junk = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz<>/=\"' {};:0123456789\ufffd") for _ in range(1500))
    return (f"<html><head><title>DHgate</title></head><body><div class=\"mainout\"><div cla{junk}"
            f"\x00\x1b<d iv ></sc ript>{junk[::-1]}</body></html>\n").encode("utf-8", "replace")


# ---------------------------------------------------------------- truncation


def truncate_store_page(page: str, keep_pager: bool = False) -> str:
    """The store page cut off half way through the gallery, before ``#proGallery`` closes.

    The cut lands inside a card, so the last card is incomplete and no card list, bottom pager
    or closing tag survives. Unless ``keep_pager`` is set, the "Page i/N" bar above the gallery
    is withheld too: then the page carries neither a complete card list nor a page count, and
    whatever completeness signal a parser checks, this cannot pass as a smaller store.
    """
    cards = [m.start() for m in re.finditer(r'<div index="\d+" class="gitem', page)]
    grid = page.find('id="proGallery"')
    if cards:
        middle = len(cards) // 2
        card_end = cards[middle + 1] if middle + 1 < len(cards) else page.find('<div class="page">', cards[middle])
        cut = cards[middle] + max(1, (card_end - cards[middle]) // 2)
    elif grid >= 0:
        cut = grid + len('id="pro')  # inside the gallery's own opening tag
    else:
        cut = len(page) // 2
    prefix = page[:cut]
    if not keep_pager:
        prefix = re.sub(r'<div class="filter-page">.*?</div>', '<div class="filter-page">', prefix,
                        count=1, flags=re.S)
    return prefix


def truncate_search_page(page: str) -> str:
    """A search page cut in the middle of its ``__NEXT_DATA__`` JSON."""
    start = page.find('id="__NEXT_DATA__"')
    end = page.find("</script>", start)
    if start < 0 or end < 0:
        return page[: len(page) // 2]
    return page[: start + (end - start) // 2]


def truncate_product_page(page: str) -> str:
    """A product page cut inside its JSON-LD block, before any page data arrived."""
    start = page.find('<script type="application/ld+json">')
    end = page.find("</script>", start)
    if start < 0 or end < 0:
        return page[: len(page) // 2]
    return page[: start + (end - start) // 2]


# ---------------------------------------------------------------- people-facing pages


def render_index(summary: dict[str, Any], faults: dict[str, Any], base: str,
                 examples: Iterable[str]) -> str:
    """A small page for people: every store with links to its tabs, a search box, the state."""
    store_faults = faults.get("stores", {})
    rows = []
    for store in summary["stores"]:
        sid = store["store_id"]
        fault = store_faults.get(sid, {}).get("mode", "ok")
        tabs = " · ".join(
            f'<a href="{store_tab_url(base, tab, sid, 0)}">{words}</a>'
            for tab, (words, _, _) in TAB_LABELS.items()
        )
        rows.append(
            f"<tr><td>{sid}</td><td>{esc(store['name'])}</td><td>{store['listed']}</td>"
            f"<td>{store['out_of_stock']}</td><td>{store['delisted']}</td><td>{store['removed']}</td>"
            f"<td>{esc(fault)}</td><td>{tabs}</td></tr>"
        )
    site_fault = (faults.get("site") or {}).get("mode", "ok")
    search = f"{base}/wholesale/search.do?act=search&amp;pageNum=0&amp;searchkey="
    links = " ".join(f'<a href="{search}{esc(k)}">{esc(k)}</a>' for k in examples)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>DHgate sandbox marketplace</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}</style>
</head><body>
<h1>DHgate sandbox marketplace</h1>
<p>Seed {summary['seed']} · version {summary['version']} · step {summary['step']} · {summary['products_total']} products ·
site fault: <b>{esc(site_fault)}</b> · <a href="{base}/__sandbox__/state">state (JSON)</a></p>
<form action="{base}/wholesale/search.do" method="get"><input type="hidden" name="act" value="search"/>
<input name="searchkey" placeholder="led strip"/><input type="hidden" name="pageNum" value="0"/><button>Search</button></form>
<p>Try: {links}</p>
<table><thead><tr><th>store</th><th>name</th><th>listed</th><th>sold out</th><th>delisted</th><th>removed</th><th>fault</th><th>tabs</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""


def render_placeholder_svg(item_code: str) -> str:
    """A product image that needs no internet: a coloured tile with the item code."""
    hue = int(hashlib.md5(item_code.encode()).hexdigest()[:2], 16) * 360 // 256
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200">'
            f'<rect width="200" height="200" fill="hsl({hue},55%,70%)"/>'
            f'<text x="100" y="108" font-family="sans-serif" font-size="20" text-anchor="middle">'
            f"{esc(item_code)}</text></svg>")
