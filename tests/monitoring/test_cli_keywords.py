"""``flask monitors add|list`` and the member-wide keywords page."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Keyword, Monitor
from services import monitors as monitor_service
from tests.factories import make_user
from tests.monitoring.conftest import browser_for, monitor_count, post_form


def test_cli_add_a_store(runner, alice) -> None:  # noqa: ANN001
    result = runner.invoke(args=["monitors", "add", "https://www.dhgate.com/store/top-selling/21880856.html",
                                 "--user", "alice@example.com", "--name", "Lamps", "--interval", "12h"])
    assert result.exit_code == 0, result.output
    monitor = db.session.scalars(select(Monitor)).one()
    assert (monitor.user_id, monitor.kind, monitor.dhgate_id, monitor.name, monitor.poll_interval) == (
        alice.id, "store", "21880856", "Lamps", 43200,
    )
    assert f"Monitor {monitor.id} created for alice: store 21880856 (Lamps), checked every 12 hours" in result.output


def test_cli_add_keywords_by_username_with_default_interval(runner, alice) -> None:  # noqa: ANN001
    result = runner.invoke(args=["monitors", "add", "wireless earbuds", "--user", "alice"])
    assert result.exit_code == 0, result.output
    monitor = db.session.scalars(select(Monitor)).one()
    assert (monitor.kind, monitor.dhgate_id, monitor.poll_interval) == ("search", "wireless earbuds", 21600)


def test_cli_invalid_url_is_one_line_and_exit_1(runner, alice) -> None:  # noqa: ANN001
    result = runner.invoke(args=["monitors", "add", "https://evil.example.com/store/1", "--user", "alice"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == ["Error: Only links to dhgate.com can be watched, not evil.example.com. "
                     "A link that works: http://127.0.0.1:9/store/21880856.html"]
    assert "Traceback" not in result.output and monitor_count() == 0


def test_cli_unknown_user_exit_1(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["monitors", "add", "https://www.dhgate.com/store/1", "--user", "nobody@example.com"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: No user with the e-mail address or username 'nobody@example.com'."
    assert monitor_count() == 0


def test_cli_respects_the_tier_and_duplicates(runner, alice) -> None:  # noqa: ANN001
    too_fast = runner.invoke(args=["monitors", "add", "https://www.dhgate.com/store/1", "--user", "alice", "--interval", "15m"])
    assert too_fast.exit_code == 1 and "The Free plan checks at most every 6 hours" in too_fast.output
    bad = runner.invoke(args=["monitors", "add", "https://www.dhgate.com/store/1", "--user", "alice", "--interval", "soon"])
    assert bad.exit_code == 1 and "Write the interval as seconds" in bad.output
    assert runner.invoke(args=["monitors", "add", "https://www.dhgate.com/store/1", "--user", "alice"]).exit_code == 0
    again = runner.invoke(args=["monitors", "add", "dhgate.com/store/products/1.html", "--user", "alice"])
    assert again.exit_code == 1 and "You already watch this store" in again.output
    assert monitor_count() == 1


def test_cli_list(runner, alice, bob) -> None:  # noqa: ANN001
    assert runner.invoke(args=["monitors", "list"]).output.strip() == "No monitors."
    monitor_service.create_monitor(alice, "https://www.dhgate.com/store/21880856")
    monitor_service.create_monitor(bob, "led strip")
    result = runner.invoke(args=["monitors", "list"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["ID", "OWNER", "KIND", "DHGATE", "ID", "NAME", "EVERY", "PRODUCTS", "STATUS", "NEXT", "CHECK"]
    assert len(lines) == 3
    assert any("alice" in line and "store" in line and "21880856" in line and "waiting" in line and "due" in line for line in lines)
    assert any("bob" in line and "search" in line and "led strip" in line for line in lines)
    only_bob = runner.invoke(args=["monitors", "list", "--user", "bob@example.com"]).output.strip().splitlines()
    assert len(only_bob) == 2 and "bob" in only_bob[1]
    unknown = runner.invoke(args=["monitors", "list", "--user", "ghost"])
    assert unknown.exit_code == 1


def test_global_keywords_add_and_remove(app: Flask, alice, bob) -> None:  # noqa: ANN001
    client = browser_for(app, "alice")
    page = client.get("/monitors/keywords").get_data(as_text=True)
    assert "No keywords yet" in page
    response = post_form(client, "/monitors/keywords", {"term": "LED, led , Lamp,,"}, token_from="/monitors/keywords")
    assert response.status_code == 302
    page = client.get("/monitors/keywords").get_data(as_text=True)
    assert "Added: LED, Lamp." in page
    keywords = {k.term: k for k in monitor_service.global_keywords(alice.id)}
    assert set(keywords) == {"LED", "Lamp"} and all(k.monitor_id is None for k in keywords.values())
    assert 'data-confirm="Remove the keyword “Lamp”?"' in page

    post_form(client, "/monitors/keywords", {"term": "lamp"}, token_from="/monitors/keywords")
    assert "You already have these keywords." in client.get("/monitors/keywords").get_data(as_text=True)
    assert len(monitor_service.global_keywords(alice.id)) == 2

    bad = post_form(client, "/monitors/keywords", {"term": "x" * 101}, token_from="/monitors/keywords")
    assert bad.status_code == 422 and "Keywords can be at most 100 characters long." in bad.get_data(as_text=True)
    assert post_form(client, "/monitors/keywords", {"term": " , "}, token_from="/monitors/keywords").status_code == 422

    lamp_id = keywords["Lamp"].id
    bob_client = browser_for(app, "bob")
    assert post_form(bob_client, f"/monitors/keywords/{lamp_id}/delete").status_code == 404
    assert post_form(client, f"/monitors/keywords/{lamp_id}/delete", token_from="/monitors/keywords").status_code == 302
    db.session.expire_all()
    assert [k.term for k in monitor_service.global_keywords(alice.id)] == ["LED"]
    assert db.session.get(Keyword, lamp_id) is None


def test_global_keywords_show_on_monitor_pages(app: Flask, alice) -> None:  # noqa: ANN001
    monitor_service.add_global_keywords(alice, "bluetooth")
    monitor = monitor_service.create_monitor(alice, "https://www.dhgate.com/store/1", monitor_service.MonitorSettings(keywords=["usb"]))
    page = browser_for(app, "alice").get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert '<span class="tag">usb</span>' in page and '<span class="tag tag-muted">bluetooth</span>' in page


def test_pro_member_cli_interval(runner, app) -> None:  # noqa: ANN001
    make_user("dora", subscription_tier="pro")
    assert runner.invoke(args=["monitors", "add", "https://www.dhgate.com/store/1", "--user", "dora", "--interval", "900"]).exit_code == 0
