"""Signed postbacks: off (404) without a secret; HMAC over timestamp and body, a five-minute
window, replays refused, the same order twice idempotent; JSON reasons; no CSRF token needed."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from extensions import db
from models import AffiliateConversion
from services.affiliate_postback import SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW_SECONDS, sign
from tests.affiliate.conftest import add_click

SECRET = "postback-secret-0123456789"
ORDER = {"order_id": "P1", "click_ref": "ref-p", "order_value": "40.00", "commission": "3.20",
         "status": "pending", "ordered_at": "2026-11-02T09:30:00Z"}


@pytest.fixture
def enabled(app: Flask) -> None:
    app.config["AFFILIATE_POSTBACK_SECRET"] = SECRET


def _post(client: FlaskClient, payload: object, *, at: float | None = None, secret: str = SECRET,
          signature: str | None = None, body: bytes | None = None):  # noqa: ANN202
    raw = body if body is not None else json.dumps(payload).encode()
    timestamp = str(int(at if at is not None else time.time()))
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature or sign(secret, timestamp, raw),
               "Content-Type": "application/json"}
    return client.post("/affiliate/postback", data=raw, headers=headers)


def _count() -> int:
    db.session.rollback()
    return int(db.session.scalar(select(func.count()).select_from(AffiliateConversion)) or 0)


def test_without_a_secret_the_endpoint_is_not_there(client: FlaskClient) -> None:
    response = _post(client, ORDER)
    assert response.status_code == 404
    assert response.get_json() == {"ok": False, "error": "postbacks are not enabled"}


def test_a_signed_order_is_stored_and_matched_without_a_csrf_token(client: FlaskClient, enabled, member, product) -> None:  # noqa: ANN001
    click = add_click(member, datetime(2026, 11, 2, 9, tzinfo=UTC), ref="ref-p", product=product)
    db.session.commit()
    response = _post(client, ORDER)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"ok": True, "order_id": "P1", "outcome": "created"}
    order = db.session.scalars(select(AffiliateConversion)).one()
    assert (order.click_id, order.commission, order.status) == (click.id, Decimal("3.20"), "pending")


def test_the_same_order_twice_is_idempotent_and_a_status_change_applies(client: FlaskClient, enabled) -> None:  # noqa: ANN001
    now = time.time()
    assert _post(client, ORDER, at=now).get_json()["outcome"] == "created"
    assert _post(client, ORDER, at=now - 1).get_json()["outcome"] == "unchanged"  # a retry: new signature
    assert _post(client, {**ORDER, "status": "confirmed"}, at=now).get_json()["outcome"] == "updated"
    assert _count() == 1


@pytest.mark.parametrize("tamper", ["secret", "body", "missing"])
def test_a_bad_signature_is_refused(client: FlaskClient, enabled, tamper: str) -> None:  # noqa: ANN001
    if tamper == "secret":
        response = _post(client, ORDER, secret="someone-elses-secret-000")
    elif tamper == "body":
        timestamp = str(int(time.time()))
        signature = sign(SECRET, timestamp, json.dumps(ORDER).encode())
        response = client.post("/affiliate/postback", data=json.dumps({**ORDER, "commission": "300"}),
                               headers={TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature})
    else:
        response = client.post("/affiliate/postback", data=json.dumps(ORDER))
    assert response.status_code == 401
    assert response.get_json()["ok"] is False and response.get_json()["error"]
    assert _count() == 0


def test_only_the_five_minute_window_is_accepted(client: FlaskClient, enabled) -> None:  # noqa: ANN001
    now = time.time()
    stale = _post(client, ORDER, at=now - WINDOW_SECONDS - 60)
    assert stale.status_code == 401 and "seconds away" in stale.get_json()["error"]
    future = _post(client, ORDER, at=now + WINDOW_SECONDS + 60)
    assert future.status_code == 401
    assert _post(client, ORDER, at=now - WINDOW_SECONDS + 60).status_code == 200


def test_a_replayed_request_is_refused(client: FlaskClient, enabled) -> None:  # noqa: ANN001
    raw = json.dumps(ORDER).encode()
    timestamp = str(int(time.time()))
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: "sha256=" + sign(SECRET, timestamp, raw)}
    assert client.post("/affiliate/postback", data=raw, headers=headers).status_code == 200
    replay = client.post("/affiliate/postback", data=raw, headers=headers)
    assert replay.status_code == 409 and "replay" in replay.get_json()["error"]


def test_a_bad_order_gets_a_reason_not_a_500(client: FlaskClient, enabled) -> None:  # noqa: ANN001
    assert _post(client, None, body=b"not json").get_json() == {"ok": False, "error": "the body must be a JSON object"}
    assert _post(client, [1, 2]).status_code == 400
    response = _post(client, {**ORDER, "order_value": "lots"})
    assert response.status_code == 422 and response.get_json()["error"] == "the order value must be a number, got 'lots'"
    confirmed = _post(client, {**ORDER, "status": "confirmed"})
    assert confirmed.status_code == 200
    back = _post(client, ORDER, at=time.time() - 2)
    assert back.status_code == 409 and "cannot go back to pending" in back.get_json()["error"]
    assert _count() == 1
