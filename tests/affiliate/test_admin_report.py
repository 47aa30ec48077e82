"""The admins' affiliate report: totals, per member, per product, per category over 7/30/90 days
or a validated custom range, a per-day SVG chart, a CSV per table, the payouts due, 403 for
members, and a fixed number of queries however many rows there are."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import event

from extensions import db
from services.affiliate_rollup import rollup
from tests.affiliate.conftest import add_click, add_order
from tests.factories import make_user
from tests.monitoring.conftest import add_product

REPORT = "/admin/affiliate/report"


def _stat(page: str, name: str) -> str:
    match = re.search(rf'data-testid="stat-{name}"><div class="value">([^<]*)<', page)
    assert match, name
    return match.group(1)


def _csv(client: FlaskClient, path: str) -> list[dict[str, str]]:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _seed(member, shop, product):  # noqa: ANN001, ANN202
    """mira: 4 clicks this week (2 orders, one rejected), 1 click 20 days ago; otto: 1 click, 1 order."""
    otto = make_user("otto")
    fan = add_product(shop, "78", "=cmd|' /C calc'!A0", "19.99")  # a title a spreadsheet would run
    now = datetime.now(UTC)
    clicks = [add_click(member, now - timedelta(days=d), ref=f"m{i}", product=product) for i, d in enumerate((0, 1, 2))]
    clicks.append(add_click(member, now - timedelta(days=2), ref="m-fan", product=fan))
    add_click(member, now - timedelta(days=20), ref="older", product=product)
    other = add_click(otto, now, ref="o1", product=fan)
    first = add_order(clicks[0], now, "100.00", "8.00", order_id="A", status="confirmed")
    first.category = "fashion"
    second = add_order(clicks[3], now - timedelta(days=2), "50.00", "1.50", order_id="B", status="pending")
    second.category = "electronics"
    add_order(clicks[1], now - timedelta(days=1), "70.00", "7.00", order_id="R", status="rejected")
    big = add_order(other, now, "700.00", "56.00", order_id="C", status="confirmed")
    big.category = "fashion"
    db.session.commit()
    rollup((now - timedelta(days=30)).date(), now.date())
    return otto


def test_members_are_refused(client: FlaskClient, auth, alice) -> None:  # noqa: ANN001
    auth.login("alice")
    assert client.get(REPORT).status_code == 403
    assert client.get(REPORT + "/members.csv").status_code == 403


def test_every_table_is_measured_and_exported(client: FlaskClient, auth, admin, member, shop, product) -> None:  # noqa: ANN001
    _seed(member, shop, product)
    auth.login("root")
    week = client.get(REPORT + "?days=7").get_data(as_text=True)
    assert _stat(week, "clicks") == "5"
    assert _stat(week, "orders") == "3"
    assert _stat(week, "commission") == "$65.50"
    assert _stat(week, "revenue") == "$850.00"
    chart = week[week.index('id="admin-affiliate-per-day"'):]
    assert chart[:chart.index("</svg>")].count('<rect class="bar') == 7
    members = week[week.index('data-testid="members"'):]
    assert members.index("otto") < members.index("mira")  # most commission first
    assert re.search(r"mira</td><td[^>]*>4</td><td[^>]*>2</td><td[^>]*>\$150.00</td><td[^>]*>\$9.50<", members)
    categories = week[week.index('data-testid="categories"'):]
    assert re.search(r"fashion</td><td[^>]*>2</td><td[^>]*>\$800.00</td><td[^>]*>\$64.00</td><td[^>]*>8 %<",
                     categories)
    month = client.get(REPORT + "?days=30").get_data(as_text=True)
    assert _stat(month, "clicks") == "6"
    # payouts: the default threshold is 50: otto (56 confirmed) is due, mira (8 confirmed) is not
    payouts = week[week.index('data-testid="payouts"'):]
    payouts = payouts[:payouts.index("</table>")]
    assert "otto" in payouts and "mira" not in payouts

    rows = _csv(client, REPORT + "/members.csv?days=7")
    assert [(r["username"], r["clicks"], r["orders"], r["commission"]) for r in rows] == [
        ("otto", "1", "1", "56.00"), ("mira", "4", "2", "9.50")]
    products = _csv(client, REPORT + "/products.csv?days=7")
    assert {r["title"]: r["clicks"] for r in products} == {"Glow lamp": "3", "'=cmd|' /C calc'!A0": "2"}
    days = _csv(client, REPORT + "/days.csv?days=7")
    assert len(days) == 7 and sum(int(r["clicks"]) for r in days) == 5
    assert [r["category"] for r in _csv(client, REPORT + "/categories.csv?days=7")] == ["fashion", "electronics"]
    assert [r["username"] for r in _csv(client, REPORT + "/payouts.csv")] == ["otto"]
    assert client.get(REPORT + "/secrets.csv").status_code == 404


def test_a_custom_range_is_validated(client: FlaskClient, auth, admin, member, shop, product) -> None:  # noqa: ANN001
    _seed(member, shop, product)
    auth.login("root")
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=21)).isoformat()
    end = (today - timedelta(days=19)).isoformat()
    page = client.get(f"{REPORT}?start={start}&end={end}").get_data(as_text=True)
    assert _stat(page, "clicks") == "1"  # only the click of 20 days ago
    assert page.count('<rect class="bar') == 3
    rows = _csv(client, f"{REPORT}/days.csv?start={start}&end={end}")
    assert [r["date"] for r in rows] == [start, (today - timedelta(days=20)).isoformat(), end]
    for query, reason in [(f"start={end}&end={start}", "before the first day"),
                          (f"start={start}", "both"),
                          ("start=2026-13-40&end=2026-11-01", "2026-11-26"),
                          (f"start={(today - timedelta(days=800)).isoformat()}&end={today.isoformat()}", "at most 366")]:
        refused = client.get(f"{REPORT}?{query}")
        assert refused.status_code == 400
        text = refused.get_data(as_text=True)
        assert reason in text[text.index('data-testid="range-error"'):][:300]
        assert client.get(f"{REPORT}/days.csv?{query}").status_code == 400


def _statements(client: FlaskClient, path: str) -> int:
    statements: list[str] = []

    def listener(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(statements)


def test_the_report_costs_the_same_queries_for_any_volume(client: FlaskClient, auth, admin, member, shop, product) -> None:  # noqa: ANN001
    auth.login("root")
    client.get(REPORT)  # the first request after logging in reads the login session once
    counts = []
    for batch in range(2):
        now = datetime.now(UTC)
        for n in range(1 + batch * 40):
            click = add_click(member, now - timedelta(hours=n), ref=f"b{batch}-{n}", product=product)
            add_order(click, now - timedelta(hours=n), "10.00", "1.00", order_id=f"b{batch}-{n}")
        db.session.commit()
        rollup((now - timedelta(days=3)).date(), now.date())
        counts.append(_statements(client, REPORT + "?days=7"))
    assert counts[0] == counts[1]
