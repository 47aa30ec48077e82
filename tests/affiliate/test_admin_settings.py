"""The affiliate settings page: environment values as defaults, saved values override them for
redirects and imports, every bad field re-renders with its own message, members get 403, and a
changed rate applies only to orders imported afterwards."""
from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from extensions import db
from models import AffiliateConversion
from models.site import SiteSetting
from services import affiliate_settings
from services.affiliate_conversions import import_csv
from tests.affiliate.conftest import BROWSER
from tests.conftest import csrf_token_from

PAGE = "/admin/affiliate/settings"
GOOD = {"affiliate_id": "dhm-42", "url_params": "aff={affiliate_id}&sub={click_ref}&via={source}",
        "commission_rates": "electronics=4, fashion=10, default=6", "currency": "eur", "payout_threshold": "25"}


def _post(client: FlaskClient, data: dict[str, str], path: str = PAGE):  # noqa: ANN202
    token = csrf_token_from(client.get(PAGE).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def _field_error(page: str, name: str) -> str:
    match = re.search(rf'<p class="error" id="{name}-error" role="alert">([^<]*)</p>', page)
    assert match, f"no error for {name}"
    return match.group(1)


def test_members_get_403_and_admins_see_the_environment_values(client: FlaskClient, auth, alice, admin) -> None:  # noqa: ANN001
    auth.login("alice")
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data=GOOD).status_code in (400, 403)  # no token, no role: never saved
    auth.logout()
    auth.login("root")
    page = client.get(PAGE).get_data(as_text=True)
    assert 'value="beauty=12, electronics=3, fashion=8, default=5"' in page
    assert 'value="USD"' in page
    assert db.session.scalar(select(func.count()).select_from(SiteSetting)) == 0


def test_saved_values_override_the_environment_everywhere(client: FlaskClient, auth, admin, link) -> None:  # noqa: ANN001
    auth.login("root")
    response = _post(client, GOOD)
    assert response.status_code == 302
    settings = affiliate_settings.current()
    assert settings.commission_rates == {"electronics": Decimal("4"), "fashion": Decimal("10"),
                                         "default": Decimal("6")}
    assert (settings.currency, settings.payout_threshold, settings.affiliate_id) == ("EUR", Decimal("25.00"), "dhm-42")
    out = client.get(link, headers={"User-Agent": BROWSER})
    query = parse_qs(urlsplit(out.headers["Location"]).query)
    assert query["aff"] == ["dhm-42"] and query["via"] == ["page"] and len(query["sub"][0]) >= 16
    # the same value as the environment keeps no override (a later change of the environment is followed)
    _post(client, {**GOOD, "currency": "USD"})
    assert "currency" not in affiliate_settings.current().overridden
    # and the reset drops them all
    _post(client, {}, path=PAGE + "/reset")
    assert affiliate_settings.current().overridden == frozenset()
    assert affiliate_settings.current().affiliate_id == ""


def test_every_bad_field_gets_its_message_and_nothing_is_saved(client: FlaskClient, auth, admin) -> None:  # noqa: ANN001
    auth.login("root")
    bad = {"affiliate_id": "has space", "url_params": "aff={affiliate_id}&x={nope}",
           "commission_rates": "electronics=3, fashion=150", "currency": "EURO", "payout_threshold": "-5"}
    response = _post(client, bad)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "spaces" in _field_error(page, "affiliate_id")
    assert "{nope}" in _field_error(page, "url_params")
    assert "between 0 and 100" in _field_error(page, "commission_rates")
    assert _field_error(page, "currency")
    assert "0 to" in _field_error(page, "payout_threshold")
    assert 'aria-describedby="url_params-hint url_params-error"' in page
    missing_ref = _post(client, {**GOOD, "url_params": "aff={affiliate_id}"}).get_data(as_text=True)
    assert "{click_ref}" in _field_error(missing_ref, "url_params")
    no_default = _post(client, {**GOOD, "commission_rates": "fashion=8"}).get_data(as_text=True)
    assert "default" in _field_error(no_default, "commission_rates")
    assert db.session.scalar(select(func.count()).select_from(SiteSetting)) == 0


def test_a_changed_rate_applies_only_to_orders_imported_afterwards(client: FlaskClient, auth, admin) -> None:  # noqa: ANN001
    header = "order_id,order_value,order_date,category,status\n"
    import_csv(header + "B1,100.00,2026-11-02,fashion,pending\n")
    auth.login("root")
    assert _post(client, {**GOOD, "currency": "USD", "commission_rates": "fashion=20, default=5"}).status_code == 302
    import_csv(header + "B1,100.00,2026-11-02,fashion,confirmed\nB2,100.00,2026-11-03,fashion,pending\n")
    db.session.rollback()
    orders = {o.order_id: o for o in db.session.scalars(select(AffiliateConversion))}
    assert (orders["B1"].commission, orders["B1"].commission_rate, orders["B1"].status) == (
        Decimal("8.00"), Decimal("8"), "confirmed")  # imported before the change: its rate is kept
    assert (orders["B2"].commission, orders["B2"].commission_rate) == (Decimal("20.00"), Decimal("20"))


def test_a_stored_value_that_does_not_parse_falls_back_to_the_environment(app: Flask) -> None:
    db.session.add(SiteSetting(key="affiliate.commission_rates", value="fashion=abc"))
    db.session.commit()
    assert affiliate_settings.current().commission_rates["default"] == Decimal("5")
