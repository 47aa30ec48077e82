"""The sandbox plays the affiliate network: it notes our click reference when the redirect lands
on a product page, turns a seeded share of clicks into orders, serves them as a report our
importer maps without help, and pushes signed postbacks our endpoint accepts."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from extensions import db
from models import AffiliateConversion, AffiliatePerformance, Monitor, User
from sandbox import SandboxServer
from sandbox.affiliate_network import AffiliateNetwork
from services.affiliate_clicks import flush_clicks
from services.affiliate_conversions import import_csv
from services.affiliate_links import make_token
from tests.affiliate.conftest import BROWSER
from tests.browser.conftest import serving
from tests.conftest import Stores, make_app
from tests.monitoring.conftest import add_product

SECRET = "sandbox-network-shared-secret"
RATES = {"electronics": Decimal("3"), "fashion": Decimal("8"), "beauty": Decimal("12"), "home": Decimal("5"),
         "default": Decimal("5")}


def _click_through(client: FlaskClient, sandbox: SandboxServer, member: User, shop: Monitor) -> tuple[str, Decimal]:
    """Follow a tracked link to a sandbox product like a browser: our redirect, then the sandbox page."""
    item = sandbox.catalog.products(sandbox.catalog.store_ids()[0])[0]
    product = add_product(shop, item.item_code, item.title, item.price_min,
                          url=f"{sandbox.base_url}/product/{item.slug}/{item.item_code}.html")
    db.session.commit()
    response = client.get(f"/go/{make_token(member.id, product.id, shop.id, 'page')}", headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    landing = httpx.get(response.headers["Location"])
    assert landing.status_code == 200
    return parse_qs(urlsplit(response.headers["Location"]).query)["subid"][0], item.price_min


def test_a_landed_click_becomes_an_order_that_imports_with_the_category_rate(
    app: Flask, client: FlaskClient, sandbox: SandboxServer, member: User, shop: Monitor,
) -> None:
    app.config["DHGATE_BASE_URL"] = sandbox.base_url
    sandbox.network.configure(conversion_share=1)
    ref, price = _click_through(client, sandbox, member, shop)
    assert flush_clicks().clicks == 1
    [order] = sandbox.network.orders()
    assert order.click_ref == ref and order.status == "pending" and order.value % price == 0

    report = httpx.get(f"{sandbox.base_url}/__sandbox__/affiliate/report.csv").text
    first = import_csv(report)  # no mapping: the network's column names are recognised
    assert (first.created, first.unmatched) == (1, 0)
    stored = db.session.scalars(select(AffiliateConversion)).one()
    assert stored.commission == (order.value * RATES[order.category] / 100).quantize(Decimal("0.01"))
    assert stored.status == "pending"
    row = db.session.scalars(select(AffiliatePerformance)).one()
    assert (row.user_id, row.clicks, row.conversions, row.commission) == (member.id, 1, 1, stored.commission)

    assert httpx.post(f"{sandbox.base_url}/__sandbox__/affiliate/confirm").json()["settled"]
    second = import_csv(httpx.get(f"{sandbox.base_url}/__sandbox__/affiliate/report.csv").text)
    assert (second.created, second.updated) == (0, 1)
    db.session.expire_all()
    assert db.session.scalars(select(AffiliateConversion)).one().status == sandbox.network.orders()[0].status
    assert import_csv(httpx.get(f"{sandbox.base_url}/__sandbox__/affiliate/report.csv").text).unchanged == 1


def test_a_reload_of_the_landing_page_is_not_a_second_click(sandbox: SandboxServer) -> None:
    item = sandbox.catalog.products(sandbox.catalog.store_ids()[0])[1]
    url = f"{sandbox.base_url}/product/{item.slug}/{item.item_code}.html?subid=ref-1"
    for _ in range(2):
        assert httpx.get(url).status_code == 200
    httpx.get(f"{sandbox.base_url}/product/{item.slug}/{item.item_code}.html")  # no reference: not ours
    assert httpx.get(f"{sandbox.base_url}/__sandbox__/affiliate").json()["landings"] == 1


def test_the_share_of_clicks_that_convert_is_deterministic_for_a_seed() -> None:
    refs = [f"ref-{n}" for n in range(400)]

    def orders(seed: int) -> list[tuple[str, str, Decimal]]:
        network = AffiliateNetwork(seed=seed, conversion_share=0.25)
        for ref in refs:
            network.note_landing(ref, "100", Decimal("10.00"))
        return [(o.order_id, o.category, o.value) for o in network.orders()]

    first = orders(3)
    assert first == orders(3)
    assert first != orders(4)
    assert 60 < len(first) < 140  # about a quarter of 400
    with pytest.raises(ValueError):
        AffiliateNetwork(conversion_share=1.5)


@pytest.fixture
def pushing_app(app: Flask, stores: Stores, sandbox: SandboxServer) -> Iterator[str]:
    with serving(make_app(stores, DHGATE_BASE_URL=sandbox.base_url, AFFILIATE_POSTBACK_SECRET=SECRET)) as base:
        yield base


def test_the_network_pushes_signed_postbacks_our_endpoint_accepts(
    app: Flask, client: FlaskClient, sandbox: SandboxServer, member: User, shop: Monitor, pushing_app: str,
) -> None:
    app.config["DHGATE_BASE_URL"] = sandbox.base_url
    sandbox.network.configure(conversion_share=1)
    _click_through(client, sandbox, member, shop)
    flush_clicks()
    push = f"{sandbox.base_url}/__sandbox__/affiliate/push"
    wrong = httpx.post(push, json={"url": f"{pushing_app}/affiliate/postback", "secret": "not-the-shared-secret"})
    assert [r["status"] for r in wrong.json()["pushed"]] == [401]
    pushed = httpx.post(push, json={"url": f"{pushing_app}/affiliate/postback", "secret": SECRET}).json()["pushed"]
    assert [(r["status"], r["answer"]["outcome"]) for r in pushed] == [(200, "created")]
    assert httpx.post(push, json={"url": f"{pushing_app}/affiliate/postback", "secret": SECRET}).json()["pushed"] == []
    httpx.post(f"{sandbox.base_url}/__sandbox__/affiliate/confirm")
    again = httpx.post(push, json={"url": f"{pushing_app}/affiliate/postback", "secret": SECRET}).json()["pushed"]
    assert [(r["status"], r["answer"]["outcome"]) for r in again] == [(200, "updated")]
    db.session.expire_all()
    stored = db.session.scalars(select(AffiliateConversion)).one()
    assert stored.click_id is not None and stored.status == sandbox.network.orders()[0].status
    assert httpx.post(push, json={"url": "ftp://x", "secret": SECRET}).status_code == 400
