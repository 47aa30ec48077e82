"""What the live badge's "nothing new" answer costs, counted exactly; that the versions mirrored
through pub/sub are as fresh as reading Redis, across processes and after losing the
subscription; and that remembering verified poll tokens accepts nothing the signature check
would refuse."""
from __future__ import annotations

import pytest
import redis as redis_py
from flask import Flask

from extensions import db, get_redis
from models import User
from services.pubsub_mirror import EXTENSION_KEY as MIRROR_EXTENSION_KEY
from services.pubsub_mirror import MAX_APPLIED_AT_ONCE, Mirror, bump
from tests.auth.test_request_cost import counted
from tests.conftest import Stores, make_app
from tests.monitoring.conftest import browser_for
from tests.notifications.test_center import badge_url, note


def make_redis(app: Flask) -> redis_py.Redis:
    return redis_py.Redis.from_url(app.config["REDIS_URL"])


def _poll_url_and_etag(app: Flask) -> tuple[str, str]:
    url = badge_url(browser_for(app, "alice").get("/dashboard").get_data(as_text=True))
    first = app.test_client().get(url)
    assert first.status_code == 200
    return f"{url}&since={first.get_json()['cursor']}", first.headers["ETag"]


def test_a_304_costs_no_round_trip_and_no_statement(
    app: Flask, alice: User, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, etag = _poll_url_and_etag(app)
    client = app.test_client()
    for _ in range(2):  # the versions were read by the first poll; since then they are mirrored
        with counted(app, monkeypatch) as traffic:
            response = client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 304 and response.get_data() == b""
        assert traffic.statements == [] and traffic.redis_round_trips == 0
    listed = client.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304  # a list naming the ETag still matches


def test_a_token_verified_under_one_secret_is_refused_under_another(
    app: Flask, stores: Stores, alice: User,
) -> None:
    url, etag = _poll_url_and_etag(app)
    assert app.test_client().get(url, headers={"If-None-Match": etag}).status_code == 304
    other = make_app(stores, SECRET_KEY="another-secret-key-that-is-long-enough-9876543210")
    assert other.test_client().get(url, headers={"If-None-Match": etag}).status_code == 401


def test_a_change_written_by_another_process_is_seen_by_the_next_poll(
    app: Flask, stores: Stores, alice: User,
) -> None:
    """Two apps stand for two processes: each has its own mirror and subscription."""
    url, etag = _poll_url_and_etag(app)
    client = app.test_client()
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    worker = make_app(stores)
    with worker.app_context():
        note(db.session.get(User, alice.id), "Written elsewhere")
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert [item["title"] for item in changed.get_json()["items"]] == ["Written elsewhere"]


def test_a_lost_subscription_falls_back_to_reading_redis(
    app: Flask, stores: Stores, alice: User, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, etag = _poll_url_and_etag(app)
    client = app.test_client()
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    get_redis().client_kill_filter(_type="pubsub")  # what a Redis restart or an overflow does
    note(alice, "While unsubscribed")  # its message cannot reach the dead subscription
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and not app.extensions[MIRROR_EXTENSION_KEY].subscribed
    with counted(app, monkeypatch) as traffic:  # until it subscribes again: one MGET per poll
        same = client.get(url, headers={"If-None-Match": changed.headers["ETag"]})
    assert same.status_code == 304 and traffic.redis_round_trips == 1
    assert traffic.statements == []


def test_a_silent_subscription_is_dropped(app: Flask, alice: User) -> None:
    """A PING unanswered for longer than ``ping_seconds`` (a connection that died without
    closing) drops the mirror: the next reads go to Redis."""
    now = [0.0]
    mirror = Mirror(lambda: make_redis(app), "test:silent", ping_seconds=5.0, clock=lambda: now[0])
    redis = get_redis()
    redis.set("test:k", 1)
    assert mirror.read(redis, ["test:k"]) == [b"1"] and mirror.subscribed
    now[0] = 6.0
    mirror.read(redis, ["test:k"])  # sends the PING
    mirror._pubsub.get_message = lambda timeout=0.0: None  # the answer never comes
    now[0] = 12.0
    redis.set("test:k", 2)  # written without publishing: only a read from Redis sees it
    assert mirror.read(redis, ["test:k"]) == [b"2"] and not mirror.subscribed
    mirror.close()


def test_this_process_knows_its_own_bumps_before_their_message(app: Flask, alice: User) -> None:
    """Redis may write the writer's reply before the subscriber's message: the writer's own
    process learns the new value from the reply."""
    url, etag = _poll_url_and_etag(app)
    client = app.test_client()
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    mirror = app.extensions[MIRROR_EXTENSION_KEY]
    mirror._pubsub.get_message = lambda timeout=0.0: None  # its message has not arrived yet
    note(alice, "Mine")
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_a_backlog_that_may_not_have_arrived_whole_is_read_from_redis(app: Flask) -> None:
    """So many messages at once that the socket may have filled: that read asks Redis."""
    redis = get_redis()
    mirror = Mirror(lambda: make_redis(app), "test:backlog")
    redis.set("test:k", 1)
    assert mirror.read(redis, ["test:k"]) == [b"1"]
    asked: list[object] = []

    class Counting:
        def mget(self, keys: list[str]) -> list[object]:
            asked.append(keys)
            return list(redis.mget(keys))

    bump(redis, "test:backlog", ["test:other"] * MAX_APPLIED_AT_ONCE)
    assert mirror.read(Counting(), ["test:k"]) == [b"1"] and asked == [["test:k"]]  # type: ignore[arg-type]
    assert mirror.read(Counting(), ["test:k"]) == [b"1"] and len(asked) == 1  # caught up: mirrored again
    mirror.close()


def test_a_missing_counter_starts_at_a_random_value(app: Flask) -> None:
    """Lost with Redis's data, a counter must not count through values remembered before."""
    redis = get_redis()
    [first] = bump(redis, "test:fresh-channel", ["test:fresh"])
    [second] = bump(redis, "test:fresh-channel", ["test:fresh"])
    assert first > 1 and second == first + 1
