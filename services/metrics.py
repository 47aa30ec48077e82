"""Request and database timing, aggregated per process and pushed to Redis in batches.

``init_app(app)`` wraps the WSGI app: every request's duration and status class are recorded
under its URL *rule* (``/monitors/<int:id>``, never the raw path, so the number of series stays
bounded), unknown URLs as ``<unmatched>`` and static files as ``static``. SQLAlchemy cursor
events add the time of each query a request makes, by operation (SELECT/INSERT/UPDATE/DELETE/
OTHER).

Samples are aggregated in memory (count, sum, min, max and a fixed-bucket histogram, see
``services.histograms``) and pushed every ``METRICS_PUSH_SECONDS`` or ``METRICS_PUSH_SAMPLES``
samples with ONE Lua call into per-minute Redis hashes. ``services.metrics_flush`` later moves
those buffers into ``request_metrics`` exactly once.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import operator
import os
import threading
import time
import uuid
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask, has_request_context
from sqlalchemy import event

from extensions import db
from services.histograms import BOUNDS_MS, BUCKET_COUNT

logger = logging.getLogger(__name__)

EXTENSION_KEY = "dhm_metrics"
UNMATCHED = "<unmatched>"
STATIC = "static"
DB_OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")
FIELD_SEPARATOR = "|"

# Buffer layout (all keys under REDIS_KEY_PREFIX):
#   metrics:buf:<minute epoch>   hash  "<kind>|<endpoint>|<status>|<stat>" -> number
#   metrics:buffers              zset  minute epoch of every buffer that may exist
#   metrics:push:<push id>       string  "this batch was applied": a push retried after a lost
#                                reply (the script ran, the answer never came) is not applied twice
# stats: n = count, s = sum of ms, lo = min ms, hi = max ms, b<i> = samples in histogram bucket i
PUSH_SCRIPT = """
local buffer, index, marker = KEYS[1], KEYS[2], KEYS[3]
if not redis.call('SET', marker, '1', 'NX', 'EX', ARGV[3]) then
  return 0
end
for i = 4, #ARGV, 3 do
  local name, op, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'i' then
    redis.call('HINCRBY', buffer, name, value)
  elseif op == 'f' then
    redis.call('HINCRBYFLOAT', buffer, name, value)
  else
    local current = redis.call('HGET', buffer, name)
    if (not current) or (op == 'lo' and tonumber(value) < tonumber(current))
        or (op == 'hi' and tonumber(value) > tonumber(current)) then
      redis.call('HSET', buffer, name, value)
    end
  end
