"""A per-host request rate shared by every worker process through Redis (GCRA).

DHgate sees one client no matter how many workers we run, so the rate must be counted in one
place. The generic cell rate algorithm keeps a single number per host in Redis, the
"theoretical arrival time" (TAT) of the next request; a Lua script reads Redis's own clock, so
workers on machines with skewed clocks still agree.

Instead of refusing a request that comes too early, the script *reserves* the next free slot
and tells the caller how long to wait for it. Waiting workers therefore queue up in arrival
order instead of polling Redis in a loop, and the host sees requests at an even pace.

A reserved slot is only as exact as the wake-up of the thread that holds it: on a busy machine
a sleeper can wake a few hundred milliseconds late, and its request then reaches the host right
before the next one, on time, so that some second holds more requests than the budget. So a
slot is good only within a quarter of an interval of its time (plus the burst tolerance): a
holder that wakes later gives its slot up and reserves a new one (``wait_for`` says
``late``). The budget is then never exceeded at the host, at the price of the rare slot that
goes unused.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

# The reservation itself, shared by both scripts. Times in microseconds; returns {wait_us,
# slot_us}; wait_us = -1 means "not reserved: the slot is further away than the caller is
# willing to wait".
_GCRA_FUNCTION = """
local function reserve(key, interval, tolerance, max_wait)
  local now_parts = redis.call('TIME')
  local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local slot = tat - tolerance
  if slot < now then slot = now end
  local wait = slot - now
  if wait > max_wait then
    return {-1, slot}
  end
  local new_tat = tat + interval
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
  return {wait, slot}
end
"""

# KEYS[1]: the host's TAT key. ARGV: emission interval, burst tolerance, longest acceptable wait.
_GCRA_RESERVE = _GCRA_FUNCTION + """
return reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
"""

# The same, behind a gate: KEYS[2] holds a state that must be absent or ARGV[4] (the circuit
# breaker's "closed"), KEYS[3] a value returned alongside (its failure count). Nothing is
# reserved when the gate is not open; wait_us is then -2. Returns {wait_us, slot_us, state,
# counter} ('' for a missing key), so a fetch asks Redis once for both.
_GCRA_RESERVE_GATED = _GCRA_FUNCTION + """
local state = redis.call('GET', KEYS[2]) or ''
local counter = redis.call('GET', KEYS[3]) or ''
if state ~= '' and state ~= ARGV[4] then
  return {-2, 0, state, counter}
end
local reserved = reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {reserved[1], reserved[2], state, counter}
"""

MICROS = 1_000_000
LATE_RETRIES = 4  # late wake-ups in a row before a request goes out on its last slot anyway


@dataclass(frozen=True)
class Reservation:
    """A reserved request slot: ``slot_us`` on Redis's clock, reached after ``wait`` seconds.
    ``late``: its holder woke up too long after it, so it must not be used (reserve again)."""

    granted: bool
    wait: float
    slot_us: int
    late: bool = False


class HostRateLimiter:
    """Requests per second to one host, shared by all processes using the same Redis."""

    def __init__(
        self, redis_client: redis.Redis, key: str, requests_per_second: float, burst: int = 1,
        *, sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sleep`` waits for a reserved slot and ``monotonic`` tells how late the wake-up was
        (injectable: the slots themselves are on Redis's clock, so a test can skip the waiting
        without changing which slot it got)."""
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._redis = redis_client
        self._sleep = sleep
        self._monotonic = monotonic
        self.key = key
        self.interval_us = max(1, round(MICROS / requests_per_second))
        self.tolerance_us = self.interval_us * (burst - 1)
        self.late_after = (self.tolerance_us + self.interval_us / 4) / MICROS  # seconds after the slot
        self._script = redis_client.register_script(_GCRA_RESERVE)
        self._gated_script = redis_client.register_script(_GCRA_RESERVE_GATED)

    def reserve(self, max_wait: float) -> Reservation:
        """Reserve the next slot if it comes within ``max_wait`` seconds (nothing is reserved
        otherwise, so a caller that gives up does not slow down everybody else)."""
        max_wait_us = max(0, int(max_wait * MICROS))
        wait_us, slot_us = self._script(keys=[self.key], args=[self.interval_us, self.tolerance_us, max_wait_us])
        return self._reservation(int(wait_us), int(slot_us))

    def reserve_gated(
        self, gate_key: str, counter_key: str, open_value: str, max_wait: float,
    ) -> tuple[Reservation | None, bytes | None, bytes | None]:
        """Reserve a slot only if ``gate_key`` is absent or holds ``open_value``, in the same
        round trip that reads the gate and ``counter_key``; returns (reservation or None when
        the gate is shut, the gate's raw value, the counter's raw value)."""
        max_wait_us = max(0, int(max_wait * MICROS))
        wait_us, slot_us, state, counter = self._gated_script(
            keys=[self.key, gate_key, counter_key],
            args=[self.interval_us, self.tolerance_us, max_wait_us, open_value],
        )
        reservation = None if int(wait_us) == -2 else self._reservation(int(wait_us), int(slot_us))
        return reservation, (state or None), (counter or None)

    def _reservation(self, wait_us: int, slot_us: int) -> Reservation:
        """A script's answer as a ``Reservation`` (wait_us -1: the slot is too far, not taken)."""
        if wait_us < 0:
            return Reservation(False, (slot_us - _redis_now_us(self._redis)) / MICROS, slot_us)
        return Reservation(True, wait_us / MICROS, slot_us)

    def wait_for(self, reservation: Reservation) -> Reservation:
        """Sleep until a reserved slot comes (nothing to wait for when it was not granted); the
        answer is ``late`` when the wake-up came too long after the slot to use it."""
        if reservation.granted and reservation.wait > 0:
            due = self._monotonic() + reservation.wait
            self._sleep(reservation.wait)
            if self._monotonic() - due > self.late_after:
                return Reservation(True, reservation.wait, reservation.slot_us, late=True)
        return reservation

    def acquire(self, max_wait: float, *, deadline: float | None = None) -> Reservation:
        """Reserve a slot and sleep until it comes; ``granted`` is False when it is too far.
        A slot woken up to too late is given up and a new one reserved (a few times at most;
        ``deadline``, on the ``monotonic`` clock, bounds the waiting)."""
        for _ in range(LATE_RETRIES):
            reservation = self.wait_for(self.reserve(max_wait))
            if not reservation.late:
                return reservation
            if deadline is not None:
                max_wait = deadline - self._monotonic()
        return reservation


def _redis_now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * MICROS + int(micros)
