"""The HTTP client DHgate is fetched with: stateless (no cookie store) and with one TLS context
per process. Kept apart from ``services.dhgate.fetcher``, which decides *what* to fetch and when
(target checks, breaker, rate limit, retries), so that module reads as that policy alone.
"""
from __future__ import annotations

import functools
import ssl

import httpx


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing. DHgate sets tracking and session cookies on every
    answer; a poller must stay stateless (each request the same locale cookies, no session
    that could get flagged), and reading them off every response only costs time."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class StatelessClient(httpx.Client):
    """An ``httpx.Client`` that never stores cookies (the locale cookies go in a header)."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, value: object) -> None:
        return None  # httpx's constructor assigns an empty store: keep ours


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings for DHgate, built once per process: loading the CA bundle takes tens
    of milliseconds, too much to repeat for every poll job. A worker that forks a process per
    job can build it before forking (``warm_up``) so that every job inherits it."""
    return httpx.create_ssl_context()
