"""Orders reported by the affiliate network (a CSV report, or one pushed postback) into
``affiliate_conversions``.

Why it is shaped like this:

* *Every row is checked before anything is written*, and each problem names its line: a network
  report with one bad row is fixed and imported again, so a half-imported file (some orders in,
  some not) would only make the second import harder to reason about. The writes then happen in
  one transaction: all or nothing.
* *Idempotent by order id*: importing the same report twice changes nothing, and a later report
  moves an order from pending to confirmed or rejected in place, so an order never counts twice.
  An order that is already confirmed or rejected cannot go back to pending (an older report
  imported by mistake); that is a line error, not a silent rewind.
* *Matched to clicks by our click reference* (``click_ref``, sent out as ``subid``). An order whose
  reference we do not know is still stored (it is money the network owes) but belongs to no member.
* *The commission rate is a snapshot*: when the report states no commission, it is computed from
  the category's rate in force (``services.affiliate_settings``) *at import* and that rate is stored with
  the order, so changing the configured rates later never rewrites what was earned.

After the commit the days whose orders changed are rolled up again, so the report shows them at once.
"""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import AffiliateClick, AffiliateConversion
from models.affiliate import CONVERSION_STATUSES
from services import affiliate_settings
from services.affiliate_rollup import day_runs, rollup

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
MAX_ROWS = 50_000  # far above a month of any member base's orders; a wrong file is caught early
MAX_ERRORS = 100  # a file that is wrong throughout stops being checked after this many problems
LOOKUP_BATCH = 500
MAX_VALUE = Decimal("999999999999.99")  # Numeric(14, 2)

FIELDS = ("order_id", "click_ref", "order_value", "commission", "currency", "status", "ordered_at", "category")
REQUIRED_FIELDS = ("order_id", "order_value", "ordered_at")
# Column names networks commonly use, recognised without a --map.
ALIASES: Mapping[str, str] = {
    "order": "order_id", "order_number": "order_id", "subid": "click_ref", "sub_id": "click_ref",
    "click_reference": "click_ref", "value": "order_value", "amount": "order_value", "sale_amount": "order_value",
    "payout": "commission", "order_date": "ordered_at", "date": "ordered_at", "ordered": "ordered_at",
    "product_category": "category",
}
FINAL_STATUSES = ("confirmed", "rejected")


@dataclass(frozen=True)
class LineError:
    """One problem of one input line (line 1 is the CSV header)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ConversionImportError(ValueError):
    """Nothing was imported; ``errors`` says why, line by line."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors[:5]))


@dataclass(frozen=True)
class ConversionRow:
    """One checked order, ready to be written."""

    line: int
    order_id: str
    click_ref: str | None
    order_value: Decimal
    commission: Decimal | None  # None: computed from the category's rate
    currency: str
    status: str
    ordered_at: datetime
    category: str | None


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0  # status, value or commission changed
    unchanged: int = 0
    unmatched: int = 0  # orders whose click reference we do not know (among created and updated)
    days: list[date] = field(default_factory=list)  # the days rolled up again


# --------------------------------------------------------------------------- reading and checking


