"""The member report: own clicks, orders, conversion rate, EPC and commission over 7/30/90 days,
a per-day SVG chart with a title per bar, top products, and a useful empty state."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask.testing import FlaskClient

from extensions import db
from models import AffiliatePerformance
from services.affiliate_rollup import rollup
from tests.affiliate.conftest import add_click, add_order
from tests.factories import make_user
from tests.monitoring.conftest import add_product


def _stat(page: str, name: str) -> str:
    match = re.search(rf'data-testid="stat-{name}"><div class="value">([^<]*)<', page)
    assert match, name
    return match.group(1)


def test_every_figure_of_the_report_is_measured(client: FlaskClient, auth, member, shop, product) -> None:  # noqa: ANN001
    other = make_user("otto")
    lamp2 = add_product(shop, "78", "Desk fan", "19.99")
    now = datetime.now(UTC)
    clicks = [add_click(member, now - timedelta(days=d), ref=f"m{i}", product=product)
              for i, d in enumerate((0, 0, 1, 3))]
    add_click(member, now - timedelta(days=2), ref="fan", product=lamp2)
    add_click(member, now - timedelta(days=20), ref="older", product=product)  # in 30 days, not in 7
    add_click(other, now, ref="someone-else", product=product)
    add_order(clicks[0], now, "50.00", "4.00", order_id="o1")
    add_order(clicks[2], now - timedelta(days=1), "30.00", "2.40", order_id="o2", status="pending")
    add_order(clicks[3], now - timedelta(days=3), "99.00", "9.90", order_id="o3", status="rejected")
    db.session.commit()
    rollup((now - timedelta(days=30)).date(), now.date())
    auth.login("mira")

    week = client.get("/affiliate/?days=7").get_data(as_text=True)
    assert _stat(week, "clicks") == "5"
    assert _stat(week, "orders") == "2"
    assert _stat(week, "rate") == "40 %"
    assert _stat(week, "commission") == "$6.40"
    assert _stat(week, "epc") == "$1.28"
    chart = week[week.index('id="affiliate-per-day"'):]
    chart = chart[:chart.index("</svg>")]
    assert chart.count("<rect class=\"bar") == 7
    assert "<title id=\"affiliate-per-day-title\">Clicks per day, last 7 days</title>" in chart
    assert "2 clicks, 1 order, $4.00 commission</title>" in chart
    top = week[week.index('data-testid="top-products"'):]
    assert top.index("Glow lamp") < top.index("Desk fan")
    assert re.search(r"Glow lamp</td><td[^>]*>4</td><td[^>]*>2</td><td[^>]*>\$6.40<", top)

    month = client.get("/affiliate/?days=30").get_data(as_text=True)
    assert _stat(month, "clicks") == "6"
    assert month.count("<rect class=\"bar") == 30
    quarter = client.get("/affiliate/?days=90").get_data(as_text=True)
    assert quarter.count("<rect class=\"bar") == 90
    odd = client.get("/affiliate/?days=12").get_data(as_text=True)  # not a period: 30 days
    assert odd.count("<rect class=\"bar") == 30


def test_the_empty_report_explains_what_will_show_up(client: FlaskClient, auth, member) -> None:  # noqa: ANN001
    auth.login("mira")
    page = client.get("/affiliate/?days=7").get_data(as_text=True)
    assert "No affiliate activity in the last 7 days" in page
    assert "View on DHgate" in page and 'href="/monitors/"' in page
    assert _stat(page, "rate") == "—" and _stat(page, "epc") == "—"
    assert "<svg" not in page


def test_the_report_in_dutch(client: FlaskClient, auth, member) -> None:  # noqa: ANN001
    db.session.add(AffiliatePerformance(user_id=member.id, date=datetime.now(UTC).date(), clicks=3, conversions=0,
                                        revenue=Decimal("0"), commission=Decimal("0")))
    db.session.commit()
    auth.login("mira")
    page = client.get("/affiliate/", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "Klikken per dag" in page and "3 klikken" in page
