"""A circuit breaker per DHgate host whose state lives in Redis, so every worker shares it.

pybreaker supplies the state machine and ``CircuitRedisStorage`` the shared state (fail
counter, state, opened-at). Two things are arranged around it here:

* The HTTP request does not run *inside* ``CircuitBreaker.call``: pybreaker holds a process
  lock for the duration of a call, which would serialise every fetch of a process. Instead
  ``admit`` checks the shared state before a request and ``record`` feeds the finished
  result through the breaker afterwards (a call that just returns or raises).
* Only one trial request at a time: once the reset timeout has passed, the first worker to
  take a short Redis lock makes the half-open trial; the others keep treating the circuit as
  open until the trial has closed or re-opened it. Without this, every worker that wakes up
  after the timeout would hit a host that has just been failing.

* The common case costs no Redis round trip of its own: the fetcher reads pybreaker's state and
  failure counter (its own key layout) in the same script that reserves the rate-limit slot
  (``HostRateLimiter.reserve_gated``), and a success with nothing to reset is not written.

* Time comes from an injectable clock (``services.dhgate.clock``): the moment the circuit
  opened is written by this module with that clock (to the millisecond, beside pybreaker's own
  whole-second stamp), and the half-open trial is started explicitly once that clock says the
  reset timeout has passed, so pybreaker's own reading of the wall clock never decides.

What counts as a failure is decided by the fetcher (see ``services.dhgate.fetcher``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pybreaker
import redis


class CircuitOpen(Exception):
    """The host's circuit is open: no request was made."""

    def __init__(self, host: str, retry_in: float | None) -> None:
        self.host = host
        self.retry_in = retry_in
        wait = f"; next trial in about {retry_in:.0f} s" if retry_in else ""
        super().__init__(f"circuit open for {host} after repeated failures{wait}")


class _FetchFailed(Exception):
    """Raised inside the breaker to count a failed fetch."""


@dataclass(frozen=True)
class Admission:
    """Permission to make a request; ``trial`` when it is the half-open test request.

    ``clean`` means the circuit was closed with no failure counted when the request was
    admitted: a success then has nothing to reset, and recording it costs no Redis round trip.
    """

    trial: bool = False
    clean: bool = False


class _StampedBreaker(pybreaker.CircuitBreaker):
    """pybreaker's breaker that also reports each opening, so it is stamped with our clock."""

    def __init__(self, *args: Any, on_open: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_open = on_open

    def open(self) -> bool:
        throw_new_error = super().open()
        self._on_open()
        return throw_new_error


class HostBreaker:
    """Open after ``fail_max`` failed fetches in a row; one trial after ``reset_timeout`` s.

    ``clock`` gives wall-clock seconds since the epoch (shared by every process, like the state).
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        host: str,
        *,
        namespace: str,
        fail_max: int,
        reset_timeout: float,
        trial_ttl: float = 60.0,
        clock: Callable[[], float],
    ) -> None:
        self.host = host
        self._redis = redis_client
        self._clock = clock
        self._storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, redis_client, namespace=namespace)
        self._breaker = _StampedBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout, state_storage=self._storage, name=host,
            on_open=self._stamp_opened,
        )
        self._trial_key = f"{namespace}:trial"
        self._opened_key = f"{namespace}:opened_at"
        self._state_key = f"{namespace}:{pybreaker.CircuitRedisStorage.BASE_NAMESPACE}:state"
        self._counter_key = f"{namespace}:{pybreaker.CircuitRedisStorage.BASE_NAMESPACE}:fail_counter"
        self._trial_ttl_ms = max(1000, int(trial_ttl * 1000))

    @property
    def state(self) -> str:
        """"closed", "open" or "half-open", as every worker sees it."""
        return self._storage.state

    @property
    def fail_counter(self) -> int:
        return self._storage.counter

    @property
    def state_key(self) -> str:
        """Where pybreaker keeps the shared state ("closed", "open", "half-open")."""
        return self._state_key

    @property
    def counter_key(self) -> str:
        """Where pybreaker keeps the shared count of failures in a row."""
        return self._counter_key

    def admit(self) -> Admission:
        """Allow a request, or raise ``CircuitOpen``."""
        raw_state, raw_failures = self._redis.mget(self._state_key, self._counter_key)
        return self.admission(raw_state, raw_failures)

    def admission(self, raw_state: bytes | str | None, raw_failures: bytes | str | None) -> Admission:
        """``admit`` on a state and failure count already read from Redis (the fetcher reads
        them in the same round trip as its rate-limit reservation)."""
        if isinstance(raw_state, bytes):
            raw_state = raw_state.decode()
        state = raw_state or self._storage.state  # missing: pybreaker re-creates it
        if state == pybreaker.STATE_CLOSED:
            return Admission(clean=not raw_failures or int(raw_failures) == 0)
        if state == pybreaker.STATE_OPEN:
            retry_in = self._seconds_until_trial()
            if retry_in > 0:
                raise CircuitOpen(self.host, retry_in)
        # Open with the timeout passed, or half-open: one trial at a time across all workers.
        if self._redis.set(self._trial_key, b"1", nx=True, px=self._trial_ttl_ms):
            return Admission(trial=True)
        raise CircuitOpen(self.host, None)

    def record(self, admission: Admission, *, success: bool) -> None:
        """Feed a finished fetch through the breaker's state machine."""
        if success and admission.clean:
            return  # closed and nothing counted: pybreaker would only reset a zero to zero
        if admission.trial and self._storage.state == pybreaker.STATE_OPEN:
            self._breaker.half_open()  # our clock said the timeout passed: this is the trial
        try:
            self._breaker.call(_succeed if success else _fail)
        except (_FetchFailed, pybreaker.CircuitBreakerError):
            pass  # expected: a failure was counted (and may have opened the circuit)
        finally:
            if admission.trial:
                self._redis.delete(self._trial_key)

    def release(self, admission: Admission) -> None:
        """Give back a trial slot without recording anything (the request never happened)."""
        if admission.trial:
            self._redis.delete(self._trial_key)

    def _stamp_opened(self) -> None:
        """Remember when the circuit opened, on our clock (kept a little past the timeout)."""
        ttl_ms = int((self._breaker.reset_timeout + 3600) * 1000)
        self._redis.set(self._opened_key, repr(self._clock()), px=ttl_ms)

    def _seconds_until_trial(self) -> float:
        raw = self._redis.get(self._opened_key)
        if raw is not None:
            opened_at = float(raw)
        else:  # opened before this module stamped openings: pybreaker's whole-second stamp
            stamp = self._storage.opened_at
            if stamp is None:
                return 0.0
            opened_at = stamp.timestamp()
        return max(0.0, opened_at + self._breaker.reset_timeout - self._clock())


def _succeed() -> None:
    return None


def _fail() -> None:
    raise _FetchFailed()