def normalise_header(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["Order No=order_id", ...]`` (column=field) into a dict; ``ValueError`` on a bad pair."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise ValueError(f"a mapping looks like 'column=field', got {pair!r}")
        if target not in FIELDS:
            raise ValueError(f"{target!r} is not a field; the fields are {', '.join(FIELDS)}")
        mapping[normalise_header(column)] = target
    return mapping


def column_fields(header: list[str], mapping: Mapping[str, str] | None = None, *,
                  only_mapped: bool = False) -> dict[int, str]:
    """Which field each column holds: the explicit ``mapping`` first, then (unless
    ``only_mapped``: the upload page, where the admin chose every column) the field's own name
    or a common alias. Unknown columns are ignored (reports carry plenty we do not need)."""
    mapping = mapping or {}
    fields: dict[int, str] = {}
    for index, name in enumerate(header):
        key = normalise_header(name)
        target = mapping.get(key) or (None if only_mapped else key if key in FIELDS else ALIASES.get(key))
        if target and target not in fields.values():
            fields[index] = target
    return fields


def read_csv(text: str, mapping: Mapping[str, str] | None = None, *,
             only_mapped: bool = False) -> list[tuple[int, dict[str, str]]]:
    """The records of a CSV report as ``(line, {field: text})``; the line is where the record
    starts in the file, so an error message points at what the admin sees in an editor."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise ConversionImportError([LineError(1, "the file is empty")]) from None
    except csv.Error as exc:
        raise ConversionImportError([LineError(1, f"not a CSV file ({exc})")]) from None
    fields = column_fields(header, mapping, only_mapped=only_mapped)
    missing = [name for name in REQUIRED_FIELDS if name not in fields.values()]
    if missing:
        raise ConversionImportError([LineError(1, "no column for {} (columns: {}); map one with column=field".format(
            ", ".join(missing), ", ".join(header) or "none"))])
    records: list[tuple[int, dict[str, str]]] = []
    line = reader.line_num + 1
    try:
        for values in reader:
            if any(value.strip() for value in values):
                records.append((line, {name: values[index] for index, name in fields.items() if index < len(values)}))
                if len(records) > MAX_ROWS:
                    raise ConversionImportError([LineError(line, f"the file has more than {MAX_ROWS} orders")])
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ConversionImportError([LineError(line, f"unreadable CSV ({exc})")]) from None
    return records


def parse_record(values: Mapping[str, Any], *, line: int = 1, currency: str | None = None) -> ConversionRow:
    """One record's fields checked and converted; ``ValueError`` with a readable reason.

    ``currency`` is the one an order without its own is in (default: the configured one)."""
    text = {name: str(values.get(name) or "").strip() for name in FIELDS}
    if not text["order_id"]:
        raise ValueError("the order id is empty")
    if len(text["order_id"]) > 64:
        raise ValueError("the order id is longer than 64 characters")
    if len(text["click_ref"]) > 32:
        raise ValueError("the click reference is longer than 32 characters")
    order_value = _money(text["order_value"], "order value")
    commission = _money(text["commission"], "commission") if text["commission"] else None
    currency = (text["currency"] or currency or affiliate_settings.current().currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"the currency must be a three-letter code, got {text['currency']!r}")
    status = (text["status"] or "pending").lower()
    if status not in CONVERSION_STATUSES:
        raise ValueError(f"the status must be one of {', '.join(CONVERSION_STATUSES)}, got {text['status']!r}")
    if len(text["category"]) > 64:
        raise ValueError("the category is longer than 64 characters")
    return ConversionRow(
        line=line, order_id=text["order_id"], click_ref=text["click_ref"] or None, order_value=order_value,
        commission=commission, currency=currency, status=status, ordered_at=_moment(text["ordered_at"]),
        category=text["category"].lower() or None,
    )


def parse_rows(records: Iterable[tuple[int, Mapping[str, Any]]]) -> list[ConversionRow]:
    """Every record checked; ``ConversionImportError`` listing every bad line (up to ``MAX_ERRORS``),
    including an order id that appears twice in one file (which of the two would be true?)."""
    rows: list[ConversionRow] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    currency = affiliate_settings.current().currency
    for line, values in records:
        try:
            row = parse_record(values, line=line, currency=currency)
        except ValueError as exc:
            errors.append(LineError(line, str(exc)))
        else:
            if row.order_id in seen:
                errors.append(LineError(line, f"order {row.order_id} is also on line {seen[row.order_id]}"))
            else:
                seen[row.order_id] = line
                rows.append(row)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise ConversionImportError(errors)
    if not rows:
        raise ConversionImportError([LineError(2, "the file has no orders")])
    return rows


def _money(text: str, what: str) -> Decimal:
    if not text:
        raise ValueError(f"the {what} is empty")
    # "1,234.56" (thousands) and "12,50" (a decimal comma) both occur in exported reports
    plain = text.replace(",", "") if "." in text else text.replace(",", ".")
    try:
        amount = Decimal(plain)
    except InvalidOperation:
        raise ValueError(f"the {what} must be a number, got {text!r}") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_VALUE:
        raise ValueError(f"the {what} must be a positive amount, got {text!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _moment(text: str) -> datetime:
    """An ISO date or date-time; without a zone it is UTC (what networks report in)."""
    if not text:
        raise ValueError("the order date is empty")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"the order date must look like 2026-11-26 or 2026-11-26T14:05:00, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if not 2000 <= moment.year <= 2100:
        raise ValueError(f"the order date {text!r} is not a plausible date")
    return moment


# --------------------------------------------------------------------------- writing


def rate_for(category: str | None, rates: Mapping[str, Decimal]) -> Decimal:
    """The configured percentage for a category (``default`` for any other)."""
    return rates.get((category or "").lower(), rates["default"])


def commission_at(value: Decimal, rate: Decimal) -> Decimal:
    return (value * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def import_conversions(rows: list[ConversionRow], *, now: datetime | None = None) -> ImportReport:
    """Write checked rows in one transaction (nothing on any error), then roll up their days.

    Raises ``ConversionImportError`` for a status that would go back to pending, or when another
    import inserted the same new order at the same moment (the caller can simply retry).
    """
    now = now or datetime.now(UTC)
    rates = affiliate_settings.current().commission_rates
    report = ImportReport()
    days: set[date] = set()
    session = db.session
    try:
        existing = _existing_orders([row.order_id for row in rows])
        clicks = _click_ids([row.click_ref for row in rows if row.click_ref])
        errors: list[LineError] = []
        for row in rows:
            click_id = clicks.get(row.click_ref) if row.click_ref else None
            order = existing.get(row.order_id)
            if order is None:
                rate = None if row.commission is not None else rate_for(row.category, rates)
                session.add(AffiliateConversion(
                    order_id=row.order_id, click_id=click_id, order_value=row.order_value,
                    commission=row.commission if rate is None else commission_at(row.order_value, rate),
                    commission_rate=rate, currency=row.currency, status=row.status, category=row.category,
                    ordered_at=row.ordered_at, confirmed_at=now if row.status == "confirmed" else None,
                    created_at=now, updated_at=now,
                ))
                report.created += 1
                report.unmatched += click_id is None
                days.add(row.ordered_at.date())
                continue
            if order.status in FINAL_STATUSES and row.status == "pending":
                errors.append(LineError(row.line, f"order {row.order_id} is already {order.status}; "
                                                  "it cannot go back to pending"))
                continue
            if _update(order, row, click_id, now, rates):
                report.updated += 1
                report.unmatched += order.click_id is None
                days.update({order.ordered_at.astimezone(UTC).date(), row.ordered_at.date()})
                order.ordered_at = row.ordered_at
            else:
                report.unchanged += 1
        if errors:
            raise ConversionImportError(errors)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConversionImportError([LineError(rows[0].line, "another import added the same orders at the same "
                                                             "moment; import the file again")]) from None
    except BaseException:
        session.rollback()
        raise
    report.days = sorted(days)
    for first, last in day_runs(report.days):
        rollup(first, last)
    logger.info("affiliate conversions imported: %d new, %d updated, %d unchanged, %d unmatched",
                report.created, report.updated, report.unchanged, report.unmatched)
    return report


def _update(order: AffiliateConversion, row: ConversionRow, click_id: int | None, now: datetime,
            rates: Mapping[str, Decimal]) -> bool:
    """Apply a re-reported order; whether anything changed. The stored rate is kept: a
    commission the network did not state is recomputed with the rate of the first import."""
    if row.commission is not None:
        commission, rate = row.commission, None
    else:
        rate = order.commission_rate if order.commission_rate is not None else Decimal(
            rate_for(row.category or order.category, rates))
        commission = commission_at(row.order_value, rate)
    new = {"status": row.status, "order_value": row.order_value, "commission": commission,
           "commission_rate": rate, "currency": row.currency, "category": row.category or order.category,
           "click_id": order.click_id or click_id}
    changed = {name: value for name, value in new.items() if _differs(getattr(order, name), value)}
    moved = order.ordered_at.astimezone(UTC) != row.ordered_at
    if not changed and not moved:
        return False
    for name, value in changed.items():
        setattr(order, name, value)
    if "status" in changed and row.status == "confirmed":
        order.confirmed_at = now
    order.updated_at = now
    return True


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal | float) or isinstance(new, Decimal):
        if old is None or new is None:
            return old is not new
        return Decimal(str(old)).quantize(CENT) != Decimal(str(new)).quantize(CENT)
    return bool(old != new)


def _existing_orders(order_ids: list[str]) -> dict[str, AffiliateConversion]:
    found: dict[str, AffiliateConversion] = {}
    for start in range(0, len(order_ids), LOOKUP_BATCH):
        chunk = order_ids[start:start + LOOKUP_BATCH]
        for order in db.session.scalars(select(AffiliateConversion).where(AffiliateConversion.order_id.in_(chunk))):
            found[order.order_id] = order
    return found


def _click_ids(refs: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    unique = sorted(set(refs))
    for start in range(0, len(unique), LOOKUP_BATCH):
        chunk = unique[start:start + LOOKUP_BATCH]
        rows = db.session.execute(
            select(AffiliateClick.click_ref, AffiliateClick.id).where(AffiliateClick.click_ref.in_(chunk))
        )
        found.update((click_ref, click_id) for click_ref, click_id in rows)
    return found


def import_csv(text: str, mapping: Mapping[str, str] | None = None, *, only_mapped: bool = False) -> ImportReport:
    """Read, check and import one CSV report (what the command and the upload page do)."""
    return import_conversions(parse_rows(read_csv(text, mapping, only_mapped=only_mapped)))
