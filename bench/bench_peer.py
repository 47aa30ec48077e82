"""DHgate Monitor next to changedetection.io, both watching the same 100 product pages.

Both products run at once on this machine against one sandbox marketplace served from a thread
of this process (``--latency-ms`` per page, 300 ms by default):

- **ours** the way ``make run`` starts it (``scripts/run_all.py``: the preloaded supervisor and
  what it forks, gunicorn, the forking worker, the polling worker with the scheduler's thread;
  the embedded Redis) in an instance folder of its own, with
  the sandbox as DHgate and the request budget raised so it does not bind; 100 product monitors.
- **changedetection.io** (pinned, installed by ``bench/peer_changedetection.py`` into
  ``.peer/``) with its plain HTTP fetcher, the restock and price processor and its default 5
  fetch workers; 100 watches added through its REST API.

After both have checked every page once, they rest; then every product's price is changed and
each gets one full check (ours: the scheduler's ``poll_due_monitors`` job enqueued with every
monitor due; theirs: ``GET /api/v1/watch?recheck_all=1``), one after the other so they never
share the CPU. Measured side by side:

- wall time of a full check: from the trigger to the arrival of the last of the 100 page
  requests at the sandbox (its request counter) plus the page's latency; checks per minute
  ratio ours ÷ theirs (goal ≥ 2);
- CPU-ms per check of each process tree (psutil, every process and its reaped children, from
  the trigger until two seconds after the last page; goal ratio ≤ 1);
- PSS of all processes of each at rest with 100 monitors (``memory_full_info().pss``; ours
  includes the embedded Redis; goal ratio ≤ 2).

Both must find every price change, or the run fails.

    python bench/bench_peer.py [--pages 100] [--latency-ms 300] [--rounds 1]

When changedetection.io cannot be installed (no network, no PyPI) the bench prints one
``SKIP:`` line and reports no goals; ``bench/run_all.py`` shows it as skipped.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from bench.common import SECRET, free_port  # noqa: E402
from bench.peer_changedetection import VERSION, Peer, PeerUnavailable, answers, install  # noqa: E402
from bench.results import Check, emit, skip  # noqa: E402

GOALS = {"checks_per_minute": 2.0, "cpu_per_check": 1.0, "pss_at_rest": 2.0}
SETTLE_SECONDS = 2.0  # after the last page: the last answers are parsed and stored
REST_SECONDS = 10.0


@dataclass
class Round:
    """One measured full check of one product."""

    seconds: float
    cpu_ms: float
    found: int  # pages whose price change the product noticed


class Sandbox:
    """The sandbox in a thread of this process; notes when each page request arrives."""

    def __init__(self, pages: int, latency_ms: float) -> None:
        from sandbox import SandboxServer

        self.server = SandboxServer(seed=7, stores=pages // 30 + 2, products_per_store=30).start()
        self.latency = latency_ms / 1000
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self.server.app.serving.latency.seconds = self._arrived  # type: ignore[method-assign]
        catalog = self.server.catalog
        self.codes = [p.item_code for s in catalog.store_ids() for p in catalog.products(s)][:pages]
        self.urls = [self.server.product_url(code) for code in self.codes]

    def _arrived(self) -> float:
        with self._lock:
            self.arrivals.append(time.monotonic())
        return self.latency

    def product_requests(self) -> int:
        return self.server.requests.count("product")

    def reprice_all(self) -> None:
        """Every watched product gets a new price (10 % down): a change for both products to find."""
        for code in self.codes:
            product = self.server.catalog.product(code)
            assert product is not None
            self.server.catalog.set_price(code, (product.price_min * Decimal("0.9")).quantize(Decimal("0.01")))

    def wait_for_pages(self, before: int, pages: int, timeout: float) -> float:
        """Wait until ``pages`` more product requests arrived; when the last one was answered."""
        deadline = time.monotonic() + timeout
        while self.product_requests() < before + pages:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.product_requests() - before} of {pages} pages were fetched "
                                 f"within {timeout:g} s")
            time.sleep(0.01)
        with self._lock:
            return self.arrivals[-1] + self.latency


def process_tree(roots: list[int]) -> list[Any]:
    import psutil

    found: dict[int, Any] = {}
    for pid in roots:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                found[process.pid] = process
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def label(process: Any, names: dict[int, str] | None = None) -> str:
    """A short name for a process of the tree: the name its supervisor gave it (ours are forks of
    one parent and share its command line), else its program and what it serves."""
    if names and process.pid in names:
        return f"{process.pid} {names[process.pid]}"
    words = [Path(word).name for word in process.cmdline()[:6]]
    words = [w for w in words if not w.startswith("python")] or words
    return f"{process.pid} " + " ".join(words)[:60]


def cpu_by_process(roots: list[int], names: dict[int, str] | None = None) -> dict[str, float]:
    """CPU seconds of every process of the tree, with the children each has reaped (a forked job)."""
    import psutil

    found: dict[str, float] = {}
    for process in process_tree(roots):
        try:
            times = process.cpu_times()
            found[label(process, names)] = times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            continue
    return found


def cpu_seconds(roots: list[int]) -> float:
    return sum(cpu_by_process(roots).values())


def pss_by_process(roots: list[int], names: dict[int, str] | None = None) -> dict[str, float]:
    """Proportional set size of each process of the tree, in MB."""
    import psutil

    found: dict[str, float] = {}
    for process in process_tree(roots):
        try:
            found[label(process, names)] = process.memory_full_info().pss / 2**20
        except psutil.NoSuchProcess:
            continue
    return found


def show(title: str, values: dict[str, float], unit: str) -> None:
    print(title)
    for name, value in sorted(values.items(), key=lambda item: -item[1]):
        print(f"  {value:9.1f} {unit}  {name}")


class Ours:
    """DHgate Monitor started by ``scripts/run_all.py`` in a folder of its own."""

    def __init__(self, folder: Path, sandbox_url: str, settings: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1",
                    "INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": f"sqlite:///{folder / 'ours.db'}",
                    "REDIS_URL": "", "DHGATE_BASE_URL": sandbox_url, "DHGATE_ALLOWED_HOSTS": "127.0.0.1,dhgate.com",
                    "DHGATE_REQUESTS_PER_SECOND": "100000", "DHGATE_RATE_BURST": "1000", **(settings or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.app: Any = None

    def start(self, codes: list[str], *, interval: int = 3600, due: list[datetime] | None = None) -> None:
        """Migrate, add one product monitor per code (each due at ``due[i]``, default now), start."""
        from services.embedded_redis import ensure_embedded_redis

        self.env["REDIS_URL"] = ensure_embedded_redis(self.folder / "instance")
        done = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app:create_app", "db", "upgrade"],
                              cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"migrating our database failed: {done.stderr.strip()[-2000:]}")
        self.env["REDIS_URL"] = ""  # run_all.py finds the embedded Redis of the instance folder, as make run does
        self.app = self._app()
        self._add_monitors(codes, interval, due or [datetime.now(UTC)] * len(codes))
        log = (self.folder / "ours.log").open("wb")
        self.process = subprocess.Popen([sys.executable, "scripts/run_all.py", "--port", str(self.port)],
                                        cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 90
        while not answers(f"http://127.0.0.1:{self.port}/healthz"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"our product did not start; see {self.folder / 'ours.log'}")
            time.sleep(0.3)

    def _app(self) -> Any:
        from app import create_app
        from services.embedded_redis import embedded_redis_url

        return create_app({"SQLALCHEMY_DATABASE_URI": self.env["DATABASE_URL"], "SECRET_KEY": SECRET,
                           "REDIS_URL": embedded_redis_url(self.folder / "instance"),
                           "INSTANCE_PATH": self.env["INSTANCE_PATH"]})

    def _add_monitors(self, codes: list[str], interval: int, due: list[datetime]) -> None:
        from extensions import db
        from models import Monitor, User

        with self.app.app_context():
            member = User(email="peer@example.com", username="peer", password_hash="x", subscription_tier="business")
            db.session.add(member)
            db.session.flush()
            db.session.add_all([Monitor(user_id=member.id, kind="product", dhgate_id=code, name=f"product {code}",
                                        url=f"/product/x/{code}.html", poll_interval=interval, next_poll_at=when)
                                for code, when in zip(codes, due, strict=True)])
            db.session.commit()

    def roots(self) -> list[int]:
        """The supervisor (and through it every child) and the embedded Redis it shares."""
        pids = [self.process.pid] if self.process else []
        pidfile = self.folder / "instance" / "redis.pid"
        if pidfile.exists():
            pids.append(int(pidfile.read_text().strip()))
        return pids

    def names(self) -> dict[int, str]:
        """Each process by the name ``supervisor.json`` gives it (a child's children: "… child")."""
        import psutil

        from services.supervisor_status import read_status

        status = read_status(self.folder / "instance")
        names = {self.process.pid: "supervisor"} if self.process else {}
        for child in status.processes if status else []:
            if child.pid is None:
                continue
            names[child.pid] = child.name
            try:
                names.update({c.pid: f"{child.name} child" for c in psutil.Process(child.pid).children()})
            except psutil.NoSuchProcess:
                continue
        return names

    def trigger(self) -> None:
        """Every monitor due now, and the scheduler's tick job on its queue (the worker runs it)."""
        from sqlalchemy import update

        from extensions import db
        from models import Monitor
        from services.queue import enqueue

        with self.app.app_context():
            db.session.execute(update(Monitor).values(next_poll_at=datetime.now(UTC)))
            db.session.commit()
            enqueue("jobs.monitoring.poll_due_monitors")

    def checked_since(self, since: datetime) -> tuple[int, int]:
        """Monitors polled successfully since ``since``, and price events noted since then."""
        from sqlalchemy import func, select

        from extensions import db
        from models import Monitor, ProductEvent

        with self.app.app_context():
            polled = db.session.scalar(select(func.count()).where(Monitor.last_success_at >= since)) or 0
            events = db.session.scalar(select(func.count(func.distinct(ProductEvent.monitor_id)))
                                       .where(ProductEvent.created_at >= since,
                                              ProductEvent.kind.like("price%"))) or 0
            db.session.remove()
        return int(polled), int(events)

    def stop(self) -> None:
        from services.embedded_redis import stop_embedded_redis

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # run_all.py stops its children and the embedded Redis
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
        stop_embedded_redis(self.folder / "instance")


def measure_ours(ours: Ours, sandbox: Sandbox) -> Round:
    since = datetime.now(UTC)
    before_pages = sandbox.product_requests()
    names = ours.names()
    cpu_before = cpu_by_process(ours.roots(), names)
    started = time.monotonic()
    ours.trigger()
    finished = sandbox.wait_for_pages(before_pages, len(sandbox.codes), timeout=600)
    time.sleep(max(0.0, finished + SETTLE_SECONDS - time.monotonic()))
    spent = {name: (value - cpu_before.get(name, 0.0)) * 1000
             for name, value in cpu_by_process(ours.roots(), names).items()}
    show("ours, CPU during the check:", spent, "ms")
    cpu = sum(spent.values()) / 1000
    found = _wait_for(lambda: ours.checked_since(since), len(sandbox.codes), "ours")
    return Round(seconds=finished - started, cpu_ms=cpu * 1000 / len(sandbox.codes), found=found)


def measure_peer(peer: Peer, sandbox: Sandbox) -> Round:
    since = time.time() - 1  # the peer keeps whole seconds
    before_pages = sandbox.product_requests()
    roots = [peer.process.pid] if peer.process else []
    cpu_before = cpu_seconds(roots)
    started = time.monotonic()
    peer.recheck_all()
    finished = sandbox.wait_for_pages(before_pages, len(sandbox.codes), timeout=600)
    time.sleep(max(0.0, finished + SETTLE_SECONDS - time.monotonic()))
    cpu = cpu_seconds(roots) - cpu_before
    found = _wait_for(lambda: peer_checked_since(peer, since), len(sandbox.codes), "changedetection.io")
    return Round(seconds=finished - started, cpu_ms=cpu * 1000 / len(sandbox.codes), found=found)


def peer_checked_since(peer: Peer, since: float) -> tuple[int, int]:
    watches = peer.watches().values()
    checked = sum(1 for w in watches if (w.get("last_checked") or 0) >= since)
    changed = sum(1 for w in watches if (w.get("last_changed") or 0) >= since)
    return checked, changed


def _wait_for(progress: Any, pages: int, who: str, timeout: float = 120) -> int:
    """Wait until every page was checked; how many changes were found (the run fails if not all)."""
    deadline = time.monotonic() + timeout
    while True:
        checked, changed = progress()
        if checked >= pages and changed >= pages:
            return int(changed)
        if time.monotonic() > deadline:
            raise SystemExit(f"{who}: {checked} of {pages} pages checked and {changed} price changes found "
                             f"within {timeout:g} s")
        time.sleep(0.5)


def first_checks(ours: Ours, peer: Peer, sandbox: Sandbox) -> None:
    """Every page checked once by each (the first check of a page sets its baseline)."""
    for url in sandbox.urls:
        peer.add_watch(url)
    _wait_for(lambda: (sum(1 for w in peer.watches().values() if w.get("last_checked")),) * 2,
              len(sandbox.urls), "changedetection.io (first check)", timeout=300)
    ours.trigger()
    _wait_for(lambda: (ours.checked_since(datetime(2000, 1, 1, tzinfo=UTC))[0],) * 2, len(sandbox.urls),
              "ours (first check)", timeout=300)


def run(args: argparse.Namespace) -> int:
    try:
        launcher = install(VERSION)
    except PeerUnavailable as exc:
        skip("peer", f"changedetection.io is not available here ({exc})")
        return 0
    sandbox = Sandbox(args.pages, 0)
    with tempfile.TemporaryDirectory(prefix="dhm-peer-") as tmp:
        folder = Path(tmp)
        ours = Ours(folder / "ours", sandbox.server.base_url)
        ours.folder.mkdir()
        peer = Peer(launcher, folder, free_port())
        try:
            try:
                peer.start(sandbox.server.url("/__sandbox__/state"))
            except PeerUnavailable as exc:
                skip("peer", str(exc))
                return 0
            ours.start(sandbox.codes)
            sandbox.latency = args.latency_ms / 1000
            first_checks(ours, peer, sandbox)
            time.sleep(REST_SECONDS)
            our_rest = pss_by_process(ours.roots(), ours.names())
            peer_rest = pss_by_process([peer.process.pid] if peer.process else [])
            show("ours, PSS at rest:", our_rest, "MB")
            show("changedetection.io, PSS at rest:", peer_rest, "MB")
            our_pss, our_count = sum(our_rest.values()), len(our_rest)
            peer_pss, peer_count = sum(peer_rest.values()), len(peer_rest)
            rounds: list[tuple[Round, Round]] = []
            for index in range(args.rounds):
                sandbox.reprice_all()
                if index % 2 == 0:  # who goes first alternates from round to round
                    mine = measure_ours(ours, sandbox)
                    theirs = measure_peer(peer, sandbox)
                else:
                    theirs = measure_peer(peer, sandbox)
                    mine = measure_ours(ours, sandbox)
                rounds.append((mine, theirs))
        finally:
            peer.stop()
            ours.stop()
            sandbox.server.stop()
    report(args, rounds, (our_pss, our_count), (peer_pss, peer_count))
    return 0


def report(args: argparse.Namespace, rounds: list[tuple[Round, Round]], our_memory: tuple[float, int],
           peer_memory: tuple[float, int]) -> None:
    import statistics

    ours_s = statistics.median(r[0].seconds for r in rounds)
    peer_s = statistics.median(r[1].seconds for r in rounds)
    ours_cpu = statistics.median(r[0].cpu_ms for r in rounds)
    peer_cpu = statistics.median(r[1].cpu_ms for r in rounds)
    print(f"\n{args.pages} product pages, {args.latency_ms:g} ms each, changedetection.io {VERSION} "
          f"(html_requests, restock_diff, 5 fetch workers); {len(rounds)} round(s), medians:")
    print(f"{'':28}{'ours':>12}{'changedetection.io':>22}{'ratio':>10}")
    print(f"{'full check (s)':28}{ours_s:12.2f}{peer_s:22.2f}")
    print(f"{'checks per minute':28}{args.pages / ours_s * 60:12.0f}{args.pages / peer_s * 60:22.0f}"
          f"{peer_s / ours_s:9.2f}x")
    print(f"{'CPU-ms per check':28}{ours_cpu:12.1f}{peer_cpu:22.1f}{ours_cpu / peer_cpu:9.2f}x")
    print(f"{'PSS at rest (MB)':28}{our_memory[0]:12.0f}{peer_memory[0]:22.0f}{our_memory[0] / peer_memory[0]:9.2f}x")
    print(f"{'processes':28}{our_memory[1]:12d}{peer_memory[1]:22d}")
    for index, (mine, theirs) in enumerate(rounds, 1):
        print(f"round {index}: ours {mine.seconds:.2f} s, {mine.cpu_ms:.1f} CPU-ms/check, {mine.found} changes; "
              f"changedetection.io {theirs.seconds:.2f} s, {theirs.cpu_ms:.1f} CPU-ms/check, {theirs.found} changes")
    emit("peer", [
        Check("checks/min ours / changedetection.io", peer_s / ours_s, ">=", GOALS["checks_per_minute"]),
        Check("CPU-ms per check ours / changedetection.io", ours_cpu / peer_cpu, "<=", GOALS["cpu_per_check"]),
        Check("PSS at rest ours / changedetection.io", our_memory[0] / peer_memory[0], "<=", GOALS["pss_at_rest"]),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--pages", type=int, default=100, help="product pages both products watch")
    parser.add_argument("--latency-ms", type=float, default=300.0, help="how long each page takes")
    parser.add_argument("--rounds", type=int, default=1, help="measured full checks of each")
    args = parser.parse_args(argv)
    if args.pages < 1 or args.rounds < 1 or args.latency_ms < 0:
        parser.error("--pages and --rounds must be at least 1, --latency-ms at least 0")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
