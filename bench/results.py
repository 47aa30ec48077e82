"""The one structured line each benchmark prints, so ``bench/run_all.py`` can read its goals.

A benchmark prints whatever it likes for people, plus one line::

    BENCH-RESULT {"bench": "parser", "checks": [{"name": "...", "measured": 2.1, "op": "<=", "goal": 3.0}]}

``run_all.py`` collects these lines (repeating a benchmark that misses a goal, since a shared
machine is noisy), prints one table and exits non-zero when a goal is still missed. Standard
library only: the benchmarks import this before the project is on ``sys.path``.
"""
from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

PREFIX = "BENCH-RESULT "
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}


@dataclass(frozen=True)
class Check:
    """One measured value against its goal, e.g. ``Check("middleware ratio", 0.97, ">=", 0.95)``."""

    name: str
    measured: float
    op: str
    goal: float

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {', '.join(OPS)}, got {self.op!r}")

    @property
    def passed(self) -> bool:
        return OPS[self.op](self.measured, self.goal)


def emit(bench: str, checks: Sequence[Check]) -> None:
    """Print the benchmark's result line (after its human-readable report)."""
    payload = {"bench": bench, "checks": [asdict(check) for check in checks]}
    print(PREFIX + json.dumps(payload), flush=True)


def skip(bench: str, reason: str) -> None:
    """Say in one line why the benchmark could not run here (a missing outside tool, not a
    shortfall of ours), and report it with no checks: ``run_all.py`` lists it as skipped."""
    print(f"SKIP: {reason}", flush=True)
    print(PREFIX + json.dumps({"bench": bench, "checks": [], "skipped": reason}), flush=True)


def parse(line: str) -> tuple[str, list[Check]] | None:
    """The benchmark name and checks of a result line; None for any other line."""
    if not line.startswith(PREFIX):
        return None
    payload: dict[str, Any] = json.loads(line[len(PREFIX):])
    checks = [Check(str(c["name"]), float(c["measured"]), str(c["op"]), float(c["goal"]))
              for c in payload["checks"]]
    return str(payload["bench"]), checks
