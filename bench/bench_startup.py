"""How long a ``flask`` command takes to start, next to how long Python takes to import Flask.

Every operator command (``flask users list``, ``flask jobs list`` …) and ``flask --help`` pays
for building the app before it does anything. The floor is Python starting and importing Flask,
so that is the baseline, measured in the same virtualenv and in the same run:

* ``python -c "import flask"``                  the baseline
* ``flask --app app:create_app --help``         goal: median at most 3x the baseline's
* ``flask --app app:create_app users list``     a real command on a temporary instance (shown)

Each round runs every variant once, rotating their order, so the noise of a shared machine hits
all of them alike; the statistic is the median wall-clock time of each variant over the rounds
(the same statistic on both sides of every ratio). A variant that exits non-zero, or prints
something other than what it should, stops the benchmark: a fast failure must never pass for a
fast start. Exits 1 when the goal is missed.

Stores: SQLite and an embedded Redis in a temporary folder (or BENCH_DATABASE_URL /
BENCH_REDIS_URL), migrated with ``flask db upgrade`` and given one account before measuring.

    python bench/bench_startup.py [--rounds 15]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BIN, PROJECT_ROOT, BenchStores, command_line  # noqa: E402 - needs sys.path

GOAL_HELP = 3.0
FLASK = [str(BIN / "flask"), "--app", "app:create_app"]


@dataclass(frozen=True)
class Variant:
    """One command line, and a piece of text its output must contain."""

    name: str
    argv: Sequence[str]
    expect: str


def run_once(variant: Variant, env: Mapping[str, str]) -> float:
    """Seconds from spawning ``variant`` to its exit; a failure or wrong output stops the run."""
    started = time.perf_counter()
    done = subprocess.run(variant.argv, cwd=PROJECT_ROOT, env=dict(env), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or variant.expect not in done.stdout:
        raise SystemExit(
            f"{variant.name} failed (exit {done.returncode}, expected {variant.expect!r} in its output):\n"
            f"{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    return elapsed


def interleave(variants: Sequence[Variant], env: Mapping[str, str], rounds: int) -> dict[str, list[float]]:
    """Every variant once per round (after one unmeasured warm-up each), order rotating."""
    for variant in variants:
        run_once(variant, env)
    times: dict[str, list[float]] = {variant.name: [] for variant in variants}
    for round_number in range(rounds):
        shift = round_number % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            times[variant.name].append(run_once(variant, env))
    return times


def prepare(env: Mapping[str, str]) -> None:
    """Migrate the temporary database and add one account, so ``users list`` lists someone."""
    for argv in (
        [*FLASK, "db", "upgrade"],
        [*FLASK, "users", "create", "bench@example.com", "bench", "--password", "a bench password"],
    ):
        done = subprocess.run(argv, cwd=PROJECT_ROOT, env=dict(env), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"setup failed: {' '.join(argv[3:])}:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")


def report(times: Mapping[str, Sequence[float]], baseline: str, rounds: int) -> float:
    """Print one line per variant (median, min, max, ratio to the baseline); returns the
    ``--help`` ratio."""
    base = statistics.median(times[baseline])
    width = max(len(name) for name in times)
    print(f"command:  {command_line()}")
    print(f"rounds:   {rounds} (interleaved, order rotating; median wall-clock time per variant)")
    ratios: dict[str, float] = {}
    for name, values in times.items():
        median = statistics.median(values)
        ratios[name] = median / base
        print(
            f"  {name.ljust(width)}  median {median * 1000:7.1f} ms  (min {min(values) * 1000:.1f}, "
            f"max {max(values) * 1000:.1f})  {ratios[name]:5.2f}x"
        )
    return ratios["flask --help"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds (default 15)")
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    variants = [
        Variant("import flask", [sys.executable, "-c", "import flask"], ""),
        Variant("flask --help", [*FLASK, "--help"], "users"),
        Variant("flask users list", [*FLASK, "users", "list"], "bench@example.com"),
    ]
    with BenchStores() as stores:
        env = stores.env()
        prepare(env)
        times = interleave(variants, env, arguments.rounds)
    ratio = report(times, "import flask", arguments.rounds)
    verdict = "meets" if ratio <= GOAL_HELP else "MISSES"
    print(f"goal:     flask --help at most {GOAL_HELP:g}x import flask: {ratio:.2f}x ({verdict})")
    return 0 if ratio <= GOAL_HELP else 1


if __name__ == "__main__":
    raise SystemExit(main())
