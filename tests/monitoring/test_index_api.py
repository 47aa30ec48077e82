"""The monitors list (statuses in words, counts, filters, empty states) and the status API."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from extensions import db
from services.monitors import commands
from tests.monitoring.conftest import add_event, add_poll_run, add_product, browser_for


def make(user, target: str, **fields):  # noqa: ANN001, ANN201
    monitor = commands.create_monitor(user, target)
    for key, value in fields.items():
        setattr(monitor, key, value)
    db.session.commit()
    return monitor


def test_empty_state_invites_to_add_a_monitor(app: Flask, alice) -> None:  # noqa: ANN001
    page = browser_for(app, "alice").get("/monitors/").get_data(as_text=True)
    assert "Nothing watched yet" in page and 'href="/monitors/new"' in page and "Add your first monitor" in page


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (None, "Waiting for first check"),
        ("ok", "Up to date"),
        ("blocked", "DHgate blocked our request — next check any moment now"),
        ("parse_error", "DHgate&#39;s page changed and we could not read it"),
        ("timeout", "DHgate did not answer in time — next check any moment now"),
        ("unreachable", "Could not reach DHgate (address not found or connection failed) — next check any"),
        ("http_error", "DHgate refused the request — next check any moment now"),
        ("gone", "This page no longer exists on DHgate"),
        ("circuit_open", "DHgate is having trouble"),
    ],
)
def test_status_in_words(app: Flask, alice, status, words) -> None:  # noqa: ANN001
    make(alice, "https://www.dhgate.com/store/1", last_status=status)
    page = browser_for(app, "alice").get("/monitors/").get_data(as_text=True)
    assert words in page


def test_counts_and_times(app: Flask, alice) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    monitor = make(alice, "https://www.dhgate.com/store/1", last_status="ok",
                   last_polled_at=now - timedelta(minutes=5), next_poll_at=now + timedelta(hours=2))
    old = add_product(monitor, "1", "Old", "1.00", first_seen=now - timedelta(days=20))
    add_product(monitor, "2", "New", "1.00", first_seen=now - timedelta(days=1))
    add_product(monitor, "3", "Newer", "1.00", first_seen=now - timedelta(hours=1))
    add_event(monitor, old, "price_drop", at=now - timedelta(days=2))
    add_event(monitor, old, "price_rise", at=now - timedelta(days=9))  # older than a week
    page = browser_for(app, "alice").get("/monitors/").get_data(as_text=True)
    row = page.split(f'data-monitor-id="{monitor.id}"')[1].split("</tr>")[0]
    cells = re.split(r'<td class="num"[^>]*>', row)[1:]
    assert cells[0].startswith(f'<a href="/monitors/{monitor.id}/products">3</a>')
    assert '<span class="badge-new">2</span>' in cells[1]
    assert cells[2].startswith("1")
    assert "5 minutes ago" in row and "in 2 hours" in row


def test_filters(app: Flask, alice) -> None:  # noqa: ANN001
    make(alice, "https://www.dhgate.com/store/1", name="A store", last_status="ok")
    make(alice, "led strip", name="A search", last_status="blocked")
    make(alice, "https://www.dhgate.com/product/x/42.html", name="A product", active=False)
    client = browser_for(app, "alice")

    def names(query: str) -> set[str]:
        page = client.get(f"/monitors/?{query}").get_data(as_text=True)
        return {n for n in ("A store", "A search", "A product") if f"<strong>{n}</strong>" in page}

    assert names("") == {"A store", "A search", "A product"}
    assert names("kind=search") == {"A search"}
    assert names("status=ok") == {"A store"}
    assert names("status=problem") == {"A search"}
    assert names("status=paused") == {"A product"}
    assert names("kind=bogus&status=bogus") == {"A store", "A search", "A product"}
    page = client.get("/monitors/?kind=store&status=problem").get_data(as_text=True)
    assert "No monitors match these filters" in page


def test_status_api(app: Flask, alice, bob) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    monitor = make(alice, "https://www.dhgate.com/store/1", last_status="blocked",
                   last_polled_at=now - timedelta(minutes=3), next_poll_at=now + timedelta(minutes=30),
                   consecutive_failures=2)
    add_product(monitor, "1", "One", "1.00")
    add_product(monitor, "2", "Two", "1.00")
    response = browser_for(app, "alice").get(f"/api/monitors/{monitor.id}/status")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert data["id"] == monitor.id and data["status"] == "blocked" and data["active"] is True
    assert data["status_label"] == "DHgate blocked our request — next check in 30 minutes"
    assert data["product_count"] == 2 and data["consecutive_failures"] == 2
    assert datetime.fromisoformat(data["last_polled_at"]) == monitor.last_polled_at
    assert datetime.fromisoformat(data["next_poll_at"]) == monitor.next_poll_at
    assert data["last_poll"] == "3 minutes ago" and data["next_poll"] == "in 30 minutes"

    bob_view = browser_for(app, "bob").get(f"/api/monitors/{monitor.id}/status")
    assert bob_view.status_code == 404 and bob_view.get_json()["status"] == 404
    assert browser_for(app, "bob").get("/api/monitors/999999/status").status_code == 404


def test_failed_checks_say_what_happened_and_when_the_next_check_is(app: Flask, alice) -> None:  # noqa: ANN001
    """A connection failure is not "an error from DHgate"; runs stored before that distinction
    (``http_error`` without an HTTP status) still render."""
    now = datetime.now(UTC)
    monitor = make(alice, "https://www.dhgate.com/store/1", last_status="unreachable",
                   last_polled_at=now - timedelta(minutes=1), next_poll_at=now + timedelta(hours=2))
    add_poll_run(monitor, "unreachable", error="could not reach DHgate: [Errno -2] Name or service not known")
    add_poll_run(monitor, "http_error", http_status=503)
    add_poll_run(monitor, "timeout")
    page = browser_for(app, "alice").get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert "Could not reach DHgate (address not found or connection failed) — next check in 2 hours" in page
    runs = page.split('data-testid="poll-runs"')[1]
    assert "Could not reach DHgate (address not found or connection failed)</span>" in runs
    assert "DHgate refused the request</span>" in runs and "HTTP 503" in runs
    assert "DHgate did not answer in time</span>" in runs
    assert "answered with an error" not in page


def test_status_api_for_a_new_and_a_paused_monitor(app: Flask, alice) -> None:  # noqa: ANN001
    new = make(alice, "https://www.dhgate.com/store/1")
    paused = make(alice, "https://www.dhgate.com/store/2", active=False)
    client = browser_for(app, "alice")
    data = client.get(f"/api/monitors/{new.id}/status").get_json()
    assert (data["status"], data["status_label"], data["last_poll"], data["next_poll"], data["product_count"]) == (
        None, "Waiting for first check", "Never", "Any moment now", 0,
    )
    data = client.get(f"/api/monitors/{paused.id}/status").get_json()
    assert (data["status_label"], data["next_poll"], data["next_poll_at"]) == ("Paused", "Paused", None)


def test_detail_page_polls_the_status_api(app: Flask, alice) -> None:  # noqa: ANN001
    monitor = make(alice, "https://www.dhgate.com/store/1")
    page = browser_for(app, "alice").get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert f'data-poll="/api/monitors/{monitor.id}/status"' in page
    for field in ("status_label", "last_poll", "next_poll", "product_count"):
        assert f'data-field="{field}"' in page
