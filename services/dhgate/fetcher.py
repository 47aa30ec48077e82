"""Fetching DHgate pages politely and robustly.

One ``DHgateFetcher`` per process (per app) holds a pooled ``httpx.Client``. Every fetch goes
through, in order:

1. **Target check**: only paths on the configured ``DHGATE_BASE_URL`` host are fetched, and
   redirects are followed by hand only while they stay on that host (no SSRF through a pasted
   link, a crafted path or a redirect).
2. **Circuit breaker** per host, shared through Redis (``services.dhgate.breaker``).
3. **Rate limit** per host, shared through Redis (``services.dhgate.ratelimit``): each attempt,
   retries included, waits for its slot. The breaker's state and the first attempt's slot are
   read and reserved in one Redis round trip (a script), so a healthy fetch asks Redis once.
4. **Retries** (tenacity) on timeouts, connection errors, 408, 429 and 5xx, with exponential
   backoff and jitter; a Retry-After header is honoured up to ``DHGATE_RETRY_AFTER_MAX_SECONDS``.
   Nothing waits past the caller's deadline (the poll's time budget).

The result is a ``FetchResult`` whose ``outcome`` says what happened. Blocked answers (403, an
exhausted 429, "Access Denied", challenge and captcha pages) are ``BLOCKED``: they are never
retried at once (hammering a block makes it last) and never count as a success. No answer at
all (the name does not resolve, the connection is refused or reset) is ``UNREACHABLE``, told
apart from ``HTTP_ERROR`` (DHgate answered, with an error) because the fix differs: one is our
network or DNS, the other is DHgate.

What trips the breaker: timeouts, connection errors, 5xx after retries, and **blocked**
answers. A CDN block is about our client, not about one store: it applies to every page of the
host, and each further request while blocked tends to prolong it, so after a few blocks in a
row all workers stop for the reset timeout instead of collecting more blocks. 404/410 and
other 4xx answers are proper answers from a healthy host and count as successes; answers that
are too large or redirect off the host count as neither.
"""
from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
import pybreaker
import redis
from flask import Flask, current_app
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

from extensions import get_redis
from services.dhgate.breaker import Admission, CircuitOpen, HostBreaker
from services.dhgate.clock import SYSTEM_CLOCK, Clock, clock_of
from services.dhgate.egress import Egress, build_egresses, new_client
from services.dhgate.encoding import decode_page
from services.dhgate.http_client import tls_context
from services.dhgate.parsers_common import detect_blocked
from services.dhgate.ratelimit import HostRateLimiter, Reservation
from services.dhgate.retry_timing import StopAtDeadline, retry_after_seconds
from services.dhgate.types import PageBlocked, PollOutcome

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
MAX_REDIRECTS = 5
_EXTENSION_KEY = "dhm_dhgate_fetcher"
_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


class ForbiddenTarget(ValueError):
    """A URL that is not a page of the configured DHgate host; nothing was fetched."""


