"""Turn whatever a person pastes into a DHgate monitor target, and build page URLs.

People paste store links from any tab, search links, product links with tracking junk, or just
keywords. Everything is reduced to one canonical *relative* URL (path + query) so that two
pastes of the same store become the same monitor, and so that the fetcher alone decides which
host (dhgate.com or the local sandbox marketplace) is contacted.

The host check is the security boundary: a pasted URL is only accepted when its host is an
allowed host or a subdomain of one, or exactly the host and port of the configured
``DHGATE_BASE_URL`` (the sandbox marketplace or a test server stand in for DHgate there, so
their links are DHgate links). That keeps the fetcher from being pointed at internal addresses
(SSRF): only the path of a link is kept, and the fetcher contacts its own base URL with it.
Anything ambiguous is rejected with a message that can be shown as is, and a refused host comes
with an example of a link that works.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, quote_plus, unquote, unquote_plus, urljoin, urlsplit

from flask_babel import gettext as _

from services.dhgate.types import InvalidDHgateInput, MonitorTarget

MAX_INPUT_LENGTH = 2000
MAX_KEYWORDS_LENGTH = 200
STORE_ID = re.compile(r"\d{1,12}")
ITEM_CODE = re.compile(r"\d{1,15}")
PLACEHOLDER_SLUG = "x"  # DHgate resolves products by item code; the slug is cosmetic
DHGATE_ORIGIN = "https://www.dhgate.com"
EXAMPLE_PATH = "/store/21880856.html"  # a store link, shown when a pasted host is refused
_DEFAULT_PORTS = {"http": 80, "https": 443}

_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
_DOMAIN = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,63}\.?", re.IGNORECASE)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PORT_SUFFIX = re.compile(r":\d{1,5}$")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,199}")
# Country sections of the English site ("/au/product/...") carry the same ids as the root.
_COUNTRY_PREFIX = re.compile(r"^/[a-z]{2}(?=/(?:store|product|wholesale|w)/)")

_STORE_PATH = re.compile(
    r"^/store/(?:[a-z][a-z0-9-]*/)*(?P<id>\d{1,12})(?:-c\d+)?(?:/\d{1,5})?(?:\.html?)?/?$",
    re.IGNORECASE,
)
_PRODUCT_PATH = re.compile(r"^/product/(?:(?P<slug>[^/]+)/)?(?P<code>\d{1,15})\.html?$", re.I)
# The same path inside a full link: optional scheme and host, optional country section.
_PRODUCT_IN_LINK = re.compile(
    r"(?:(?:https?:)?//[^/?#]+)?(?:/[a-z]{2})?"
    r"/product/(?:(?P<slug>[^/?#]+)/)?(?P<code>\d{1,15})\.html?(?:[?#]|$)",
    re.IGNORECASE,
)
_SEARCH_W_PATH = re.compile(r"^/w/(?P<kw>[^/]+?)(?:/\d{1,5})?(?:\.html?)?/?$", re.IGNORECASE)
_SEARCH_LANDING_PATH = re.compile(r"^/wholesale/(?P<kw>[^/]+?)\.html?$", re.IGNORECASE)
_SEARCH_FORM_PATHS = frozenset({"/wholesale/search.do", "/wholesale/search"})
_STORE_FORM_PATH = "/wholesale/store.do"

_NOT_A_TARGET = (
    "This DHgate link does not point to a store, a search or a product. "
    "Paste a store page, a search results page or a product page."
)


@dataclass(frozen=True)
class _AllowedHost:
    """One entry of ``allowed_hosts``: a domain (subdomains allowed) or an exact host:port."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> _AllowedHost:
        """Read "dhgate.com" or "127.0.0.1:5001" (the sandbox marketplace)."""
        host, _, port = entry.strip().lower().rstrip(".").partition(":")
        return cls(host, int(port) if port else None)

    @classmethod
    def from_base_url(cls, base_url: str | None) -> _AllowedHost | None:
        """The exact host and port of the configured base URL, or None when there is none."""
        if not base_url:
            return None
        try:
            parts = urlsplit(base_url.strip())
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        return cls(parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme])

    def admits(self, host: str, port: int | None, scheme: str) -> bool:
        """Whether a URL's host and port fall under this entry."""
        if self.port is not None:
            return host == self.host and (port or _DEFAULT_PORTS[scheme]) == self.port
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            return False
        if host == self.host:
            return True
        return not _IPV4.fullmatch(self.host) and host.endswith("." + self.host)


# --------------------------------------------------------------------------- public API


