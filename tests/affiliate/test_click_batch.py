"""Clicks batched per process on their way to Redis: the redirect only appends, one script call
per minute sends a whole batch (repeats inside it still count once), a timer sends a lone click,
and a batch that Redis refused is kept for the next push."""
from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from extensions import REDIS_EXTENSION_KEY, get_redis
from services.affiliate_clicks import PUSH_SIZE, batch, buffers_index_key, flush_clicks
from tests.affiliate.conftest import BROWSER
from tests.conftest import Stores, make_app


def _scripts_run() -> int:
    stats = get_redis().info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))


def _follow(client: FlaskClient, link: str, visitor: int) -> None:
    response = client.get(link, headers={"User-Agent": BROWSER}, environ_base={"REMOTE_ADDR": f"198.51.100.{visitor}"})
    assert response.status_code == 302


def test_a_batch_is_one_script_call_and_repeats_in_it_count_once(app: Flask, client: FlaskClient, link: str) -> None:
    app.config["AFFILIATE_CLICK_PUSH_SECONDS"] = 3600.0  # only an explicit push sends here
    for visitor in (1, 2, 3, 1):  # visitor 1 twice: a repeat within the dedupe window
        _follow(client, link, visitor)
    assert get_redis().zcard(buffers_index_key(app.config["REDIS_KEY_PREFIX"])) == 0  # nothing sent yet
    assert len(batch(app).pending) == 4
    assert batch(app).push() == 4
    assert flush_clicks().clicks == 3
    for visitor in range(10, 30):  # Redis knows the script now: a batch is exactly one call
        _follow(client, link, visitor)
    before = _scripts_run()
    assert batch(app).push() == 20
    assert _scripts_run() - before == 1
    assert flush_clicks().clicks == 20


def test_a_full_batch_is_sent_at_once(app: Flask, client: FlaskClient, link: str) -> None:
    app.config["AFFILIATE_CLICK_PUSH_SECONDS"] = 3600.0
    for visitor in range(PUSH_SIZE):
        _follow(client, link, visitor % 250)
    assert len(batch(app).pending) == 0
    assert flush_clicks().clicks == PUSH_SIZE


def test_the_timer_sends_a_lone_click(app: Flask, client: FlaskClient, link: str) -> None:
    app.config["AFFILIATE_CLICK_PUSH_SECONDS"] = 0.05
    _follow(client, link, 9)
    index = buffers_index_key(app.config["REDIS_KEY_PREFIX"])
    for _ in range(200):  # waits for the timer thread; the assertion is on the outcome, not the time
        if get_redis().zcard(index):
            break
        time.sleep(0.05)
    assert flush_clicks().clicks == 1


def test_a_batch_redis_refused_is_kept_for_the_next_push(stores: Stores, app: Flask, link: str) -> None:
    broken = make_app(stores, REDIS_URL="redis://127.0.0.1:1/0", AFFILIATE_CLICK_PUSH_SECONDS=3600.0)
    with broken.app_context():
        response = broken.test_client().get(link, headers={"User-Agent": BROWSER})
        assert response.status_code == 302  # the visitor goes to DHgate whatever Redis does
        assert batch(broken).push_quietly() == -1
        assert len(batch(broken).pending) == 1
        broken.extensions[REDIS_EXTENSION_KEY] = app.extensions[REDIS_EXTENSION_KEY]  # Redis is back
        assert batch(broken).push_quietly() == 1
    assert flush_clicks().clicks == 1