@dataclass(frozen=True)
class FetchSettings:
    """Everything the fetcher needs from the app config (hashable: it keys the shared client).

    No defaults here: they are declared once, in ``settings.py``, and reach us through the config.
    """

    base_url: str
    connect_timeout: float
    read_timeout: float
    attempts: int
    retry_wait: float
    retry_max_wait: float
    retry_after_max: float
    requests_per_second: float
    burst: int
    breaker_failures: int
    breaker_reset: float
    cookies: str
    user_agent: str
    max_bytes: int
    key_prefix: str
    proxies: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FetchSettings:
        return cls(
            base_url=str(config["DHGATE_BASE_URL"]).rstrip("/"),
            connect_timeout=float(config["DHGATE_CONNECT_TIMEOUT_SECONDS"]),
            read_timeout=float(config["DHGATE_TIMEOUT_SECONDS"]),
            attempts=int(config["DHGATE_RETRY_ATTEMPTS"]),
            retry_wait=float(config["DHGATE_RETRY_WAIT_SECONDS"]),
            retry_max_wait=float(config["DHGATE_RETRY_MAX_WAIT_SECONDS"]),
            retry_after_max=float(config["DHGATE_RETRY_AFTER_MAX_SECONDS"]),
            requests_per_second=float(config["DHGATE_REQUESTS_PER_SECOND"]),
            burst=int(config["DHGATE_RATE_BURST"]),
            breaker_failures=int(config["DHGATE_BREAKER_FAILURES"]),
            breaker_reset=float(config["DHGATE_BREAKER_RESET_SECONDS"]),
            cookies=str(config["DHGATE_COOKIES"] or ""),
            user_agent=str(config["DHGATE_USER_AGENT"] or ""),
            max_bytes=int(config["DHGATE_MAX_PAGE_BYTES"]),
            key_prefix=str(config["REDIS_KEY_PREFIX"]),
            proxies=tuple(str(proxy) for proxy in config.get("DHGATE_PROXIES") or ()),
        )


@dataclass
class FetchResult:
    """What one fetch (all its attempts) ended with."""

    outcome: PollOutcome
    url: str
    status_code: int | None = None
    text: str | None = None
    error: str | None = None
    attempts: int = 0
    waits: list[float] = field(default_factory=list)  # seconds slept before each retry
    elapsed_ms: int = 0
    egress: str | None = None  # "direct", or the proxy (host:port) it went through

    @property
    def answered(self) -> bool:
        """True when there is a page for the parser (2xx, or 404/410 which it interprets)."""
        return self.outcome in (PollOutcome.OK, PollOutcome.GONE) and self.text is not None


@dataclass
class _Attempt:
    """One request's result, before the retry policy looks at it."""

    kind: str  # "answer", "blocked", "timeout", "unreachable", "transport", "budget", "refused", "too_large"
    status_code: int | None = None
    text: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        if self.kind in ("timeout", "unreachable", "transport"):
            return True
        return self.kind == "answer" and self.status_code in RETRY_STATUSES


