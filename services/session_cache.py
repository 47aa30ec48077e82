"""Each process's memory of the live sessions it has served, kept true by one Redis counter.

Looking a session up in the database on every request (the row joined to its user, built into
ORM objects) was the largest part of what a logged-in page cost. Instead each process keeps
what that lookup returned, per session token, together with the *auth epoch* it was read under:
a Redis counter that every committed change to a user or a session row increments. A request
reads the epoch (with any keys the page will read anyway) and uses its memory only when the
epoch is unchanged, so anything that can end a session or change a user (revocation, logout,
deactivation, a new password, a role, a language) is seen by every process on the very next
request, exactly as with the per-request lookup. Expiry is checked against the clock on every
request.

Where Redis is local (a unix socket or loopback) the epoch is read from this process's pub/sub
mirror (``services.pubsub_mirror``): every bump publishes the new value and returns only once
every subscriber's socket holds it, and each request applies what arrived before it reads, so
the very next request anywhere still sees the change, with no round trip. Anything uncertain
about the subscription (lost, silent, or a backlog that may not have arrived whole) makes that
read an ``MGET`` instead; so does a Redis across a network, whose connections can die silently.

The epoch is bumped by SQLAlchemy session hooks (``install``) after the commit, for ORM objects
flushed and for bulk statements on either table alike, so every writer that goes through the
ORM session keeps it true (only ``services.sessions``' activity touch writes beside it, and only
``last_seen_at``, which nobody's logging in depends on). Without Redis nothing is remembered
and every request asks the database, as before. A Redis that lost its data starts the epoch at
a random value, so no memory from before can match by accident. Whatever the epoch says, a
memory is read again after ``REREAD_SECONDS``: the bound on how stale it could get should a
bump ever be lost (Redis failing right after a commit, which is logged as an error).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from extensions import db, get_redis
from models import AdminSession, User
from services import pubsub_mirror

logger = logging.getLogger(__name__)

EPOCH_KEY = "auth:epoch"
MAX_REMEMBERED = 4096  # sessions per process; past that the memory starts again (one lookup each)
# Read again after this long whatever the epoch says: the bound on how stale a memory can get
# if a bump is ever lost (Redis failing just after a commit; logged as an error).
REREAD_SECONDS = 60.0
PENDING = "auth_epoch_bump"
_WATCHED_TABLES = frozenset({User.__tablename__, AdminSession.__tablename__})
_USER_COLUMNS = tuple(attr.key for attr in User.__mapper__.column_attrs)
_SESSION_COLUMNS = tuple(attr.key for attr in AdminSession.__mapper__.column_attrs)


def epoch_key() -> str:
    return f"{current_app.config['REDIS_KEY_PREFIX']}{EPOCH_KEY}"


@dataclass(frozen=True)
class Remembered:
    """The columns of a session row and of its user, as read under ``epoch``."""

    epoch: bytes
    session: dict[str, Any]
    user: dict[str, Any]
    until: float  # time.monotonic() after which it is read again


_memory: dict[str, Remembered] = {}
_lock = threading.Lock()


def read_epoch(extra_keys: Sequence[str] = ()) -> tuple[bytes | None, list[Any]]:
    """The auth epoch and the values of ``extra_keys``: from this process's pub/sub mirror
    where Redis is local (no round trip), else one ``MGET``; ``(None, [None...])`` when Redis
    cannot answer (the caller then asks the database and remembers nothing)."""
    keys = [epoch_key(), *extra_keys]
    try:
        redis = get_redis()
        values = pubsub_mirror.read(redis, keys)
        if values[0] is None:  # first use, or Redis lost its data: never reuse an old epoch
            values[0] = pubsub_mirror.set_missing_and_learn(redis, keys[0], str(secrets.randbelow(2**40)))
    except RedisError as exc:  # no traceback kept: it would hold this request's frames
        logger.warning("auth epoch unavailable (%s): looking sessions up in the database", type(exc).__name__)
        return None, [None] * len(extra_keys)
    epoch = values[0]
    return (epoch if isinstance(epoch, bytes) else None), list(values[1:])


def recall(token_hash: str, epoch: bytes | None) -> Remembered | None:
    """What this process read for ``token_hash`` under the current ``epoch``, if anything."""
    if epoch is None:
        return None
    found = _memory.get(token_hash)
    if found is None or found.epoch != epoch or found.until < time.monotonic():
        return None
    return found


def remember(token_hash: str, epoch: bytes | None, row: AdminSession) -> None:
    """Keep the columns of a freshly loaded session row and its user under ``epoch``."""
    if epoch is None:
        return
    loaded = row.__dict__
    user = row.user.__dict__
    entry = Remembered(epoch, {k: loaded[k] for k in _SESSION_COLUMNS}, {k: user[k] for k in _USER_COLUMNS},
                       time.monotonic() + REREAD_SECONDS)
    with _lock:
        if len(_memory) >= MAX_REMEMBERED:
            _memory.clear()
        _memory[token_hash] = entry


def note_seen(token_hash: str, entry: Remembered, last_seen_at: Any) -> None:
    """Record the activity time just written, so this process does not write it again soon."""
    with _lock:
        if _memory.get(token_hash) is entry:
            _memory[token_hash] = Remembered(entry.epoch, {**entry.session, "last_seen_at": last_seen_at},
                                             entry.user, entry.until)


def forget_all() -> None:
    """Empty this process's memory (tests)."""
    with _lock:
        _memory.clear()


def restore(entry: Remembered) -> AdminSession | None:
    """The remembered row and its user as persistent objects of the request's ORM session,
    without a statement; ``None`` when the session already holds either (the caller reads them)."""
    session = db.session
    user = _detached(User, entry.user)
    row = _detached(AdminSession, entry.session)
    identities = session.identity_map
    if any(key is None or key in identities for key in (instance_state(user).key, instance_state(row).key)):
        return None
    row.__dict__["user"] = user
    session.add(user)
    session.add(row)
    return row


def _detached(model: type[Any], columns: dict[str, Any]) -> Any:
    obj = model.__mapper__.class_manager.new_instance()
    obj.__dict__.update(columns)
    make_transient_to_detached(obj)  # an identity, every column loaded: attaching it reads nothing
    return obj


# ------------------------------------------------------------------------- keeping it true


def install() -> None:
    """Hook the epoch bumps on every SQLAlchemy session (once per process)."""
    pubsub_mirror.hook_sessions(flushed=_collect_flushed, statement=_collect_statement,
                                committed=_bump_after_commit, rolled_back=_forget_pending)


def _collect_flushed(session: Session, _flush: UOWTransaction) -> None:
    if session.info.get(PENDING):
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, User | AdminSession):
            session.info[PENDING] = True
            return


def _collect_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        state.session.info[PENDING] = True


def _bump_after_commit(session: Session) -> None:
    if not session.info.pop(PENDING, False):
        return
    try:
        pubsub_mirror.bump_and_learn(get_redis(), [epoch_key()])
    except (RedisError, RuntimeError):  # RuntimeError: no app context (a script's own session)
        forget_all()  # this process at least reads again at once; others within REREAD_SECONDS
        logger.error("could not bump the auth epoch: other processes may serve a changed session "
                     "from memory for up to REREAD_SECONDS", exc_info=True)


def _forget_pending(session: Session, _previous: Any) -> None:
    session.info.pop(PENDING, None)
