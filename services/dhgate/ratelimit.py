"""A per-host request rate shared by every worker process through Redis (GCRA).

DHgate sees one client no matter how many workers we run, so the rate must be counted in one
place. The generic cell rate algorithm keeps a single number per host in Redis, the
"theoretical arrival time" (TAT) of the next request; a Lua script reads Redis's own clock, so
workers on machines with skewed clocks still agree.

Instead of refusing a request that comes too early, the script *reserves* the next free slot
and tells the caller how long to wait for it. Waiting workers therefore queue up in arrival
order instead of polling Redis in a loop, and the host sees requests at an even pace.

A reserved slot is only as exact as the wake-up of the thread that holds it: on a busy machine
a sleeper can wake a few hundred milliseconds late, and its request would then reach the host
right before the next one, on time, so that some second held more requests than the budget.
With no burst allowed (``burst`` 1), every request also passes a *send gate*: the time of the
last request sent is kept next to the TAT, a request that had to wait for its slot asks the
gate once more when it wakes (one more round trip, only when the budget binds), and the gate
holds it until a full interval after the previous send, plus ``SEND_MARGIN``. Requests then
leave at least one interval apart, whoever woke late; a late wake-up delays the ones after it a
little instead of crowding them. The margin (3 %) absorbs what happens after the gate: the
request still needs the interpreter and the kernel to reach the wire, and on a loaded machine
two requests the gate let out 100 ms apart were seen arriving 11 ms apart. Under excess demand
the host therefore sees about 97 % of the budget, and no window of a few seconds above it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

# The reservation itself, shared by both scripts. Times in microseconds; returns {wait_us,
# slot_us}; wait_us = -1 means "not reserved: the slot is further away than the caller is
# willing to wait".
# With ``gap`` > 0 (no burst), the slot is also at least ``gap`` after the last request sent
# (``sent_key``), and a request that goes out at once is recorded there as sent.
_GCRA_FUNCTION = """
local function reserve(key, interval, tolerance, max_wait, sent_key, gap)
  local now_parts = redis.call('TIME')
  local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local slot = tat - tolerance
  if slot < now then slot = now end
  if gap > 0 then
    local last = tonumber(redis.call('GET', sent_key) or 0)
    if last + gap > slot then slot = last + gap end
  end
  local wait = slot - now
  if wait > max_wait then
    return {-1, slot}
  end
  local new_tat = tat + interval
  if gap > 0 and slot + interval > new_tat then new_tat = slot + interval end
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
  if gap > 0 and wait == 0 then
    redis.call('SET', sent_key, string.format('%d', now), 'PX', math.ceil(gap / 1000) + 1000)
  end
  return {wait, slot}
end
"""

# KEYS[1]: the host's TAT key, KEYS[2] its last-sent key. ARGV: emission interval, burst
# tolerance, longest acceptable wait, send gap.
_GCRA_RESERVE = _GCRA_FUNCTION + """
return reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), KEYS[2], tonumber(ARGV[4]))
"""

# The send gate, asked by a request that waited for its slot ``ARGV[2]`` once it wakes: it
# goes out at its slot or now, whichever is later, but never less than ``ARGV[1]`` after the
# last request sent (KEYS[1]). Returns how much longer to wait (microseconds) and records
# the send. The slot, not only Redis's clock, counts as "now": a caller whose sleep is
# simulated (tests) is never held back for time it has already waited.
_SEND_GATE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local gap = tonumber(ARGV[1])
local at = tonumber(ARGV[2])
if now > at then at = now end
local last = tonumber(redis.call('GET', KEYS[1]) or 0)
local send = at
if last + gap > send then send = last + gap end
redis.call('SET', KEYS[1], string.format('%d', send), 'PX', math.ceil((send - now + gap) / 1000) + 1000)
return send - at
"""

# The same, behind a gate (KEYS[4] and ARGV[5]: the last-sent key and the send gap): KEYS[2] holds a state that must be absent or ARGV[4] (the circuit
# breaker's "closed"), KEYS[3] a value returned alongside (its failure count). Nothing is
# reserved when the gate is not open; wait_us is then -2. Returns {wait_us, slot_us, state,
# counter} ('' for a missing key), so a fetch asks Redis once for both.
_GCRA_RESERVE_GATED = _GCRA_FUNCTION + """
local state = redis.call('GET', KEYS[2]) or ''
local counter = redis.call('GET', KEYS[3]) or ''
if state ~= '' and state ~= ARGV[4] then
  return {-2, 0, state, counter}
end
local reserved = reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), KEYS[4], tonumber(ARGV[5]))
return {reserved[1], reserved[2], state, counter}
"""

