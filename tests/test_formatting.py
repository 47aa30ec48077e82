"""Money, prices, numbers, times and intervals in English and Dutch (``services.formatting``),
inside a request's language and outside any app context."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale

from services import formatting

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", ["$12.50", "€1,234.50", "12.50", "—", "XYZ 3.00", "$1.20 – $3.40", "$1.20", "12.5", "1,234"]),
        ("nl", ["US$\xa012,50", "€\xa01.234,50", "12,50", "—", "XYZ 3.00", "US$\xa01,20 – US$\xa03,40", "US$\xa01,20",
                "12,5", "1.234"]),
    ],
)
def test_money_prices_and_numbers(app: Flask, locale: str, expected: list[str]) -> None:
    with force_locale(locale):
        got = [
            formatting.money(Decimal("12.5"), "USD"),
            formatting.money(Decimal("1234.5"), "EUR"),
            formatting.money(Decimal("12.5")),  # no currency known: the amount alone
            formatting.money(None, "USD"),
            formatting.money(Decimal("3"), "XYZ"),  # not a currency Babel knows: shown plainly
            formatting.price_range(Decimal("1.2"), Decimal("3.4"), "USD"),
            formatting.price_range(Decimal("1.2"), Decimal("1.2"), "USD"),
            formatting.number(Decimal("12.50")),
            formatting.number(1234),
        ]
    assert got == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", ["20 seconds", "15 minutes", "6 hours", "1 day", "1 hour 30 minutes", "10 days", "7 days"]),
        ("nl", ["20 seconden", "15 minuten", "6 uur", "1 dag", "1 uur 30 minuten", "10 dagen", "7 dagen"]),
    ],
)
def test_intervals_are_exact_never_rounded(app: Flask, locale: str, expected: list[str]) -> None:
    with force_locale(locale):
        got = [formatting.interval(s) for s in (20, 900, 6 * 3600, 86400, 5400, 10 * 86400, 7 * 86400)]
    assert got == expected


@pytest.mark.parametrize(
    ("locale", "ago", "ahead"),
    [("en", "3 minutes ago", "in 2 hours"), ("nl", "3 minuten geleden", "over 2 uur")],
)
def test_relative_times(app: Flask, locale: str, ago: str, ahead: str) -> None:
    with force_locale(locale):
        assert formatting.relative_time(NOW - timedelta(minutes=3), NOW) == ago
        assert formatting.relative_time(NOW + timedelta(hours=2), NOW) == ahead
        assert formatting.relative_time(NOW.replace(tzinfo=None) - timedelta(minutes=3), NOW) == ago  # SQLite: naive UTC
        assert formatting.relative_time(None) == "—"


def test_dates_in_the_readers_language(app: Flask) -> None:
    with force_locale("nl"):
        assert formatting.day(date(2026, 3, 14)) == "14 mrt 2026"
        assert formatting.date_time(None) == "—"
    with force_locale("en"):
        assert formatting.day(date(2026, 3, 14)) == "Mar 14, 2026"
        assert formatting.date_time(NOW).startswith("Mar 14, 2026")


def test_outside_any_app_context_english_and_utc() -> None:
    """Scripts and unit code get an answer, not "working outside of application context"."""
    assert formatting.money(Decimal("12.5"), "USD") == "$12.50"
    assert formatting.money(Decimal("12.5")) == "12.50"
    assert formatting.price_range(Decimal("1"), Decimal("2"), "EUR") == "€1.00 – €2.00"
    assert formatting.interval(5400) == "1 hour 30 minutes"
    assert formatting.relative_time(NOW - timedelta(minutes=3), NOW) == "3 minutes ago"
    assert formatting.day(NOW) == "Mar 14, 2026"
    assert formatting.date_time(NOW) == "Mar 14, 2026, 12:00:00\u202fPM"


def test_templates_use_the_same_formats(app: Flask) -> None:
    """Registered once by ``web.context`` for every blueprint's templates."""
    with app.test_request_context("/?lang=nl"):
        html = render_template_string(
            "{{ money(price, 'USD') }}|{{ price_range(low, high, 'EUR') }}|{{ interval_label(20) }}|"
            "{{ revenue|format_money }}|{{ tier_label('business') }}|{{ kind_label('store') }}",
            price=Decimal("12.5"), low=Decimal("1"), high=Decimal("2"), revenue=Decimal("3"),
        )
    assert html == "US$\xa012,50|€\xa01,00 – €\xa02,00|20 seconden|US$\xa03,00|Business|Winkel"
