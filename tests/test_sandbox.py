"""The sandbox marketplace: a real server on 127.0.0.1, spoken to over HTTP with httpx.

The pages must keep the real DHgate structure (store grid, ``__NEXT_DATA__``, JSON-LD and
``self.__next_f`` page data), every fault mode must answer as the real site's failures do, and
the same seed must always give the same marketplace. The last group runs the project's own
parsers over the sandbox's pages, so the two cannot drift apart.
"""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from sandbox import (
    Catalog,
    CatalogError,
    FaultError,
    ProductStatus,
    SandboxServer,
    UnknownProduct,
    run_sandbox,
)
from sandbox.model import STORE_PAGE_SIZE
from services.dhgate import parsers, types

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED = 7


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=SEED, stores=6, products_per_store=40) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(sandbox: SandboxServer) -> None:
    """Each test starts from the freshly built catalog, no faults, zero counts."""
    sandbox.reset()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


# ------------------------------------------------------------------ helpers


def tree(text: str) -> LexborHTMLParser:
    return LexborHTMLParser(text)


def first_store(sandbox: SandboxServer) -> str:
    return sandbox.catalog.store_ids()[0]


def next_data(text: str) -> dict[str, Any]:
    script = tree(text).css_first("script#__NEXT_DATA__")
    assert script is not None
    return json.loads(script.text(deep=True))["props"]["pageProps"]["data"]


def json_ld_product(text: str) -> dict[str, Any]:
    script = tree(text).css_first('script[type="application/ld+json"]')
    assert script is not None
    return next(item for item in json.loads(script.text(deep=True), parse_float=Decimal)
                if item["@type"] == "Product")


def flight_rows(text: str) -> dict[str, Any]:
    """Decode the ``self.__next_f.push([1, "..."])`` stream into its JSON rows."""
    stream = ""
    for script in tree(text).css("script"):
        body = script.text(deep=True)
        if body.startswith("self.__next_f.push([1,"):
            stream += json.loads(body[len("self.__next_f.push("):-1])[1]
    rows: dict[str, Any] = {}
    for line in stream.split("\n"):
        match = re.match(r"([0-9a-f]+):([\[{].*)$", line)
        if match:
            rows[match.group(1)] = json.loads(match.group(2), parse_float=Decimal)
    return rows


def card_codes(text: str) -> list[str]:
    return [node.attributes["itemcode"] or "" for node in tree(text).css("#proGallery .gitem a.pic")]


def store_page_ok(response: httpx.Response) -> bool:
    """A 200 store page with product cards on it (not just any 200)."""
    return response.status_code == 200 and len(card_codes(response.text)) > 0


def search_page_ok(response: httpx.Response) -> bool:
    """A 200 search page whose page data lists products."""
    return response.status_code == 200 and len(next_data(response.text)["totalProducts"]) > 0


def text_of(node: LexborNode | None) -> str:
    assert node is not None
    return " ".join(node.text(deep=True).split())


# ------------------------------------------------------------------ store pages