MICROS = 1_000_000
SEND_MARGIN = 0.03  # the send gate spaces requests this much more than the budget's interval


@dataclass(frozen=True)
class Reservation:
    """A reserved request slot: ``slot_us`` on Redis's clock, reached after ``wait`` seconds."""

    granted: bool
    wait: float
    slot_us: int


class HostRateLimiter:
    """Requests per second to one host, shared by all processes using the same Redis."""

    def __init__(
        self, redis_client: redis.Redis, key: str, requests_per_second: float, burst: int = 1,
        *, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``sleep`` waits for a reserved slot (injectable: the slots themselves are on Redis's
        clock, so a test can skip the waiting without changing which slot it got)."""
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._redis = redis_client
        self._sleep = sleep
        self.key = key
        self.sent_key = f"{key}:sent"
        self.interval_us = max(1, round(MICROS / requests_per_second))
        self.tolerance_us = self.interval_us * (burst - 1)
        self.gap_us = self.interval_us if burst == 1 else 0  # a burst allows requests back to back
        self._script = redis_client.register_script(_GCRA_RESERVE)
        self._gated_script = redis_client.register_script(_GCRA_RESERVE_GATED)
        self._send_gate = redis_client.register_script(_SEND_GATE)

    def reserve(self, max_wait: float) -> Reservation:
        """Reserve the next slot if it comes within ``max_wait`` seconds (nothing is reserved
        otherwise, so a caller that gives up does not slow down everybody else)."""
        max_wait_us = max(0, int(max_wait * MICROS))
        wait_us, slot_us = self._script(keys=[self.key, self.sent_key],
                                        args=[self.interval_us, self.tolerance_us, max_wait_us, self.gap_us])
        return self._reservation(int(wait_us), int(slot_us))

    def reserve_gated(
        self, gate_key: str, counter_key: str, open_value: str, max_wait: float,
    ) -> tuple[Reservation | None, bytes | None, bytes | None]:
        """Reserve a slot only if ``gate_key`` is absent or holds ``open_value``, in the same
        round trip that reads the gate and ``counter_key``; returns (reservation or None when
        the gate is shut, the gate's raw value, the counter's raw value)."""
        max_wait_us = max(0, int(max_wait * MICROS))
        wait_us, slot_us, state, counter = self._gated_script(
            keys=[self.key, gate_key, counter_key, self.sent_key],
            args=[self.interval_us, self.tolerance_us, max_wait_us, open_value, self.gap_us],
        )
        reservation = None if int(wait_us) == -2 else self._reservation(int(wait_us), int(slot_us))
        return reservation, (state or None), (counter or None)

    def _reservation(self, wait_us: int, slot_us: int) -> Reservation:
        """A script's answer as a ``Reservation`` (wait_us -1: the slot is too far, not taken)."""
        if wait_us < 0:
            return Reservation(False, (slot_us - _redis_now_us(self._redis)) / MICROS, slot_us)
        return Reservation(True, wait_us / MICROS, slot_us)

    def wait_for(self, reservation: Reservation) -> Reservation:
        """Sleep until a reserved slot comes (nothing to wait for when it was not granted),
        then, with no burst allowed, pass the send gate: a slot woken up to late never goes
        out less than an interval after the request before it."""
        if reservation.granted and reservation.wait > 0:
            self._sleep(reservation.wait)
            if self.gap_us:
                gate_us = round(self.gap_us * (1 + SEND_MARGIN))
                held_us = int(self._send_gate(keys=[self.sent_key], args=[gate_us, reservation.slot_us]))
                if held_us > 0:
                    self._sleep(held_us / MICROS)
        return reservation

    def acquire(self, max_wait: float) -> Reservation:
        """Reserve a slot and sleep until it comes; ``granted`` is False when it is too far."""
        return self.wait_for(self.reserve(max_wait))


def _redis_now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * MICROS + int(micros)
