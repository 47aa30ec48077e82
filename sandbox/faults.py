"""Fault modes: how the sandbox misbehaves, per store or for the whole site.

DHgate does not only answer with pages: it rate-limits, blocks with a CDN "Access Denied",
shows challenge pages, times out and sometimes sends half a page. The fetcher, the parsers, the
retry policy and the circuit breaker each need to meet these on purpose, so every failure the
monitor must survive can be switched on here, permanently or for the next N requests only.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class FaultMode(str, Enum):
    """What a request in a faulty scope gets instead of (or before) the normal page."""

    OK = "ok"
    SLOW = "slow"  # sleep ``delay`` seconds, then answer normally
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    SERVER_ERROR = "server_error"  # 503 (or another 5xx)
    BLOCKED = "blocked"  # the CDN's Access Denied page, 403 by default
    CHALLENGE = "challenge"  # a "Just a moment..." interstitial, 503 (or 200)
    GARBLED = "garbled"  # 200 with junk instead of the page
    TRUNCATED = "truncated"  # 200 with the real page cut off half way


class FaultError(ValueError):
    """A fault request the sandbox cannot honour; the message says why."""


_DEFAULTS: dict[FaultMode, dict[str, Any]] = {
    FaultMode.OK: {},
    FaultMode.SLOW: {"delay": 2.0},
    FaultMode.RATE_LIMITED: {"retry_after": 30},
    FaultMode.SERVER_ERROR: {"status": 503},
    FaultMode.BLOCKED: {"status": 403},
    FaultMode.CHALLENGE: {"status": 503},
    FaultMode.GARBLED: {"style": "markup"},
    FaultMode.TRUNCATED: {"keep_pager": False},
}

_STATUS_RANGES: dict[FaultMode, tuple[int, int]] = {
    FaultMode.SERVER_ERROR: (500, 599),
    FaultMode.BLOCKED: (200, 599),
    FaultMode.CHALLENGE: (200, 599),
}


@dataclass(frozen=True)
class Fault:
    """A fault mode with its options filled in."""

    mode: FaultMode
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the control API."""
        return {"mode": self.mode.value, "options": dict(self.options)}


def make_fault(mode: str | FaultMode, **options: Any) -> Fault:
    """Validate a mode and its options (unknown options are refused, not ignored)."""
    try:
        fault_mode = FaultMode(mode)
    except ValueError:
        known = ", ".join(m.value for m in FaultMode)
        raise FaultError(f"unknown fault mode {mode!r}; known: {known}") from None
    allowed = _DEFAULTS[fault_mode]
    unknown = set(options) - set(allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise FaultError(f"{fault_mode.value} does not take {', '.join(sorted(unknown))}; "
                         f"accepted options: {accepted}")
    merged = {**allowed, **{k: _coerce(fault_mode, k, v) for k, v in options.items()}}
    return Fault(fault_mode, merged)


def _coerce(mode: FaultMode, name: str, value: Any) -> Any:
    try:
        if name == "delay":
            number = float(value)
            if not 0 <= number <= 120:
                raise FaultError("delay must be between 0 and 120 seconds")
            return number
        if name == "retry_after":
            seconds = int(value)
            if not 0 <= seconds <= 86_400:
                raise FaultError("retry_after must be between 0 and 86400 seconds")
            return seconds
        if name == "status":
            status = int(value)
            low, high = _STATUS_RANGES[mode]
            if not low <= status <= high:
                raise FaultError(f"status for {mode.value} must be between {low} and {high}")
            return status
        if name == "style":
            if value not in ("markup", "bytes"):
                raise FaultError("style must be 'markup' or 'bytes'")
            return value
        if name == "keep_pager":
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FaultError):
            raise
        raise FaultError(f"{name} has a bad value: {value!r}") from None
    raise FaultError(f"unknown option {name!r}")  # pragma: no cover - guarded by make_fault


@dataclass
class _Pending:
    fault: Fault
    remaining: int


class FaultBook:
    """Fault modes per store (and for the whole site), plus "fail the next N requests".

    Resolution for a request, first match wins: the store's pending failures, the site's pending
    failures, the store's mode, the site's mode. A pending failure is consumed by each request in
    its scope; when its count reaches zero the scope recovers on its own, which is what retry and
    circuit-breaker tests need.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modes: dict[str | None, Fault] = {}
        self._pending: dict[str | None, _Pending] = {}

    def set(self, mode: str | FaultMode, store: str | None = None, **options: Any) -> Fault:
        """Switch a scope (a store number, or None for the whole site) to a mode; ``ok`` clears."""
        fault = make_fault(mode, **options)
        with self._lock:
            if fault.mode is FaultMode.OK:
                self._modes.pop(_scope(store), None)
            else:
                self._modes[_scope(store)] = fault
        return fault

    def fail_next(self, count: int, mode: str | FaultMode = FaultMode.SERVER_ERROR,
                  store: str | None = None, **options: Any) -> Fault:
        """The next ``count`` requests in the scope fail with ``mode``, then it recovers."""
        fault = make_fault(mode, **options)
        if fault.mode is FaultMode.OK:
            raise FaultError("fail_next needs a failing mode, not ok")
        remaining = _as_count(count)
        with self._lock:
            if remaining == 0:
                self._pending.pop(_scope(store), None)
            else:
                self._pending[_scope(store)] = _Pending(fault, remaining)
        return fault

    def clear(self, store: str | None = None) -> None:
        """Back to normal for one scope (its mode and its pending failures)."""
        with self._lock:
            self._modes.pop(_scope(store), None)
            self._pending.pop(_scope(store), None)

    def clear_all(self) -> None:
        """Back to normal everywhere."""
        with self._lock:
            self._modes.clear()
            self._pending.clear()

    def take(self, store: str | None) -> Fault | None:
        """The fault for one request in ``store`` (None: a request of no store), consuming a
        pending failure when one applies."""
        with self._lock:
            for scope in _scopes(store):
                pending = self._pending.get(scope)
                if pending is not None:
                    pending.remaining -= 1
                    if pending.remaining <= 0:
                        del self._pending[scope]
                    return pending.fault
            for scope in _scopes(store):
                fault = self._modes.get(scope)
                if fault is not None:
                    return fault
        return None

    def mode_of(self, store: str | None) -> Fault | None:
        """The mode set for exactly this scope (no fallback, nothing consumed)."""
        with self._lock:
            return self._modes.get(_scope(store))

    def snapshot(self) -> dict[str, Any]:
        """Everything set, for the control API."""
        with self._lock:
            return {
                "site": self._modes[None].to_dict() if None in self._modes else None,
                "stores": {k: v.to_dict() for k, v in self._modes.items() if k is not None},
                "pending": [
                    {"store": k, "remaining": v.remaining, **v.fault.to_dict()}
                    for k, v in self._pending.items()
                ],
            }


def _as_count(count: Any) -> int:
    try:
        number = int(str(count).strip()) if not isinstance(count, bool) else -1
    except ValueError:
        number = -1
    if number < 0:
        raise FaultError(f"count must be a whole number >= 0, got {count!r}")
    return number


def _scope(store: str | None) -> str | None:
    return None if store is None or str(store).strip() == "" else str(store).strip()


def _scopes(store: str | None) -> tuple[str | None, ...]:
    scope = _scope(store)
    return (None,) if scope is None else (scope, None)
