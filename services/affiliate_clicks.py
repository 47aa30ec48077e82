"""Clicks on tracked links: counted cheaply in Redis, moved into ``affiliate_clicks`` exactly once.

The redirect must stay about as fast as a bare route, so it never writes to the database and,
by default, does not even wait for Redis: each process collects its clicks in a ``ClickBatch``
and sends them every ``AFFILIATE_CLICK_PUSH_SECONDS`` (as request metrics are sent). One Lua
script per batch and minute (one round trip, atomic) does everything a counted click needs:
``SET NX PX`` on the visitor+link key drops a repeat within the dedupe window, then the click (a
small JSON record) is appended to the buffer list of its minute and the minute is listed in an
index. With the setting at 0 every click makes that round trip before the response.

Moving clicks into the database follows ``services.metrics_flush``, each step safe to interrupt:

1. *Claim*: RENAME the minute's buffer to a processing key listed in a processing index (RENAME
   is atomic: of two flushers only one gets a buffer; clicks after it start a new buffer).
2. *Commit*: insert the records in one transaction, skipping any whose ``click_ref`` is already
   there (a unique column). A flush that crashed after its commit and is finished again by the
   next one therefore inserts nothing twice; there is no separate guard row to keep.
3. *Release*: only after the commit, delete the processing key.

What is not counted (``countable``): HEAD requests, prefetches (``Purpose`` / ``Sec-Purpose``),
link-preview bots and crawlers. They are still redirected.
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol, cast

import ua_parser
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from extensions import db, get_redis
from models import AffiliateClick, Monitor, Product, User
from services.affiliate_links import LinkTarget
from services.redis_buffers import FlushHooks, MinuteBuffers, claim_buffers, processing_ids

logger = logging.getLogger(__name__)

BUFFER_TTL_SECONDS = 7 * 86400  # clicks are money: kept far longer than any flush outage
INSERT_BATCH = 500
USER_AGENT_LIMIT = 512
REFERRER_LIMIT = 2000

# Link previews and crawlers that ua-parser does not (yet) call a spider; matched anywhere in
# the User-Agent, case-insensitively.
KNOWN_BOTS = (
    "slackbot", "discordbot", "telegrambot", "facebookexternalhit", "googlebot", "bingbot",
    "twitterbot", "whatsapp", "linkedinbot",
)
_KNOWN_BOTS = re.compile("|".join(re.escape(name) for name in KNOWN_BOTS), re.IGNORECASE)

RECORD_SCRIPT = """
local dedupe, buffer, index = KEYS[1], KEYS[2], KEYS[3]
if not redis.call('SET', dedupe, '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
redis.call('RPUSH', buffer, ARGV[2])
redis.call('EXPIRE', buffer, ARGV[4])
redis.call('ZADD', index, ARGV[3], ARGV[3])
return 1
"""


# The same for several clicks of one minute at once (a process's batch, see ``ClickBatch``):
# KEYS = buffer, index, then one dedupe key per click; ARGV = dedupe ms, minute, ttl, then the
# records in the order of their keys. A repeat inside the batch is dropped like any other.
RECORD_BATCH_SCRIPT = """
local buffer, index = KEYS[1], KEYS[2]
local counted = 0
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then
    redis.call('RPUSH', buffer, ARGV[i + 1])
    counted = counted + 1
  end
end
if counted > 0 then
  redis.call('EXPIRE', buffer, ARGV[3])
  redis.call('ZADD', index, ARGV[2], ARGV[2])
end
return counted
"""
PUSH_SIZE = 200  # clicks that make a batch due at once, whatever the time
MAX_PENDING = 50_000  # what a process keeps for Redis while it is unreachable


def buffer_key(prefix: str, minute: int) -> str:
    return f"{prefix}aff:clicks:buf:{minute}"


def buffers_index_key(prefix: str) -> str:
    return f"{prefix}aff:clicks:buffers"


def processing_key(prefix: str, flush_id: str) -> str:
    return f"{prefix}aff:clicks:proc:{flush_id}"


def processing_index_key(prefix: str) -> str:
    return f"{prefix}aff:clicks:processing"


def dedupe_key(prefix: str, visitor: str, token: str) -> str:
    digest = hashlib.sha256(f"{visitor}\0{token}".encode()).hexdigest()[:32]
    return f"{prefix}aff:clicks:seen:{digest}"


# --------------------------------------------------------------------------- what counts


@lru_cache(maxsize=2048)
def is_bot(user_agent: str) -> bool:
    """A crawler or link-preview fetcher: no User-Agent at all, one of ``KNOWN_BOTS``, or what
    ua-parser calls a spider. Cached: the same few agents make most clicks."""
    if not user_agent.strip():
        return True
    if _KNOWN_BOTS.search(user_agent):
        return True
    device = ua_parser.parse_device(user_agent)
    return device is not None and device.family == "Spider"


class HeaderLookup(Protocol):
    """What is read of request headers (a plain dict in tests, Werkzeug's ``Headers``)."""

    def get(self, key: str, /) -> str | None: ...


def is_prefetch(headers: HeaderLookup) -> bool:
    """Browsers announce speculative loads (``Sec-Purpose: prefetch``, older ``Purpose``)."""
    for name in ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"):
        if "prefetch" in (headers.get(name) or "").lower():
            return True
    return False


def countable(method: str, headers: HeaderLookup) -> bool:
    """Whether a request to the redirect is a person's click worth counting."""
    if method.upper() != "GET":
        return False
    return not is_prefetch(headers) and not is_bot(headers.get("User-Agent") or "")


def ip_hash(ip: str | None) -> str | None:
    """HMAC-SHA256 of the IP under the secret key: the same visitor is recognisable, the IP is
    not recoverable (a plain hash of the 4 billion IPv4 addresses would be)."""
    if not ip:
        return None
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class Click:
    """One click as the redirect saw it, before it reaches the database."""

    click_ref: str
    link: LinkTarget
    token: str
    ip_hash: str | None
    user_agent: str | None
    referrer: str | None
    at: datetime


def new_click_ref() -> str:
    """Our reference of one click: random, 32 hex characters, sent out with the link."""
    return uuid.uuid4().hex


def record(click: Click) -> bool | None:
    """Count the click unless the same visitor followed the same link within the dedupe window.

    With ``AFFILIATE_CLICK_PUSH_SECONDS`` > 0 the click joins this process's batch, sent to
    Redis in one round trip with the others at most that many seconds later (None: not known
    yet); with 0 it is sent at once and the answer is whether it counted. Raises
    ``redis.RedisError`` when Redis is down: the caller redirects anyway (a batched click
    stays in the batch for the next try).
    """
    if float(current_app.config.get("AFFILIATE_CLICK_PUSH_SECONDS") or 0) > 0:
        batch(current_app._get_current_object()).add(_entry(click))  # type: ignore[attr-defined]
        return None
    return record_now(click)


def _entry(click: Click) -> tuple[int, str, str]:
    """(minute, dedupe key, record) of a click, as the batch keeps it."""
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    visitor = f"{click.ip_hash or '-'}\0{click.user_agent or '-'}"
    return int(click.at.timestamp()) // 60 * 60, dedupe_key(prefix, visitor, click.token), _encode(click)


def record_now(click: Click) -> bool:
    """One click to Redis in its own round trip; whether it was counted."""
    config = current_app.config
    prefix = config["REDIS_KEY_PREFIX"]
    minute = int(click.at.timestamp()) // 60 * 60
    visitor = f"{click.ip_hash or '-'}\0{click.user_agent or '-'}"
    keys = [dedupe_key(prefix, visitor, click.token), buffer_key(prefix, minute), buffers_index_key(prefix)]
    args: list[Any] = [int(config["AFFILIATE_CLICK_DEDUPE_SECONDS"]) * 1000, _encode(click), minute, BUFFER_TTL_SECONDS]
    connection = get_redis()
    return bool(connection.register_script(RECORD_SCRIPT)(keys=keys, args=args))


def _encode(click: Click) -> str:
    return json.dumps({
        "r": click.click_ref, "u": click.link.member_id, "p": click.link.product_id, "m": click.link.monitor_id,
        "s": click.link.source, "h": click.ip_hash, "a": (click.user_agent or "")[:USER_AGENT_LIMIT] or None,
        "f": (click.referrer or "")[:REFERRER_LIMIT] or None, "t": round(click.at.timestamp(), 3),
    }, separators=(",", ":"))


def decode(raw: bytes | str) -> dict[str, Any] | None:
    """A buffered record as ``affiliate_clicks`` values; None (logged) for a malformed one, so
    one bad record can never block every later flush."""
    try:
        data = json.loads(raw)
        return {
            "click_ref": str(data["r"])[:32], "user_id": data["u"], "product_id": data["p"],
            "monitor_id": data["m"], "source": str(data["s"])[:16], "ip_hash": data["h"],
            "user_agent": data["a"], "referrer": data["f"],
            "clicked_at": datetime.fromtimestamp(float(data["t"]), UTC),
        }
    except (ValueError, KeyError, TypeError):
        logger.warning("skipping malformed click record %r", raw[:200])
        return None


# --------------------------------------------------------------------------- batching


def batch(app: Any) -> ClickBatch:
    """This process's batch for ``app`` (a forked process starts its own)."""
    current = app.extensions.get(_BATCH_KEY)
    if current is None or current.pid != os.getpid():
        current = app.extensions[_BATCH_KEY] = ClickBatch(app, float(app.config["AFFILIATE_CLICK_PUSH_SECONDS"]))
    return cast(ClickBatch, current)


_BATCH_KEY = "affiliate_clicks.batch"


class ClickBatch:
    """Clicks of this process on their way to Redis, like the request metrics' batches: the
    redirect appends and returns; every ``push_seconds`` (a timer thread, so a lone click does
    not wait for the next one), at ``PUSH_SIZE`` clicks, and at exit, one script call per
    minute sends them all. What a ``kill -9`` can lose is the last ``push_seconds`` of this
    process's clicks; a failed push keeps its clicks for the next one."""

    def __init__(self, app: Any, push_seconds: float) -> None:
        self.app = app
        self.push_seconds = push_seconds
        self.pid = os.getpid()
        self.pending: deque[tuple[int, str, str]] = deque()
        self._lock = threading.Lock()
        self._timer: threading.Thread | None = None
        atexit.register(self.push_quietly)

    def add(self, entry: tuple[int, str, str]) -> None:
        self.pending.append(entry)
        if len(self.pending) >= PUSH_SIZE:
            self.push()
        elif self._timer is None or not self._timer.is_alive():
            self._timer = threading.Thread(target=self._tick, name="affiliate-click-push", daemon=True)
            self._timer.start()

    def _tick(self) -> None:
        """Push every ``push_seconds`` while clicks keep coming; end when a push found none."""
        while True:
            time.sleep(self.push_seconds)
            if not self.push_quietly():
                return

    def push_quietly(self) -> int:
        """``push`` from the timer or at exit: a Redis failure is logged, the clicks kept."""
        try:
            with self.app.app_context():
                return self.push()
        except RedisError as exc:
            logger.warning("affiliate clicks not pushed yet, Redis unavailable (%s); kept %d",
                           type(exc).__name__, len(self.pending))
            return -1

    def push(self) -> int:
        """Send every pending click (needs an app context); the number sent."""
        with self._lock:
            taken: list[tuple[int, str, str]] = []
            while self.pending:
                taken.append(self.pending.popleft())
            if not taken:
                return 0
            try:
                _send_batch(taken)
            except RedisError:
                self.pending.extendleft(reversed(taken[-MAX_PENDING:]))
                raise
            return len(taken)


def _send_batch(entries: list[tuple[int, str, str]]) -> int:
    """One script call per minute of the batch; how many clicks counted."""
    config = current_app.config
    prefix = config["REDIS_KEY_PREFIX"]
    by_minute: dict[int, list[tuple[str, str]]] = {}
    for minute, key, encoded in entries:
        by_minute.setdefault(minute, []).append((key, encoded))
    script = get_redis().register_script(RECORD_BATCH_SCRIPT)
    counted = 0
    for minute, items in sorted(by_minute.items()):
        keys = [buffer_key(prefix, minute), buffers_index_key(prefix), *(key for key, _ in items)]
        args: list[Any] = [int(config["AFFILIATE_CLICK_DEDUPE_SECONDS"]) * 1000, minute, BUFFER_TTL_SECONDS,
                           *(encoded for _, encoded in items)]
        counted += int(script(keys=keys, args=args))
    return counted


# --------------------------------------------------------------------------- flushing



@dataclass
class FlushReport:
    buffers: int = 0  # processing keys finished by this flush
    clicks: int = 0  # rows inserted
    duplicates: int = 0  # records already in the table (a flush that crashed after its commit)


def flush_clicks(*, hooks: FlushHooks | None = None) -> FlushReport:
    """Move every buffered click into ``affiliate_clicks``; safe to run concurrently and again."""
    hooks = hooks or FlushHooks()
    connection = get_redis()
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    _claim_buffers(connection, prefix)
    report = FlushReport()
    for flush_id in processing_ids(connection, processing_index_key(prefix)):
        _finish(connection, prefix, flush_id, hooks, report)
    return report


def _claim_buffers(connection: Any, prefix: str) -> int:
    return claim_buffers(connection, MinuteBuffers(
        buffer=lambda minute: buffer_key(prefix, minute),
        processing=lambda flush_id: processing_key(prefix, flush_id),
        index=buffers_index_key(prefix),
        processing_index=processing_index_key(prefix),
    ))

def _finish(connection: Any, prefix: str, flush_id: str, hooks: FlushHooks, report: FlushReport) -> None:
    """Insert one processing key's clicks (those not there yet), commit, then delete it."""
    raw = connection.lrange(processing_key(prefix, flush_id), 0, -1)
    if not raw:  # finished and deleted by another flusher meanwhile (or expired)
        connection.zrem(processing_index_key(prefix), flush_id)
        return
    rows = [row for row in (decode(item) for item in raw) if row is not None]
    try:
        _forget_deleted(rows)
        inserted = _insert_new(rows)
        if hooks.before_commit:
            hooks.before_commit(flush_id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    report.buffers += 1
    report.clicks += inserted
    report.duplicates += len(rows) - inserted
    if hooks.after_commit:
        hooks.after_commit(flush_id)
    with connection.pipeline(transaction=True) as pipe:
        pipe.delete(processing_key(prefix, flush_id))
        pipe.zrem(processing_index_key(prefix), flush_id)
        pipe.execute()


def _forget_deleted(rows: list[dict[str, Any]]) -> None:
    """A member, product or monitor deleted between click and flush becomes NULL (as the
    foreign keys' ``ON DELETE SET NULL`` would have done), so the insert cannot fail on it."""
    for column, model in (("user_id", User), ("product_id", Product), ("monitor_id", Monitor)):
        wanted = {row[column] for row in rows if row[column] is not None}
        if not wanted:
            continue
        found: set[int] = set()
        for chunk in _batches(sorted(wanted), INSERT_BATCH):
            found.update(db.session.scalars(select(model.id).where(model.id.in_(chunk))))
        for row in rows:
            if row[column] is not None and row[column] not in found:
                row[column] = None


def _insert_new(rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose ``click_ref`` is new (``ON CONFLICT DO NOTHING`` on both SQLite
    and PostgreSQL); returns how many were inserted."""
    dialect = db.session.get_bind().dialect.name
    inserted = 0
    for batch in _batches(rows, INSERT_BATCH):
        if dialect == "postgresql":
            statement: Any = pg_insert(AffiliateClick).on_conflict_do_nothing(index_elements=["click_ref"])
        elif dialect == "sqlite":
            statement = sqlite_insert(AffiliateClick).on_conflict_do_nothing(index_elements=["click_ref"])
        else:  # pragma: no cover - the two supported databases are above
            statement = insert(AffiliateClick)
        # RETURNING, not rowcount: drivers disagree on rowcount for a multi-row insert.
        inserted += len(db.session.execute(statement.values(batch).returning(AffiliateClick.id)).all())
    return inserted


def _batches(rows: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]
