"""Polling over time, the way ``make run`` runs it: worker memory after many polls, and how late
polls start while the request budget is not the limit.

Both parts start the product with ``scripts/run_all.py`` in a folder of its own, against the
sandbox marketplace served from a thread of this process (``bench_peer.Ours`` / ``Sandbox``):

1. **Worker RSS growth after ``--polls`` polls** (10,000 by default; goal < 10 %): pages answer
   at once, the budget does not bind, ``--monitors`` product monitors are made due and the
   scheduler's ``poll_due_monitors`` job enqueued, round after round; the catalog evolves
   between rounds so polls see changes. The polling worker (``poller+scheduler``: the polling queue,
   in-process batches) is sampled after each round: the growth is measured from its
   RSS after the first 10 % of the polls (imports, caches and pools warmed up) to the end.
2. **p95 start delay while demand ≤ 90 % of the budget** (goal ≤ max(60 s, 10 % of the
   interval)): ``DHGATE_REQUESTS_PER_SECOND`` = ``--rate``, the default schedule (a tick every 30 s,
   polls spread over 25 s), ``--interval`` seconds per monitor and as many one-page monitors as
   make 85 % of the budget, first due evenly over one interval. This process reads every
   monitor's ``next_poll_at`` each second (a poll's due time) and each poll's ``started_at``;
   the delay is start − due. Polls still waiting at the end count with end − due.

    python bench/bench_steady.py [--polls 10000] [--monitors 250] [--rate 2] [--interval 300] [--minutes 4]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from bench.bench_peer import Ours, Sandbox, process_tree  # noqa: E402
from bench.results import Check, emit  # noqa: E402

GOAL_GROWTH = 0.10
DEMAND_SHARE = 0.85  # of the budget: under the 90 % the goal is stated for


def poller_rss(ours: Ours) -> int:
    """RSS of the polling worker: the child ``supervisor.json`` names ``poller+scheduler`` (it
    is a fork of the supervisor, so its command line does not tell it apart)."""
    names = ours.names()
    for process in process_tree(ours.roots()):
        if names.get(process.pid) == "poller+scheduler":
            return int(process.memory_info().rss)
    raise SystemExit("no polling worker is running")


def polls_so_far(ours: Ours) -> int:
    from sqlalchemy import func, select

    from extensions import db
    from models import PollRun

    with ours.app.app_context():
        count = db.session.scalar(select(func.count()).select_from(PollRun).where(PollRun.finished_at.is_not(None)))
        db.session.remove()
    return int(count or 0)


def memory(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    sandbox = Sandbox(args.monitors, 0)
    ours = Ours(folder, sandbox.server.base_url)
    samples: list[tuple[int, int]] = []
    try:
        ours.start(sandbox.codes)
        done = 0
        while done < args.polls:
            before = polls_so_far(ours)
            ours.trigger()
            deadline = time.monotonic() + 600
            while polls_so_far(ours) < before + len(sandbox.codes):
                if time.monotonic() > deadline:
                    raise SystemExit(f"a round of {len(sandbox.codes)} polls did not finish within 600 s")
                time.sleep(0.2)
            done = polls_so_far(ours)
            samples.append((done, poller_rss(ours)))
            sandbox.server.catalog.evolve()
            print(f"\r  memory: {done:,} of {args.polls:,} polls, poller RSS {samples[-1][1] / 2**20:.1f} MB",
                  end="", flush=True)
        print()
    finally:
        ours.stop()
        sandbox.server.stop()
    warm_polls, warm = next(sample for sample in samples if sample[0] >= args.polls // 10)
    end_polls, end = samples[-1]
    return {"warm_polls": warm_polls, "warm": warm, "end_polls": end_polls, "end": end,
            "growth": (end - warm) / warm, "peak": max(rss for _, rss in samples)}


def start_delays(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    count = int(args.rate * args.interval * DEMAND_SHARE)
    sandbox = Sandbox(count, args.latency_ms)
    if len(sandbox.codes) < count:
        raise SystemExit(f"the sandbox has {len(sandbox.codes)} products, {count} needed")
    ours = Ours(folder, sandbox.server.base_url,
                {"DHGATE_REQUESTS_PER_SECOND": str(args.rate), "DHGATE_RATE_BURST": "1"})
    now = datetime.now(UTC) + timedelta(seconds=45)  # after it has started: no poll before the first look
    due = [now + timedelta(seconds=args.interval * index / count) for index in range(count)]
    seen: dict[int, list[tuple[datetime, datetime]]] = {}  # monitor → (observed at, next_poll_at)
    try:
        ours.start(sandbox.codes, interval=args.interval, due=due)
        ends = time.monotonic() + args.minutes * 60
        while time.monotonic() < ends:
            observe_due_times(ours, seen)
            time.sleep(1.0)
        runs = poll_starts(ours)
    finally:
        ours.stop()
        sandbox.server.stop()
    end = datetime.now(UTC)
    delays = delays_of(seen, runs, end)
    ordered = sorted(delays)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] if ordered else float("nan")
    return {"monitors": count, "polls": len(runs), "due": len(delays), "p95": p95,
            "median": statistics.median(ordered) if ordered else float("nan"), "max": max(ordered, default=0.0),
            "demand": count / args.interval / args.rate}


def observe_due_times(ours: Ours, seen: dict[int, list[tuple[datetime, datetime]]]) -> None:
    from sqlalchemy import select

    from extensions import db
    from models import Monitor

    observed = datetime.now(UTC)
    with ours.app.app_context():
        rows = db.session.execute(select(Monitor.id, Monitor.next_poll_at)).all()
        db.session.remove()
    for monitor_id, due in rows:
        history = seen.setdefault(monitor_id, [])
        if due is not None and (not history or history[-1][1] != due):
            history.append((observed, due))


def poll_starts(ours: Ours) -> dict[int, list[datetime]]:
    from sqlalchemy import select

    from extensions import db
    from models import PollRun

    starts: dict[int, list[datetime]] = {}
    with ours.app.app_context():
        for monitor_id, started in db.session.execute(select(PollRun.monitor_id, PollRun.started_at)
                                                      .order_by(PollRun.started_at)):
            starts.setdefault(monitor_id, []).append(started)
        db.session.remove()
    return starts


def delays_of(seen: dict[int, list[tuple[datetime, datetime]]], runs: dict[int, list[datetime]],
              end: datetime) -> list[float]:
    """Each due time that came before ``end``: seconds until the first poll that started after it
    was set (a poll's due time is the ``next_poll_at`` seen before it started), or until ``end``."""
    delays: list[float] = []
    for monitor_id, history in seen.items():
        starts = runs.get(monitor_id, [])
        for observed, due in history:
            if due > end:
                continue
            started = next((start for start in starts if start >= observed - timedelta(seconds=1.5)), None)
            delays.append(((started or end) - due).total_seconds())
    return delays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--polls", type=int, default=10_000, help="polls for the memory part (0: skip)")
    parser.add_argument("--monitors", type=int, default=250, help="monitors polled per round in the memory part")
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second of the budget")
    parser.add_argument("--interval", type=int, default=300, help="poll interval of each monitor (s)")
    parser.add_argument("--latency-ms", type=float, default=300.0, help="page latency in the start-delay part")
    parser.add_argument("--minutes", type=float, default=4.0, help="length of the start-delay part (0: skip)")
    args = parser.parse_args(argv)
    if args.polls < 0 or args.monitors < 1 or args.rate <= 0 or args.interval < 60 or args.minutes < 0:
        parser.error("--polls ≥ 0, --monitors ≥ 1, --rate > 0, --interval ≥ 60, --minutes ≥ 0")
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="dhm-steady-") as tmp:
        if args.polls:
            mem = memory(args, Path(tmp) / "memory")
            print(f"memory: poller RSS {mem['warm'] / 2**20:.1f} MB after {mem['warm_polls']:,} polls, "
                  f"{mem['end'] / 2**20:.1f} MB after {mem['end_polls']:,} ({mem['growth']:+.1%}; goal < +10 %), "
                  f"peak {mem['peak'] / 2**20:.1f} MB")
            checks.append(Check("poller RSS growth over the polls", mem["growth"], "<", GOAL_GROWTH))
        if args.minutes:
            goal = max(60.0, 0.1 * args.interval)
            delay = start_delays(args, Path(tmp) / "delay")
            print(f"start delay: {delay['monitors']} monitors every {args.interval} s at {args.rate:g} requests/s "
                  f"(demand {delay['demand']:.0%} of the budget), {args.minutes:g} min: {delay['due']} due polls, "
                  f"median {delay['median']:.1f} s, p95 {delay['p95']:.1f} s, max {delay['max']:.1f} s "
                  f"(goal p95 ≤ {goal:g} s)")
            checks.append(Check("p95 start delay (s), demand under 90 % of the budget", delay["p95"], "<=", goal))
    emit("steady", checks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
