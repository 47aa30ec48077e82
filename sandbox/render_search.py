"""HTML for the sandbox's search result pages, shaped like DHgate's Next.js search page.

The search parser reads the products from ``script#__NEXT_DATA__`` →
``props.pageProps.data.totalProducts[]``, with the field names scrapers of the real page read;
the visible list is only there for people looking at the sandbox in a browser.
"""
from __future__ import annotations

from typing import Any

from .model import SandboxProduct, SearchListing, StoreInfo
from .render_common import (
    esc,
    image_url,
    min_order_text,
    price_text,
    product_url,
    request_id,
    script_safe,
    to_json,
)


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


def truncate_search_page(page: str) -> str:
    """A search page cut in the middle of its ``__NEXT_DATA__`` JSON."""
    start = page.find('id="__NEXT_DATA__"')
    end = page.find("</script>", start)
    if start < 0 or end < 0:
        return page[: len(page) // 2]
    return page[: start + (end - start) // 2]
