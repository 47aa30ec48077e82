"""What being logged in costs per request, counted exactly: SQL statements sent to the database
and round trips to Redis. Every logged-in page pays this, so the counts must not grow; and the
savings must not keep a revoked session alive in any process."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.connection
from flask import Flask
from flask_login import current_user
from sqlalchemy import event, select, update

from extensions import db, get_redis
from models import AdminSession, User
from services import pubsub_mirror, session_cache
from services.maintenance import polling_paused, set_polling_paused
from services.sessions import revoke_user_sessions
from tests.auth.conftest import browser_for, is_logged_in, make_app
from tests.conftest import csrf_token_from


@dataclass
class Traffic:
    statements: list[str] = field(default_factory=list)
    redis_round_trips: int = 0


@contextmanager
def counted(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Traffic]:
    """Every statement the app's engine sends and every packet of commands written to a Redis
    connection (a pipeline is one packet, so one round trip) while the block runs."""
    traffic = Traffic()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        traffic.statements.append(" ".join(statement.split()))

    real_send = redis.connection.AbstractConnection.send_packed_command

    def counting_send(self: Any, command: Any, check_health: bool = True) -> None:
        traffic.redis_round_trips += 1
        real_send(self, command, check_health)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_statement)
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting_send)
    try:
        yield traffic
    finally:
        monkeypatch.undo()
        event.remove(engine, "before_cursor_execute", on_statement)


@pytest.fixture
def probe(app: Flask) -> str:
    """A page that only asks who is logged in: the per-request cost of a login, nothing else."""

    def whoami() -> str:
        return current_user.username if current_user.is_authenticated else "anonymous"

    app.add_url_rule("/whoami-probe", "whoami_probe", whoami)
    return "/whoami-probe"


def _is_session_lookup(statement: str) -> bool:
    return statement.startswith("SELECT") and "FROM admin_sessions JOIN users" in statement


def test_a_logged_in_request_costs_no_statement_and_no_round_trip(
    app: Flask, alice: User, probe: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first request after a login reads the session (one statement; the process also
    subscribes to the mirror, which is its once-only cost); while the auth epoch is unchanged
    the next ones answer from memory, the epoch read from the pub/sub mirror."""
    app.config["SESSION_TOUCH_SECONDS"] = 60  # as in production: the touch was just written at login
    client = browser_for(app, "alice")
    with counted(app, monkeypatch) as first:
        assert client.get(probe).get_data(as_text=True) == "alice"
    assert len(first.statements) == 1 and _is_session_lookup(first.statements[0]), first.statements
    for _ in range(2):
        with counted(app, monkeypatch) as again:
            assert client.get(probe).get_data(as_text=True) == "alice"
        assert again.statements == [] and again.redis_round_trips == 0


