"""The foundation: configuration, embedded Redis, time handling, assets, errors, inbox, affiliate."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from config import ConfigError, DevelopmentConfig, select_config
from tests.conftest import Stores, make_app

# --- configuration ---------------------------------------------------------------------------

def test_malformed_setting_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="LOGIN_MAX_FAILURES must be a whole number, got 'five'"):
        DevelopmentConfig.load({"LOGIN_MAX_FAILURES": "five"})
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE must be true or false"):
        DevelopmentConfig.load({"SESSION_COOKIE_SECURE": "maybe"})
    with pytest.raises(ConfigError, match="APP_ENV must be one of"):
        select_config({"APP_ENV": "staging"})
    for wrong in ("ftp://www.dhgate.com", "www.dhgate.com", "https://"):
        with pytest.raises(ConfigError, match="DHGATE_BASE_URL must be an http\\(s\\) URL"):
            DevelopmentConfig.load({"DHGATE_BASE_URL": wrong})
    assert DevelopmentConfig.load({"DHGATE_BASE_URL": "http://127.0.0.1:8700/"})["DHGATE_BASE_URL"] == (
        "http://127.0.0.1:8700")


def test_production_refuses_to_start_without_a_secret(stores: Stores) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is required in production"):
        make_app(stores, ENV_NAME="production", SECRET_KEY=None)
    with pytest.raises(ConfigError, match="at least 32 characters"):
        make_app(stores, ENV_NAME="production", SECRET_KEY="short")


def test_development_generates_and_keeps_a_secret(stores: Stores, tmp_path: Path) -> None:
    first = make_app(stores, SECRET_KEY=None, INSTANCE_PATH=str(tmp_path))
    second = make_app(stores, SECRET_KEY=None, INSTANCE_PATH=str(tmp_path))
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_database_url_spellings_are_normalised(stores: Stores) -> None:
    app = make_app(stores, SQLALCHEMY_DATABASE_URI="postgres://u:p@db.example/x")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.example/x"


# --- embedded Redis --------------------------------------------------------------------------

def test_embedded_redis_is_one_real_server_shared_through_the_folder(tmp_path: Path) -> None:
    import redis

    from services.embedded_redis import ensure_embedded_redis, is_running, socket_path_for, stop_embedded_redis

    data_dir = tmp_path / "a-rather-long-instance-folder-name" / ("x" * 60)
    url = ensure_embedded_redis(data_dir)
    try:
        assert ensure_embedded_redis(data_dir) == url  # the second process finds the first server
        one, two = redis.Redis.from_url(url), redis.Redis.from_url(url)
        one.set("shared", "yes")
        assert two.get("shared") == b"yes"
        assert len(str(socket_path_for(data_dir))) <= 100  # long paths still fit a unix socket
    finally:
        assert stop_embedded_redis(data_dir) is True
    assert not is_running(socket_path_for(data_dir))


# --- time --------------------------------------------------------------------------------------

def test_timestamps_come_back_timezone_aware_utc(app, alice, db) -> None:  # noqa: ANN001
    from models import User

    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    alice.last_login_at = moment.astimezone(ZoneInfo("Europe/Amsterdam"))
    db.session.commit()
    db.session.expire_all()
    loaded = db.session.scalar(select(User).where(User.id == alice.id))
    assert loaded.last_login_at == moment and loaded.last_login_at.tzinfo is not None
    assert loaded.last_login_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(app, alice, db) -> None:  # noqa: ANN001
    from sqlalchemy.exc import StatementError

    alice.last_login_at = datetime(2026, 1, 1)
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()


# --- assets, compression, errors -----------------------------------------------------------------

def test_static_files_are_fingerprinted_and_cached_for_a_year(client, auth, alice) -> None:  # noqa: ANN001
    html = client.get("/auth/login").get_data(as_text=True)
    import re

    match = re.search(r'href="(/static/css/app\.css\?v=([0-9a-f]{12}))"', html)
    assert match, "stylesheet link carries a content hash"
    response = client.get(match.group(1))
    assert response.status_code == 200 and response.mimetype == "text/css" and b"{" in response.data
    assert "immutable" in response.headers["Cache-Control"]
    assert "max-age=31536000" in response.headers["Cache-Control"]


def test_html_is_compressed_for_clients_that_accept_it(client) -> None:  # noqa: ANN001
    response = client.get("/auth/login", headers={"Accept-Encoding": "br, gzip"})
    assert response.headers.get("Content-Encoding") in ("br", "gzip")
    plain = client.get("/auth/login")
    assert "Content-Encoding" not in plain.headers


def test_not_found_is_a_page_for_people_and_json_for_json_clients(client) -> None:  # noqa: ANN001
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "text/html" in page.content_type
    assert "Page not found" in page.get_data(as_text=True)
    data = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert data.status_code == 404 and data.get_json()["status"] == 404


def test_unexpected_errors_show_a_calm_page_without_traceback(stores: Stores) -> None:
    app = make_app(stores)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body and "secret internals" not in body and "Traceback" not in body


# --- inbox ---------------------------------------------------------------------------------------

def _notify(db, user, title: str, *, read: bool = False):  # noqa: ANN001, ANN202
    from models import Notification

    row = Notification(user_id=user.id, kind="new_product", title=title, body="", link="/dashboard",
                       read_at=datetime.now(UTC) if read else None)
    db.session.add(row)
    db.session.commit()
    return row


def test_inbox_shows_only_my_notifications(client, auth, alice, bob, db) -> None:  # noqa: ANN001
    _notify(db, alice, "Alice's news")
    _notify(db, bob, "Bob's news")
    auth.login("alice")
    body = client.get("/notifications/").get_data(as_text=True)
    assert "Alice&#39;s news" in body and "Bob&#39;s news" not in body


def test_marking_read_is_scoped_and_counted(client, auth, alice, bob, db) -> None:  # noqa: ANN001
    from models import Notification

    mine = _notify(db, alice, "one")
    _notify(db, alice, "two")
    theirs = _notify(db, bob, "three")
    auth.login("alice")
    assert auth.post(f"/notifications/{theirs.id}/read", token_from="/notifications/").status_code == 404
    assert auth.post(f"/notifications/{mine.id}/read", token_from="/notifications/").status_code == 302
    db.session.expire_all()
    assert db.session.get(Notification, mine.id).read_at is not None
    assert db.session.get(Notification, theirs.id).read_at is None
    auth.post("/notifications/read-all", token_from="/notifications/")
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None
    unread_page = client.get("/notifications/?show=unread").get_data(as_text=True)
    assert "All caught up" in unread_page


def test_opening_a_notification_marks_it_read_and_follows_only_local_links(client, auth, alice, db) -> None:  # noqa: ANN001
    from models import Notification

    row = _notify(db, alice, "evil")
    row.link = "https://evil.example/phish"
    db.session.commit()
    auth.login("alice")
    response = client.get(f"/notifications/{row.id}")
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(Notification, row.id).read_at is not None


# --- affiliate -----------------------------------------------------------------------------------

def test_affiliate_figures_are_mine_and_admins_can_see_all(client, auth, alice, bob, admin, db) -> None:  # noqa: ANN001
    from models import AffiliatePerformance

    today = datetime.now(UTC).date()
    db.session.add_all([
        AffiliatePerformance(user_id=alice.id, date=today, clicks=7, conversions=1, revenue=Decimal("40.00"), commission=Decimal("2.40")),
        AffiliatePerformance(user_id=bob.id, date=today, clicks=100, conversions=9, revenue=Decimal("900.00"), commission=Decimal("54.00")),
    ])
    db.session.commit()
    auth.login("alice")
    mine = client.get("/affiliate/?scope=all").get_data(as_text=True)  # members cannot widen the scope
    assert ">7<" in mine and ">100<" not in mine and "$2.40" in mine
    auth.logout()
    auth.login("root")
    everyone = client.get("/affiliate/?scope=all").get_data(as_text=True)
    assert ">107<" in everyone and "$56.40" in everyone


def test_affiliate_empty_state(client, auth, alice) -> None:  # noqa: ANN001
    auth.login("alice")
    body = client.get("/affiliate/").get_data(as_text=True)
    assert "No affiliate activity in the last 30 days" in body and "—" in body  # no clicks: no made-up 0 % rate


def test_images_from_a_plain_http_dhgate_stand_in_are_allowed_by_the_csp(stores: Stores) -> None:
    demo = make_app(stores, DHGATE_BASE_URL="http://127.0.0.1:8700")
    csp = demo.test_client().get("/auth/login").headers["Content-Security-Policy"]
    assert "img-src 'self' data: https: http://127.0.0.1:8700" in csp
    real = make_app(stores, DHGATE_BASE_URL="https://www.dhgate.com")
    assert "img-src 'self' data: https:;" in real.test_client().get("/auth/login").headers["Content-Security-Policy"]


def test_database_enforces_foreign_keys_on_every_backend(app, alice, db) -> None:  # noqa: ANN001
    """SQLite leaves foreign keys off unless asked; we ask, so it behaves like PostgreSQL."""
    from sqlalchemy import delete, func

    from models import Monitor, User
    from tests.factories import make_monitor

    make_monitor(alice)
    db.session.execute(delete(User).where(User.id == alice.id))  # core DELETE: no ORM cascade
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Monitor)) == 0  # ON DELETE CASCADE ran