def normalise_input(
    text: str, allowed_hosts: tuple[str, ...] = ("dhgate.com",), base_url: str | None = None
) -> MonitorTarget:
    """What to watch, from a pasted DHgate URL or from plain search keywords.

    ``base_url`` is the configured ``DHGATE_BASE_URL``: links to exactly its host and port are
    DHgate links too, so a sandbox link pasted in ``make demo`` is understood.
    Raises ``InvalidDHgateInput`` (message safe to show) for anything unusable or unsafe.
    """
    cleaned = _clean_input(text)
    if _looks_like_url(cleaned):
        return _target_from_url(cleaned, allowed_hosts, base_url)
    return search_target(cleaned)


def absolute_url(url: str | None, base_url: str) -> str:
    """An absolute http(s) URL: relative paths (as parsed from pages) are joined to ``base_url``,
    and anything that is not http(s) (``javascript:`` from a garbled page) falls back to it."""
    base = base_url.rstrip("/") + "/"
    url = (url or "").strip()
    if not url:
        return base
    if url.startswith("//"):
        url = "https:" + url
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return url
    if scheme:
        return base
    return urljoin(base, url.lstrip("/"))


def is_dhgate_url(url: str, allowed_hosts: tuple[str, ...], base_url: str | None) -> bool:
    """Whether ``url`` is an absolute http(s) link to DHgate: an allowed host or a subdomain of
    one, or exactly the host and port of ``base_url``. The affiliate redirect sends visitors
    only where this says yes, so a stored URL can never make it an open redirect."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return False
    host = parts.hostname.lower().removesuffix(".")
    if not host.isascii() or not _HOST.fullmatch(host):
        return False
    admitting = [_AllowedHost.parse(entry) for entry in allowed_hosts]
    configured = _AllowedHost.from_base_url(base_url)
    if configured is not None:
        admitting.append(configured)
    return any(entry.admits(host, port, scheme) for entry in admitting)


def normalise_keywords(text: str) -> str:
    """Search keywords as stored: NFKC, trimmed, single spaces, lower case, 1..200 chars."""
    keywords = " ".join(unicodedata.normalize("NFKC", text).split()).lower()
    if not keywords:
        raise InvalidDHgateInput("Type at least one search keyword.")
    if len(keywords) > MAX_KEYWORDS_LENGTH:
        raise InvalidDHgateInput(
            f"Search keywords can be at most {MAX_KEYWORDS_LENGTH} characters long."
        )
    if _has_control_characters(keywords):
        raise InvalidDHgateInput("The keywords contain invisible control characters.")
    return keywords


def store_target(store_id: str) -> MonitorTarget:
    """The monitor target for a store number."""
    store_id = _checked_store_id(store_id)
    return MonitorTarget("store", store_id, store_page_path(store_id, 0), f"Store {store_id}")


def search_target(keywords: str) -> MonitorTarget:
    """The monitor target for search keywords (normalised here)."""
    keywords = normalise_keywords(keywords)
    url = f"/wholesale/search.do?act=search&searchkey={quote_plus(keywords)}"
    return MonitorTarget("search", keywords, url, f"Search: {keywords}")


def product_target(item_code: str, slug: str | None = None) -> MonitorTarget:
    """The monitor target for an item code, named after the slug when there is one."""
    item_code = _checked_item_code(item_code)
    slug = clean_slug(slug)
    name = _humanise_slug(slug) if slug and slug != PLACEHOLDER_SLUG else f"Product {item_code}"
    return MonitorTarget("product", item_code, product_path(item_code, slug), name)


def store_page_path(store_id: str, page_index: int) -> str:
    """Relative URL of a store's "Top Selling" tab page; ``page_index`` is zero-based.

    DHgate's own pagination: page 0 is ``/store/top-selling/{n}.html``, page 1 is
    ``/store/top-selling/{n}/1.html``.
    """
    store_id = _checked_store_id(store_id)
    _check_page_index(page_index)
    if page_index == 0:
        return f"/store/top-selling/{store_id}.html"
    return f"/store/top-selling/{store_id}/{page_index}.html"


def search_page_path(keywords: str, page_index: int) -> str:
    """Relative URL of one page of search results; ``page_index`` is zero-based (pageNum)."""
    _check_page_index(page_index)
    keywords = normalise_keywords(keywords)
    return f"/wholesale/search.do?act=search&searchkey={quote_plus(keywords)}&pageNum={page_index}"


def product_path(item_code: str, slug: str | None = None) -> str:
    """Relative URL of a product page; an unusable or missing slug becomes a placeholder."""
    item_code = _checked_item_code(item_code)
    return f"/product/{clean_slug(slug) or PLACEHOLDER_SLUG}/{item_code}.html"


def clean_slug(slug: str | None) -> str | None:
    """The slug lower-cased when it is a plain ASCII slug, else None (it is only cosmetic)."""
    if not slug:
        return None
    slug = unquote(slug).strip().lower()
    return slug if _SLUG.fullmatch(slug) else None


def store_id_from_url(url: str | None) -> str | None:
    """The store number in a DHgate store link ("https://www.dhgate.com/store/22022421#x")."""
    path = _relative_path(url)
    match = _STORE_PATH.match(path) if path else None
    return match.group("id") if match else None


def product_ref_from_url(url: str | None) -> tuple[str, str | None] | None:
    """(item code, slug) from a product link found in a page, or None.

    Reads links the parsers meet on every card, so it matches the path in place instead of
    splitting the URL; cached because the same links come back on every poll.
    """
    return _product_ref(url) if url else None


@lru_cache(maxsize=8192)
def _product_ref(url: str) -> tuple[str, str | None] | None:
    """Cached body of ``product_ref_from_url``."""
    match = _PRODUCT_IN_LINK.match(url.strip())
    if match is None:
        return None
    return match.group("code"), clean_slug(match.group("slug"))


# --------------------------------------------------------------------------- input checks


def _clean_input(text: object) -> str:
    """Trimmed input, rejecting empty, oversized or control-character input up front."""
    if not isinstance(text, str):
        raise InvalidDHgateInput("Paste a DHgate link or type search keywords.")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidDHgateInput(f"That is too long: paste at most {MAX_INPUT_LENGTH} characters.")
    cleaned = text.strip()
    if not cleaned:
        raise InvalidDHgateInput("Paste a DHgate store, search or product link, or type keywords.")
    if _has_control_characters(cleaned.replace("\t", " ")):
        raise InvalidDHgateInput(
            "The text contains invisible control characters; paste the link again."
        )
    return cleaned


def _has_control_characters(text: str) -> bool:
    """Control (Cc) and format (Cf: zero-width, bidi overrides) characters hide what a link is.

    Tabs are allowed between keywords copied from a spreadsheet, but never inside a link,
    where URL parsers drop them silently.
    """
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def _looks_like_url(text: str) -> bool:
    """Whether the input is meant as a link rather than as search keywords.

    A scheme ("https:", "javascript:"), "://" anywhere, "//host", a leading "/" path, or a
    first word that is a domain or IPv4 address followed by a path all count as links. A lone
    word with a dot ("node.js") stays a keyword unless it names DHgate or starts with "www.".
    """
    if (
        text.startswith("/")
        or "://" in text
        or (_SCHEME.match(text) and not text.split(":", 1)[1][:1].isspace())
    ):
        return True
    first_word = text.split(None, 1)[0]
    host, slash, _ = first_word.partition("/")
    host = _PORT_SUFFIX.sub("", host)  # "127.0.0.1:8700/store/1.html" is a link too
    if not (_DOMAIN.fullmatch(host) or _IPV4.fullmatch(host)):
        return False
    lowered = host.lower()
    return bool(slash) or lowered.startswith("www.") or "dhgate." in lowered


# --------------------------------------------------------------------------- URLs


def _target_from_url(text: str, allowed_hosts: tuple[str, ...], base_url: str | None) -> MonitorTarget:
    """Validate the URL's scheme and host, then read the target from its path and query."""
    if "\\" in text:
        raise InvalidDHgateInput("Links with backslashes are not accepted.")
    if "\t" in text:
        raise InvalidDHgateInput(
            "The text contains invisible control characters; paste the link again."
        )
    if any(char.isspace() for char in text):
        raise InvalidDHgateInput("Paste just the link, without other text around it.")
    if text.startswith("/") and not text.startswith("//"):
        # A bare path names no host, so there is nothing to fetch elsewhere: read it as is.
        path, _, query = text.partition("#")[0].partition("?")
        return _target_from_path(_COUNTRY_PREFIX.sub("", path), query)
    if text.startswith("//"):
        text = "https:" + text
    elif not _SCHEME.match(text) or _DOMAIN.fullmatch(text.split(":", 1)[0]):
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidDHgateInput("That link is not a valid web address.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidDHgateInput("Only http and https links to DHgate are accepted.")
    _check_host(parts.netloc, port, scheme, allowed_hosts, base_url)
    path = _COUNTRY_PREFIX.sub("", parts.path or "/")
    return _target_from_path(path, parts.query)


def _check_host(
    netloc: str, port: int | None, scheme: str, allowed_hosts: tuple[str, ...], base_url: str | None
) -> None:
    """Reject user info, odd hosts and any host that is not (a subdomain of) an allowed one,
    nor exactly the host and port of ``base_url``."""
    if "@" in netloc:
        raise InvalidDHgateInput("Links with a user name or password in them are not accepted.")
    host = netloc.rsplit(":", 1)[0] if port is not None else netloc
    host = host.lower().removesuffix(".")
    if not host:
        raise InvalidDHgateInput("That link has no host name.")
    if not host.isascii():
        raise InvalidDHgateInput(
            "The host name contains non-ASCII characters that can imitate DHgate; "
            "type the link again."
        )
    if not _HOST.fullmatch(host):
        raise InvalidDHgateInput(f"“{host[:80]}” is not a valid host name.")
    allowed = [_AllowedHost.parse(entry) for entry in allowed_hosts]
    configured = _AllowedHost.from_base_url(base_url)
    admitting = [*allowed, configured] if configured is not None else allowed
    if any(entry.admits(host, port, scheme) for entry in admitting):
        return
    example = _example_link(base_url)
    if port is not None and any(entry.admits(host, None, scheme) for entry in allowed):
        raise InvalidDHgateInput(
            _("Links with a port number are not accepted. A link that works: %(example)s", example=example)
        )
    names = ", ".join(entry.host for entry in allowed)
    raise InvalidDHgateInput(
        _(
            "Only links to %(names)s can be watched, not %(host)s. A link that works: %(example)s",
            names=names,
            host=host if port is None else f"{host}:{port}",
            example=example,
        )
    )


def _example_link(base_url: str | None) -> str:
    """A store link on the configured base URL (DHgate's own when none is set)."""
    origin = (base_url or DHGATE_ORIGIN).strip().rstrip("/")
    return origin + EXAMPLE_PATH


def _target_from_path(path: str, query: str) -> MonitorTarget:
    """Store, search or product from a DHgate path and query string."""
    if match := _PRODUCT_PATH.match(path):
        return product_target(match.group("code"), match.group("slug"))
    if match := _STORE_PATH.match(path):
        return store_target(match.group("id"))
    params = {key.lower(): values for key, values in parse_qs(query).items()}
    lowered_path = path.lower().rstrip("/")
    if lowered_path in _SEARCH_FORM_PATHS:
        if params.get("act", [""])[0].lower() == "sellerstore" and params.get("suppliernum"):
            return store_target(params["suppliernum"][0])  # a search inside one store
        return _search_from_params(params)
    if lowered_path == _STORE_FORM_PATH and params.get("suppliernum"):
        return store_target(params["suppliernum"][0])
    if match := _SEARCH_W_PATH.match(path) or _SEARCH_LANDING_PATH.match(path):
        return search_target(unquote_plus(match.group("kw")))
    raise InvalidDHgateInput(_NOT_A_TARGET)


def _search_from_params(params: dict[str, list[str]]) -> MonitorTarget:
    """A search target from a /wholesale/search.do query string."""
    keywords = params.get("searchkey", [""])[0]
    if not keywords.strip():
        raise InvalidDHgateInput("This search link has no search keywords in it.")
    return search_target(keywords)


def _relative_path(url: str | None) -> str | None:
    """Path of an absolute, protocol-relative or relative URL, without a country prefix."""
    if not url:
        return None
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    return _COUNTRY_PREFIX.sub("", path)


def _checked_store_id(store_id: str) -> str:
    """A store number as digits, or InvalidDHgateInput."""
    store_id = str(store_id).strip()
    if not STORE_ID.fullmatch(store_id):
        raise InvalidDHgateInput(f"“{store_id[:40]}” is not a DHgate store number.")
    return store_id


def _checked_item_code(item_code: str) -> str:
    """An item code as digits, or InvalidDHgateInput."""
    item_code = str(item_code).strip()
    if not ITEM_CODE.fullmatch(item_code):
        raise InvalidDHgateInput(f"“{item_code[:40]}” is not a DHgate item code.")
    return item_code


def _check_page_index(page_index: int) -> None:
    """Page indexes are zero-based, non-negative ints (bool is not a page index)."""
    if isinstance(page_index, bool) or not isinstance(page_index, int) or page_index < 0:
        raise ValueError(f"page_index must be an int >= 0, not {page_index!r}")


def _humanise_slug(slug: str) -> str:
    """A readable default name from a slug: "led-strip-5m" -> "Led strip 5m"."""
    words = slug.replace("-", " ").split()
    return " ".join(words).capitalize()[:120] if words else slug
