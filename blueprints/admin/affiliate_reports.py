"""The admins' affiliate report: totals and a per-day chart, then per member, per product and
per category, over 7 / 30 / 90 days or a custom range, each table also as CSV, and the members
whose confirmed commission reaches the payout threshold. The figures are
``services.affiliate_reports``; these views read the period from the query string."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, make_response, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from blueprints.admin import bp
from blueprints.admin.affiliate_forms import ReportRangeForm
from services import affiliate_reports, affiliate_settings, formatting
from services.affiliate import PERIODS
from services.affiliate_reports import Period, PeriodError
from web.params import int_arg

DEFAULT_DAYS = 30


def _period(form: ReportRangeForm) -> tuple[Period, str | None]:
    """The period the query string asks for, and why a custom range was refused (then the
    default period is shown with the message)."""
    today = datetime.now(UTC).date()
    fallback = affiliate_reports.last_days(DEFAULT_DAYS, today)
    if request.args.get("start") or request.args.get("end"):
        if not form.validate():
            return fallback, _("Dates look like 2026-11-26.")
        try:
            return affiliate_reports.custom_period(form.start.data, form.end.data, today), None
        except PeriodError as exc:
            return fallback, str(exc)
    days = int_arg("days", DEFAULT_DAYS, minimum=1, maximum=366, clamp=True)
    return affiliate_reports.last_days(days if days in PERIODS else DEFAULT_DAYS, today), None


def _range_args(period: Period) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


@bp.get("/affiliate/report")
def affiliate_report() -> tuple[str, int]:
    form = ReportRangeForm(request.args)
    period, error = _period(form)
    settings = affiliate_settings.current()
    data = affiliate_reports.report(period)
    payouts = affiliate_reports.payouts_due(settings.payout_threshold)
    title = _("Clicks per day, %(start)s to %(end)s", start=formatting.day(period.start),
              end=formatting.day(period.end))
    chart = affiliate_reports.per_day_chart(data.totals, settings.currency, chart_id="admin-affiliate-per-day",
                                            title=title)
    preset = period.days if period.days in PERIODS and not request.args.get("start") else None
    return render_template(
        "admin/affiliate_report.html", data=data, payouts=payouts, settings=settings, chart=chart,
        form=form, range_error=error, periods=PERIODS, preset=preset, range_args=_range_args(period),
    ), 400 if error else 200


@bp.get("/affiliate/report/<table>.csv")
def affiliate_report_csv(table: str) -> Response:
    if table not in affiliate_reports.EXPORTS:
        abort(404)
    form = ReportRangeForm(request.args)
    period, error = _period(form)
    if error:
        abort(400, description=error)
    data = affiliate_reports.report(period)
    payouts = affiliate_reports.payouts_due(affiliate_settings.current().payout_threshold) if table == "payouts" else []
    header, rows = affiliate_reports.export_rows(table, data, payouts)
    response = make_response(affiliate_reports.to_csv(header, rows))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"affiliate-{table}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

