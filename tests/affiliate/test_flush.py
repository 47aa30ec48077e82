"""Clicks move from Redis into ``affiliate_clicks`` exactly once, whatever is interrupted."""
from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from extensions import db, get_redis
from models import AffiliateClick
from services.affiliate_clicks import FlushHooks, flush_clicks, processing_index_key
from tests.affiliate.conftest import BROWSER


class Crash(RuntimeError):
    pass


def _click_from(client: FlaskClient, link: str, n: int) -> None:
    for i in range(n):
        response = client.get(link, headers={"User-Agent": BROWSER}, environ_base={"REMOTE_ADDR": f"192.0.2.{i + 1}"})
        assert response.status_code == 302


def _count() -> int:
    db.session.rollback()
    return db.session.query(AffiliateClick).count()


def _crash(_flush_id: str) -> None:
    raise Crash


def test_flushing_twice_moves_each_click_once(client: FlaskClient, link: str) -> None:
    _click_from(client, link, 5)
    first = flush_clicks()
    assert (first.buffers, first.clicks) == (1, 5)
    second = flush_clicks()
    assert (second.buffers, second.clicks) == (0, 0)
    assert _count() == 5


def test_a_crash_before_the_commit_loses_nothing(app: Flask, client: FlaskClient, link: str) -> None:
    _click_from(client, link, 3)
    with pytest.raises(Crash):
        flush_clicks(hooks=FlushHooks(before_commit=_crash))
    assert _count() == 0
    assert get_redis().zcard(processing_index_key(app.config["REDIS_KEY_PREFIX"])) == 1
    report = flush_clicks()
    assert report.clicks == 3 and _count() == 3


def test_a_crash_between_commit_and_delete_counts_once(app: Flask, client: FlaskClient, link: str) -> None:
    _click_from(client, link, 4)
    with pytest.raises(Crash):
        flush_clicks(hooks=FlushHooks(after_commit=_crash))
    assert _count() == 4  # committed, but the Redis copy is still there
    _click_from(client, link, 0)
    report = flush_clicks()
    assert (report.buffers, report.clicks, report.duplicates) == (1, 0, 4)
    assert _count() == 4
    assert get_redis().zcard(processing_index_key(app.config["REDIS_KEY_PREFIX"])) == 0


def test_a_malformed_record_is_skipped_not_blocking(app: Flask, client: FlaskClient, link: str) -> None:
    _click_from(client, link, 1)
    prefix = app.config["REDIS_KEY_PREFIX"]
    minute = int(get_redis().zrange(f"{prefix}aff:clicks:buffers", 0, -1)[0])
    get_redis().rpush(f"{prefix}aff:clicks:buf:{minute}", "{not json")
    assert flush_clicks().clicks == 1 and _count() == 1


def test_a_product_deleted_before_the_flush_leaves_the_click(client: FlaskClient, link: str, product) -> None:  # noqa: ANN001
    _click_from(client, link, 1)
    db.session.delete(product)
    db.session.commit()
    assert flush_clicks().clicks == 1
    db.session.rollback()
    assert db.session.query(AffiliateClick).one().product_id is None