class DHgateFetcher:
    """Fetches pages of one DHgate host with retries, a shared rate limit and a shared breaker."""

    def __init__(self, settings: FetchSettings, redis_client: redis.Redis, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock  # deadlines, waits and the breaker's timeout are all measured on it
        self.origin = httpx.URL(settings.base_url)
        if self.origin.scheme not in ("http", "https") or not self.origin.host:
            raise ForbiddenTarget(f"DHGATE_BASE_URL must be an http(s) URL, got {settings.base_url!r}")
        # Every poll asks for the same few paths: checking that a path keeps the request on the
        # host costs a URL parse, which is only needed when the base address itself is unusual.
        self._paths_stay_on_host = self._same_origin(settings.base_url + "/")
        host_key = f"{self.origin.host}:{self.origin.port or ''}"
        try:
            self.egresses = build_egresses(settings, redis_client, clock, host_key, self._headers())
        except ValueError as exc:
            raise ForbiddenTarget(str(exc)) from None
        self._turn = itertools.count()
        self._backoff = wait_exponential_jitter(
            multiplier=settings.retry_wait, max=settings.retry_max_wait, jitter=settings.retry_wait
        )
        self._pid = os.getpid()

    @property
    def limiter(self) -> HostRateLimiter:
        """The first egress's rate limiter (the only one without proxies)."""
        return self.egresses[0].limiter

    @property
    def breaker(self) -> HostBreaker:
        """The first egress's circuit breaker (the only one without proxies)."""
        return self.egresses[0].breaker

    @property
    def client(self) -> httpx.Client:
        return self.egresses[0].client

    def adopt(self) -> None:
        """Make a fetcher inherited through ``fork`` this process's own: new HTTP clients (the
        inherited ones' sockets, if any, stay the parent's: they are dropped, never closed);
        the rate limiters and breakers are kept (redis-py opens new connections after a fork)."""
        for egress in self.egresses:
            egress.client = new_client(self.settings, self._headers(), egress.proxy)
        self._pid = os.getpid()

    def _headers(self) -> dict[str, str]:
        """What a desktop browser sends, plus the locale cookies (prices in USD, shipping to US)."""
        headers = {
            "User-Agent": self.settings.user_agent,
            "Accept": _ACCEPT,
            "Accept-Language": "en-US,en;q=0.9",
            "Accept-Encoding": "gzip, deflate, br",
            "Upgrade-Insecure-Requests": "1",
            "Sec-Fetch-Dest": "document",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Site": "none",
        }
        if self.settings.cookies:
            headers["Cookie"] = self.settings.cookies
        return headers

    def close(self) -> None:
        for egress in self.egresses:
            egress.client.close()

    # ------------------------------------------------------------------ public

    def url_for(self, path_or_url: str) -> str:
        """The absolute URL of a page on the DHgate host, or ``ForbiddenTarget``."""
        if not isinstance(path_or_url, str) or not path_or_url:
            raise ForbiddenTarget("empty page address")
        if _UNSAFE_ADDRESS.search(path_or_url):
            raise ForbiddenTarget("page address contains spaces, backslashes or control characters")
        if path_or_url.startswith("/") and not path_or_url.startswith("//"):
            url = self.settings.base_url + path_or_url
            if self._paths_stay_on_host:
                return url  # a path after the host's own address cannot leave it: no need to parse
        else:
            url = path_or_url
        if not self._same_origin(url):
            raise ForbiddenTarget(f"only pages of {self.origin.host} are fetched, not {url[:100]!r}")
        return url

    def fetch(self, path_or_url: str, *, deadline: float | None = None) -> FetchResult:
        """Fetch one page. ``deadline`` is a ``self.clock.monotonic()`` value (the system
        clock's ``time.monotonic()`` in production) no wait may pass."""
        started = self.clock.monotonic()
        url = self.url_for(path_or_url)
        if deadline is None:
            deadline = started + self.settings.attempts * (self.settings.read_timeout + self.settings.retry_max_wait)
        try:
            egress, admission, first_slot = self._admit(deadline)
        except CircuitOpen as exc:
            return FetchResult(PollOutcome.CIRCUIT_OPEN, url, error=str(exc))
        waits: list[float] = []
        tries = 0

        def attempt() -> _Attempt:
            nonlocal tries, first_slot
            tries += 1
            reserved, first_slot = first_slot, None  # retries reserve slots of their own
            return self._attempt(egress, url, deadline, reserved)

        try:
            # Most fetches end with their first attempt: only the others build the retry loop.
            final = attempt()
            if final.retryable:
                final = self._retry(final, attempt, deadline, waits)
        except BaseException:
            egress.breaker.release(admission)
            raise
        result = self._result(url, final, tries, waits, started)
        result.egress = egress.name
        self._record(egress, admission, result, final)
        return result

    def _retry(self, first: _Attempt, attempt: Callable[[], _Attempt], deadline: float, waits: list[float]) -> _Attempt:
        """The retry loop after a retryable first attempt, handed to tenacity as its own first
        attempt's result: waits, stops and attempt numbers are as if tenacity had made it."""
        pending = [first]
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.attempts) | StopAtDeadline(deadline, self.clock),
            wait=self._wait,
            sleep=self.clock.sleep,
            retry=retry_if_result(lambda result: result.retryable),
            before_sleep=lambda state: waits.append(float(state.upcoming_sleep)),
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
            reraise=True,
        )
        result: _Attempt = retrying(lambda: pending.pop() if pending else attempt())
        return result

    def _admit(self, deadline: float) -> tuple[Egress, Admission, Reservation | None]:
        """An egress whose circuit lets the fetch through, taken in turn (a blocked proxy is
        skipped while it cools down), with its breaker's permission and, when its circuit is
        closed, the first attempt's rate-limit slot, in one Redis round trip per egress tried;
        raises ``CircuitOpen`` when every egress is open."""
        first = next(self._turn) % len(self.egresses)
        refused: CircuitOpen | None = None
        for egress in self.egresses[first:] + self.egresses[:first]:
            try:
                admission, slot = self._admit_through(egress, deadline)
            except CircuitOpen as exc:
                refused = exc
                continue
            return egress, admission, slot
        assert refused is not None
        raise refused

    def _admit_through(self, egress: Egress, deadline: float) -> tuple[Admission, Reservation | None]:
        remaining = deadline - self.clock.monotonic()
        if remaining <= 0:
            return egress.breaker.admit(), None  # the attempt gives up at once: reserve no slot
        first_slot, raw_state, raw_failures = egress.limiter.reserve_gated(
            egress.breaker.state_key, egress.breaker.counter_key, pybreaker.STATE_CLOSED, max_wait=remaining,
        )
        return egress.breaker.admission(raw_state, raw_failures), first_slot

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, egress: Egress, url: str, deadline: float, reserved: Reservation | None = None) -> _Attempt:
        remaining = deadline - self.clock.monotonic()
        if remaining <= 0:
            return _Attempt("budget", error="the poll's time budget ran out")
        if reserved is not None:
            reservation = egress.limiter.wait_for(reserved)
        else:
            reservation = egress.limiter.acquire(max_wait=remaining)
        if not reservation.granted:
            return _Attempt("budget", error="the poll's time budget ran out waiting for the DHgate rate limit")
        remaining = deadline - self.clock.monotonic()
        if remaining <= 0.05:
            return _Attempt("budget", error="the poll's time budget ran out")
        timeout = httpx.Timeout(
            min(self.settings.read_timeout, remaining), connect=min(self.settings.connect_timeout, remaining)
        )
        try:
            return self._get(egress.client, url, timeout)
        except httpx.TimeoutException as exc:
            return _Attempt("timeout", error=f"timed out ({type(exc).__name__})")
        except (httpx.NetworkError, httpx.ProxyError) as exc:  # DNS, refused, reset: no answer
            return _Attempt("unreachable", error=f"could not reach DHgate: {exc or type(exc).__name__}")
        except httpx.RequestError as exc:  # protocol or content-decoding trouble
            return _Attempt("transport", error=f"request failed: {exc or type(exc).__name__}")

    def _get(self, client: httpx.Client, url: str, timeout: httpx.Timeout) -> _Attempt:
        """GET with redirects followed by hand, only while they stay on the DHgate host."""
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", url, timeout=timeout) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    if not self._same_origin(target):
                        return _Attempt("refused", response.status_code,
                                        error=f"redirected away from DHgate to {target[:100]!r}")
                    url = target
                    continue
                body = self._read_capped(response)
                if body is None:
                    return _Attempt("too_large", response.status_code,
                                    error=f"the page is larger than {self.settings.max_bytes} bytes")
                return self._classify(response, body)
        return _Attempt("refused", error=f"more than {MAX_REDIRECTS} redirects")

    def _read_capped(self, response: httpx.Response) -> str | None:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.settings.max_bytes:
                return None
            chunks.append(chunk)
        # The answer's charset when it names one Python knows; a byte-order mark before it and
        # the page's own <meta> declaration, then UTF-8, after it, as a browser reads a page.
        return decode_page(b"".join(chunks), response.charset_encoding).text

    def _classify(self, response: httpx.Response, text: str) -> _Attempt:
        status = response.status_code
        if status == 429:
            return _Attempt("answer", status, text, error="HTTP 429 Too Many Requests",
                            retry_after=retry_after_seconds(response.headers.get("retry-after"), self.clock))
        try:
            detect_blocked(text, status)
        except PageBlocked as exc:
            return _Attempt("blocked", status, text, error=str(exc))
        error = None if status < 400 else f"HTTP {status}"
        return _Attempt("answer", status, text, error=error,
                        retry_after=retry_after_seconds(response.headers.get("retry-after"), self.clock))

    # ------------------------------------------------------------------ policy

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gave one (capped), else exponential backoff with jitter."""
        last = state.outcome.result() if state.outcome and not state.outcome.failed else None
        if last is not None and last.retry_after is not None:
            return min(last.retry_after, self.settings.retry_after_max)
        return float(self._backoff(state))

    def _result(self, url: str, final: _Attempt, tries: int, waits: list[float], started: float) -> FetchResult:
        outcome = _outcome_of(final)
        elapsed_ms = int((self.clock.monotonic() - started) * 1000)
        text = final.text if outcome in (PollOutcome.OK, PollOutcome.GONE) else None
        return FetchResult(outcome, url, final.status_code, text, final.error, tries, waits, elapsed_ms)

    def _record(self, egress: Egress, admission: Admission, result: FetchResult, final: _Attempt) -> None:
        if final.kind in ("budget", "refused", "too_large"):
            egress.breaker.release(admission)  # our own limits, not the host's health
            return
        failed = result.outcome in (PollOutcome.BLOCKED, PollOutcome.TIMEOUT, PollOutcome.UNREACHABLE) or (
            result.outcome is PollOutcome.HTTP_ERROR and (result.status_code is None or result.status_code >= 500)
        )
        egress.breaker.record(admission, success=not failed)

    def _same_origin(self, url: str) -> bool:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return False
        return (
            parsed.scheme == self.origin.scheme
            and parsed.host == self.origin.host
            and parsed.port == self.origin.port
            and not parsed.userinfo
        )


_UNSAFE_ADDRESS = re.compile(r"[\x00-\x20\\]")  # control characters, spaces and backslashes


def _outcome_of(final: _Attempt) -> PollOutcome:
    if final.kind == "blocked":
        return PollOutcome.BLOCKED
    if final.kind in ("timeout", "budget"):
        return PollOutcome.TIMEOUT
    if final.kind == "unreachable":
        return PollOutcome.UNREACHABLE
    if final.kind != "answer":
        return PollOutcome.HTTP_ERROR
    status = final.status_code or 0
    if status == 429:
        return PollOutcome.BLOCKED  # still rate limited after every retry
    if status in (404, 410):
        return PollOutcome.GONE
    if 200 <= status < 300:
        return PollOutcome.OK
    return PollOutcome.HTTP_ERROR


# ---------------------------------------------------------------------- the process's fetcher


def warm_up(app: Flask | None = None) -> None:
    """Prepare what every fetch needs, for forked children to inherit (call before forking):
    the TLS settings and the fetcher itself (its breaker and rate limiter set up in Redis)."""
    tls_context()
    get_fetcher(app)


_lock = threading.Lock()


def get_fetcher(app: Flask | None = None) -> DHgateFetcher:
    """The fetcher of this app in this process, built on first use.

    Keyed by the settings and the app's clock (tests point an app at a new sandbox by changing
    its config, or step time with a clock of their own: ``services.dhgate.clock``). A
    fetcher inherited from the parent process (a forked work horse) is adopted with an HTTP
    client of its own: a forked process must never share the parent's sockets.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    settings = FetchSettings.from_config(app.config)
    clock = clock_of(app)
    with _lock:
        cached = app.extensions.get(_EXTENSION_KEY)
        if cached is not None and cached.settings == settings and cached.clock is clock:
            if cached._pid != os.getpid():
                cached.adopt()
            return cached
        if cached is not None and cached._pid == os.getpid():
            cached.close()
        with app.app_context():
            fetcher = DHgateFetcher(settings, get_redis(), clock)
        app.extensions[_EXTENSION_KEY] = fetcher
        return fetcher
