"""The admins' affiliate report: totals, per member, per product, per category, payouts due.

Everything is an aggregate computed by the database: members from ``affiliate_performance``
(the daily rollup, one row per member and day), products and categories grouped over the
period's clicks and orders (indexed by time), payouts grouped over confirmed orders. No figure
is summed row by row in Python, so the page costs a handful of queries whatever the volume.

Orders count like the rollup counts them: on the day they were placed, for the member whose
click they came from, unless rejected. Orders matched to no click belong to no member and are
in none of these tables.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup
from sqlalchemy import case, func, select

from extensions import db
from models import AffiliateClick, AffiliateConversion, AffiliatePerformance, User
from services import charts, formatting
from services.affiliate import AffiliateSummary, summary_between
from services.formatting import spreadsheet_safe

MAX_RANGE_DAYS = 366
PRODUCT_ROWS = 200  # the products table (and its CSV) lists the most clicked this many
CENT = Decimal("0.01")


class PeriodError(ValueError):
    """A custom range that cannot be reported on; the message says why, for people."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def last_days(days: int, today: date | None = None) -> Period:
    end = today or datetime.now(UTC).date()
    return Period(end - timedelta(days=days - 1), end)


def custom_period(start: date | None, end: date | None, today: date | None = None) -> Period:
    """A range an admin typed; ``PeriodError`` when it is incomplete, reversed, in the future or
    longer than ``MAX_RANGE_DAYS``."""
    today = today or datetime.now(UTC).date()
    if start is None or end is None:
        raise PeriodError(_("Give both the first and the last day of the range."))
    if end < start:
        raise PeriodError(_("The last day is before the first day."))
    if start > today:
        raise PeriodError(_("The range starts in the future; there are no figures yet."))
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise PeriodError(_("A range can span at most %(n)s days.", n=MAX_RANGE_DAYS))
    return Period(start, end)


@dataclass(frozen=True)
class MemberFigures:
    user_id: int
    username: str
    email: str
    clicks: int
    conversions: int
    revenue: Decimal
    commission: Decimal


@dataclass(frozen=True)
class CategoryFigures:
    category: str  # "" when the network reported none
    conversions: int
    revenue: Decimal
    commission: Decimal

    @property
    def effective_rate(self) -> Decimal | None:
        """Commission as a percentage of revenue (what the mix of rates came to)."""
        return (self.commission / self.revenue * 100).quantize(CENT) if self.revenue else None


@dataclass(frozen=True)
class PayoutFigures:
    user_id: int
    username: str
    email: str
    confirmed: Decimal  # all confirmed commission so far: what is owed
    pending: Decimal  # not yet confirmed by the network


@dataclass
class AdminReport:
    period: Period
    totals: AffiliateSummary
    members: list[MemberFigures]
    categories: list[CategoryFigures]


def report(period: Period) -> AdminReport:
    """Every table of the admin report for ``period``."""
    return AdminReport(
        period=period, totals=summary_between(None, period.start, period.end, top=PRODUCT_ROWS),
        members=members(period), categories=categories(period),
    )


def members(period: Period) -> list[MemberFigures]:
    """Each member with any activity in the period, highest commission first."""
    commission = func.sum(AffiliatePerformance.commission)
    clicks = func.sum(AffiliatePerformance.clicks)
    rows = db.session.execute(
        select(User.id, User.username, User.email, clicks, func.sum(AffiliatePerformance.conversions),
               func.sum(AffiliatePerformance.revenue), commission)
        .join(User, User.id == AffiliatePerformance.user_id)
        .where(AffiliatePerformance.date >= period.start, AffiliatePerformance.date <= period.end)
        .group_by(User.id, User.username, User.email)
        .order_by(commission.desc(), clicks.desc(), User.id)
    )
    return [MemberFigures(int(uid), name, email, int(c or 0), int(o or 0), _money(r), _money(m))
            for uid, name, email, c, o, r, m in rows]


def categories(period: Period) -> list[CategoryFigures]:
    """Orders, revenue and commission per product category the network reported."""
    since, until = _bounds(period)
    category = func.coalesce(AffiliateConversion.category, "")
    commission = func.sum(AffiliateConversion.commission)
    rows = db.session.execute(
        select(category, func.count(), func.sum(AffiliateConversion.order_value), commission)
        .join(AffiliateClick, AffiliateClick.id == AffiliateConversion.click_id)
        .where(AffiliateConversion.ordered_at >= since, AffiliateConversion.ordered_at < until,
               AffiliateConversion.status != "rejected", AffiliateClick.user_id.is_not(None))
        .group_by(category).order_by(commission.desc(), category)
    )
    return [CategoryFigures(str(name), int(count), _money(revenue), _money(earned))
            for name, count, revenue, earned in rows]


