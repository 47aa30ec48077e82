"""The security log: filters by event, person, IP and days (validated), pages, an empty state
that says so, and the CSV export of exactly the filtered rows."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import SecurityEvent, User
from tests.conftest import AuthActions


def test_security_log_filters_and_pages(app: Flask, admin_client: FlaskClient, alice: User, bob: User) -> None:
    for _ in range(3):
        AuthActions(app.test_client()).login("alice", "wrong")
    AuthActions(app.test_client()).login("bob")
    everything = admin_client.get("/admin/security-log").get_data(as_text=True)
    assert "Failed login</span>" in everything and "Logged in</span>" in everything
    failures = admin_client.get("/admin/security-log?event=failed_login").get_data(as_text=True)
    assert failures.count("Failed login</span>") == 3 and "Logged in</span>" not in failures
    bobs = admin_client.get("/admin/security-log?user=BOB").get_data(as_text=True)
    assert "Logged in</span>" in bobs and "Failed login</span>" not in bobs
    by_id = admin_client.get(f"/admin/security-log?user_id={alice.id}").get_data(as_text=True)
    assert by_id.count("Failed login</span>") == 3 and "Logged in</span>" not in by_id
    from services.audit import record_security_event

    for i in range(60):
        record_security_event("admin_action", details={"action": "bulk", "n": i})
    first = admin_client.get("/admin/security-log?event=admin_action").get_data(as_text=True)
    assert "Page 1 of 2" in first
    assert 'href="/admin/security-log?page=2&amp;event=admin_action"' in first or "page=2" in first


def test_security_log_empty_state(admin_client: FlaskClient) -> None:
    html = admin_client.get("/admin/security-log?event=lockout").get_data(as_text=True)
    assert "No matching events" in html


def _event(event: str, *, ip: str | None, at: datetime, user: User | None = None, user_agent: str | None = None,
           details: dict | None = None) -> SecurityEvent:
    row = SecurityEvent(event=event, ip=ip, created_at=at, user_id=user.id if user else None,
                        user_agent=user_agent, details=details)
    db.session.add(row)
    db.session.commit()
    return row


def listed_ids(html: str) -> list[str]:
    return re.findall(r'data-event-id="(\d+)"', html)


def test_security_log_filters_by_ip_and_days(admin_client: FlaskClient, alice: User, bob: User) -> None:
    day = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    early = _event("failed_login", ip="192.168.1.20", at=day - timedelta(days=2), user=alice)
    inside = _event("failed_login", ip="192.168.1.21", at=day, user=alice)
    late_same_day = _event("failed_login", ip="10.0.0.5", at=day.replace(hour=23, minute=59), user=bob)
    after = _event("failed_login", ip="192.168.2.1", at=day + timedelta(days=1), user=bob)
    by_ip = admin_client.get("/admin/security-log?event=failed_login&ip=192.168.1.").get_data(as_text=True)
    assert sorted(listed_ids(by_ip)) == sorted([str(early.id), str(inside.id)])
    one_day = admin_client.get("/admin/security-log?event=failed_login&since=2026-03-10&until=2026-03-10").get_data(as_text=True)
    assert listed_ids(one_day) == [str(late_same_day.id), str(inside.id)]  # newest first, both ends included
    open_end = admin_client.get("/admin/security-log?event=failed_login&since=2026-03-11").get_data(as_text=True)
    assert listed_ids(open_end) == [str(after.id)]
    combined = admin_client.get("/admin/security-log?event=failed_login&user=bob&ip=10.").get_data(as_text=True)
    assert listed_ids(combined) == [str(late_same_day.id)]


def test_security_log_days_are_the_viewers_days(app: Flask, admin: User, browser) -> None:  # noqa: ANN001
    """Amsterdam is UTC+1 in March: 23:30 UTC on the 9th is already the 10th there."""
    admin.timezone = "Europe/Amsterdam"
    db.session.commit()
    client = browser("root")
    late = _event("lockout", ip="10.0.0.1", at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    html = client.get("/admin/security-log?event=lockout&since=2026-03-10&until=2026-03-10").get_data(as_text=True)
    assert listed_ids(html) == [str(late.id)]


@pytest.mark.parametrize(("query", "message"), [
    ("since=2026-03-10&until=2026-03-01", "“Until” must not be before “From”."),
    ("since=10/03/2026", "Not a valid date value."),
    ("ip=not;an-ip", "Enter an IP address or its beginning"),
    ("event=no_such_event", "Not a valid choice."),
    ("until=9999-12-31", "Choose a day from 2000-01-01 to 2099-12-31."),
    ("since=0001-01-01", "Choose a day from 2000-01-01 to 2099-12-31."),
])
def test_bad_filters_re_render_with_a_message(admin_client: FlaskClient, query: str, message: str) -> None:
    _event("lockout", ip="10.0.0.1", at=datetime.now(UTC))
    response = admin_client.get(f"/admin/security-log?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html and 'role="alert"' in html and 'aria-invalid="true"' in html
    assert listed_ids(html) == [] and "Check the filters" in html
    csv_response = admin_client.get(f"/admin/security-log.csv?{query}")
    assert csv_response.status_code == 302 and csv_response.headers["Location"].startswith("/admin/security-log?")


def test_csv_export_has_exactly_the_filtered_rows(admin_client: FlaskClient, alice: User, security_events) -> None:  # noqa: ANN001
    day = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    for n in range(120):  # more than a page and than one read batch would need for a small batch
        _event("failed_login", ip=f"10.0.{n // 100}.{n % 100}", at=day + timedelta(minutes=n), user=alice)
    _event("failed_login", ip="172.16.0.1", at=day, user=alice)
    attacker = _event("failed_login", ip="10.0.9.9", at=day, user_agent="=HYPERLINK(\"http://evil\")",
                      details={"login": "@admin"})
    page = admin_client.get("/admin/security-log?ip=10.0.&until=2026-03-10").get_data(as_text=True)
    assert "Download these 121 events as CSV" in page
    response = admin_client.get("/admin/security-log.csv?ip=10.0.&until=2026-03-10")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="security-log-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["time_utc", "event", "user_id", "username", "ip", "user_agent", "details"]
    body = rows[1:]
    assert len(body) == 121 and "172.16.0.1" not in {r[4] for r in body}
    assert body[0][0] == "2026-03-10T09:59:00+00:00" and body[0][3] == "alice"  # newest first
    [evil] = [r for r in body if r[4] == "10.0.9.9"]
    assert evil[5] == "'=HYPERLINK(\"http://evil\")"  # never a live formula in a spreadsheet
    assert json.loads(evil[6]) == {"login": "@admin"} and evil[2] == "" and attacker.user_id is None
    [export] = [e for e in security_events("admin_action") if e.details["action"] == "security_log_exported"]
    assert export.details["filters"] == {"ip": "10.0.", "until": "2026-03-10"}