def test_the_cached_dashboard_costs_no_statement_and_no_round_trip(
    app: Flask, admin: User, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page's cache generation is mirrored like the auth epoch."""
    app.config.update(SESSION_TOUCH_SECONDS=60, DASHBOARD_CACHE_SECONDS=300)
    client = browser_for(app, "root")
    first = client.get("/dashboard/platform")
    assert first.status_code == 200
    with counted(app, monkeypatch) as traffic:
        again = client.get("/dashboard/platform")
    assert again.status_code == 200 and again.get_data() == first.get_data()  # served from the cache
    assert traffic.statements == [] and traffic.redis_round_trips == 0


def test_with_a_redis_across_a_network_every_request_reads_the_epoch(
    stores: Any, admin: User, probe: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection that can die silently is never trusted to deliver a revocation: one MGET
    per request (the page's generation with it)."""
    monkeypatch.setattr("services.pubsub_mirror.is_local", lambda _url: False)
    remote = make_app(stores, SESSION_TOUCH_SECONDS=60, DASHBOARD_CACHE_SECONDS=300)
    remote.add_url_rule(probe, "whoami_remote", lambda: current_user.username)
    client = browser_for(remote, "root")
    assert client.get(probe).get_data(as_text=True) == "root"
    assert client.get("/dashboard/platform").status_code == 200
    for path in (probe, "/dashboard/platform"):
        with counted(remote, pytest.MonkeyPatch()) as traffic:  # its undo keeps the patch above
            assert client.get(path).status_code == 200
        assert traffic.statements == [] and traffic.redis_round_trips == 1, path


def test_a_kept_dashboard_page_is_dropped_by_an_invalidation(app: Flask, admin: User) -> None:
    """The generation read with the session check is the one ``invalidate_dashboard`` changes."""
    app.config.update(SESSION_TOUCH_SECONDS=60, DASHBOARD_CACHE_SECONDS=300)
    client = browser_for(app, "root")
    assert client.get("/dashboard/platform").status_code == 200
    set_polling_paused(True, admin.id)  # invalidates the dashboard: the page shows the banner at once
    assert "data-testid=\"polling-paused-banner\"" in client.get("/dashboard/platform").get_data(as_text=True)


def test_a_remembered_session_still_expires_on_time(
    app: Flask, alice: User, probe: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing is written when a session runs out: the clock is checked on every request."""
    client = browser_for(app, "alice")
    assert client.get(probe).get_data(as_text=True) == "alice"
    assert client.get(probe).get_data(as_text=True) == "alice"  # from memory
    expires = db.session.scalar(select(AdminSession.expires_at).where(AdminSession.user_id == alice.id))
    assert expires is not None

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return expires + timedelta(seconds=1)

    monkeypatch.setattr("services.sessions.datetime", Later)
    assert client.get(probe).get_data(as_text=True) == "anonymous"


def test_recording_activity_adds_one_update_and_no_reload(
    app: Flask, alice: User, probe: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app.config["SESSION_TOUCH_SECONDS"] = 60
    client = browser_for(app, "alice")
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    db.session.execute(update(AdminSession).where(AdminSession.user_id == alice.id).values(last_seen_at=long_ago))
    db.session.commit()
    with counted(app, monkeypatch) as traffic:
        assert client.get(probe).get_data(as_text=True) == "alice"
    assert len(traffic.statements) == 2, traffic.statements
    assert _is_session_lookup(traffic.statements[0]) and traffic.statements[1].startswith("UPDATE admin_sessions")
    db.session.expire_all()
    seen = db.session.scalar(select(AdminSession.last_seen_at).where(AdminSession.user_id == alice.id))
    assert seen is not None and seen > long_ago + timedelta(minutes=4)


@pytest.mark.parametrize("end_it", [
    pytest.param(lambda user_id: revoke_user_sessions(user_id, "revoked"), id="revoked"),
    pytest.param(lambda user_id: db.session.execute(
        update(User).where(User.id == user_id).values(is_active=False)), id="deactivated"),
    pytest.param(lambda user_id: db.session.execute(
        update(AdminSession).where(AdminSession.user_id == user_id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))), id="expired"),
])
def test_another_process_ending_a_session_logs_it_out_on_the_next_request(
    app: Flask, stores: Any, alice: User, end_it: Callable[[int], object],
) -> None:
    """Two apps on the same stores stand for two web workers: the one serving the browser keeps
    nothing between requests, so what the other one writes counts at once."""
    app.config["SESSION_TOUCH_SECONDS"] = 60
    other_worker = make_app(stores)
    client = browser_for(app, "alice")
    assert is_logged_in(client)
    assert is_logged_in(client)  # now from this process's memory of the session
    with other_worker.app_context():
        end_it(alice.id)
        db.session.commit()
    assert not is_logged_in(client)


def test_a_kept_dashboard_page_still_carries_a_working_csrf_token(app: Flask, admin: User) -> None:
    """A page served from the dashboard's cache signs no new CSRF token; the token it carries
    (made when it was drawn, from this session's secret) must still be accepted, and another
    browser never gets this session's page."""
    app.config["DASHBOARD_CACHE_SECONDS"] = 300
    client = browser_for(app, "root")
    drawn = client.get("/dashboard/platform").get_data(as_text=True)
    kept = client.get("/dashboard/platform").get_data(as_text=True)
    assert kept == drawn
    token = csrf_token_from(kept)
    assert client.post("/admin/polling", data={"paused": "on", "csrf_token": token}).status_code == 302
    assert polling_paused()
    other = browser_for(app, "root").get("/dashboard/platform").get_data(as_text=True)
    assert csrf_token_from(other) != token


def test_another_database_of_the_same_redis_never_feeds_the_mirror(
    app: Flask, alice: User, probe: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pub/sub channels are server-wide: the database number is part of the channel's name."""
    app.config["SESSION_TOUCH_SECONDS"] = 60
    client = browser_for(app, "alice")
    assert client.get(probe).get_data(as_text=True) == "alice"
    redis = get_redis()
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    assert pubsub_mirror.channel().endswith(f":{database}")
    elsewhere = pubsub_mirror.channel().rsplit(":", 1)[0] + f":{database + 1}"
    redis.publish(elsewhere, f"{session_cache.epoch_key()} 424242")  # another deployment's bump
    with counted(app, monkeypatch) as traffic:
        assert client.get(probe).get_data(as_text=True) == "alice"
    assert traffic.statements == [] and traffic.redis_round_trips == 0  # still this one's epoch
    redis.publish(pubsub_mirror.channel(), f"{session_cache.epoch_key()} 424242")  # the same, here
    with counted(app, monkeypatch) as traffic:
        assert client.get(probe).get_data(as_text=True) == "alice"
    assert len(traffic.statements) == 1  # a changed epoch: the session is read again


def test_the_auth_epoch_waits_for_its_message_and_the_badge_does_not(app: Flask, admin: User) -> None:
    """Ending a session must reach every process before the request that ended it answers, so
    its bump waits for a ``PING``; a badge's bump (what a poll with an alert pays) does not."""
    from tests.polling.test_redis_round_trips import commands_sent

    with app.app_context():
        redis = get_redis()
        redis.ping()
        with commands_sent() as sent:
            pubsub_mirror.bump_and_learn(redis, [session_cache.epoch_key()])
        assert sent == ["EVALSHA", "PING"]
        with commands_sent() as sent:
            pubsub_mirror.bump_and_learn(redis, ["dhm:test:badge"], settle=False)
        assert sent == ["EVALSHA"]
        with commands_sent() as sent:
            revoke_user_sessions(admin.id, "revoked")
            db.session.commit()
        assert sent[-2:] == ["EVALSHA", "PING"]
