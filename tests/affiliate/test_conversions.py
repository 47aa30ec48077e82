"""Importing the network's conversion report: every line checked (errors name the line), all or
nothing, idempotent by order id, matched to clicks by our reference, commission from the file or
from the category rate in force at import (kept with the order), and the report shows it at once."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from extensions import db
from models import AffiliateConversion, AffiliatePerformance
from services.affiliate_conversions import ConversionImportError, import_csv, parse_mapping
from tests.affiliate.conftest import add_click

HEADER = "order_id,click_ref,order_value,commission,currency,status,order_date,category\n"


def _orders() -> dict[str, AffiliateConversion]:
    db.session.rollback()
    return {order.order_id: order for order in db.session.scalars(select(AffiliateConversion))}


def _errors(text: str, mapping: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConversionImportError) as caught:
        import_csv(text, mapping)
    return [str(error) for error in caught.value.errors]


def test_every_bad_line_is_named_and_nothing_is_imported(app: Flask) -> None:
    text = HEADER + (
        "A1,,10.00,,USD,pending,2026-11-02,fashion\n"
        "A2,,ten,,USD,pending,2026-11-02,fashion\n"
        "A3,,10.00,,USD,shipped,2026-11-02,fashion\n"
        "\n"
        "A4,,10.00,,USD,pending,02/11/2026,fashion\n"
        ",,10.00,,USD,pending,2026-11-02,\n"
        "A1,,12.00,,USD,pending,2026-11-02,\n"
        "A5,,-3,,USD,pending,2026-11-02,\n"
        "A6,,3.00,,EURO,pending,2026-11-02,\n"
    )
    errors = _errors(text)
    assert errors == [
        "line 3: the order value must be a number, got 'ten'",
        "line 4: the status must be one of pending, confirmed, rejected, got 'shipped'",
        "line 6: the order date must look like 2026-11-26 or 2026-11-26T14:05:00, got '02/11/2026'",
        "line 7: the order id is empty",
        "line 8: order A1 is also on line 2",
        "line 9: the order value must be a positive amount, got '-3'",
        "line 10: the currency must be a three-letter code, got 'EURO'",
    ]
    assert _orders() == {}  # the good first line was not imported either


def test_a_missing_column_is_reported_on_the_header_line(app: Flask) -> None:
    assert _errors("order_id,status\nA1,pending\n") == [
        "line 1: no column for order_value, ordered_at (columns: order_id, status); map one with column=field"]
    assert _errors("") == ["line 1: the file is empty"]
    assert _errors(HEADER) == ["line 2: the file has no orders"]


def test_a_quoted_newline_keeps_the_line_numbers_right(app: Flask) -> None:
    text = HEADER + '"A1",,10,,USD,pending,2026-11-02,"two\nlines"\nA2,,x,,USD,pending,2026-11-02,\n'
    assert _errors(text) == ["line 4: the order value must be a number, got 'x'"]


def test_the_same_file_twice_counts_once_and_a_later_file_flips_statuses(app: Flask, member, product) -> None:  # noqa: ANN001
    day = datetime(2026, 11, 2, 10, tzinfo=UTC)
    add_click(member, day - timedelta(hours=1), ref="ref-one", product=product)
    add_click(member, day - timedelta(hours=1), ref="ref-two", product=product)
    db.session.commit()
    first = HEADER + (
        "A1,ref-one,100.00,7.00,USD,pending,2026-11-02T10:00:00,fashion\n"
        "A2,ref-two,50.00,,USD,pending,2026-11-02T11:00:00,beauty\n"
        "A3,ref-unknown,20.00,,USD,pending,2026-11-02T12:00:00,\n"
    )
    report = import_csv(first)
    assert (report.created, report.updated, report.unchanged, report.unmatched) == (3, 0, 0, 1)
    again = import_csv(first)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert db.session.scalar(select(func.count()).select_from(AffiliateConversion)) == 3

    flipped = HEADER + (
        "A1,ref-one,100.00,7.00,USD,confirmed,2026-11-02T10:00:00,fashion\n"
        "A2,ref-two,50.00,,USD,rejected,2026-11-02T11:00:00,beauty\n"
    )
    report = import_csv(flipped)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    orders = _orders()
    assert len(orders) == 3
    assert orders["A1"].status == "confirmed" and orders["A1"].confirmed_at is not None
    assert orders["A2"].status == "rejected"
    assert orders["A3"].click_id is None
    performance = db.session.scalars(select(AffiliatePerformance)).all()
    assert [(row.user_id, row.date, row.conversions, Decimal(row.commission)) for row in performance] == [
        (member.id, day.date(), 1, Decimal("7.00"))]  # the rejected one is out, A1 counted once


def test_a_final_status_never_goes_back_to_pending(app: Flask) -> None:
    import_csv(HEADER + "A1,,10.00,1.00,USD,confirmed,2026-11-02,\nA2,,10.00,1.00,USD,pending,2026-11-02,\n")
    older = HEADER + "A2,,10.00,1.00,USD,confirmed,2026-11-02,\nA1,,10.00,1.00,USD,pending,2026-11-02,\n"
    assert _errors(older) == ["line 3: order A1 is already confirmed; it cannot go back to pending"]
    assert _orders()["A2"].status == "pending"  # all or nothing: line 2 was not applied either


def test_the_commission_rate_in_force_at_import_is_kept(app: Flask) -> None:
    app.config["AFFILIATE_COMMISSION_RATES"] = {"fashion": Decimal("8"), "default": Decimal("5")}
    import_csv(HEADER + "A1,,100.00,,USD,pending,2026-11-02,Fashion\n"
                        "A2,,100.00,,USD,pending,2026-11-02,garden\n"
                        "A3,,100.00,2.50,USD,pending,2026-11-02,fashion\n")
    orders = _orders()
    assert (orders["A1"].commission, orders["A1"].commission_rate) == (Decimal("8.00"), Decimal("8"))
    assert (orders["A2"].commission, orders["A2"].commission_rate) == (Decimal("5.00"), Decimal("5"))
    assert (orders["A3"].commission, orders["A3"].commission_rate) == (Decimal("2.50"), None)

    app.config["AFFILIATE_COMMISSION_RATES"] = {"fashion": Decimal("20"), "default": Decimal("1")}
    report = import_csv(HEADER + "A1,,100.00,,USD,confirmed,2026-11-02,fashion\n"
                                 "A4,,100.00,,USD,pending,2026-11-02,fashion\n")
    orders = _orders()
    assert report.updated == 1 and report.created == 1
    assert (orders["A1"].status, orders["A1"].commission) == ("confirmed", Decimal("8.00"))  # history kept
    assert orders["A4"].commission == Decimal("20.00")  # a new order earns today's rate


def test_columns_can_be_mapped_and_aliases_are_known(app: Flask) -> None:
    text = "Order No,subid,Sale Amount,Date,State\nN1,,12.50,2026-11-02,confirmed\n"
    mapping = parse_mapping(["Order No=order_id", "State=status"])
    assert import_csv(text, mapping).created == 1
    assert _orders()["N1"].status == "confirmed"
    with pytest.raises(ValueError, match="'price' is not a field"):
        parse_mapping(["Total=price"])


def test_the_command_imports_and_fails_with_a_clear_line(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    good = tmp_path / "report.csv"
    good.write_text(HEADER + "A1,,10.00,1.00,USD,pending,2026-11-02,\n", encoding="utf-8")
    result = runner.invoke(args=["affiliate", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported: 1 new, 0 updated, 0 unchanged" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "".join(f"B{i},,x,,USD,pending,2026-11-02,\n" for i in range(7)), encoding="utf-8")
    result = runner.invoke(args=["affiliate", "import", str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "import failed: 7 errors, nothing was imported"
    assert lines[1] == "  line 2: the order value must be a number, got 'x'"
    assert lines[-1] == "  … and 2 more"
    assert "Traceback" not in result.output and set(_orders()) == {"A1"}

    mapped = runner.invoke(args=["affiliate", "import", str(good), "--map", "nonsense"])
    assert mapped.exit_code == 2 and "column=field" in mapped.output


def test_the_report_shows_the_commission_after_an_import(client: FlaskClient, auth, member, product) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    add_click(member, now, ref="r-report", product=product)
    db.session.commit()
    import_csv(HEADER + f"R1,r-report,80.00,6.40,USD,confirmed,{now.isoformat()},\n")
    auth.login("mira")
    page = client.get("/affiliate/?days=7").get_data(as_text=True)
    assert re.search(r'data-testid="stat-commission"><div class="value">\$6.40<', page)
    assert re.search(r'data-testid="stat-orders"><div class="value">1<', page)
