"""The live badge: what ``GET /notifications/poll`` answers, as cheaply as possible.

Every open tab of every member polls, so the common answer is "nothing new", and it must cost
about what a hello-world route costs. Two parts make that so:

* **A version per member in Redis.** Whenever a commit changes notifications, the member's
  counter (``notifications:live:v:<id>``) is incremented after the commit; a bulk statement
  whose members are unknown (mark all read, an insert of many rows) increments one shared
  epoch instead. Both are hooked on the SQLAlchemy session (``install``), so every writer,
  ours or not, keeps them true. The pair is the ETag; answering 304 is one Redis ``MGET``.
  The version is read *before* the database when an answer is built, and bumped *after* the
  writer's commit, so a change is never hidden behind an old ETag. Every bump also publishes
  the new value, and each process mirrors the versions it has read (``services.pubsub_mirror``),
  so where Redis is local a 304 usually costs no round trip at all: only a member's first poll
  in a process reads Redis.
* **A signed poll token instead of the login cookie.** The badge's URL carries
  ``t=<member id, session id>`` signed with the app's secret (its own salt), and the page's
  script sends no cookies, so the request skips the session machinery. A 304 reveals
  nothing; any answer with content first checks that the session is still live (not revoked,
  not expired, the member active), so logging out or revoking a session ends it.

Without Redis the endpoint still works: the ETag is then the member's unread count and newest
id, read with one indexed query (``(user_id, read_at, created_at)`` and ``(user_id, id)``).
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from extensions import db, get_redis
from models import AdminSession, Notification, User
from services import pubsub_mirror
from services.notifications.digests import DIGEST_KIND

logger = logging.getLogger(__name__)

ITEM_LIMIT = 20
TOKEN_SALT = "notifications-live-poll"
EPOCH_KEY = "notifications:live:epoch"
PENDING_MEMBERS = "live_bump_members"
PENDING_EPOCH = "live_bump_epoch"


def version_key(user_id: int) -> str:
    return f"notifications:live:v:{user_id}"


# ------------------------------------------------------------------------------------ state


@dataclass(frozen=True)
class LiveState:
    unread: int
    newest_id: int

    @property
    def etag(self) -> str:
        return f"n{self.newest_id}-u{self.unread}"


def live_state(user_id: int) -> LiveState:
    """Unread count and newest id of one member, in one statement."""
    unread = select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)).scalar_subquery()
    newest = select(func.coalesce(func.max(Notification.id), 0)).where(
        Notification.user_id == user_id).scalar_subquery()
    row = db.session.execute(select(unread, newest)).one()
    return LiveState(unread=int(row[0] or 0), newest_id=int(row[1] or 0))


def items_since(user_id: int, cursor: int, limit: int = ITEM_LIMIT) -> list[dict[str, Any]]:
    """The member's notifications newer than ``cursor`` (digests aside), oldest first."""
    rows = db.session.scalars(select(Notification).where(
        Notification.user_id == user_id, Notification.id > cursor, Notification.kind != DIGEST_KIND)
        .order_by(Notification.id.desc()).limit(limit)).all()
    return [{
        "id": n.id, "kind": n.kind, "severity": n.severity, "title": n.title,
        "created_at": n.created_at.isoformat(), "read": n.read_at is not None,
    } for n in reversed(rows)]


def version_etag(user_id: int) -> str | None:
    """The member's ETag from Redis (one round trip); ``None`` when Redis cannot answer.

    A Redis that lost its data (a restart without persistence) starts the epoch again at a
    random value, so no ETag a client kept from before can match by accident."""
    try:
        redis = get_redis()
        epoch, version = pubsub_mirror.read(redis, [EPOCH_KEY, version_key(user_id)])
        if epoch is None:
            epoch = pubsub_mirror.set_missing_and_learn(redis, EPOCH_KEY, str(secrets.randbelow(2**40)))
    except RedisError:
        logger.warning("live poll: Redis unavailable, answering from the database", exc_info=True)
        return None
    return f"e{int(epoch or 0)}-v{int(version or 0)}"


# ------------------------------------------------------------------------------------ tokens


@lru_cache(maxsize=8)
def _serializer_for(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=TOKEN_SALT)


def _serializer() -> URLSafeSerializer:
    return _serializer_for(str(current_app.secret_key))


def poll_token(user_id: int, session_id: int) -> str:
    return str(_serializer().dumps([user_id, session_id]))


# Tokens whose signature verified, per secret: a tab sends the same token on every poll, and
# the same string always verifies to the same identity. Bounded; only valid tokens are kept.
_verified_tokens: dict[tuple[str, str], tuple[int, int]] = {}
KEPT_TOKENS = 4096


def read_token(token: str) -> tuple[int, int] | None:
    """(member id, session id) of a poll token; ``None`` when it was altered."""
    secret = str(current_app.secret_key)
    identity = _verified_tokens.get((secret, token))
    if identity is not None:
        return identity
    try:
        user_id, session_id = _serializer_for(secret).loads(token)
        identity = int(user_id), int(session_id)
    except (BadSignature, TypeError, ValueError):
        return None
    if len(_verified_tokens) >= KEPT_TOKENS:
        _verified_tokens.clear()
    _verified_tokens[(secret, token)] = identity
    return identity


def session_is_live(user_id: int, session_id: int) -> bool:
    """Whether the token's login session still works (one query)."""
    now = datetime.now(UTC)
    found = db.session.scalar(
        select(AdminSession.id).join(User, User.id == AdminSession.user_id).where(
            AdminSession.id == session_id, AdminSession.user_id == user_id, AdminSession.revoked_at.is_(None),
            AdminSession.expires_at > now, User.is_active.is_(True)))
    return found is not None


# ------------------------------------------------------------------------ keeping versions true


def install() -> None:
    """Hook the version bumps on every SQLAlchemy session (once per process)."""
    pubsub_mirror.hook_sessions(flushed=_collect_flushed, statement=_collect_statement,
                                committed=_bump_after_commit, rolled_back=_forget)


def note_changed(session: Any, user_id: int) -> None:
    """Count a change to ``user_id``'s notifications written below the ORM (a Core statement on
    the session's connection, which no session event sees): their version is bumped on commit."""
    session.info.setdefault(PENDING_MEMBERS, set()).add(user_id)


def _collect_flushed(session: Session, _flush: UOWTransaction) -> None:
    members = session.info.setdefault(PENDING_MEMBERS, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Notification) and obj.user_id is not None:
            members.add(obj.user_id)


def _collect_statement(state: ORMExecuteState) -> None:
    """A bulk INSERT/UPDATE/DELETE of notifications: its members are unknown, bump the epoch."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) == Notification.__tablename__:
        state.session.info[PENDING_EPOCH] = True


def _bump_after_commit(session: Session) -> None:
    members: set[int] = session.info.pop(PENDING_MEMBERS, set())
    epoch = session.info.pop(PENDING_EPOCH, False)
    if not members and not epoch:
        return
    try:
        keys = [*(version_key(user_id) for user_id in members), *([EPOCH_KEY] if epoch else [])]
        # Unsettled (one round trip, what a poll that alerts pays): the message reaches the other
        # processes in the same pass as the reply, and a badge a poll late is no harm.
        pubsub_mirror.bump_and_learn(get_redis(), keys, settle=False)
    except (RedisError, RuntimeError):  # RuntimeError: no app context (a script's own session)
        logger.warning("live poll: could not bump notification versions", exc_info=True)


def _forget(session: Session, _previous: Any) -> None:
    session.info.pop(PENDING_MEMBERS, None)
    session.info.pop(PENDING_EPOCH, None)