end
redis.call('EXPIRE', buffer, ARGV[2])
redis.call('ZADD', index, ARGV[1], ARGV[1])
return 1
"""


def buffer_key(prefix: str, minute: int) -> str:
    return f"{prefix}metrics:buf:{minute}"


def buffers_index_key(prefix: str) -> str:
    return f"{prefix}metrics:buffers"


def push_marker_key(prefix: str, push_id: str) -> str:
    return f"{prefix}metrics:push:{push_id}"


PUSH_MARKER_TTL = 3600
MAX_UNSENT_BATCHES = 120  # about ten minutes of batches while Redis is unreachable


def clean_endpoint(name: str) -> str:
    """Field names are separator-delimited; a rule can never smuggle in a separator."""
    return name.replace(FIELD_SEPARATOR, "/")[:200]


@dataclass
class Series:
    """Aggregate of one (minute, kind, endpoint, status class) in this process."""

    count: int = 0
    total_ms: float = 0.0
    min_ms: float = float("inf")
    max_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKET_COUNT)


SeriesKey = tuple[int, str, str, str]  # minute epoch, kind, endpoint, status class


class Recorder:
    """This process's samples, aggregated and pushed to Redis in batches.

    Recording is one ``deque.append`` (atomic, so no lock on the request path); aggregation into
    series happens when a batch is pushed, in one tight loop. Thread-safe (gthread workers).
    After a fork the child starts empty: what the parent recorded is the parent's to push.
    """

    def __init__(
        self,
        connection_factory: Callable[[], redis.Redis],
        prefix: str,
        *,
        push_seconds: float,
        push_samples: int,
        buffer_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connection_factory = connection_factory
        self._connection: redis.Redis | None = None
        self._script: Any = None
        self.prefix = prefix
        self.push_seconds = push_seconds
        self.push_samples = push_samples
        self.buffer_ttl = buffer_ttl
        self._clock = clock
        self._samples: deque[tuple[float, str, str, str, float]] = deque()
        self._push_lock = threading.Lock()
        self._unsent: list[tuple[str, int, list[tuple[SeriesKey, Series]]]] = []
        self._next_push = clock() + push_seconds
        self.dropped = 0  # samples given up on after Redis stayed unreachable

    # -- recording -------------------------------------------------------------------------

    def record(self, kind: str, endpoint: str, status_class: str, ms: float) -> None:
        """Add one sample; pushes when the batch is due (on the recording thread, one round trip)."""
        now = self._clock()
        samples = self._samples
        samples.append((now, kind, endpoint, status_class, ms))
        if now >= self._next_push or len(samples) >= self.push_samples:
            self.push(wait=False)

    def after_fork_in_child(self) -> None:
        """A forked child starts empty: what the parent recorded is the parent's to push."""
        self._samples = deque()
        self._unsent = []
        self._connection = None
        self._script = None
        self._push_lock = threading.Lock()

    # -- pushing ---------------------------------------------------------------------------

    def take(self) -> dict[SeriesKey, Series]:
        """Aggregate and hand over everything recorded so far (samples arriving meanwhile stay
        for the next batch: ``popleft`` and ``append`` are atomic, so none is lost or doubled)."""
        samples = self._samples
        series: dict[SeriesKey, Series] = {}
        popleft = samples.popleft
        while True:
            try:
                moment, kind, endpoint, status_class, ms = popleft()
            except IndexError:
                break
            key = (int(moment) // 60 * 60, kind, endpoint, status_class)
            target = series.get(key)
            if target is None:
                target = series[key] = Series()
            target.count += 1
            target.total_ms += ms
            if ms < target.min_ms:
                target.min_ms = ms
            if ms > target.max_ms:
                target.max_ms = ms
            target.buckets[bisect_left(BOUNDS_MS, ms)] += 1
        return series

    def push(self, *, quiet: bool = False, wait: bool = True) -> int:
        """Send the aggregates to Redis; returns the number of samples that arrived.

        Each batch (one minute's series) carries a push id that the Lua script claims first, so
        a batch re-sent after a lost reply is applied once. Batches that fail are kept and
        re-sent with their id on the next push; after about ten minutes of failures the oldest
        are dropped (counted in ``dropped``) rather than growing without bound. With
        ``wait=False`` a push already running in another thread is left to do the work.
        """
        if not self._push_lock.acquire(blocking=wait):
            return 0
        try:
            self._next_push = self._clock() + self.push_seconds
            by_minute: dict[int, list[tuple[SeriesKey, Series]]] = {}
            for key, series in self.take().items():
                by_minute.setdefault(key[0], []).append((key, series))
            for minute, items in sorted(by_minute.items()):
                self._unsent.append((uuid.uuid4().hex, minute, items))
            pushed = 0
            still_unsent: list[tuple[str, int, list[tuple[SeriesKey, Series]]]] = []
            for index, batch in enumerate(self._unsent):
                try:
                    self._push_batch(*batch)
                    pushed += sum(series.count for _, series in batch[2])
                except redis.RedisError as exc:
                    if not quiet:
                        logger.warning("could not push request metrics to Redis (%s); will retry", type(exc).__name__)
                    still_unsent = self._unsent[index:]
                    break
            if len(still_unsent) > MAX_UNSENT_BATCHES:
                for _, _, items in still_unsent[:-MAX_UNSENT_BATCHES]:
                    self.dropped += sum(series.count for _, series in items)
                still_unsent = still_unsent[-MAX_UNSENT_BATCHES:]
            self._unsent = still_unsent
            return pushed
        finally:
            self._push_lock.release()

    def _push_batch(self, push_id: str, minute: int, items: Iterable[tuple[SeriesKey, Series]]) -> None:
        args: list[Any] = [minute, self.buffer_ttl, PUSH_MARKER_TTL]
        for (_, kind, endpoint, status_class), series in items:
            base = f"{kind}{FIELD_SEPARATOR}{endpoint}{FIELD_SEPARATOR}{status_class}{FIELD_SEPARATOR}"
            args += [base + "n", "i", series.count]
            args += [base + "s", "f", repr(round(series.total_ms, 6))]
            args += [base + "lo", "lo", repr(round(series.min_ms, 6))]
            args += [base + "hi", "hi", repr(round(series.max_ms, 6))]
            for index, value in enumerate(series.buckets):
                if value:
                    args += [f"{base}b{index}", "i", value]
        keys = [
            buffer_key(self.prefix, minute),
            buffers_index_key(self.prefix),
            push_marker_key(self.prefix, push_id),
        ]
        self._get_script()(keys=keys, args=args)

    def _get_script(self) -> Any:
        if self._script is None:
            self._connection = self._connection_factory()
            self._script = self._connection.register_script(PUSH_SCRIPT)
        return self._script

    @property
    def unsent_samples(self) -> int:
        return sum(series.count for _, _, items in self._unsent for _, series in items)


# -- Flask / WSGI / SQLAlchemy wiring -------------------------------------------------------

RULE_ENVIRON_KEY = "dhm.metrics.rule"


class MetricsMiddleware:
    """Times the whole Flask request, then files it under its URL rule and status class.

    The URL rule reaches the middleware through the WSGI environ (see ``request_class_for``), so
    no Flask hook runs per request and the timing wraps every other hook whatever their order.
    """

    def __init__(self, wsgi_app: Callable[..., Any], recorder: Recorder) -> None:
        self.wsgi_app = wsgi_app
        self.recorder = recorder
        # id(rule) -> series name. Rules are few, live as long as the app and are unhashable.
        self._names: dict[int, str] = {}
        self._warned = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        status_holder: list[str] = []

        def capturing_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_holder.append(status)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        started = time.perf_counter()
        try:
            return self.wsgi_app(environ, capturing_start_response)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            try:
                rule = environ.get(RULE_ENVIRON_KEY)
                name = self._names.get(id(rule)) if rule is not None else UNMATCHED
                if name is None:
                    name = self._names[id(rule)] = endpoint_of(rule)
                status = status_holder[-1][0] if status_holder else "5"
                self.recorder.record("http", name, status + "xx", elapsed_ms)
            except Exception:  # noqa: BLE001 - metrics must never break a response
                if not self._warned:
                    self._warned = True
                    logger.warning("recording request metrics failed (reported once)", exc_info=True)


def request_class_for(base: type) -> type:
    """``base`` whose ``url_rule``, once Flask has matched it, is also left in the WSGI environ.

    Flask removes its request object from the environ when the request context ends, before the
    middleware's timing stops; the matched rule is all the middleware needs, and this hands it
    over without a per-request hook.
    """

    def set_rule(request: Any, rule: Any) -> None:
        request._matched_url_rule = rule
        request.environ[RULE_ENVIRON_KEY] = rule

    class MetricsRequest(base):
        _matched_url_rule = None
        # Reads go through a C-level getter: Flask and extensions read url_rule many times.
        url_rule = property(operator.attrgetter("_matched_url_rule"), set_rule)

    MetricsRequest.__name__ = MetricsRequest.__qualname__ = f"Metrics{base.__name__}"
    return MetricsRequest


def endpoint_of(rule: Any) -> str:
    """The bounded series name of a request: its URL rule, ``static`` or ``<unmatched>``."""
    if rule is None:
        return UNMATCHED
    if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
        return STATIC
    return clean_endpoint(rule.rule)


def operation_of(statement: str) -> str:
    head = statement.lstrip()[:6].upper()
    return head if head in DB_OPERATIONS else "OTHER"


_QUERY_STARTS = "dhm_query_starts"


def _attach_query_timing(app: Flask, recorder: Recorder) -> None:
    """Time the queries requests make, per operation, on this app's engines.

    Only queries inside a request are timed: these are *request* metrics, and jobs in forked
    work horses exit without a chance to push what they recorded.
    """
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if has_request_context():
            conn.info.setdefault(_QUERY_STARTS, []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        starts = conn.info.get(_QUERY_STARTS)
        if not starts:
            return
        elapsed_ms = (time.perf_counter() - starts.pop()) * 1000.0
        try:
            recorder.record("db", operation_of(statement), "-", elapsed_ms)
        except Exception:  # noqa: BLE001 - metrics must never break a query
            logger.warning("recording query metrics failed", exc_info=True)

    def failed(context: Any) -> None:
        starts = context.connection.info.get(_QUERY_STARTS) if context.connection is not None else None
        if starts:
            starts.pop()

    with app.app_context():
        for engine in db.engines.values():
            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "after_cursor_execute", after)
            event.listen(engine, "handle_error", failed)


_RECORDERS: weakref.WeakSet[Recorder] = weakref.WeakSet()
_ATEXIT_LOCK = threading.Lock()
_atexit_registered = False


def _push_all_at_exit() -> None:
    """A worker process that exits cleanly (gunicorn restarts, deploys) pushes what it holds."""
    for recorder in list(_RECORDERS):
        with contextlib.suppress(Exception):  # exiting anyway
            recorder.push(quiet=True)


def _reset_all_after_fork() -> None:
    for recorder in list(_RECORDERS):
        recorder.after_fork_in_child()


def init_app(app: Flask) -> None:
    """Turn request/DB timing on for ``app`` (a no-op when ``METRICS_ENABLED`` is false).

    Call once, after ``init_extensions`` (it needs the database engines). Calling it again on the
    same app changes nothing.
    """
    global _atexit_registered
    if not app.config["METRICS_ENABLED"] or EXTENSION_KEY in app.extensions:
        return
    url = app.config["REDIS_URL"]

    def connect() -> redis.Redis:
        return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)

    recorder = Recorder(
        connect,
        app.config["REDIS_KEY_PREFIX"],
        push_seconds=float(app.config["METRICS_PUSH_SECONDS"]),
        push_samples=int(app.config["METRICS_PUSH_SAMPLES"]),
        buffer_ttl=int(app.config["METRICS_BUFFER_TTL_SECONDS"]),
    )
    app.extensions[EXTENSION_KEY] = recorder
    app.wsgi_app = MetricsMiddleware(app.wsgi_app, recorder)  # type: ignore[method-assign]
    app.request_class = request_class_for(app.request_class)
    _attach_query_timing(app, recorder)
    _RECORDERS.add(recorder)
    with _ATEXIT_LOCK:
        if not _atexit_registered:
            atexit.register(_push_all_at_exit)
            os.register_at_fork(after_in_child=_reset_all_after_fork)
            _atexit_registered = True


def recorder_of(app: Flask) -> Recorder | None:
    return app.extensions.get(EXTENSION_KEY)


def push_now(app: Flask) -> int:
    """Push this process's pending samples of ``app`` now (tests, CLI, shutdown)."""
    recorder = recorder_of(app)
    return recorder.push() if recorder is not None else 0
