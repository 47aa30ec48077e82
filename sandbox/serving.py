"""How a rendered sandbox page becomes a response: the page cache and fault injection.

A benchmark opens hundreds of connections at once, so rendered pages are cached per catalog
version and a request does little more than a lookup. Around that lookup sits the scope's fault
(see :mod:`.faults`): a slow answer, a rate limit, a block, a challenge, junk, or the real page
cut off half way. Keeping both here leaves the page handlers in :mod:`.application` with only
"which page is this".
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from .catalog import Catalog
from .faults import Fault, FaultBook, FaultMode
from .model import CatalogError
from .render_failures import (
    render_access_denied,
    render_challenge,
    render_garbled,
    render_rate_limited,
    render_server_error,
)
from .routing import HTML

PAGE_CACHE_LIMIT = 20_000


class Latency:
    """How long every marketplace answer waits before it is sent: ``fixed_ms`` ± up to
    ``jitter_ms`` (uniform, never below zero), like a page coming over a WAN from DHgate.

    The wait is a sleep in the request's own thread (the server is threaded), so a thousand
    slow answers in flight hold no core: a benchmark measures the poller, not the sandbox.
    """

    def __init__(self, fixed_ms: float = 0.0, jitter_ms: float = 0.0, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.fixed_ms = 0.0
        self.jitter_ms = 0.0
        self.set(fixed_ms, jitter_ms)

    def set(self, fixed_ms: float, jitter_ms: float = 0.0) -> None:
        """Change the latency while the server runs; negative or non-numeric values are refused."""
        fixed, jitter = _milliseconds("latency_ms", fixed_ms), _milliseconds("jitter_ms", jitter_ms)
        with self._lock:
            self.fixed_ms, self.jitter_ms = fixed, jitter

    def seconds(self) -> float:
        """The wait for one answer."""
        with self._lock:
            jitter = self._rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
            return max(0.0, self.fixed_ms + jitter) / 1000.0

    def to_dict(self) -> dict[str, float]:
        with self._lock:
            return {"latency_ms": self.fixed_ms, "jitter_ms": self.jitter_ms}


def _milliseconds(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CatalogError(f"{name} must be a number of milliseconds, got {value!r}") from None
    if not 0 <= number <= 600_000:
        raise CatalogError(f"{name} must be between 0 and 600000 milliseconds, got {value!r}")
    return number


@dataclass(frozen=True)
class Page:
    """A rendered answer before faults: status and HTML."""

    status: int
    html: str


class PageCache:
    """Rendered pages for the current catalog version; a new version drops the old pages."""

    def __init__(self, limit: int = PAGE_CACHE_LIMIT) -> None:
        self._lock = threading.Lock()
        self._version = -1
        self._pages: dict[tuple[Any, ...], Page] = {}
        self._limit = limit

    def get(self, version: int, key: tuple[Any, ...]) -> Page | None:
        """The page rendered for ``key`` at ``version``, if any."""
        with self._lock:
            return self._pages.get(key) if version == self._version else None

    def put(self, version: int, key: tuple[Any, ...], page: Page) -> None:
        """Remember a page; pages of an older version than the newest seen are not kept."""
        with self._lock:
            if version > self._version:
                self._version = version
                self._pages.clear()
            if version == self._version and len(self._pages) < self._limit:
                self._pages[key] = page


class PageServing:
    """Serves the catalog's pages through the cache, with the scope's fault applied."""

    def __init__(self, catalog: Catalog, faults: FaultBook, latency: Latency | None = None) -> None:
        self.catalog = catalog
        self.faults = faults
        self.latency = latency or Latency()
        self.cache = PageCache()
        self._garble_lock = threading.Lock()
        self._garble_rng = random.Random(catalog.seed)

    def cached(self, key: tuple[Any, ...], produce: Callable[[], tuple[int, Page]]) -> Page:
        """The page for ``key`` at the catalog's current version, rendered by ``produce`` (which
        returns the version it rendered) only when not cached yet."""
        page = self.cache.get(self.catalog.version, key)
        if page is None:
            version, page = produce()
            self.cache.put(version, key, page)
        return page

    def serve(self, request: Request, store_id: str | None, build: Callable[[], Page],
               truncate: Callable[[str, Fault], str]) -> Response:
        """Wait the configured latency, then apply the scope's fault (if any) around building
        the normal page."""
        delay = self.latency.seconds()
        if delay > 0:
            time.sleep(delay)
        fault = self.faults.take(store_id)
        if fault is not None and fault.mode is FaultMode.SLOW:
            time.sleep(float(fault.options["delay"]))
            fault = None
        if fault is not None and fault.mode is not FaultMode.TRUNCATED:
            return self.fault_response(request, fault)
        page = build()
        body = page.html
        if fault is not None and page.status == 200:
            body = truncate(page.html, fault)
        return Response(body, status=page.status, content_type=HTML,
                        headers={"Cache-Control": "no-cache", "X-Sandbox-Version": str(self.catalog.version)})

    def fault_response(self, request: Request, fault: Fault) -> Response:
        """The answer a fault gives instead of the page, with the status and headers the real
        CDN, bot check or origin sends, since the fetcher tells them apart by those."""
        options = fault.options
        if fault.mode is FaultMode.RATE_LIMITED:
            seconds = int(options["retry_after"])
            return Response(render_rate_limited(seconds), status=429, content_type=HTML,
                            headers={"Retry-After": str(seconds)})
        if fault.mode is FaultMode.SERVER_ERROR:
            status = int(options["status"])
            return Response(render_server_error(status), status=status, content_type=HTML)
        if fault.mode is FaultMode.BLOCKED:
            reference = f"18.{random.getrandbits(32):08x}.{int(time.time())}.{random.getrandbits(32):08x}"
            return Response(render_access_denied(request.url, reference),
                            status=int(options["status"]), content_type="text/html",
                            headers={"Server": "AkamaiGHost", "Mime-Version": "1.0"})
        if fault.mode is FaultMode.CHALLENGE:
            ray = f"{random.getrandbits(64):016x}"
            return Response(render_challenge(ray), status=int(options["status"]), content_type=HTML,
                            headers={"cf-mitigated": "challenge", "Server": "cloudflare",
                                     "Cache-Control": "private, no-store"})
        with self._garble_lock:
            junk = render_garbled(self._garble_rng, str(options["style"]))
        return Response(junk, status=200, content_type=HTML)
