"""The daily rollup equals the aggregates of the raw clicks and orders, and rerunning any range
changes nothing."""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from extensions import db
from jobs.affiliate import rollup_affiliate
from models import AffiliateClick, AffiliateConversion, AffiliatePerformance, User
from services.affiliate_rollup import rollup
from tests.affiliate.conftest import add_click, add_order
from tests.factories import make_user

START = date(2026, 3, 27)  # a range across a month end and a DST change (UTC days ignore DST)
DAYS = 6

clicks_strategy = st.lists(
    st.tuples(st.integers(0, 2), st.integers(-1, DAYS), st.integers(0, 86399)),  # member, day, second
    max_size=25,
)
orders_strategy = st.lists(
    st.tuples(
        st.integers(0, 30),  # which click (modulo the clicks there are; none when there are none)
        st.integers(-1, DAYS), st.integers(0, 86399),
        st.decimals(Decimal("0.01"), Decimal("500"), places=2),
        st.decimals(Decimal("0"), Decimal("60"), places=2),
        st.sampled_from(["pending", "confirmed", "rejected"]),
    ),
    max_size=12,
)


def _performance() -> dict[tuple[int, date], tuple[int, int, Decimal, Decimal]]:
    db.session.rollback()
    return {
        (row.user_id, row.date): (row.clicks, row.conversions, Decimal(row.revenue), Decimal(row.commission))
        for row in db.session.query(AffiliatePerformance)
    }


def _wipe() -> None:
    for model in (AffiliatePerformance, AffiliateConversion, AffiliateClick):
        db.session.execute(delete(model))
    db.session.commit()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clicks=clicks_strategy, orders=orders_strategy)
def test_the_rollup_equals_aggregates_of_the_raw_rows(app: Flask, clicks, orders) -> None:  # noqa: ANN001
    members = db.session.query(User).order_by(User.id).all()
    if len(members) < 3:
        members = [make_user(f"member{i}") for i in range(3)]
    _wipe()
    expected: dict[tuple[int, date], list] = defaultdict(lambda: [0, 0, Decimal("0"), Decimal("0")])
    rows: list[AffiliateClick] = []
    for n, (member, offset, second) in enumerate(clicks):
        at = datetime.combine(START + timedelta(days=offset), datetime.min.time(), tzinfo=UTC) + timedelta(seconds=second)
        rows.append(add_click(members[member], at, ref=f"c{n}"))
        if 0 <= offset < DAYS:
            expected[(members[member].id, at.date())][0] += 1
    for n, (which, offset, second, value, commission, status) in enumerate(orders):
        click = rows[which % len(rows)] if rows else None
        at = datetime.combine(START + timedelta(days=offset), datetime.min.time(), tzinfo=UTC) + timedelta(seconds=second)
        add_order(click, at, str(value), str(commission), order_id=f"o{n}", status=status)
        if click is not None and status != "rejected" and 0 <= offset < DAYS:
            entry = expected[(click.user_id, at.date())]
            entry[1] += 1
            entry[2] += value
            entry[3] += commission
    db.session.commit()
    # A stale row inside the range and one outside it: the first is replaced, the second kept.
    db.session.add(AffiliatePerformance(user_id=members[0].id, date=START, clicks=999, conversions=0,
                                        revenue=Decimal("0"), commission=Decimal("0")))
    db.session.add(AffiliatePerformance(user_id=members[0].id, date=START - timedelta(days=5), clicks=7,
                                        conversions=0, revenue=Decimal("0"), commission=Decimal("0")))
    db.session.commit()

    rollup(START, START + timedelta(days=DAYS - 1))

    got = _performance()
    outside = got.pop((members[0].id, START - timedelta(days=5)))
    assert outside[0] == 7
    assert got == {key: tuple(values) for key, values in expected.items()}


def test_rerunning_a_range_changes_nothing(app: Flask, runner: FlaskCliRunner) -> None:
    alice = make_user("alice")
    day = datetime(2026, 5, 4, 23, 59, 59, tzinfo=UTC)
    click = add_click(alice, day, ref="a")
    add_click(alice, day + timedelta(seconds=1), ref="b")  # the next UTC day
    add_order(click, day, "100.00", "8.00", order_id="x1")
    db.session.commit()
    result = runner.invoke(args=["affiliate", "rollup", "--from", "2026-05-01", "--to", "2026-05-31"])
    assert result.exit_code == 0, result.output
    assert "rolled up 31 days: 2 rows" in result.output
    first = _performance()
    assert first == {(alice.id, date(2026, 5, 4)): (1, 1, Decimal("100.00"), Decimal("8.00")),
                     (alice.id, date(2026, 5, 5)): (1, 0, Decimal("0.00"), Decimal("0.00"))}
    for args in (["--from", "2026-05-01", "--to", "2026-05-31"], ["--from", "2026-05-04", "--to", "2026-05-04"],
                 ["--from", "2026-04-01", "--to", "2026-06-30"]):
        assert runner.invoke(args=["affiliate", "rollup", *args]).exit_code == 0
        assert _performance() == first


def test_the_command_refuses_a_backwards_or_malformed_range(app: Flask, runner: FlaskCliRunner) -> None:
    backwards = runner.invoke(args=["affiliate", "rollup", "--from", "2026-05-02", "--to", "2026-05-01"])
    assert backwards.exit_code != 0 and "before --from" in backwards.output and "Traceback" not in backwards.output
    malformed = runner.invoke(args=["affiliate", "rollup", "--from", "May 1st"])
    assert malformed.exit_code != 0 and "Traceback" not in malformed.output


def test_the_scheduled_job_rolls_up_today_and_days_whose_orders_changed(app: Flask, client, link, member) -> None:  # noqa: ANN001
    from tests.affiliate.conftest import BROWSER

    client.get(link, headers={"User-Agent": BROWSER})  # counted in Redis; the job flushes it first
    last_week = datetime.now(UTC) - timedelta(days=7)
    old_click = add_click(member, last_week, ref="old")
    add_order(old_click, last_week, "20.00", "1.00", order_id="late")  # updated just now
    db.session.commit()
    result = rollup_affiliate()
    assert result["flushed_clicks"] == 1
    got = _performance()
    assert got[(member.id, datetime.now(UTC).date())][0] == 1
    assert got[(member.id, last_week.date())] == (1, 1, Decimal("20.00"), Decimal("1.00"))
    assert rollup_affiliate()["flushed_clicks"] == 0
    assert _performance() == got
