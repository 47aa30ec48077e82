"""Saved pages as browsers write them, product names without DHgate's title template, and
regional / mobile hosts: the parsers read them all like a plain UTF-8 ``www.`` page."""

from __future__ import annotations

import codecs
from decimal import Decimal
from pathlib import Path

import pytest

from services.dhgate.encoding import PageTooLarge, decode_page, read_saved_page
from services.dhgate.parsers import parse_page, parse_product_page, sniff_kind
from services.dhgate.parsers_common import clean_product_name

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dhgate"
LAMP = "Café Lamp – Nordic Style, Dimmable SPA..."


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("raw", "text", "encoding", "source"),
    [
        (codecs.BOM_UTF16_LE + "<p>café</p>".encode("utf-16-le"), "<p>café</p>", "UTF-16LE", "byte-order mark"),
        (codecs.BOM_UTF16_BE + "<p>café</p>".encode("utf-16-be"), "<p>café</p>", "UTF-16BE", "byte-order mark"),
        (codecs.BOM_UTF8 + "<p>café</p>".encode(), "<p>café</p>", "UTF-8", "byte-order mark"),
        # The mark wins over a declaration that says otherwise, as in a browser.
        (codecs.BOM_UTF8 + '<meta charset="gbk">é'.encode(), '<meta charset="gbk">é', "UTF-8", "byte-order mark"),
        ('<meta charset="windows-1252"><p>€ café</p>'.encode("cp1252"), '<meta charset="windows-1252"><p>€ café</p>',
         "windows-1252", "<meta> declaration"),
        ('<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">€'.encode("cp1252"),
         '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">€', "windows-1252",
         "<meta> declaration"),  # browsers read latin-1 as windows-1252: 0x80 is "€"
        ("<META CONTENT='text/html;charset=gb2312' HTTP-EQUIV='content-type'>中文".encode("gbk"),
         "<META CONTENT='text/html;charset=gb2312' HTTP-EQUIV='content-type'>中文", "GBK", "<meta> declaration"),
        # A declaration readable as ASCII cannot be UTF-16: browsers use UTF-8.
        ('<meta charset="utf-16">café'.encode(), '<meta charset="utf-16">café', "UTF-8", "<meta> declaration"),
        # Commented out, after <body>, unknown, or not a text encoding: not a declaration.
        ("<!-- <meta charset=latin1> --><p>café</p>".encode(), "<!-- <meta charset=latin1> --><p>café</p>",
         "UTF-8", "default"),
        ("<body><meta charset=latin1>café".encode(), "<body><meta charset=latin1>café", "UTF-8", "default"),
        ('<meta charset="x-nonsense"><meta charset="base64">é'.encode(), '<meta charset="x-nonsense">'
         '<meta charset="base64">é', "UTF-8", "default"),
        (b'<meta charset="utf-7">+ADw-', '<meta charset="utf-7">+ADw-', "UTF-8", "default"),
        (b"<p>caf\xe9</p>", "<p>caf\ufffd</p>", "UTF-8", "default"),  # undecodable: replaced, never an error
    ],
)
def test_pages_are_decoded_as_a_browser_does(raw: bytes, text: str, encoding: str, source: str) -> None:
    page = decode_page(raw)
    assert (page.text, page.encoding, page.source) == (text, encoding, source)


def test_the_http_charset_comes_after_the_mark_and_before_the_meta() -> None:
    raw = '<meta charset="gbk"><p>café</p>'.encode("cp1252")
    assert decode_page(raw, "ISO-8859-1").text.endswith("café</p>")
    assert decode_page(raw, "ISO-8859-1").source == "HTTP header"
    assert decode_page(codecs.BOM_UTF8 + b"x", "ISO-8859-1").source == "byte-order mark"
    assert decode_page(raw, "no-such-charset").encoding == "GBK"  # an unknown one is ignored


def test_describe_names_the_encoding_and_what_decided_it() -> None:
    assert decode_page(codecs.BOM_UTF16_LE + "x".encode("utf-16-le")).describe() == (
        "UTF-16LE (from its byte-order mark)"
    )


def test_reading_stops_at_the_cap_and_says_the_file_is_too_big(tmp_path: Path) -> None:
    path = tmp_path / "huge.html"
    path.write_bytes(b"<html>" + b"x" * 5000)
    with pytest.raises(PageTooLarge, match=r"huge\.html is larger than 4096 bytes"):
        read_saved_page(path, max_bytes=4096)
    path.write_bytes(b"x" * 4096)  # exactly at the cap is fine
    assert len(read_saved_page(path, max_bytes=4096).text) == 4096


# --------------------------------------------------------------------------- saved pages


@pytest.mark.parametrize(
    ("name", "encoding"), [("product-2026-utf16le.html", "UTF-16LE"), ("product-2026-utf16be.html", "UTF-16BE")]
)
def test_a_utf16_saved_product_page_parses_like_the_original(name: str, encoding: str) -> None:
    saved = read_saved_page(FIXTURES / name)
    assert saved.encoding == encoding
    assert sniff_kind(saved.text) == "product"
    (product,) = parse_product_page(saved.text).products
    assert product.item_code == "3000000010"  # from the ie. canonical link: no sku on the page
    assert product.url == "/product/cafe-lamp-nordic-style/3000000010.html"
    assert product.title == LAMP
    assert (product.price_min, product.currency, product.in_stock) == (Decimal("23.90"), "EUR", True)


