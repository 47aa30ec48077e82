"""Redis counters mirrored in this process through pub/sub, so reading one costs no round trip.

Every writer changes a mirrored key with ``bump`` (``INCR``) or ``set_if_missing``, each a Lua
script that also ``PUBLISH``es the key's new value on one channel, in the same step. Each
process subscribes to that channel once (after a fork, again) and, on every ``read``, first
applies what has arrived on the subscription with a non-blocking read of its socket: no round
trip. A key seen for the first time is read with one ``MGET`` after the subscription was
confirmed, so every later change to it reaches this process as a message.

How fresh a value read here is: Redis writes a published message into every subscriber's
connection in the same event-loop pass as its reply to the writer (the reply may go first, by
microseconds), and ``bump`` waits for one more reply, so when it returns the message sits in
every subscriber's socket and the next ``read`` anywhere applies it; the writer's own process
``learn``s its bumps at once. (A subscriber that has not read for so long that its socket is
full gets the rest on a later read: a badge one poll late.) What could break that is a connection that
died without closing; a ``PING`` on the subscription every ``ping_seconds`` finds it (an answer
missing for longer than that drops the mirror), and any error on the subscription drops the
mirror too: until it is subscribed again (at most once per ``ping_seconds``), reads are plain
``MGET``s. Messages lost while unsubscribed do not matter, since the mirror starts empty.

Used for the live badge's versions (``services.notifications.live``); a stale badge for a few
seconds after a silent network failure is the worst case, so nothing security-relevant is read
through it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import redis
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from extensions import get_redis

logger = logging.getLogger(__name__)

BUMP_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('SET', key, ARGV[2])
  end
  out[i] = redis.call('INCR', key)
  redis.call('PUBLISH', ARGV[1], key .. ' ' .. out[i])
end
return out
"""

SET_IF_MISSING_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX') then
  redis.call('PUBLISH', ARGV[1], KEYS[1] .. ' ' .. ARGV[2])
end
return redis.call('GET', KEYS[1])
"""

MAX_KEYS = 100_000  # mirrored values per process; past that the mirror starts again
# A read that applied this many messages at once may have left more in Redis's buffer (a socket
# that filled up while the process was idle): that read goes to Redis instead.
MAX_APPLIED_AT_ONCE = 500
EXTENSION_KEY = "dhm_pubsub_mirror"
CHANNEL = "mirror"  # under REDIS_KEY_PREFIX, then ":<db>"; every message is "<key> <new value>"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_local(redis_url: str) -> bool:
    """A unix socket or a loopback address: a connection that cannot die without being closed
    (the kernel ends it with the server), unlike one crossing a network or a NAT."""
    parts = urlsplit(redis_url)
    return parts.scheme in ("unix", "redis+unix") or (parts.hostname or "") in _LOOPBACK_HOSTS


def channel() -> str:
    """The app's channel. Channels are shared by every database of a Redis server, so the
    database number is part of the name: a deployment on another database of the same server
    (with the same key prefix) must never feed this one's mirror."""
    database = get_redis().connection_pool.connection_kwargs.get("db", 0)
    return f"{current_app.config['REDIS_KEY_PREFIX']}{CHANNEL}:{database}"


def shared() -> Mirror | None:
    """The app's mirror (subscribed on first use in each process), or None where Redis is not
    local: there every read is a plain ``MGET``."""
    mirror = current_app.extensions.get(EXTENSION_KEY)
    if mirror is None:
        url = str(current_app.config["REDIS_URL"])
        if not is_local(url):
            return None
        mirror = current_app.extensions.setdefault(EXTENSION_KEY, Mirror(
            lambda: redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5), channel()))
    return mirror


def hook_sessions(*, flushed: Callable[..., None], statement: Callable[..., None],
                  committed: Callable[..., None], rolled_back: Callable[..., None]) -> None:
    """Listen on every SQLAlchemy session (once per process) for what a mirrored counter must
    follow: objects flushed, bulk statements, the commit that bumps, the rollback that forgets."""
    if event.contains(Session, "after_flush", flushed):
        return
    event.listen(Session, "after_flush", flushed)
    event.listen(Session, "do_orm_execute", statement)
    event.listen(Session, "after_commit", committed)
    event.listen(Session, "after_soft_rollback", rolled_back)


def read(client: redis.Redis, keys: Sequence[str]) -> list[Any]:
    """``keys``' values through the app's mirror, or with one ``MGET`` where there is none."""
    mirror = shared()
    return mirror.read(client, keys) if mirror is not None else list(client.mget(keys))


def bump_and_learn(client: redis.Redis, keys: Sequence[str], *, settle: bool = True) -> None:
    """``bump`` on the app's channel; this process knows the new values at once."""
    values = bump(client, channel(), keys, settle=settle)
    mirror = shared()
    if mirror is not None:
        mirror.learn(dict(zip(keys, values, strict=True)))


def set_missing_and_learn(client: redis.Redis, key: str, value: str) -> Any:
    """``set_if_missing`` on the app's channel; returns the key's value."""
    current = set_if_missing(client, channel(), key, value)
    mirror = shared()
    if mirror is not None and current is not None:
        mirror.learn({key: int(current)})
    return current


