"""A per-host request rate shared by every worker process through Redis (GCRA).

DHgate sees one client no matter how many workers we run, so the rate must be counted in one
place. The generic cell rate algorithm keeps a single number per host in Redis, the
"theoretical arrival time" (TAT) of the next request; a Lua script reads Redis's own clock, so
workers on machines with skewed clocks still agree.

Instead of refusing a request that comes too early, the script *reserves* the next free slot
and tells the caller how long to wait for it. Waiting workers therefore queue up in arrival
order instead of polling Redis in a loop, and the host sees requests at an even pace.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import redis

# KEYS[1]: the host's TAT key. ARGV: emission interval, burst tolerance, longest acceptable
# wait (all in microseconds). Returns {wait_us, slot_us}; wait_us = -1 means "not reserved:
# the slot is further away than the caller is willing to wait".
_GCRA_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local slot = tat - tolerance
if slot < now then slot = now end
local wait = slot - now
if wait > max_wait then
  return {-1, slot}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {wait, slot}
"""

MICROS = 1_000_000


@dataclass(frozen=True)
class Reservation:
    """A reserved request slot: ``slot_us`` on Redis's clock, reached after ``wait`` seconds."""

    granted: bool
    wait: float
    slot_us: int


class HostRateLimiter:
    """Requests per second to one host, shared by all processes using the same Redis."""

    def __init__(self, redis_client: redis.Redis, key: str, requests_per_second: float, burst: int = 1) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._redis = redis_client
        self.key = key
        self.interval_us = max(1, round(MICROS / requests_per_second))
        self.tolerance_us = self.interval_us * (burst - 1)
        self._script = redis_client.register_script(_GCRA_RESERVE)

    def reserve(self, max_wait: float) -> Reservation:
        """Reserve the next slot if it comes within ``max_wait`` seconds (nothing is reserved
        otherwise, so a caller that gives up does not slow down everybody else)."""
        max_wait_us = max(0, int(max_wait * MICROS))
        wait_us, slot_us = self._script(keys=[self.key], args=[self.interval_us, self.tolerance_us, max_wait_us])
        wait_us, slot_us = int(wait_us), int(slot_us)
        if wait_us < 0:
            return Reservation(False, (slot_us - _redis_now_us(self._redis)) / MICROS, slot_us)
        return Reservation(True, wait_us / MICROS, slot_us)

    def acquire(self, max_wait: float) -> Reservation:
        """Reserve a slot and sleep until it comes; ``granted`` is False when it is too far."""
        reservation = self.reserve(max_wait)
        if reservation.granted and reservation.wait > 0:
            time.sleep(reservation.wait)
        return reservation


def _redis_now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * MICROS + int(micros)