def test_a_windows_1252_mobile_page_takes_its_item_code_from_og_url_and_its_name_from_the_title() -> None:
    saved = read_saved_page(FIXTURES / "product-mobile-windows-1252.html")
    assert (saved.encoding, saved.source) == ("windows-1252", "<meta> declaration")
    (product,) = parse_product_page(saved.text).products
    assert product.item_code == "3000000011"
    assert product.url == "/product/creme-brulee-torch-2-pack/3000000011.html"
    assert product.title == "Crème Brûlée Torch – 2 Pack, €-Plug"
    assert product.in_stock is False


def test_a_gbk_search_page_with_regional_and_mobile_links() -> None:
    saved = read_saved_page(FIXTURES / "search-gbk.html")
    assert saved.encoding == "GBK"
    page = parse_page("search", saved.text)
    first, second = page.products
    assert (first.item_code, first.title, first.store_id) == ("2000000011", "LED灯带 5米 RGB 遥控", "10000002")
    assert first.url == "/product/led-5m-rgb/2000000011.html"
    assert (second.title, second.url) == ("暖白 COB 灯带 24V", "/product/cob-24v/2000000012.html")


def test_a_utf8_bom_store_page_on_a_regional_host() -> None:
    saved = read_saved_page(FIXTURES / "store-utf8-bom.html")
    assert (saved.encoding, saved.source, saved.text[:9]) == ("UTF-8", "byte-order mark", "<!DOCTYPE")
    page = parse_page("store", saved.text)
    assert page.store_name == "Lámparas Sol"
    assert [(p.item_code, p.title, p.url) for p in page.products] == [
        ("1000000021", "Salzlampe Himalaya – groß, 3 kg", "/product/salzlampe-himalaya/1000000021.html"),
        ("1000000022", "Lámpara de pie Nórdica", "/product/lampara-de-pie/1000000022.html"),
    ]


def test_the_same_page_from_ie_de_fr_and_m_hosts_parses_alike() -> None:
    original = read_saved_page(FIXTURES / "product-2026-utf16le.html").text
    seen = set()
    for host in ("www", "ie", "de", "fr", "m"):
        html = original.replace("https://ie.dhgate.com/", f"https://{host}.dhgate.com/")
        (product,) = parse_product_page(html).products
        seen.add((product.item_code, product.url, product.title))
    assert seen == {("3000000010", "/product/cafe-lamp-nordic-style/3000000010.html", LAMP)}


def test_og_url_is_used_only_when_the_canonical_link_names_no_product() -> None:
    html = read_saved_page(FIXTURES / "product-mobile-windows-1252.html").text
    canonical = '<link rel="canonical" href="https://de.dhgate.com/product/brenner/3000000099.html"/>'
    with_canonical = html.replace("<meta property", canonical + "<meta property")
    assert parse_product_page(with_canonical).products[0].item_code == "3000000099"
    useless_canonical = html.replace(
        "<meta property", '<link rel="canonical" href="https://m.dhgate.com/"/><meta property'
    )
    assert parse_product_page(useless_canonical).products[0].item_code == "3000000011"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("LED Strip 5m SPA... From &Price; | DHgate", "LED Strip 5m SPA..."),
        ("Gift From Paris SPA... From &Price; | DHgate", "Gift From Paris SPA..."),
        ("Neon Sign Custom | DHgate", "Neon Sign Custom"),
        ("Neon Sign Custom | DHgate.com", "Neon Sign Custom"),
        ("Holder In Stock From Joxin99, $0.11 | DHgate.Com", "Holder In Stock"),
        ("Lamp From Brightlights, US $1.20 - 3.40 | DHgate", "Lamp"),
        ("Lamp From &Price;", "Lamp"),
        ("Lamp &Name; Nordic", "Lamp Nordic"),
        # Everything that is not the template stays exactly as it was.
        ("Gift From Paris | DHgate", "Gift From Paris"),
        ("Gift From Paris, 2024 | DHgate", "Gift From Paris, 2024"),
        ("Gift From Paris, $5", "Gift From Paris, $5"),
        ("Tom &amp; Jerry  Mug", "Tom &amp; Jerry  Mug"),
        ("A|B Switch", "A|B Switch"),
        ("&Price; | DHgate", None),
        ("", None),
    ],
)
def test_clean_product_name(name: str, clean: str | None) -> None:
    assert clean_product_name(name) == clean


def test_a_json_ld_name_that_is_only_template_falls_back_to_the_heading() -> None:
    html = read_saved_page(FIXTURES / "product-2026-utf16le.html").text.replace(
        '"name": "Café Lamp – Nordic Style, Dimmable SPA... From &Price; | DHgate"', '"name": "&Price; | DHgate"'
    ).replace("<h1>Café Lamp", "<h1>Heading Lamp")
    assert parse_product_page(html).products[0].title == "Heading Lamp – Nordic Style, Dimmable SPA..."
