"""HTML for the sandbox's product pages and the not-found page, shaped like DHgate's.

The real product page is a Next.js app-router page: a JSON-LD ``Product`` block, the price only
as a loading skeleton in the HTML, and the page data in ``self.__next_f.push([1,"..."])``
chunks, both as separate rows referenced by ``"$50"`` and inline in the component props. The
product parser must cope with all of that, so this page reproduces it, including a tier row
split across two pushes and the 2026 title template with its placeholder left unresolved.
"""
from __future__ import annotations

import json
from typing import Any

from .model import LAST_TIER_END_QTY, ProductStatus, SandboxProduct, StoreInfo
from .render_common import esc, image_url, product_url, request_id, script_safe, to_json
from .wordlists import plural_unit


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
    """``itemWholesaleRangeVos``: the quantity tiers, the last closed with ``LAST_TIER_END_QTY``."""
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
    """``prodItem``: where the page says sold out (``sellerSoldOut``) and delisted (``istate``)."""
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
    """The seller row (``21``) the product page data references as ``"$21"``."""
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


def truncate_product_page(page: str) -> str:
    """A product page cut inside its JSON-LD block, before any page data arrived."""
    start = page.find('<script type="application/ld+json">')
    end = page.find("</script>", start)
    if start < 0 or end < 0:
        return page[: len(page) // 2]
    return page[: start + (end - start) // 2]
