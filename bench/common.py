"""Shared pieces of the HTTP benchmarks: gunicorn on a free port, a bounded threaded load
generator, and interleaved rounds so the noise of a shared machine hits every variant alike.

    from bench.common import BenchStores, Variant, GunicornServer, interleave, summarize

    with BenchStores() as stores:
        with GunicornServer("bench.apps:with_metrics()", stores.env()) as fast, \\
             GunicornServer("bench.apps:without_metrics()", stores.env()) as slow:
            results = interleave([Variant("a", fast.url, "/hello"), Variant("b", slow.url, "/hello")],
                                 rounds=7, requests=1500, concurrency=4)
    print(summarize(results))

Each request opens its own connection (gunicorn's sync workers close every connection anyway),
and every variant gets the same number of requests per round; the order of the variants rotates
from round to round. Results are requests per second; compare medians, never single rounds.
"""
from __future__ import annotations

import http.client
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BenchStores:
    """SQLite and an embedded Redis in a temporary folder, unless ``BENCH_DATABASE_URL`` /
    ``BENCH_REDIS_URL`` name stores of their own (a benchmark may fill them)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="dhm-bench-")
        self.folder = Path(self._tmp.name)
        self._embedded = False
        self.database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{self.folder / 'bench.db'}"
        self.redis_url = os.environ.get("BENCH_REDIS_URL", "")

    def __enter__(self) -> BenchStores:
        if not self.redis_url:
            sys.path.insert(0, str(PROJECT_ROOT))
            from services.embedded_redis import ensure_embedded_redis

            self.redis_url = ensure_embedded_redis(self.folder / "redis")
            self._embedded = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._embedded:
            from services.embedded_redis import stop_embedded_redis

            stop_embedded_redis(self.folder / "redis")
        self._tmp.cleanup()

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for an app process on these stores (production settings)."""
        env = dict(os.environ)
        env.update(
            APP_ENV="production",
            SECRET_KEY=SECRET,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            INSTANCE_PATH=str(self.folder / "instance"),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env


@dataclass
class GunicornServer:
    """``gunicorn APP_SPEC`` on a free loopback port; ``with`` starts it and waits until it answers."""

    app_spec: str
    env: Mapping[str, str]
    workers: int = 2
    worker_class: str = "sync"
    ready_path: str = "/healthz"
    extra_args: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [
            str(BIN / "gunicorn"), self.app_spec, "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers), "--worker-class", self.worker_class,
            "--log-level", "warning", "--chdir", str(PROJECT_ROOT), *self.extra_args,
        ]

    def __enter__(self) -> GunicornServer:
        self.process = subprocess.Popen(self.command, cwd=PROJECT_ROOT, env=dict(self.env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise SystemExit(f"gunicorn {self.app_spec} exited: {err[-2000:]}")
            if _answers(self.url + self.ready_path):
                return self
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise SystemExit(f"gunicorn {self.app_spec} did not answer on {self.url} within 60 s")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
        connection.request("GET", parts.path or "/")
        status = connection.getresponse().status
        connection.close()
        return status < 500
    except OSError:
        return False


@dataclass(frozen=True)
class Variant:
    name: str
    base_url: str
    path: str
    expected_status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


def measure(variant: Variant, *, requests: int, concurrency: int, timeout: float = 10.0) -> float:
    """Requests per second for ``requests`` requests spread over ``concurrency`` threads.

    Any response other than ``expected_status`` (or a connection error) stops the benchmark:
    a fast error page must never pass for a fast page.
    """
    parts = urlsplit(variant.base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    share = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]
    failures: list[str] = []

    def run(count: int) -> None:
        for _ in range(count):
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                connection.request("GET", variant.path, headers=dict(variant.headers))
                response = connection.getresponse()
                response.read()
                if response.status != variant.expected_status:
                    failures.append(f"{variant.name}: HTTP {response.status}")
                    return
            except OSError as exc:
                failures.append(f"{variant.name}: {type(exc).__name__}: {exc}")
                return
            finally:
                connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"benchmark request failed: {failures[0]}")
    return requests / elapsed


def interleave(
    variants: Sequence[Variant], *, rounds: int, requests: int, concurrency: int, warmup: int = 200
) -> dict[str, list[float]]:
    """Measure every variant once per round, rotating their order; returns rps per round."""
    for variant in variants:
        measure(variant, requests=warmup, concurrency=concurrency)
    results: dict[str, list[float]] = {v.name: [] for v in variants}
    for round_number in range(rounds):
        shift = round_number % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            results[variant.name].append(measure(variant, requests=requests, concurrency=concurrency))
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(results: Mapping[str, Sequence[float]], numerator: str, denominator: str) -> float:
    """Median of ``numerator`` over median of ``denominator``."""
    return median(results[numerator]) / median(results[denominator])


def paired_ratio(results: Mapping[str, Sequence[float]], numerator: str, denominator: str) -> float:
    """Median of the per-round ratios: both variants of a round ran back to back, so slow
    drifts of a shared machine (other jobs, thermal, caches) cancel within each pair."""
    return median([a / b for a, b in zip(results[numerator], results[denominator], strict=True)])


def summarize(results: Mapping[str, Sequence[float]]) -> str:
    """One line per variant: median, min and max requests per second."""
    width = max(len(name) for name in results)
    return "\n".join(
        f"  {name.ljust(width)}  median {median(v):8.1f} req/s   (min {min(v):.1f}, max {max(v):.1f}, {len(v)} rounds)"
        for name, v in results.items()
    )


def command_line() -> str:
    return shlex.join([Path(sys.executable).name, *sys.argv])
