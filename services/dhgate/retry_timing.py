"""When a DHgate fetch may try again: tenacity's stop at the fetch's deadline, and the wait a
server asks for with ``Retry-After``. Kept apart from the fetcher so its timing rules read (and
are tested through the fetcher) on their own."""
from __future__ import annotations

import email.utils
from datetime import UTC

from tenacity import RetryCallState
from tenacity.stop import stop_base

from services.dhgate.clock import Clock


class StopAtDeadline(stop_base):
    """Stop retrying when the next wait would end after the deadline."""

    def __init__(self, deadline: float, clock: Clock) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, state: RetryCallState) -> bool:
        upcoming = state.upcoming_sleep or 0.0
        return self.clock.monotonic() + upcoming >= self.deadline


def retry_after_seconds(value: str | None, clock: Clock) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (read against ``clock``); None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - clock.time())
