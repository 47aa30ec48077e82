"""The in-app center: filters, mark read on the server, the live poll with its ETag and 304,
and the preferences and monitor alert-kind forms."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Monitor, Notification, NotificationPreference, User
from tests.conftest import csrf_token_from
from tests.factories import make_monitor
from tests.monitoring.conftest import browser_for
from tests.sql_count import statements


def note(user: User, title: str, *, kinds: str | None = None, monitor: Monitor | None = None,
         minutes_ago: int = 0, read: bool = False) -> Notification:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    n = Notification(user_id=user.id, kind="monitor_alert" if kinds else "channel_paused", title=title,
                     event_kinds=kinds, monitor_id=monitor.id if monitor else None, created_at=at,
                     read_at=at if read else None, dedupe_key=f"t:{title}")
    db.session.add(n)
    db.session.commit()
    return n




def titles(html: str, *candidates: str) -> list[str]:
    return [t for t in candidates if t in html]


def test_filters_by_kind_monitor_and_unread(app: Flask, alice: User, bob: User) -> None:
    lamps = make_monitor(alice, name="Lamps")
    mugs = make_monitor(alice, dhgate_id="777", name="Mugs")
    note(alice, "Lamps: 2 price drops", kinds=" price_drop ", monitor=lamps)
    note(alice, "Mugs: 1 new, 1 price drop", kinds=" new_product price_drop ", monitor=mugs, read=True)
    note(alice, "Mugs: 1 no longer listed", kinds=" missing ", monitor=mugs)
    note(alice, "Channel paused")
    note(bob, "Bob: 9 price drops", kinds=" price_drop ")
    browser = browser_for(app, "alice")
    every = ("Lamps: 2 price drops", "Mugs: 1 new, 1 price drop", "Mugs: 1 no longer listed", "Channel paused",
             "Bob: 9 price drops")

    def shown(query: str) -> list[str]:
        response = browser.get(f"/notifications/?{query}")
        assert response.status_code == 200
        return titles(response.get_data(as_text=True), *every)

    assert shown("") == list(every[:4])
    assert shown("kind=price_drop") == ["Lamps: 2 price drops", "Mugs: 1 new, 1 price drop"]
    assert shown("kind=delisted") == ["Mugs: 1 no longer listed"]  # "missing" follows the delisted rule
    assert shown("kind=system") == ["Channel paused"]
    assert shown(f"monitor={mugs.id}") == ["Mugs: 1 new, 1 price drop", "Mugs: 1 no longer listed"]
    assert shown(f"monitor={mugs.id}&kind=price_drop&show=unread") == []
    assert "Nothing matches these filters" in browser.get(f"/notifications/?monitor={mugs.id}&kind=price_rise") \
        .get_data(as_text=True)
    assert shown("kind=nonsense") == list(every[:4])  # an unknown kind is no filter
    assert browser.get("/notifications/?monitor=abc").status_code == 400


def test_poll_answers_304_while_nothing_changes_and_follows_new_and_read(app: Flask, alice: User, bob: User) -> None:
    first = note(alice, "First")
    note(bob, "Not alice's")
    browser = browser_for(app, "alice")
    response = browser.get("/notifications/poll", headers={"Accept": "application/json"})
    assert response.status_code == 200
    body = response.get_json()
    assert body == {"unread": 1, "cursor": first.id, "items": []}
    etag = response.headers["ETag"]
    assert response.headers["Cache-Control"] == "private, no-cache"

    with statements() as seen:
        again = browser.get(f"/notifications/poll?since={first.id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert [s for s in seen if "notifications" in s] == []  # Redis answered "nothing new"

    second = note(alice, "Second")
    note(bob, "Bob again")
    fresh = browser.get(f"/notifications/poll?since={first.id}", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    data = fresh.get_json()
    assert data["unread"] == 2 and data["cursor"] == second.id
    assert [item["title"] for item in data["items"]] == ["Second"]
    etag2 = fresh.headers["ETag"]
    assert etag2 != etag

    # Marking read on the server changes the count, so the badge must follow.
    page = browser.get("/notifications/").get_data(as_text=True)
    assert browser.post("/notifications/read-all", data={"csrf_token": csrf_token_from(page)}).status_code == 302
    after = browser.get(f"/notifications/poll?since={second.id}", headers={"If-None-Match": etag2})
    assert after.status_code == 200 and after.get_json() == {"unread": 0, "cursor": second.id, "items": []}


def test_poll_refuses_bad_input_and_strangers(app: Flask, alice: User, client) -> None:  # noqa: ANN001
    anonymous = client.get("/notifications/poll", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    browser = browser_for(app, "alice")
    bad = browser.get("/notifications/poll?since=abc", headers={"Accept": "application/json"})
    assert bad.status_code == 400 and "since" in bad.get_json()["error"]


def badge_url(html: str) -> str:
    match = re.search(r'data-live-badge="([^"]+)"', html)
    assert match, "no live badge on the page"
    return match.group(1).replace("&amp;", "&")


def test_badge_polls_with_a_signed_token_and_304_costs_no_sql(app: Flask, alice: User, bob: User, client) -> None:  # noqa: ANN001
    first = note(alice, "Unread one")
    browser = browser_for(app, "alice")
    html = browser.get("/dashboard").get_data(as_text=True)
    assert '<span class="badge" aria-label="1 unread">1</span>' in html
    url = badge_url(html)
    assert url.startswith("/notifications/poll?t=")

    # No cookies (the page's script sends none): the token is the identity.
    fresh = client.get(url)
    assert fresh.status_code == 200 and fresh.get_json() == {"unread": 1, "cursor": first.id, "items": []}
    etag = fresh.headers["ETag"]
    with statements() as seen:
        same = client.get(f"{url}&since={first.id}", headers={"If-None-Match": etag})
    assert same.status_code == 304 and seen == []

    note(bob, "Bob's own")  # another member's change leaves alice's ETag alone
    assert client.get(f"{url}&since={first.id}", headers={"If-None-Match": etag}).status_code == 304
    second = note(alice, "Second")  # an ORM insert bumps alice's version after the commit
    changed = client.get(f"{url}&since={first.id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert [i["title"] for i in changed.get_json()["items"]] == ["Second"]
    etag = changed.headers["ETag"]
    inbox_page = browser.get("/notifications/").get_data(as_text=True)
    browser.post(f"/notifications/{second.id}/read", data={"csrf_token": csrf_token_from(inbox_page)})
    read = client.get(f"{url}&since={second.id}", headers={"If-None-Match": etag})  # a bulk UPDATE bumps the epoch
    assert read.status_code == 200 and read.get_json()["unread"] == 1

    tampered = client.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
    assert tampered.status_code == 401

    # Logging out ends the session: after the next change the token gets nothing but a 401.
    browser.post("/auth/logout", data={"csrf_token": csrf_token_from(browser.get("/dashboard").get_data(as_text=True))})
    note(alice, "After logout")
    assert client.get(url).status_code == 401


def test_preferences_form_saves_and_rerenders_errors(app: Flask, alice: User) -> None:
    browser = browser_for(app, "alice")
    page = browser.get("/notifications/channels").get_data(as_text=True)
    assert 'name="alert_kinds"' in page and 'value="Europe/Amsterdam"' not in page
    token = csrf_token_from(page)
    form = {"csrf_token": token, "alert_kinds": ["price_drop", "back_in_stock"], "frequency": "daily",
            "digest_hour": "7", "quiet_hours_start": "22", "quiet_hours_end": "6", "timezone": "Mars/Olympus"}
    refused = browser.post("/notifications/preferences", data=form)
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Unknown time zone" in html and 'aria-invalid="true"' in html
    assert db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == alice.id)) is None

    half = dict(form, timezone="Europe/Amsterdam", quiet_hours_end="")
    assert "Quiet hours need both a start and an end" in browser.post("/notifications/preferences", data=half) \
        .get_data(as_text=True)

    saved = browser.post("/notifications/preferences", data=dict(form, timezone="Europe/Amsterdam"))
    assert saved.status_code == 302
    db.session.expire_all()
    pref = db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == alice.id))
    assert (pref.frequency, pref.digest_hour, pref.quiet_hours_start, pref.quiet_hours_end) == ("daily", 7, 22, 6)
    assert pref.alert_kinds == ["price_drop", "back_in_stock"]
    assert db.session.get(User, alice.id).timezone == "Europe/Amsterdam"
    again = browser.get("/notifications/channels").get_data(as_text=True)
    assert 'value="Europe/Amsterdam"' in again
    assert re.search(r'<input checked[^>]*value="price_drop"', again)
    assert not re.search(r'<input checked[^>]*value="new_product"', again)

    no_csrf = browser.post("/notifications/preferences", data=dict(form, csrf_token="x", timezone="UTC"))
    assert no_csrf.status_code == 400


def test_monitor_edit_page_overrides_the_alert_kinds(app: Flask, alice: User, bob: User) -> None:
    monitor = make_monitor(alice, name="Lamps")
    browser = browser_for(app, "alice")
    page = browser.get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
    assert 'name="custom_alert_kinds"' in page
    form = {"csrf_token": csrf_token_from(page), "name": "Lamps", "poll_interval": str(monitor.poll_interval),
            "price_drop_pct": "5", "price_rise_pct": "5", "custom_alert_kinds": "y",
            "alert_kinds": ["new_product", "delisted"]}
    assert browser.post(f"/monitors/{monitor.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Monitor, monitor.id).alert_kinds == ["new_product", "delisted"]
    form.pop("custom_alert_kinds")
    assert browser.post(f"/monitors/{monitor.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Monitor, monitor.id).alert_kinds is None  # back to the member's defaults
