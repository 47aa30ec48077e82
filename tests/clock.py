"""A clock tests move by hand, for code that takes a ``services.dhgate.clock.Clock``.

It starts at the real time (so values from it look like real ones) and from then on only moves
when told: ``advance`` jumps, ``sleep`` advances instead of waiting and records what was asked.
"""
from __future__ import annotations

import time


class FakeClock:
    def __init__(self, start: float | None = None) -> None:
        self._wall = time.time() if start is None else start
        self._mono = 1_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds
