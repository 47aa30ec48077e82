"""The security log: filters by event and person, pages, and an empty state that says so."""
from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from models import User
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