def bump(client: redis.Redis, channel: str, keys: Sequence[str], *, settle: bool = True) -> list[int]:
    """``INCR`` each key and publish its new value; returns the new values.

    Two round trips when ``settle``: Redis may write this reply a moment before the subscribers'
    messages, but it writes every pending reply and message before it reads the next command, so
    once the ``PING`` is answered every subscriber has its message (the writer's request answers
    after that, and so the next request anywhere sees the change). Without ``settle`` (one round
    trip) the messages are written in the same pass as the reply, microseconds apart: good
    enough for a badge, which a poll later shows anyway, not for the sessions' auth epoch."""
    if not keys:
        return []
    # A counter that is missing (first use, or lost with Redis's data) starts at a random value,
    # so no value a process remembers from before the loss comes round again.
    script = client.register_script(BUMP_SCRIPT)  # EVALSHA: the script's text is sent once per server
    values = [int(value) for value in script(keys=list(keys), args=[channel, secrets.randbelow(2**40)])]
    if settle:
        client.ping()
    return values


def set_if_missing(client: redis.Redis, channel: str, key: str, value: str) -> Any:
    """``SET key value NX``, publishing it when it was set; returns the key's value."""
    return client.register_script(SET_IF_MISSING_SCRIPT)(keys=[key], args=[channel, value])


class Mirror:
    """This process's copy of the keys published on ``channel`` (see the module's docstring)."""

    def __init__(self, connect: Callable[[], redis.Redis], channel: str, *, ping_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._connect = connect
        self.channel = channel
        self.ping_seconds = ping_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._pubsub: Any = None
        self._pid = os.getpid()
        self._retry_at = 0.0
        self._next_ping = 0.0
        self._ping_sent_at: float | None = None

    @property
    def subscribed(self) -> bool:
        return self._pubsub is not None and self._pid == os.getpid()

    def read(self, client: redis.Redis, keys: Sequence[str]) -> list[Any]:
        """The values of ``keys`` (bytes, or None for a missing key): from the mirror while it is
        subscribed, else with one ``MGET`` on ``client`` (whose errors reach the caller)."""
        with self._lock:
            if not self._ready():
                return list(client.mget(keys))
            values = self._values
            missing = [key for key in keys if key not in values]
            if missing:
                if len(values) + len(missing) > MAX_KEYS:
                    values.clear()
                    missing = list(keys)
                values.update(zip(missing, client.mget(missing), strict=True))
            return [values[key] for key in keys]

    def learn(self, values: Mapping[str, int]) -> None:
        """Counters this process just bumped: known at once, without waiting for their message
        (Redis may write the writer's reply before the subscriber's message). Never backwards:
        a later bump's message may already have arrived."""
        with self._lock:
            if not self.subscribed:
                return
            known = self._values
            for key, value in values.items():
                if key in known and (known[key] is None or int(known[key]) < value):
                    known[key] = str(value).encode()

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- the subscription --------------------------------------------------------------------

    def _ready(self) -> bool:
        """Subscribed, with everything that arrived applied; False means "read from Redis"."""
        now = self._clock()
        if self._pid != os.getpid():  # a forked child: the parent's socket is not ours to read
            self._pubsub, self._values, self._pid = None, {}, os.getpid()
        if self._pubsub is None:
            if now < self._retry_at:
                return False
            self._retry_at = now + self.ping_seconds
            if not self._subscribe():
                return False
        try:
            caught_up = self._apply_arrived(now)
        except (RedisError, OSError, ValueError) as exc:
            logger.warning("mirrored Redis values: subscription lost (%s); reading Redis until it is back",
                           type(exc).__name__)
            self._drop()
            return False
        if self._ping_sent_at is not None and now - self._ping_sent_at > self.ping_seconds:
            logger.warning("mirrored Redis values: subscription silent; reading Redis until it is back")
            self._drop()
            return False
        return caught_up

    def _subscribe(self) -> bool:
        pubsub = None
        try:
            pubsub = self._connect().pubsub()
            pubsub.subscribe(self.channel)
            deadline = self._clock() + 2.0
            while self._clock() < deadline:  # confirmed: every later change reaches us
                message = pubsub.get_message(timeout=0.5)
                if message is not None and message["type"] == "subscribe":
                    self._pubsub, self._values = pubsub, {}
                    self._next_ping = self._clock() + self.ping_seconds
                    self._ping_sent_at = None
                    return True
        except (RedisError, OSError) as exc:
            logger.warning("mirrored Redis values: cannot subscribe (%s); reading Redis", type(exc).__name__)
        if pubsub is not None:
            pubsub.close()
        return False

    def _apply_arrived(self, now: float) -> bool:
        """Apply what arrived; False when so much did that more may still be on its way."""
        pubsub = self._pubsub
        values = self._values
        applied = 0
        while True:
            message = pubsub.get_message(timeout=0.0)
            if message is None:
                break
            applied += 1
            kind = message["type"]
            if kind == "message":
                key, _, value = message["data"].partition(b" ")
                values[key.decode()] = value
            elif kind == "pong":
                self._ping_sent_at = None
        if now >= self._next_ping and self._ping_sent_at is None:
            pubsub.ping()  # answered as a message; only sent, never waited for
            self._ping_sent_at = now
            self._next_ping = now + self.ping_seconds
        return applied < MAX_APPLIED_AT_ONCE

    def _drop(self) -> None:
        pubsub, self._pubsub, self._values = self._pubsub, None, {}
        self._ping_sent_at = None
        if pubsub is not None and self._pid == os.getpid():
            with contextlib.suppress(RedisError, OSError):
                pubsub.close()