def payouts_due(threshold: Decimal) -> list[PayoutFigures]:
    """Members whose confirmed commission (all time) reaches ``threshold``, most owed first."""
    confirmed = func.sum(case((AffiliateConversion.status == "confirmed", AffiliateConversion.commission), else_=0))
    pending = func.sum(case((AffiliateConversion.status == "pending", AffiliateConversion.commission), else_=0))
    rows = db.session.execute(
        select(User.id, User.username, User.email, confirmed, pending)
        .select_from(AffiliateConversion)
        .join(AffiliateClick, AffiliateClick.id == AffiliateConversion.click_id)
        .join(User, User.id == AffiliateClick.user_id)
        .group_by(User.id, User.username, User.email)
        .having(confirmed >= threshold)
        .order_by(confirmed.desc(), User.id)
    )
    return [PayoutFigures(int(uid), name, email, _money(c), _money(p)) for uid, name, email, c, p in rows]


def per_day_chart(data: AffiliateSummary, currency: str, *, chart_id: str = "affiliate-per-day",
                  title: str | None = None) -> Markup:
    """Clicks per day as SVG bars; each bar's tooltip carries that day's orders and commission."""
    bars = []
    for day in data.per_day:
        tooltip = "{}: {}, {}, {}".format(
            formatting.day(day.day),
            ngettext("%(num)s click", "%(num)s clicks", day.clicks),
            ngettext("%(num)s order", "%(num)s orders", day.conversions),
            _("%(amount)s commission", amount=formatting.money(day.commission, currency)),
        )
        bars.append((tooltip, day.clicks, "with-orders" if day.conversions else ""))
    return charts.daily_bars_svg(
        bars, chart_id=chart_id,
        title=title or _("Clicks per day, last %(n)s days", n=data.days),
        desc=_("%(clicks)s clicks and %(orders)s orders from %(start)s to %(end)s.",
               clicks=data.clicks, orders=data.conversions,
               start=formatting.day(data.start), end=formatting.day(data.end)),
        empty_text=_("No clicks in this period"),
        first_label=formatting.day(data.start, "short"), last_label=formatting.day(data.end, "short"),
    )


# --------------------------------------------------------------------------- CSV export

EXPORTS = ("days", "members", "products", "categories", "payouts")


def export_rows(table: str, data: AdminReport, payouts: Sequence[PayoutFigures]) -> tuple[list[str], list[list[object]]]:
    """Header and rows of one table, plain values (ISO dates, amounts with two decimals)."""
    if table == "days":
        return (["date", "clicks", "orders", "revenue", "commission"],
                [[d.day.isoformat(), d.clicks, d.conversions, d.revenue, d.commission] for d in data.totals.per_day])
    if table == "members":
        return (["user_id", "username", "email", "clicks", "orders", "revenue", "commission"],
                [[m.user_id, m.username, m.email, m.clicks, m.conversions, m.revenue, m.commission]
                 for m in data.members])
    if table == "products":
        return (["product_id", "title", "clicks", "orders", "commission"],
                [[p.product_id, p.title, p.clicks, p.conversions, p.commission] for p in data.totals.top_products])
    if table == "categories":
        return (["category", "orders", "revenue", "commission", "effective_rate_percent"],
                [[c.category, c.conversions, c.revenue, c.commission, c.effective_rate] for c in data.categories])
    if table == "payouts":
        return (["user_id", "username", "email", "confirmed_commission", "pending_commission"],
                [[p.user_id, p.username, p.email, p.confirmed, p.pending] for p in payouts])
    raise KeyError(table)


def to_csv(header: list[str], rows: Iterable[list[object]]) -> str:
    """CSV text; a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) is
    prefixed with a quote, since titles and names come from DHgate and members."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else spreadsheet_safe(value) if isinstance(value, str) else value
                         for value in row])
    return out.getvalue()


def _bounds(period: Period) -> tuple[datetime, datetime]:
    return (datetime.combine(period.start, time.min, tzinfo=UTC),
            datetime.combine(period.end + timedelta(days=1), time.min, tzinfo=UTC))


def _money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)
