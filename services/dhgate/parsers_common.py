"""What every DHgate page parser needs first: block detection, status rules, small helpers.

A blocked, garbled or error page must never be read as "no products", so each parser runs
``detect_blocked`` and ``check_status`` before looking for products, and raises a
``DHgatePageError`` subclass whose ``outcome`` tells the poller what happened.
"""

from __future__ import annotations

import json
import re
from html.entities import html5 as _HTML5_ENTITIES
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.dhgate.types import PageBlocked, PageGone, PageHttpError, PageUnparsable

BLOCKED_STATUSES = frozenset({403, 429})
GONE_STATUSES = frozenset({404, 410})

# Titles of anti-bot answers (Akamai, Cloudflare, PerimeterX, DataDome, generic captchas).
_BLOCK_TITLES = (
    "access denied",
    "just a moment",
    "attention required",
    "captcha",
    "security check",
    "security verification",
    "verify you are human",
    "are you a robot",
    "pardon our interruption",
    "request blocked",
    "too many requests",
)
# Fingerprints that only block and challenge pages carry, never a real DHgate page.
_BLOCK_FINGERPRINTS = (
    "errors.edgesuite.net",
    "you don't have permission to access",
    "cf-chl-",
    "cf_chl_opt",
    "_incapsula_resource",
    "px-captcha",
    "captcha-delivery.com",
    "sec-if-cpt-container",
    "bm-verify",
)
# Markers that mean "blocked" only on a short page: a full page may load a captcha widget for
# its login box, or a CDN may inject its challenge script into a normal page.
_SMALL_PAGE_PHRASES = (
    "/cdn-cgi/challenge-platform",
    "g-recaptcha",
    "h-captcha",
    "geetest",
    "unusual traffic",
    "slide to verify",
    "please verify you are a human",
    "enable javascript and cookies to continue",
    "checking your browser",
)
# Block and challenge pages are small; a full DHgate page is 150 KB or more. Scanning a whole
# page costs more than parsing it, so only small pages are read in full and large ones only
# at their start, where any challenge script or title would sit.
_SMALL_PAGE_LIMIT = 64 * 1024
_LARGE_PAGE_SCAN = 32 * 1024
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_DOCUMENT_END = re.compile(r"</html\s*>", re.IGNORECASE)
# Markers of DHgate's product data (store grid, search records, product page data, JSON-LD).
# No anti-bot answer carries them, so a page that does is not scanned any further.
_PAGE_DATA_MARKERS = (
    'id="proGallery"',
    '"totalProducts"',
    "maxAndMinPriceVo",
    "application/ld+json",
)
# DHgate's page-title template, which 2026 product pages also put into JSON-LD ``name``:
# "{name} From {store}, {price} | DHgate.com", or with the fields left unresolved,
# "{name} From &Price; | DHgate". Product names never contain "| DHgate" themselves.
_SITE_TAIL = re.compile(r"\s*\|\s*DHgate(?:\.com)?\s*$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r" ?&([A-Za-z][A-Za-z0-9]*);")  # with the space before it, if any
# The " From ..." part of the template: only stripped when it is recognisably the template's
# (it holds a placeholder, or "store, price" before the site tail), so "Gift From Paris" stays.
_PRICE = r"(?:(?:[A-Z]{2,3}\s?)?[$€£¥₹]\s?\d[\d.,]*|\d+[.,]\d{2})"
_STORE_AND_PRICE = re.compile(rf"[^|,]+,\s*{_PRICE}(?:\s*-\s*{_PRICE})?\s*")


def detect_blocked(html: str, status_code: int) -> None:
    """Raise ``PageBlocked`` for anti-bot answers: CDN "Access Denied", challenges, captchas.

    403 and 429 are blocks whatever the body says. Other statuses are checked by content
    because challenge pages often come with 200 or 503: first the title, then, unless the
    page carries DHgate product data, the fingerprints of the usual anti-bot services.
    """
    if status_code in BLOCKED_STATUSES:
        raise PageBlocked(f"DHgate answered HTTP {status_code}: the request was blocked")
    small = len(html) <= _SMALL_PAGE_LIMIT
    title = _page_title(html)
    if title and "dhgate" not in title and any(marker in title for marker in _BLOCK_TITLES):
        raise PageBlocked(f"anti-bot page: “{title[:80]}”")
    if any(marker in html for marker in _PAGE_DATA_MARKERS):
        return
    text = (html if small else html[:_LARGE_PAGE_SCAN]).lower()
    markers = _BLOCK_FINGERPRINTS + _SMALL_PAGE_PHRASES if small else _BLOCK_FINGERPRINTS
    for marker in markers:
        if marker in text:
            raise PageBlocked(f"anti-bot page ({marker})")


def _page_title(html: str) -> str | None:
    """The <title> text in lower case, whitespace collapsed (looked for in the first 32 KB).

    Real DHgate titles end in "| DHgate.com", so a product named "Access Denied Hoodie" is
    not mistaken for a block; the caller skips titles that mention DHgate.
    """
    match = _TITLE.search(html, 0, _LARGE_PAGE_SCAN)
    return " ".join(match.group(1).lower().split()) if match else None


def check_status(status_code: int, *, gone_means_removed: bool) -> None:
    """Turn HTTP errors the page body did not explain into their outcome.

    404/410 mean "removed" for stores and products; for a search they mean nothing about
    products, so they are HTTP errors like any other 4xx/5xx.
    """
    if status_code in GONE_STATUSES and gone_means_removed:
        raise PageGone(f"DHgate answered HTTP {status_code}: it no longer exists")
    if status_code >= 400:
        raise PageHttpError(f"DHgate answered HTTP {status_code}")


def screen_page(html: object, status_code: int, *, gone_means_removed: bool) -> str:
    """The checks every parser runs before reading products; returns the page text.

    Blocks first (a 403 is a block even with an empty body), then HTTP errors (a 404 or 410
    with an empty body is still "gone"), and only then an empty or non-text body, which is
    unparsable rather than an empty list.
    """
    if not isinstance(html, str):
        raise PageUnparsable(f"expected page text, got {type(html).__name__}")
    detect_blocked(html, status_code)
    check_status(status_code, gone_means_removed=gone_means_removed)
    if not html.strip():
        raise PageUnparsable("the page is empty")
    return html


def is_complete_document(html: str) -> bool:
    """Whether the HTML ends with its closing </html> tag (looked for in the last 4 KB).

    The HTML parser silently closes a cut-off document, so only the raw text shows that a
    response was truncated, which would make a partial product list look complete.
    """
    return _DOCUMENT_END.search(html, max(0, len(html) - 4096)) is not None


def parse_html(html: str) -> LexborHTMLParser:
    """The lexbor DOM of a page (the fast, maintained selectolax backend)."""
    return LexborHTMLParser(html)


def node_text(node: LexborNode | None) -> str | None:
    """Collapsed text of a node, None when the node is missing or blank."""
    if node is None:
        return None
    text = node.text(deep=True, separator=" ", strip=True)
    if "  " in text or "\n" in text or "\t" in text:
        text = " ".join(text.split())
    return text or None


def node_attr(node: LexborNode | None, name: str) -> str | None:
    """A stripped attribute value, None when the node or the value is missing or blank."""
    if node is None:
        return None
    value = node.attributes.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def absolute_url(url: str | None) -> str | None:
    """Protocol-relative image links ("//img4.dhresource.com/...") made https."""
    if not url:
        return None
    if url.startswith("//"):
        return "https:" + url
    return url


def load_json(text: str | None, what: str) -> Any:
    """Parse embedded JSON, turning a decoding error into PageUnparsable."""
    if not text or not text.strip():
        raise PageUnparsable(f"{what} is empty")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise PageUnparsable(f"{what} is not valid JSON: {error}") from None


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...`` through dicts only; None as soon as a step is missing."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def first_present(data: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` whose value is not None or blank (pages rename fields)."""
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            return value
    return None


def as_int(value: object) -> int | None:
    """An int from a JSON int or a numeric string ("100", "100 Pieces"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = re.search(r"\d+", value.replace(",", ""))
        return int(match.group()) if match else None
    return None


def clean_product_name(name: str | None) -> str | None:
    """A product name without DHgate's title template tail or unresolved ``&Name;`` placeholders.

    2026 pages carry names such as "LED Strip 5m SPA... From &Price; | DHgate": the member
    would see, and be notified with, template debris. Only the template's parts go; the rest,
    DHgate's own "..." shortening included, is kept exactly. Real HTML entities ("&amp;")
    are not placeholders and stay. None when nothing is left.
    """
    if not name:
        return None
    if "|" not in name and "&" not in name:
        return name
    without_site = _SITE_TAIL.sub("", name)
    head, from_word, tail = without_site.rpartition(" From ")
    if from_word and (
        _has_placeholder(tail) or (without_site != name and _STORE_AND_PRICE.fullmatch(tail))
    ):
        without_site = head
    cleaned = without_site
    if "&" in cleaned:
        cleaned = _PLACEHOLDER.sub(_keep_real_entity, cleaned)
    return cleaned.strip() or None


def _has_placeholder(text: str) -> bool:
    """Whether ``text`` holds an ``&Name;`` that is not a real HTML entity."""
    return any(_keep_real_entity(match) == "" for match in _PLACEHOLDER.finditer(text))


def _keep_real_entity(match: re.Match[str]) -> str:
    """An ``&Name;`` that HTML defines (``&amp;``) stays; a template placeholder goes."""
    return match.group(0) if match.group(1) + ";" in _HTML5_ENTITIES else ""


def as_text(value: object) -> str | None:
    """A JSON scalar as stripped text, None when missing or blank."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = " ".join(str(value).split())
    return text or None
