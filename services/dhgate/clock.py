"""The clock the fetcher, its circuit breaker and its rate limiter read and sleep on.

Production uses the system clock. It is injectable so that a test can step past a breaker's
reset timeout or through a retry's backoff at once instead of sleeping through it, while the
code under test runs exactly as in production. Each app may carry its own clock
(``set_clock``); ``get_fetcher`` builds the app's fetcher on it.
"""
from __future__ import annotations

import time
from typing import Protocol

from flask import Flask

_EXTENSION_KEY = "dhm_dhgate_clock"


class Clock(Protocol):
    """Wall time (shared between processes), monotonic time (deadlines) and sleeping."""

    def time(self) -> float:
        """Seconds since the epoch, comparable across processes and machines."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean something."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock moves itself forward instead)."""


class SystemClock:
    """The real clock: ``time.time``, ``time.monotonic`` and ``time.sleep``."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


def clock_of(app: Flask) -> Clock:
    """The clock ``app``'s fetcher runs on (the system clock unless one was set)."""
    return app.extensions.get(_EXTENSION_KEY, SYSTEM_CLOCK)


def set_clock(app: Flask, clock: Clock) -> None:
    """Run ``app``'s fetcher on ``clock`` from its next ``get_fetcher`` on."""
    app.extensions[_EXTENSION_KEY] = clock
