"""The ways out to DHgate: directly, or through the outbound proxies of ``DHGATE_PROXIES``.

DHgate judges a client by its address, so each egress (each proxy, or the direct route when
none is configured) is a client of its own in DHgate's eyes: it has its own request budget
(``DHGATE_REQUESTS_PER_SECOND`` each, in Redis), its own circuit breaker and therefore its
own blocked state. A proxy that DHgate starts blocking trips its breaker and cools down for
``DHGATE_BREAKER_RESET_SECONDS`` while the fetcher goes on through the others
(``services.dhgate.fetcher`` takes them in turn and skips those whose circuit is open).

The direct egress keeps the Redis keys the fetcher has always used, so a setup without
proxies is exactly what it was. A proxy's keys carry its host and port (never its
credentials, which stay in the environment).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import redis

from services.dhgate.breaker import HostBreaker
from services.dhgate.clock import Clock
from services.dhgate.http_client import StatelessClient, tls_context
from services.dhgate.ratelimit import HostRateLimiter


class FetchSettings(Protocol):
    """What an egress needs of the fetcher's settings (``services.dhgate.fetcher.FetchSettings``)."""

    @property
    def base_url(self) -> str: ...
    @property
    def key_prefix(self) -> str: ...
    @property
    def requests_per_second(self) -> float: ...
    @property
    def burst(self) -> int: ...
    @property
    def breaker_failures(self) -> int: ...
    @property
    def breaker_reset(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...
    @property
    def proxies(self) -> tuple[str, ...]: ...

DIRECT = "direct"


@dataclass
class Egress:
    """One way out: its name (``direct`` or the proxy's host:port), HTTP client, budget and
    breaker."""

    name: str
    proxy: str | None
    limiter: HostRateLimiter
    breaker: HostBreaker
    client: httpx.Client


def proxy_label(proxy_url: str) -> str:
    """A proxy's host and port, without credentials (for keys, logs and pages)."""
    url = httpx.URL(proxy_url)
    return f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def validate_proxies(proxies: Sequence[str]) -> tuple[str, ...]:
    """The proxies as given, or ``ValueError`` naming the first that is not an http(s) URL."""
    for proxy in proxies:
        try:
            url = httpx.URL(proxy)
        except httpx.InvalidURL:
            raise ValueError(f"DHGATE_PROXIES: {proxy!r} is not a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"DHGATE_PROXIES: {proxy_label(proxy) if url.host else proxy!r} "
                             "must be an http:// or https:// proxy URL")
    return tuple(proxies)


def build_egresses(
    settings: FetchSettings, redis_client: redis.Redis, clock: Clock, host_key: str, headers: Mapping[str, str],
) -> list[Egress]:
    """The direct egress when no proxy is configured, else one egress per proxy."""
    proxies: Sequence[str | None] = validate_proxies(settings.proxies) or (None,)
    return [_egress(settings, redis_client, clock, host_key, headers, proxy) for proxy in proxies]


def _egress(
    settings: FetchSettings, redis_client: redis.Redis, clock: Clock, host_key: str, headers: Mapping[str, str],
    proxy: str | None,
) -> Egress:
    name = DIRECT if proxy is None else proxy_label(proxy)
    suffix = "" if proxy is None else f":via:{name}"
    prefix = settings.key_prefix
    limiter = HostRateLimiter(redis_client, f"{prefix}dhgate:rate:{host_key}{suffix}", settings.requests_per_second,
                              settings.burst, sleep=clock.sleep)
    breaker = HostBreaker(
        redis_client,
        host_key if proxy is None else f"{host_key} via {name}",
        namespace=f"{prefix}dhgate:breaker:{host_key}{suffix}",
        fail_max=settings.breaker_failures,
        reset_timeout=settings.breaker_reset,
        trial_ttl=settings.connect_timeout + settings.read_timeout + 5,
        clock=clock.time,
    )
    return Egress(name, proxy, limiter, breaker, new_client(settings, headers, proxy))


def new_client(settings: FetchSettings, headers: Mapping[str, str], proxy: str | None) -> httpx.Client:
    """A stateless pooled client for DHgate, through ``proxy`` when given."""
    https = settings.base_url.startswith("https:")
    return StatelessClient(
        headers=dict(headers),
        verify=tls_context() if https else False,
        follow_redirects=False,
        proxy=proxy,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=30),
    )
