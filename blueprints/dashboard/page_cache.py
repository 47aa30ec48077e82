"""The platform page as served, kept for ``DASHBOARD_CACHE_SECONDS`` per admin browser.

The figures behind the page are already cached, but drawing the page (cards, six SVG charts,
tables, every word translated) costs far more than reading them. So the finished HTML is kept
too, keyed by everything that makes one admin's copy differ from another's: the account, the
session's CSRF secret (the page's forms carry a token made from it), what the language and time
zone are chosen from (the account's choice, the visit's, the browser's; not the choice itself,
which would cost Babel's selection on every hit), the theme and the URL with its window. A page
with flash messages to show is never served from or put in the cache. The layout's
unread-notification badge may therefore lag by as much as the figures.
``invalidate_dashboard`` (a snapshot, a health transition, pausing polling) bumps the page
generation, so every kept page is dropped at once; the generation is read with the session
check (``web.login.prefetch_with_session``): from the process's pub/sub mirror where Redis is
local (a kept page then costs no round trip and no statement), else in the same ``MGET``.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any

from flask import current_app, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from services.dashboard_cache import generation_redis_key, raw_generation
from web.i18n import LANG_SESSION_KEY, current_theme
from web.login import prefetched

PAGE_KEY = "platform:page:v1:"
KEPT_PAGES = 64  # browsers whose page this process keeps; the least recently used goes first

_kept: OrderedDict[str, tuple[Any, float, str]] = OrderedDict()  # key -> (generation, until, html)
_lock = threading.Lock()


def _page_key() -> str:
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if field not in session:  # the session's CSRF secret exists before it is part of the key
        generate_csrf()  # (only then: signing a token per hit would be wasted on a kept page)
    secret = str(session.get(field, ""))
    if "lang" in request.args:
        get_locale()  # a ``?lang=`` is remembered for the visit (web.i18n), kept page or not
    parts = (str(current_user.id), secret, str(current_user.locale), str(session.get(LANG_SESSION_KEY)),
             request.headers.get("Accept-Language", ""), str(current_user.timezone), current_theme(),
             request.full_path)
    return PAGE_KEY + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _cacheable() -> bool:
    return bool(current_app.config["DASHBOARD_CACHE_SECONDS"]) and not session.get("_flashes")


def cached_page() -> tuple[str | None, Any]:
    """This browser's copy of the page if this process keeps one of the current generation, and
    that generation (a page drawn now is stored under it, so an invalidation while drawing
    leaves the new copy already stale, never wrongly fresh)."""
    if not _cacheable():
        return None, None
    found, generation = prefetched(generation_redis_key())
    if not found:
        generation = raw_generation()
    key = _page_key()
    with _lock:
        entry = _kept.get(key)
        if entry is not None:
            _kept.move_to_end(key)
    if entry is not None and entry[0] == generation and entry[1] > time.monotonic():
        return entry[2], generation
    return None, generation


def store_page(html: str, generation: Any) -> None:
    if not _cacheable():
        return
    until = time.monotonic() + int(current_app.config["DASHBOARD_CACHE_SECONDS"])
    key = _page_key()
    with _lock:
        _kept[key] = (generation, until, html)
        _kept.move_to_end(key)
        while len(_kept) > KEPT_PAGES:
            _kept.popitem(last=False)
