"""HTML for the sandbox's store tab pages, shaped like DHgate's (small, but the same bones).

The store parser is written against real pages (``dhgate-samples``), so these pages keep exactly
the structure it reads and little else: the legacy server-rendered template, with
``.filter-page .word`` "Page 1/2" above ``#proGallery`` and its ``.gitem`` cards
(``a.pic[itemcode]``, ``a.pro-title[title]``, ``img.gthumbnail``, ``li.price span`` + "/ Piece",
``li.costprice span``, ``.pro-sold .num``, ``.pro-rating``), and the ``div.page`` pager below.
The truncated variant lives here too, since where to cut depends on this page's structure.
"""
from __future__ import annotations

import re

from .model import SandboxProduct, StoreInfo, StoreListing
from .render_common import (
    TAB_LABELS,
    esc,
    image_url,
    price_text,
    product_url,
    request_id,
    short_title,
    sold_text,
    store_tab_url,
    to_json,
)


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
    """The seller block above every tab: name, feedback, transactions and the tab links."""
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
    """The "Page i/N" bar above the gallery, where parsers read the page count."""
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
    """The numbered pager below the gallery (at most ten page links, as on the real site)."""
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
    """One ``.gitem`` card; sale price, sold count and stars appear only when the real card shows them."""
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
