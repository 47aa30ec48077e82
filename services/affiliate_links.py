"""Tracked links out to DHgate: the signed ``/go/<token>`` token and the URL it redirects to.

Every outbound DHgate link (pages, e-mails, chat alerts) is ``/go/<token>``. The token names the
member whose link it is, the product (or none: a store or search page), the monitor and where
the link was shown, signed with the secret key under a salt of its own so no other signed value
of the site (sessions, set-password links) can pass for one. It carries no target URL: the
redirect looks the product or monitor up and sends the visitor only to a DHgate host, so a
token can never make the site an open redirect.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

from extensions import db
from models import Monitor, Product
from models.affiliate import CLICK_SOURCES
from services import affiliate_settings
from services.dhgate.urls import absolute_url, is_dhgate_url

TOKEN_SALT = "affiliate-link"
TARGET_CACHE_SECONDS = 60.0
TARGET_CACHE_SIZE = 10_000
_TARGET_CACHE_KEY = "affiliate_links.targets"
MAX_TOKEN_LENGTH = 200  # real tokens are about 40 characters; longer is not ours
_SOURCE_CODES = {source: source[0] for source in CLICK_SOURCES}  # page → p, email → e, chat → c
_SOURCES_BY_CODE = {code: source for source, code in _SOURCE_CODES.items()}


class BadLinkToken(ValueError):
    """A token we did not sign (forged, tampered, truncated) or that names nothing usable."""


@dataclass(frozen=True)
class LinkTarget:
    """What a verified token names."""

    member_id: int
    product_id: int | None
    monitor_id: int | None
    source: str


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def make_token(member_id: int, product_id: int | None, monitor_id: int | None, source: str = "page") -> str:
    """A signed, URL-safe token for one link; compact because it lives in every link we show."""
    return _token(_serializer(), member_id, product_id, monitor_id, source)


def _token(serializer: URLSafeSerializer, member_id: int, product_id: int | None, monitor_id: int | None,
           source: str) -> str:
    if source not in _SOURCE_CODES:
        raise ValueError(f"unknown link source {source!r}")
    return str(serializer.dumps([member_id, product_id, monitor_id, _SOURCE_CODES[source]]))


def tracked_path(member_id: int, product_id: int | None, monitor_id: int | None, source: str = "page") -> str:
    """The site-relative ``/go/<token>`` path (e-mails prefix ``BASE_URL``)."""
    return f"/go/{make_token(member_id, product_id, monitor_id, source)}"


def path_maker() -> Callable[[int, int | None, int | None, str], str]:
    """``tracked_path`` with its serializer built once (half the cost of each link), for code
    that makes many links in a row: a batch of e-mails. The tokens are the same."""
    serializer = _serializer()

    def path(member_id: int, product_id: int | None, monitor_id: int | None, source: str = "page") -> str:
        return f"/go/{_token(serializer, member_id, product_id, monitor_id, source)}"

    return path


def read_token(token: str) -> LinkTarget:
    """The link a token names; ``BadLinkToken`` for anything we did not sign exactly so."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadLinkToken("length")
    try:
        payload: Any = _serializer().loads(token)
    except (BadData, UnicodeError, ValueError) as exc:
        raise BadLinkToken(type(exc).__name__) from None
    if (
        not isinstance(payload, list) or len(payload) != 4
        or not _is_id(payload[0]) or not (payload[1] is None or _is_id(payload[1]))
        or not (payload[2] is None or _is_id(payload[2])) or payload[3] not in _SOURCES_BY_CODE
        or (payload[1] is None and payload[2] is None)
    ):
        raise BadLinkToken("shape")
    return LinkTarget(payload[0], payload[1], payload[2], _SOURCES_BY_CODE[payload[3]])


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def dhgate_target(link: LinkTarget) -> str | None:
    """The DHgate page the link leads to (the product's, else the monitor's), or None when it
    names nothing that still exists or the stored URL is not on a DHgate host.

    A real page is remembered per app process for ``TARGET_CACHE_SECONDS``: a product's DHgate
    address rarely changes (and an old slug still leads to the product), while a popular link
    is followed many times a minute."""
    cache: dict[tuple[int | None, int | None], tuple[float, str | None]] = \
        current_app.extensions.setdefault(_TARGET_CACHE_KEY, {})
    key = (link.product_id, link.monitor_id)
    now = time.monotonic()
    entry = cache.get(key)
    if entry is not None and entry[0] > now:
        return entry[1]
    target = _lookup_target(link)
    if target is None or urlsplit(target).path in ("", "/"):
        return target  # a refusal or the home-page fallback: the stored address may be fixed any moment
    if len(cache) >= TARGET_CACHE_SIZE:
        cache.clear()  # crude but bounded; refilling costs one query per link
    cache[key] = (now + TARGET_CACHE_SECONDS, target)
    return target


def forget_targets() -> None:
    """Drop this process's remembered targets (after changing a product's address by hand)."""
    current_app.extensions.pop(_TARGET_CACHE_KEY, None)


def _lookup_target(link: LinkTarget) -> str | None:
    url: str | None = None
    if link.product_id is not None:
        product = db.session.get(Product, link.product_id)
        url = product.url if product is not None else None
    if url is None and link.monitor_id is not None:
        monitor = db.session.get(Monitor, link.monitor_id)
        url = monitor.url if monitor is not None else None
    if url is None:
        return None
    config = current_app.config
    absolute = absolute_url(url, config["DHGATE_BASE_URL"])
    if not is_dhgate_url(absolute, tuple(config["DHGATE_ALLOWED_HOSTS"]), config["DHGATE_BASE_URL"]):
        return None
    return absolute


def with_affiliate_params(url: str, click_ref: str, source: str) -> str:
    """``url`` with the configured affiliate parameters appended (before any fragment).

    Placeholders are replaced literally, each value URL-encoded; an unknown ``{name}`` in the
    template is left as written rather than failing the redirect.
    """
    settings = affiliate_settings.for_links()
    query = settings.url_params
    for name, value in (("affiliate_id", settings.affiliate_id), ("click_ref", click_ref),
                        ("source", source)):
        query = query.replace("{" + name + "}", quote(str(value), safe=""))
    query = query.strip("&?")
    if not query:
        return url
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))
