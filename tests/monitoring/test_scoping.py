"""Owner scoping of every monitoring page and API endpoint (alice owns, bob probes, root admins).

A member gets 404 for someone else's monitor, product or keyword (403 would confirm that it
exists), nothing changes, and admins can look at any monitor.
"""
from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from extensions import db
from models import Keyword, Monitor
from services.monitors import commands, queries, rules
from tests.monitoring.conftest import add_product, browser_for, post_form

GET_ROUTES = [
    "/monitors/{m}",
    "/monitors/{m}/edit",
    "/monitors/{m}/delete",
    "/monitors/{m}/products",
    "/monitors/{m}/products/{p}",
    "/api/monitors/{m}/status",
]
POST_ROUTES = [
    "/monitors/{m}/edit",
    "/monitors/{m}/pause",
    "/monitors/{m}/resume",
    "/monitors/{m}/poll",
    "/monitors/{m}/delete",
    "/monitors/keywords/{k}/delete",
]


@pytest.fixture
def world(app: Flask, alice, bob, admin) -> dict[str, int]:  # noqa: ANN001
    """Alice's monitor with a product and a global keyword; bob has a monitor of his own."""
    mine = commands.create_monitor(alice, "https://www.dhgate.com/store/21880856", rules.MonitorSettings(name="Alice's store"))
    product = add_product(mine, "5550001", "Alice's lamp", "4.20")
    keyword = commands.add_global_keywords(alice, "secret-term")[0]
    bobs = commands.create_monitor(bob, "https://www.dhgate.com/store/777")
    return {"m": mine.id, "p": product.id, "k": keyword.id, "bobs": bobs.id}


def _path(template: str, world: dict[str, int]) -> str:
    return template.format(**world)


def test_the_lists_cover_every_route_that_takes_an_id(app: Flask) -> None:
    """If a new route with an id appears, it must be added to the lists above."""
    covered = {t.replace("{m}", "<int:monitor_id>").replace("{p}", "<bigint:product_id>").replace("{k}", "<int:keyword_id>")
               for t in GET_ROUTES + POST_ROUTES}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("monitoring.", "api.")) and rule.arguments:
            assert rule.rule in covered, rule.rule


@pytest.mark.parametrize("template", GET_ROUTES)
def test_other_member_gets_404_on_get(app: Flask, world, template) -> None:  # noqa: ANN001
    bob = browser_for(app, "bob")
    response = bob.get(_path(template, world))
    assert response.status_code == 404
    assert "Alice" not in response.get_data(as_text=True)
    if template.startswith("/api/"):
        assert response.is_json and response.get_json()["status"] == 404


@pytest.mark.parametrize("template", POST_ROUTES)
def test_other_member_gets_404_on_post_and_nothing_changes(app: Flask, world, template) -> None:  # noqa: ANN001
    bob = browser_for(app, "bob")
    data = {"name": "pwned", "poll_interval": "21600", "price_drop_pct": "5", "price_rise_pct": "5"}
    response = post_form(bob, _path(template, world), data)
    assert response.status_code == 404
    db.session.expire_all()
    monitor = db.session.get(Monitor, world["m"])
    assert monitor is not None and monitor.name == "Alice's store" and monitor.active
    assert db.session.get(Keyword, world["k"]) is not None


def test_product_must_belong_to_the_monitor_in_the_url(app: Flask, world) -> None:  # noqa: ANN001
    """Alice's product id under bob's own monitor is still a 404 for bob (and vice versa)."""
    bob = browser_for(app, "bob")
    assert bob.get(f"/monitors/{world['bobs']}/products/{world['p']}").status_code == 404
    alice = browser_for(app, "alice")
    own = alice.get(f"/monitors/{world['m']}/products/{world['p']}")
    assert own.status_code == 200 and "Alice&#39;s lamp" in own.get_data(as_text=True)
    assert alice.get(f"/monitors/{world['m']}/products/999999").status_code == 404


@pytest.mark.parametrize("template", GET_ROUTES)
def test_admin_can_view_any_monitor(app: Flask, world, template) -> None:  # noqa: ANN001
    root = browser_for(app, "root")
    response = root.get(_path(template, world))
    assert response.status_code == 200
    if template.startswith("/api/"):
        assert response.get_json()["id"] == world["m"]
    else:
        assert "Alice&#39;s store" in response.get_data(as_text=True)
    if template.endswith("{p}"):
        assert "Alice&#39;s lamp" in response.get_data(as_text=True)


def test_admin_sees_whose_monitor_it_is(app: Flask, world) -> None:  # noqa: ANN001
    root = browser_for(app, "root")
    page = root.get(f"/monitors/{world['m']}").get_data(as_text=True)
    assert "You are looking at a monitor of alice." in page
    listing = root.get("/monitors/?everyone=1").get_data(as_text=True)
    assert "Alice&#39;s store" in listing and "alice" in listing
    assert "Alice&#39;s store" not in root.get("/monitors/").get_data(as_text=True)  # own list by default


def test_member_list_shows_only_their_monitors(app: Flask, world) -> None:  # noqa: ANN001
    bob = browser_for(app, "bob")
    page = bob.get("/monitors/?everyone=1").get_data(as_text=True)  # members cannot widen the scope
    assert "Alice&#39;s store" not in page and "Store 777" in page


@pytest.mark.parametrize("template", [*GET_ROUTES, "/monitors/", "/monitors/new", "/monitors/keywords"])
def test_login_required(client, world, template) -> None:  # noqa: ANN001
    response = client.get(_path(template, world))
    if template.startswith("/api/"):
        assert response.status_code == 401 and response.is_json
    else:
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_service_scoping(app: Flask, world, alice, bob, admin) -> None:  # noqa: ANN001
    assert queries.get_monitor(bob, world["m"]) is None
    assert queries.get_monitor(alice, world["m"]).id == world["m"]
    assert queries.get_monitor(admin, world["m"]).id == world["m"]
    assert [r.monitor.id for r in queries.list_monitors(bob)] == [world["bobs"]]
    assert [r.monitor.id for r in queries.list_monitors(bob, everyone=True)] == [world["bobs"]]
    assert {r.monitor.id for r in queries.list_monitors(admin, everyone=True)} == {world["m"], world["bobs"]}
    assert commands.remove_global_keyword(bob, world["k"]) is False
    assert db.session.scalar(select(Keyword.term).where(Keyword.id == world["k"])) == "secret-term"
