"""URL normalisation: every way people paste DHgate links, and every way to abuse the input."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from services.dhgate.types import InvalidDHgateInput, MonitorTarget
from services.dhgate.urls import (
    normalise_input,
    product_path,
    product_ref_from_url,
    search_page_path,
    store_id_from_url,
    store_page_path,
)

STORE_URL = "/store/top-selling/21880856.html"
STORE = MonitorTarget("store", "21880856", STORE_URL, "Store 21880856")


@pytest.mark.parametrize(
    "pasted",
    [
        "https://www.dhgate.com/store/21880856",
        "https://www.dhgate.com/store/21880856.html",
        "https://www.dhgate.com/store/products/21880856.html#st-navigation-products",
        "https://www.dhgate.com/store/top-selling/21880856.html#st-navigatin-topselling",
        "https://www.dhgate.com/store/top-selling/21880856/1.html",
        "https://www.dhgate.com/store/sale-items/21880856.html",
        "https://www.dhgate.com/store/category/apparel/21880856-c014.html",
        "https://nl.dhgate.com/store/21880856",
        "https://m.dhgate.com/store/products/21880856.html?f=bm|GFT|xx&utm_source=share",
        "http://dhgate.com/store/21880856/",
        "www.dhgate.com/store/21880856",
        "dhgate.com/store/top-selling/21880856/3.html",
        "//www.dhgate.com/store/21880856",
        "  https://WWW.DHGATE.COM/store/21880856  \n",
        "https://www.dhgate.com./store/21880856",
        "https://www.dhgate.com:443/store/21880856",
        "https://www.dhgate.com/wholesale/store.do?act=sellerStore&suppliernum=21880856",
        "/store/products/21880856.html",
    ],
)
def test_store_links_in_every_form_become_the_same_store(pasted: str) -> None:
    assert normalise_input(pasted) == STORE


@pytest.mark.parametrize(
    ("pasted", "keywords", "url"),
    [
        (
            "https://www.dhgate.com/wholesale/search.do?act=search&dspm=pcen.sp.search.1"
            "&sus=&searchkey=LED+Strip&catalog=&pageNum=0#pusearch1812",
            "led strip",
            "/wholesale/search.do?act=search&searchkey=led+strip",
        ),
        (
            "https://www.dhgate.com/wholesale/search.do?searchkey=usb%20c%20%26%20lightning",
            "usb c & lightning",
            "/wholesale/search.do?act=search&searchkey=usb+c+%26+lightning",
        ),
        (
            "https://www.dhgate.com/w/led+strip/2.html",
            "led strip",
            "/wholesale/search.do?act=search&searchkey=led+strip",
        ),
        (
            "https://www.dhgate.com/wholesale/selfie+phone+holder.html",
            "selfie phone holder",
            "/wholesale/search.do?act=search&searchkey=selfie+phone+holder",
        ),
        (
            "  LED   Strip\t 5M ",
            "led strip 5m",
            "/wholesale/search.do?act=search&searchkey=led+strip+5m",
        ),
        (
            "3/4 inch pipe",
            "3/4 inch pipe",
            "/wholesale/search.do?act=search&searchkey=3%2F4+inch+pipe",
        ),
        ("node.js", "node.js", "/wholesale/search.do?act=search&searchkey=node.js"),
        ("859375351", "859375351", "/wholesale/search.do?act=search&searchkey=859375351"),
        ("ＬＥＤ ｓｔｒｉｐ", "led strip", "/wholesale/search.do?act=search&searchkey=led+strip"),  # noqa: RUF001 - full-width on purpose
        ("note: led", "note: led", "/wholesale/search.do?act=search&searchkey=note%3A+led"),
    ],
)
def test_searches_and_plain_keywords_become_normalised_searches(
    pasted: str, keywords: str, url: str
) -> None:
    target = normalise_input(pasted)
    assert (target.kind, target.dhgate_id, target.url) == ("search", keywords, url)
    assert keywords in target.name


@pytest.mark.parametrize(
    ("pasted", "url", "name"),
    [
        (
            "https://www.dhgate.com/product/in-stock-universal-cell-phone-holder-with/"
            "859375351.html?f=bm|GFT|1|10|5|ks#s1-0-1;searl|123:1",
            "/product/in-stock-universal-cell-phone-holder-with/859375351.html",
            "In stock universal cell phone holder with",
        ),
        (
            "https://m.dhgate.com/product/x/859375351.html",
            "/product/x/859375351.html",
            "Product 859375351",
        ),
        (
            "https://www.dhgate.com/au/product/Phone-Holder/859375351.html",
            "/product/phone-holder/859375351.html",
            "Phone holder",
        ),
        (
            "https://fr.dhgate.com/product/%C3%A9t%C3%A9/859375351.html",
            "/product/x/859375351.html",
            "Product 859375351",
        ),
        ("dhgate.com/product/859375351.html", "/product/x/859375351.html", "Product 859375351"),
    ],
)
def test_product_links_keep_item_code_and_drop_tracking(pasted: str, url: str, name: str) -> None:
    assert normalise_input(pasted) == MonitorTarget("product", "859375351", url, name)


@pytest.mark.parametrize(
    ("hostile", "message_part"),
    [
        ("", "Paste a DHgate"),
        ("   \n\t ", "Paste a DHgate"),
        ("x" * 2001, "at most 2000"),
        ("https://www.dhgate.com/store/" + "1" * 1990, "at most 2000"),
        ("a" * 201, "at most 200"),
        ("led\x00strip", "control characters"),
        ("https://www.dhgate.com/store/1\r\nHost: evil", "control characters"),
        ("https://www.dhgate.com/st\tore/1", "control characters"),  # URL parsers drop tabs
        ("look at https://www.dhgate.com/store/1 please", "just the link"),
        ("https://www.dhgate.com/store/1 https://evil.example/", "just the link"),
        ("led\u202estrip", "control characters"),  # right-to-left override
        ("led\u200bstrip", "control characters"),  # zero-width space
        ("https://dhgate.com.evil.example/store/1", "not dhgate.com.evil.example"),
        ("https://evildhgate.com/store/1", "not evildhgate.com"),
        ("https://dhgate.evil.example/store/1", "not dhgate.evil.example"),
        ("http://127.0.0.1/store/1", "not 127.0.0.1"),
        ("127.0.0.1/store/1", "not 127.0.0.1"),
        ("http://localhost/store/1", "not localhost"),
        ("http://169.254.169.254/latest/meta-data/", "not 169.254.169.254"),
        ("http://[::1]/store/1", "not a valid host"),
        ("http://0x7f000001/store/1", "not 0x7f000001"),
        ("javascript:alert(document.cookie)", "Only http and https"),
        ("JaVaScRiPt:alert(1)", "Only http and https"),
        ("data:text/html,<script>alert(1)</script>", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("ftp://www.dhgate.com/store/1", "Only http and https"),
        ("https://dhgate.com@evil.example/", "user name"),
        ("https://user:secret@www.dhgate.com/store/1", "user name"),
        ("https://www.dhgate.com\\@evil.example/store/1", "backslash"),
        ("https://www.dhgаte.com/store/1", "non-ASCII"),  # noqa: RUF001, RUF003 - a Cyrillic "а" on purpose
        ("https://www.dhgate。com/store/1", "non-ASCII"),  # ideographic full stop
        ("https://xn--dhgte-9ua.com/store/1", "not xn--dhgte-9ua.com"),
        ("https://www.dhgate.com%2eevil.example/store/1", "not a valid host"),
        ("https://www.dhgate.com:8080/store/1", "port number"),
        ("https://www.dhgate.com:99999/store/1", "not a valid web address"),
        ("https://www.dhgate.com/", "does not point to a store"),
        ("dhgate.com", "does not point to a store"),
        ("https://www.dhgate.com/wholesale/cell-phones-accessories/c105.html", "does not point"),
        ("https://www.dhgate.com/wholesale/search.do?act=search&searchkey=", "no search keywords"),
        ("https://www.dhgate.com/wholesale/search.do?searchkey=" + "a" * 201, "at most 200"),
    ],
)
def test_hostile_or_unusable_input_is_refused_with_a_readable_message(
    hostile: str, message_part: str
) -> None:
    with pytest.raises(InvalidDHgateInput) as raised:
        normalise_input(hostile)
    assert message_part in str(raised.value)


def test_non_text_input_is_refused() -> None:
    with pytest.raises(InvalidDHgateInput):
        normalise_input(None)  # type: ignore[arg-type]


def test_configured_hosts_replace_dhgate() -> None:
    sandbox = ("dhgate.com", "127.0.0.1:5001")
    assert normalise_input("http://127.0.0.1:5001/store/7.html", sandbox).dhgate_id == "7"
    with pytest.raises(InvalidDHgateInput):
        normalise_input("http://127.0.0.1:5002/store/7.html", sandbox)
    with pytest.raises(InvalidDHgateInput):  # an exact IP entry admits no "subdomains"
        normalise_input("http://1.127.0.0.1:5001/store/7.html", sandbox)
    with pytest.raises(InvalidDHgateInput):
        normalise_input("https://www.dhgate.com/store/7.html", ("dhgate.example",))


DEMO_BASE = "http://127.0.0.1:8700"
DEMO_HOSTS = ("127.0.0.1", "dhgate.com")  # what `make demo` configures


@pytest.mark.parametrize(
    "pasted",
    [
        "http://127.0.0.1:8700/store/products/29173963.html",
        "127.0.0.1:8700/store/products/29173963.html",
        "https://127.0.0.1:8700/store/top-selling/29173963/2.html",
        "http://127.0.0.1:8700/store/29173963#products",
    ],
)
def test_links_to_the_configured_base_url_are_dhgate_links(pasted: str) -> None:
    target = normalise_input(pasted, DEMO_HOSTS, DEMO_BASE)
    assert (target.kind, target.dhgate_id, target.url) == ("store", "29173963", "/store/top-selling/29173963.html")
    product = normalise_input("http://127.0.0.1:8700/product/lamp/8123.html", ("dhgate.com",), DEMO_BASE)
    assert (product.kind, product.dhgate_id) == ("product", "8123")


@pytest.mark.parametrize(
    ("pasted", "message_part"),
    [
        ("http://127.0.0.1:8701/store/1.html", "port number"),  # another port of an allowed host
        ("http://localhost:8700/store/1.html", "not localhost:8700"),  # the same port elsewhere
        ("http://1.127.0.0.1:8700/store/1.html", "not 1.127.0.0.1:8700"),
        ("http://user@127.0.0.1:8700/store/1.html", "user name"),
    ],
)
def test_the_base_url_admits_exactly_its_host_and_port(pasted: str, message_part: str) -> None:
    with pytest.raises(InvalidDHgateInput) as raised:
        normalise_input(pasted, DEMO_HOSTS, DEMO_BASE)
    assert message_part in str(raised.value)
    with pytest.raises(InvalidDHgateInput):  # without the allowed hosts, port 80 is not 8700
        normalise_input("http://127.0.0.1/store/1.html", ("dhgate.com",), DEMO_BASE)


def test_a_base_url_without_a_port_means_the_scheme_s_default_port() -> None:
    base = "https://shop.test/"
    assert normalise_input("https://shop.test/store/7.html", (), base).dhgate_id == "7"
    assert normalise_input("http://shop.test:443/store/7.html", (), base).dhgate_id == "7"
    with pytest.raises(InvalidDHgateInput):
        normalise_input("https://shop.test:8443/store/7.html", (), base)
    with pytest.raises(InvalidDHgateInput):  # the exact host: no subdomains
        normalise_input("https://www.shop.test/store/7.html", (), base)
    for unusable in ("", "ftp://shop.test", "not a url", "http://[::1"):
        with pytest.raises(InvalidDHgateInput):
            normalise_input("https://shop.test/store/7.html", (), unusable)


@pytest.mark.parametrize(
    ("hosts", "base_url", "pasted", "expected"),
    [
        (("dhgate.com",), None, "https://evil.example/store/1.html",
         "Only links to dhgate.com can be watched, not evil.example. "
         "A link that works: https://www.dhgate.com/store/21880856.html"),
        (("dhgate.com",), "https://www.dhgate.com", "https://www.dhgate.com:8080/store/1",
         "Links with a port number are not accepted. A link that works: https://www.dhgate.com/store/21880856.html"),
        (DEMO_HOSTS, DEMO_BASE, "http://localhost:8700/store/1.html",
         "Only links to 127.0.0.1, dhgate.com can be watched, not localhost:8700. "
         "A link that works: http://127.0.0.1:8700/store/21880856.html"),
    ],
)
def test_a_refused_host_comes_with_an_example_that_works(
    hosts: tuple[str, ...], base_url: str | None, pasted: str, expected: str
) -> None:
    with pytest.raises(InvalidDHgateInput) as raised:
        normalise_input(pasted, hosts, base_url)
    assert str(raised.value) == expected
    example = expected.rsplit(" ", 1)[-1]
    assert normalise_input(example, hosts, base_url).dhgate_id == "21880856"  # the example is accepted


def test_cli_add_accepts_a_sandbox_link_when_the_base_url_is_the_sandbox(app, runner, alice) -> None:  # noqa: ANN001
    app.config.update(DHGATE_BASE_URL=DEMO_BASE, DHGATE_ALLOWED_HOSTS=DEMO_HOSTS)
    added = runner.invoke(args=["monitors", "add", DEMO_BASE + "/store/products/29173963.html", "--user", "alice"])
    assert added.exit_code == 0, added.output
    assert "store 29173963" in added.output
    refused = runner.invoke(args=["monitors", "add", "http://127.0.0.1:8701/store/products/1.html", "--user", "alice"])
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: Links with a port number are not accepted. "
        "A link that works: http://127.0.0.1:8700/store/21880856.html\n"
    )


def test_refusals_are_translated_for_dutch_readers(app) -> None:  # noqa: ANN001
    with force_locale("nl"), pytest.raises(InvalidDHgateInput) as raised:
        normalise_input("https://evil.example/store/1.html", ("dhgate.com",), DEMO_BASE)
    assert str(raised.value) == (
        "Alleen links naar dhgate.com kunnen worden gevolgd, niet naar evil.example. "
        "Een link die werkt: http://127.0.0.1:8700/store/21880856.html"
    )


@pytest.mark.parametrize(
    ("page_index", "path"),
    [
        (0, "/store/top-selling/21880856.html"),
        (1, "/store/top-selling/21880856/1.html"),
        (86, "/store/top-selling/21880856/86.html"),
    ],
)
def test_store_page_path_is_zero_based(page_index: int, path: str) -> None:
    assert store_page_path("21880856", page_index) == path


def test_search_page_path_quotes_keywords() -> None:
    assert search_page_path("LED strip & more", 0) == (
        "/wholesale/search.do?act=search&searchkey=led+strip+%26+more&pageNum=0"
    )
    assert search_page_path("led strip", 3).endswith("&pageNum=3")


def test_product_path_uses_slug_or_placeholder() -> None:
    assert product_path("859375351", "Phone-Holder") == "/product/phone-holder/859375351.html"
    assert product_path("859375351") == "/product/x/859375351.html"
    assert product_path("859375351", "../../admin") == "/product/x/859375351.html"


@pytest.mark.parametrize(
    "call",
    [
        lambda: store_page_path("21880856", -1),
        lambda: store_page_path("21880856", True),
        lambda: search_page_path("led", -2),
    ],
)
def test_page_builders_refuse_negative_pages(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    "call",
    [
        lambda: store_page_path("../etc", 0),
        lambda: product_path("12a"),
        lambda: search_page_path("   ", 0),
    ],
)
def test_page_builders_refuse_bad_ids(call: object) -> None:
    with pytest.raises(InvalidDHgateInput):
        call()  # type: ignore[operator]


def test_link_helpers_read_ids_from_page_links() -> None:
    assert store_id_from_url("https://www.dhgate.com/store/22022421#listing_store-50") == "22022421"
    assert store_id_from_url("https://www.dhgate.com/seller-feedback/x.html") is None
    assert product_ref_from_url(
        "https://www.dhgate.com/product/men-s-polos/1064214730.html#st1-0-store|ac49"
    ) == ("1064214730", "men-s-polos")
    assert product_ref_from_url("https://www.dhgate.com/productx/1.html") is None
    assert product_ref_from_url(None) is None