def test_store_page_has_24_cards_shaped_like_dhgate(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    listing = sandbox.catalog.store_listing(store_id, "top-selling", 0)
    assert listing is not None
    response = http.get(sandbox.store_url(store_id, "top-selling"))
    assert response.status_code == 200
    page = tree(response.text)
    cards = page.css("#proGallery .gitem")
    assert len(cards) == STORE_PAGE_SIZE
    assert text_of(page.css_first(".filter-page .word")) == "Page 1/2"
    assert response.text.rstrip().endswith("</html>")
    for card, product in zip(cards, listing.products, strict=True):
        link = card.css_first("a.pic")
        assert link is not None and link.attributes["itemcode"] == product.item_code
        assert re.fullmatch(r"\d{9}", product.item_code)
        assert (link.attributes["href"] or "").startswith(
            f"{sandbox.base_url}/product/{product.slug}/{product.item_code}.html")
        title = card.css_first("a.pro-title")
        assert title is not None and title.attributes["title"] == product.title
        image = card.css_first("img.gthumbnail")
        assert image is not None and (image.attributes["src"] or "").startswith(sandbox.base_url + "/__sandbox__/img/")
        assert text_of(card.css_first("li.price")).endswith(f"/ {product.unit}")
    # top-selling is ordered by sold count, best first
    sold = [p.sold for p in listing.products]
    assert sold == sorted(sold, reverse=True)


def test_card_fields_show_exact_prices_sold_and_rating(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    change = sandbox.catalog.add_product(
        store_id, title="LED Strip Lights 5050 RGB Test Listing", price_min="13.96", price_max="14.63",
        original_min="28.50", original_max="29.85", sold=5234, rating="4.5", rating_count=4360,
        unit="Pair", min_order=2,
    )
    code = change.item_code
    page = tree(http.get(sandbox.store_url(store_id, "products")).text)
    card = next(c for c in page.css("#proGallery .gitem")
                if c.css_first("a.pic").attributes["itemcode"] == code)  # type: ignore[union-attr]
    assert text_of(card.css_first("li.price span")) == "US $13.96 - 14.63"
    assert text_of(card.css_first("li.price")) == "US $13.96 - 14.63 / Pair"
    assert text_of(card.css_first("li.costprice span")) == "US $28.50 - 29.85"
    assert text_of(card.css_first(".pro-sold .num")) == "5K+"
    stars = card.css_first(".pro-rating .rating > span")
    assert stars is not None and stars.attributes["style"] == "width:90%;"
    assert text_of(card.css_first(".pro-rating .num")) == "4360"


def test_store_pages_are_zero_based_and_cover_every_listed_product(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    first = http.get(sandbox.store_url(store_id, "top-selling", 0)).text
    next_link = tree(first).css_first(".filter-page a.next")
    assert next_link is not None
    assert (next_link.attributes["href"] or "").startswith(
        f"{sandbox.base_url}/store/top-selling/{store_id}/1.html")
    second = http.get(sandbox.url(f"/store/top-selling/{store_id}/1.html")).text
    assert text_of(tree(second).css_first(".filter-page .word")) == "Page 2/2"
    assert tree(second).css_first(".filter-page a.next") is None  # last page: no next link
    codes = card_codes(first) + card_codes(second)
    listed = {p.item_code for p in sandbox.catalog.products(store_id, [ProductStatus.LISTED])}
    assert len(codes) == 40 and len(set(codes)) == 40 and set(codes) == listed
    # past the last page the store answers its last page again, never an empty grid
    beyond = http.get(sandbox.url(f"/store/top-selling/{store_id}/9.html")).text
    assert card_codes(beyond) == card_codes(second)


def test_all_store_path_forms_answer(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    products_tab = card_codes(http.get(sandbox.url(f"/store/products/{store_id}.html")).text)
    assert len(products_tab) == 24
    assert card_codes(http.get(sandbox.url(f"/store/{store_id}")).text) == products_tab
    assert card_codes(http.get(sandbox.url(f"/store/{store_id}.html")).text) == products_tab
    assert len(card_codes(http.get(sandbox.url(f"/store/products/{store_id}/1.html")).text)) == 16
    sale = http.get(sandbox.url(f"/store/sale-items/{store_id}.html")).text
    on_sale = {p.item_code for p in sandbox.catalog.products(store_id) if p.on_sale}
    assert set(card_codes(sale)) == on_sale and on_sale
    assert len(tree(sale).css("#proGallery .gitem li.costprice")) == len(on_sale)


def test_empty_store_renders_the_grid_without_cards(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = sandbox.catalog.add_store(name="emptyshop").store_id
    response = http.get(sandbox.store_url(store_id))
    assert response.status_code == 200
    page = tree(response.text)
    assert page.css_first("#proGallery") is not None
    assert page.css("#proGallery .gitem") == []
    assert response.text.rstrip().endswith("</html>")


def test_unknown_store_is_404_without_a_grid(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = http.get(sandbox.store_url("99999999"))
    assert response.status_code == 404
    assert "proGallery" not in response.text


# ------------------------------------------------------------------ search pages


def test_search_page_carries_records_in_next_data(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = http.get(sandbox.search_url("led", 0))
    assert response.status_code == 200
    data = next_data(response.text)
    records = data["totalProducts"]
    listing = sandbox.catalog.search("led", 0)
    assert listing.total > 40 and len(records) == 40
    assert data["totalCount"] == listing.total and data["pageNum"] == 0
    for record, product in zip(records, listing.products, strict=True):
        assert record["itemcode"] == product.item_code
        assert record["productname"] == product.title
        assert "led" in product.title.lower()
        assert record["productDetailUrl"].startswith(
            f"{sandbox.base_url}/product/{product.slug}/{product.item_code}.html")
        low, high = product.price_min, product.price_max
        expected = f"US ${low}" if low == high else f"US ${low} - {high}"
        assert record["price"] == expected
        assert record["minOrder"].startswith(f"{product.min_order} ")
        assert record["recentlysold"] == str(product.sold)
        assert record["feedBackPercent"].endswith("%")
        assert record["sellerStoreUrl"].startswith(f"{sandbox.base_url}/store/{product.store_id}")


def test_search_past_the_last_page_repeats_the_last_page(sandbox: SandboxServer, http: httpx.Client) -> None:
    listing = sandbox.catalog.search("led", 0)
    last = listing.page_count - 1
    def codes(url: str) -> list[str]:
        return [record["itemcode"] for record in next_data(http.get(url).text)["totalProducts"]]

    last_codes = codes(sandbox.search_url("led", last))
    assert last_codes and codes(sandbox.search_url("led", last + 5)) == last_codes
    assert codes(sandbox.url(f"/w/led/{last}.html")) == last_codes


def test_search_without_matches_is_an_empty_list(sandbox: SandboxServer, http: httpx.Client) -> None:
    data = next_data(http.get(sandbox.search_url("zzqx nothing")).text)
    assert data["totalProducts"] == [] and data["totalCount"] == 0


# ------------------------------------------------------------------ product pages


def test_product_page_json_ld_and_page_data(sandbox: SandboxServer, http: httpx.Client) -> None:
    product = next(p for p in sandbox.catalog.products() if not p.on_sale and p.price_min != p.price_max)
    response = http.get(sandbox.product_url(product.item_code))
    assert response.status_code == 200
    ld = json_ld_product(response.text)
    tail = " From &Price; | DHgate" if int(product.item_code) % 2 else ""  # the 2026 template on odd codes
    assert ld["name"] == product.title + tail and ld["sku"] == product.item_code
    assert ld["offers"]["price"] == product.price_min
    assert ld["offers"]["priceCurrency"] == "USD"
    assert ld["offers"]["availability"] == (
        "https://schema.org/InStock" if product.in_stock else "https://schema.org/OutOfStock")
    rows = flight_rows(response.text)
    item = rows["4b"]
    assert item["itemCode"] == product.item_code and item["istate"] is True
    assert item["minOrder"] == str(product.min_order) and item["measureName"] == product.unit
    assert item["sellerSoldOut"] is (not product.in_stock)
    vo = rows["50"]
    assert (vo["minBuyerPrice"], vo["maxBuyerPrice"]) == (product.price_min, product.price_max)
    tiers = [rows[ref[1:]] for ref in rows["51"]]
    assert tiers[0]["startQty"] == product.min_order
    assert tiers[0]["promDiscountPrice"] == product.price_max
    assert tiers[-1]["promDiscountPrice"] == product.price_min
    inline = rows["9"][3]["children"][0][3]["prodPrice"]  # the same data inline in the props
    assert inline["maxAndMinPriceVo"] == vo and inline["itemWholesaleRangeVos"] == tiers
    # the HTML shows no price, only the loading skeleton, like the real page
    assert "US $" not in text_of(tree(response.text).body)


def test_sale_product_keeps_list_price_in_buyer_price_and_sale_in_deal_price(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    code = sandbox.catalog.add_product(first_store(sandbox), price_min="10.00", price_max="12.00",
                                       original_min="20.00", original_max="24.00").item_code
    text = http.get(sandbox.product_url(code)).text
    vo = flight_rows(text)["50"]
    assert (vo["dealMinBuyerPrice"], vo["dealMaxBuyerPrice"]) == (Decimal("10.00"), Decimal("12.00"))
    assert (vo["minBuyerPrice"], vo["maxBuyerPrice"]) == (Decimal("20.00"), Decimal("24.00"))
    assert json_ld_product(text)["offers"]["price"] == Decimal("10.00")


def test_stock_and_delisting_show_on_the_product_page(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    product = sandbox.catalog.products(store_id)[0]
    sandbox.catalog.set_stock(product.item_code, False)
    text = http.get(sandbox.product_url(product.item_code)).text
    assert json_ld_product(text)["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert flight_rows(text)["4b"]["sellerSoldOut"] is True

    sandbox.catalog.delist(product.item_code)
    response = http.get(sandbox.product_url(product.item_code))
    assert response.status_code == 200
    assert flight_rows(response.text)["4b"]["istate"] is False
    store_codes = (card_codes(http.get(sandbox.store_url(store_id)).text)
                   + card_codes(http.get(sandbox.store_url(store_id, page=1)).text))
    assert product.item_code not in store_codes and len(store_codes) == 39

    sandbox.catalog.remove(product.item_code)
    gone = http.get(sandbox.product_url(product.item_code))
    assert gone.status_code == 410
    assert "NEXT_NOT_FOUND" in gone.text and "This page could not be found." in gone.text
    assert 'type="application/ld+json"' not in gone.text


def test_unknown_product_is_404_not_found_page(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = http.get(sandbox.url("/product/anything/123456789.html"))
    assert response.status_code == 404
    assert 'id="__next_error__"' in response.text and "NEXT_NOT_FOUND" in response.text


# ------------------------------------------------------------------ fault modes


def test_rate_limited_answers_429_with_retry_after(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.set_fault("rate_limited", retry_after=17)
    response = http.get(sandbox.store_url(first_store(sandbox)))
    assert response.status_code == 429 and response.headers["Retry-After"] == "17"
    assert "proGallery" not in response.text


def test_server_error_answers_503(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.set_fault("server_error")
    response = http.get(sandbox.search_url("led"))
    assert response.status_code == 503 and "__NEXT_DATA__" not in response.text


def test_blocked_answers_access_denied_like_the_cdn(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    sandbox.set_fault("blocked", store=store_id)
    response = http.get(sandbox.store_url(store_id))
    assert response.status_code == 403
    assert "<TITLE>Access Denied</TITLE>" in response.text
    assert f"&#47;store&#47;products&#47;{store_id}&#46;html" in response.text
    assert "errors&#46;edgesuite&#46;net" in response.text


@pytest.mark.parametrize("status", [503, 200])
def test_challenge_page_with_either_status(sandbox: SandboxServer, http: httpx.Client, status: int) -> None:
    sandbox.set_fault("challenge", status=status)
    response = http.get(sandbox.store_url(first_store(sandbox)))
    assert response.status_code == status
    assert "<title>Just a moment...</title>" in response.text and "proGallery" not in response.text


@pytest.mark.parametrize("style", ["markup", "bytes"])
def test_garbled_pages_have_no_product_data(sandbox: SandboxServer, http: httpx.Client, style: str) -> None:
    sandbox.set_fault("garbled", style=style)
    for url in (sandbox.store_url(first_store(sandbox)), sandbox.search_url("led")):
        response = http.get(url)
        assert response.status_code == 200
        assert b"proGallery" not in response.content and b"__NEXT_DATA__" not in response.content
        assert b"gitem" not in response.content


def test_truncated_store_page_has_no_complete_card_list_and_no_pager(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    whole = http.get(sandbox.store_url(store_id)).text
    sandbox.set_fault("truncated", store=store_id)
    response = http.get(sandbox.store_url(store_id))
    assert response.status_code == 200
    text = response.text
    assert 'id="proGallery"' in text and not text.rstrip().endswith("</html>")
    cut_gallery = text[text.index('id="proGallery"'):]
    assert whole[whole.index('id="proGallery"'):].startswith(cut_gallery)  # the real page, cut
    assert text.count("itemcodeid=") < STORE_PAGE_SIZE  # the cut falls inside a card
    assert 0 < text.count('class="pic"') < STORE_PAGE_SIZE
    assert "Page 1/" not in text and '<div class="page">' not in text


def test_truncated_store_page_can_keep_the_pager(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.set_fault("truncated", keep_pager=True)
    text = http.get(sandbox.store_url(first_store(sandbox))).text
    assert "Page 1/2" in text and '<div class="page">' not in text and "</html>" not in text


def test_truncated_search_and_product_pages_lose_their_data(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.set_fault("truncated")
    search = http.get(sandbox.search_url("led")).text
    script = tree(search).css_first("script#__NEXT_DATA__")
    assert script is not None
    with pytest.raises(json.JSONDecodeError):
        json.loads(script.text(deep=True))
    product = http.get(sandbox.product_url(sandbox.catalog.products()[0].item_code)).text
    assert "maxAndMinPriceVo" not in product and "self.__next_f" not in product


def test_slow_store_answers_only_after_its_delay(sandbox: SandboxServer) -> None:
    store_id = first_store(sandbox)
    sandbox.set_fault("slow", store=store_id, delay=1.5)
    with httpx.Client(timeout=0.2) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get(sandbox.store_url(store_id))
        other = sandbox.catalog.store_ids()[1]
        assert store_page_ok(impatient.get(sandbox.store_url(other)))
    sandbox.set_fault("slow", store=store_id, delay=0.05)
    assert store_page_ok(httpx.get(sandbox.store_url(store_id), timeout=10))


def test_store_fault_covers_its_products_but_not_other_stores_or_search(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    blocked, other = sandbox.catalog.store_ids()[:2]
    sandbox.set_fault("blocked", store=blocked)
    assert http.get(sandbox.store_url(blocked)).status_code == 403
    own_product = sandbox.catalog.products(blocked)[0].item_code
    assert http.get(sandbox.product_url(own_product)).status_code == 403
    assert store_page_ok(http.get(sandbox.store_url(other)))
    assert search_page_ok(http.get(sandbox.search_url("led")))
    sandbox.set_fault("ok", store=blocked)
    assert store_page_ok(http.get(sandbox.store_url(blocked)))


def test_fail_next_n_then_recover(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    sandbox.fail_next(2, "server_error", store=store_id)
    statuses = [http.get(sandbox.store_url(store_id)).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    sandbox.fail_next(1, "rate_limited")
    assert http.get(sandbox.search_url("led")).status_code == 429
    assert search_page_ok(http.get(sandbox.search_url("led")))
    assert sandbox.request_count("store") == 4 and sandbox.request_count("search") == 2


def test_fault_input_is_validated() -> None:
    book_server = SandboxServer(stores=1, products_per_store=1)
    with pytest.raises(FaultError, match="unknown fault mode"):
        book_server.set_fault("sideways")
    with pytest.raises(FaultError, match="does not take"):
        book_server.set_fault("blocked", delay=3)
    with pytest.raises(FaultError, match="status for server_error"):
        book_server.set_fault("server_error", status=200)


# ------------------------------------------------------------------ catalog behaviour


def test_same_seed_same_catalog_and_pages() -> None:
    first, second = Catalog(seed=11), Catalog(seed=11)
    assert first.store_ids() == second.store_ids()
    assert [p.to_dict() for p in first.products()] == [p.to_dict() for p in second.products()]
    assert Catalog(seed=12).store_ids() != first.store_ids()
    with SandboxServer(seed=11) as one, SandboxServer(seed=11) as two:
        store_id = one.catalog.store_ids()[3]
        pages = [httpx.get(server.store_url(store_id, "top-selling", 1)).text.replace(server.base_url[5:], "")
                 for server in (one, two)]  # drop "//127.0.0.1:port", the only difference
        assert pages[0] == pages[1]


def test_evolve_is_deterministic_and_changes_the_marketplace() -> None:
    first, second = Catalog(seed=5), Catalog(seed=5)
    changes = first.evolve(4)
    assert [c.to_dict() for c in changes] == [c.to_dict() for c in second.evolve(4)]
    kinds = {c.kind for c in changes}
    assert {"new_product", "price", "stock", "sold"} <= kinds
    assert first.step == 4 and first.version > Catalog(seed=5).version
    for change in changes:
        if change.kind == "price":
            before, after = Decimal(change.before["price_min"]), Decimal(change.after["price_min"])
            assert before != after and abs(after - before) <= before * Decimal("0.31")
            assert first.product(change.item_code) is not None
    assert [p.to_dict() for p in first.products()] == [p.to_dict() for p in second.products()]


def test_delisted_products_are_eventually_removed() -> None:
    catalog = Catalog(seed=3)
    changes = catalog.evolve(12)
    removed = [c.item_code for c in changes if c.kind == "removed"]
    assert removed
    for code in removed:
        product = catalog.product(code)
        assert product is not None and product.status is ProductStatus.REMOVED
        assert any(c.kind == "delisted" and c.item_code == code for c in changes)


def test_scripted_changes_report_before_and_after() -> None:
    catalog = Catalog(seed=2, stores=2, products_per_store=5)
    code = catalog.products()[0].item_code
    change = catalog.set_price(code, "9.99", "12.50")
    assert change.kind == "price" and change.after["price_min"] == "9.99"
    assert change.after["price_max"] == "12.50" and change.before["price_min"] != "9.99"
    product = catalog.product(code)
    assert product is not None
    assert (product.price_min, product.price_max) == (Decimal("9.99"), Decimal("12.50"))
    assert catalog.set_stock(code, False).after == {"in_stock": False}
    assert catalog.delist(code).after == {"status": "delisted"}
    assert catalog.relist(code).after == {"status": "listed"}
    assert catalog.remove(code).after == {"status": "removed"}
    with pytest.raises(CatalogError, match="decimal string"):
        catalog.set_price(code, 9.99)
    with pytest.raises(CatalogError, match="below price_min"):
        catalog.set_price(code, "5.00", "4.00")
    with pytest.raises(UnknownProduct):
        catalog.delist("123")
    with pytest.raises(CatalogError, match="unknown product field"):
        catalog.add_product(catalog.store_ids()[0], colour="red")


def test_search_matches_every_keyword_word() -> None:
    catalog = Catalog(seed=4)
    listing = catalog.search("wireless earbuds")
    assert listing.total > 0
    for product in listing.products:
        words = re.findall(r"[a-z0-9]+", product.title.lower())
        assert any(w.startswith("wireless") for w in words) and any(w.startswith("earbuds") for w in words)


# ------------------------------------------------------------------ control API and server


def test_control_api_state_fault_change_evolve_reset(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    state = http.get(sandbox.url("/__sandbox__/state")).json()
    assert len(state["stores"]) == 6 and state["stores"][0]["listed"] == 40
    assert state["seed"] == SEED and state["step"] == 0

    answer = http.post(sandbox.url("/__sandbox__/fault"), json={"store": store_id, "mode": "blocked"})
    assert answer.status_code == 200 and answer.json()["fault"]["mode"] == "blocked"
    assert http.get(sandbox.store_url(store_id)).status_code == 403
    state = http.get(sandbox.url("/__sandbox__/state")).json()
    assert next(s for s in state["stores"] if s["store_id"] == store_id)["fault"]["mode"] == "blocked"
    pending = http.post(sandbox.url("/__sandbox__/fault"), json={"store": store_id, "mode": "server_error", "next": 1})
    assert pending.status_code == 200 and pending.json()["next"] == 1
    assert http.get(sandbox.store_url(store_id)).status_code == 503  # pending failure first
    assert http.get(sandbox.store_url(store_id)).status_code == 403  # then the store's mode
    cleared = http.delete(sandbox.url("/__sandbox__/fault"))
    assert cleared.status_code == 200 and "faults" in cleared.json()
    assert store_page_ok(http.get(sandbox.store_url(store_id)))

    code = sandbox.catalog.products(store_id)[0].item_code
    changed = http.post(sandbox.url("/__sandbox__/change/set_price"),
                        json={"item_code": code, "price_min": 3.25, "price_max": "4.50"})
    assert changed.status_code == 200 and changed.json()["change"]["after"]["price_min"] == "3.25"
    assert json_ld_product(http.get(sandbox.product_url(code)).text)["offers"]["price"] == Decimal("3.25")

    evolved = http.post(sandbox.url("/__sandbox__/evolve?steps=2")).json()
    assert evolved["step"] == 2 and evolved["changes"]
    reset = http.post(sandbox.url("/__sandbox__/reset"))
    assert reset.status_code == 200 and reset.json()["step"] == 0
    assert http.get(sandbox.url("/__sandbox__/state")).json()["step"] == 0


def test_control_api_refuses_bad_input_with_clear_errors(sandbox: SandboxServer, http: httpx.Client) -> None:
    bad_mode = http.post(sandbox.url("/__sandbox__/fault"), json={"mode": "sideways"})
    assert bad_mode.status_code == 400 and "unknown fault mode" in bad_mode.json()["error"]
    unknown = http.post(sandbox.url("/__sandbox__/change/delist"), json={"item_code": "1"})
    assert unknown.status_code == 404 and "no product" in unknown.json()["error"]
    bad_action = http.post(sandbox.url("/__sandbox__/change/explode"), json={})
    assert bad_action.status_code == 400 and "unknown change" in bad_action.json()["error"]
    bad_json = http.post(sandbox.url("/__sandbox__/evolve"), content=b"{not json")
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    wrong_method = http.get(sandbox.url("/__sandbox__/evolve"))
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    missing = http.post(sandbox.url("/__sandbox__/change/set_price"), json={"item_code": "1"})
    assert missing.status_code == 400 and "bad parameters" in missing.json()["error"]


def test_request_counter_counts_per_kind_and_path(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    for _ in range(3):
        http.get(sandbox.store_url(store_id, "top-selling"))
    http.get(sandbox.search_url("led"))
    http.get(sandbox.product_url(sandbox.catalog.products()[0].item_code))
    http.get(sandbox.url("/__sandbox__/state"))
    assert sandbox.request_count("store") == 3
    assert sandbox.path_count(f"/store/top-selling/{store_id}.html") == 3
    assert sandbox.request_count("search") == 1 and sandbox.request_count("product") == 1
    assert sandbox.request_count("control") == 1
    assert sandbox.request_count() == 5  # control calls are not fetches


def test_index_lists_every_store(sandbox: SandboxServer, http: httpx.Client) -> None:
    page = http.get(sandbox.url("/")).text
    for store_id in sandbox.catalog.store_ids():
        assert f"/store/products/{store_id}.html" in page


def test_serves_many_concurrent_requests(sandbox: SandboxServer) -> None:
    urls = [sandbox.store_url(store_id, "top-selling", page)
            for store_id in sandbox.catalog.store_ids() for page in (0, 1)] * 20
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=100)) as client, \
            ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(lambda url: client.get(url).status_code, urls))
    assert statuses == [200] * len(urls)
    assert sandbox.request_count("store") == len(urls)


def test_background_evolution_moves_the_version() -> None:
    with SandboxServer(stores=2, products_per_store=5, evolve_every=0.05) as server:
        start = server.catalog.version
        with httpx.Client() as client:
            for _ in range(200):
                if server.catalog.step >= 2:
                    break
                client.get(server.url("/__sandbox__/state"))
        assert server.catalog.step >= 2 and server.catalog.version > start


def test_run_sandbox_serves_in_the_foreground_until_ctrl_c() -> None:
    code = "from sandbox import run_sandbox; run_sandbox('127.0.0.1', 0, 3, 2, 0.5)"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "seed 3, 2 stores, evolving every 0.5s" in line and "Ctrl-C" in line
        base_url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert base_url is not None
        state = httpx.get(base_url.group(0) + "/__sandbox__/state", timeout=10).json()
        assert state["seed"] == 3 and len(state["stores"]) == 2
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


def test_run_sandbox_reports_a_taken_port_clearly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=r"cannot listen on 127\.0\.0\.1"):
            run_sandbox("127.0.0.1", port, seed=1, stores=2, evolve_every=None)


def test_importing_the_sandbox_starts_nothing() -> None:
    code = ("import threading, sandbox as s; "
            "print(threading.active_count())")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "1"


# ------------------------------------------------------------------ the project's parsers


def test_store_parser_round_trips_item_codes_and_prices(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    sandbox.catalog.add_product(store_id, price_min="13.96", price_max="14.63",
                                original_min="28.50", original_max="29.85", sold=5234)
    seen: dict[str, Any] = {}
    for page in (0, 1):
        response = http.get(sandbox.store_url(store_id, "products", page))
        parsed = parsers.parse_store_page(response.text, response.status_code)
        assert (parsed.page_index, parsed.page_count) == (page, 2)
        seen.update({p.item_code: p for p in parsed.products})
    listed = sandbox.catalog.products(store_id, [ProductStatus.LISTED])
    assert set(seen) == {p.item_code for p in listed}
    for product in listed:
        parsed_product = seen[product.item_code]
        assert (parsed_product.price_min, parsed_product.price_max) == (product.price_min, product.price_max)
        assert parsed_product.original_price_min == product.original_min
        assert parsed_product.title == product.title and parsed_product.unit == product.unit
        assert parsed_product.store_id == store_id


def test_search_parser_round_trips_item_codes_and_prices(sandbox: SandboxServer, http: httpx.Client) -> None:
    listing = sandbox.catalog.search("led", 1)
    response = http.get(sandbox.search_url("led", 1))
    parsed = parsers.parse_search_page(response.text, response.status_code)
    assert parsed.page_index == 1 and parsed.total_results == listing.total
    assert [p.item_code for p in parsed.products] == [p.item_code for p in listing.products]
    for got, want in zip(parsed.products, listing.products, strict=True):
        assert (got.price_min, got.price_max) == (want.price_min, want.price_max)
        assert got.min_order == want.min_order and got.store_id == want.store_id


def test_product_parser_round_trips_prices_tiers_stock_and_delisting(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    code = sandbox.catalog.add_product(first_store(sandbox), price_min="10.00", price_max="12.00",
                                       original_min="20.00", original_max="24.00", min_order=2).item_code
    response = http.get(sandbox.product_url(code))
    product = parsers.parse_product_page(response.text, response.status_code).products[0]
    assert product.item_code == code and product.currency == "USD"
    assert (product.price_min, product.price_max) == (Decimal("10.00"), Decimal("12.00"))
    assert (product.original_price_min, product.original_price_max) == (Decimal("20.00"), Decimal("24.00"))
    assert [t.price for t in product.tiers] == [Decimal("12.00"), Decimal("11.00"), Decimal("10.00")]
    assert product.min_order == 2 and product.in_stock is True and product.delisted is False

    sandbox.catalog.set_stock(code, False)
    sandbox.catalog.delist(code)
    response = http.get(sandbox.product_url(code))
    product = parsers.parse_product_page(response.text, response.status_code).products[0]
    assert product.in_stock is False and product.delisted is True

    sandbox.catalog.remove(code)
    response = http.get(sandbox.product_url(code))
    with pytest.raises(types.PageGone):
        parsers.parse_product_page(response.text, response.status_code)


def test_parsers_never_read_a_faulty_page_as_products(sandbox: SandboxServer, http: httpx.Client) -> None:
    store_id = first_store(sandbox)
    empty_store = sandbox.catalog.add_store().store_id
    response = http.get(sandbox.store_url(empty_store))
    assert parsers.parse_store_page(response.text, response.status_code).products == []
    expectations = [
        ("blocked", {}, types.PageBlocked),
        ("challenge", {"status": 200}, types.PageBlocked),
        ("rate_limited", {}, types.PageBlocked),
        ("garbled", {}, types.PageUnparsable),
        ("truncated", {}, types.PageUnparsable),
        ("truncated", {"keep_pager": True}, types.PageUnparsable),
    ]
    for mode, options, error in expectations:
        sandbox.set_fault(mode, **options)
        for store in (store_id, empty_store):
            response = http.get(sandbox.store_url(store))
            with pytest.raises(error):
                parsers.parse_store_page(response.text, response.status_code)
        response = http.get(sandbox.search_url("led"))
        with pytest.raises(error):
            parsers.parse_search_page(response.text, response.status_code)
        response = http.get(sandbox.product_url(sandbox.catalog.products(store_id)[0].item_code))
        with pytest.raises(error):
            parsers.parse_product_page(response.text, response.status_code)
