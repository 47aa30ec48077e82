"""The security log page and its CSV export: one set of filters (event, person, IP, a range of
days in the admin's time zone) for both, so the file holds exactly the rows the page lists."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import flask_babel
from flask import Response, redirect, render_template, request, stream_with_context, url_for
from sqlalchemy import Select
from werkzeug.wrappers import Response as WerkzeugResponse

from blueprints.admin import bp
from blueprints.admin.forms import SecurityLogFilterForm
from extensions import db
from models import SecurityEvent
from services.audit import events_query, export_rows, record_admin_action
from web.params import int_arg, page_arg

EVENTS_PER_PAGE = 50
FILTER_NAMES = ("event", "user", "ip", "since", "until", "user_id")


@dataclass
class LogRequest:
    """The filters of one request: the form (with its messages) and, when it is valid, the query."""

    form: SecurityLogFilterForm
    query: Select[SecurityEvent] | None
    filters: dict[str, Any]


def _day_start_utc(day: date) -> datetime:
    """Midnight of ``day`` in the viewer's time zone, as UTC."""
    return flask_babel.to_utc(datetime.combine(day, time.min)).replace(tzinfo=UTC)


def _read_filters() -> LogRequest:
    form = SecurityLogFilterForm(request.args)
    filters = {name: request.args[name] for name in FILTER_NAMES if request.args.get(name)}
    user_id = int_arg("user_id", minimum=1)
    if not form.validate():
        return LogRequest(form, None, filters)
    query = events_query(
        event=form.event.data or None,
        user=(form.user.data or "").strip() or None,
        user_id=user_id,
        ip=(form.ip.data or "").strip() or None,
        since=_day_start_utc(form.since.data) if form.since.data else None,
        before=_day_start_utc(form.until.data + timedelta(days=1)) if form.until.data else None,
    )
    return LogRequest(form, query, filters)


@bp.get("/security-log")
def security_log() -> tuple[str, int] | str:
    """The log, 50 events a page. Bad filters re-render the form with their messages (422)
    and list nothing, rather than quietly ignoring the part that was wrong."""
    log = _read_filters()
    if log.query is None:
        page = render_template("admin/security_log.html", form=log.form, page=None, filters=log.filters)
        return page, 422
    pagination = db.paginate(log.query, page=page_arg(), per_page=EVENTS_PER_PAGE, error_out=False)
    return render_template("admin/security_log.html", form=log.form, page=pagination, filters=log.filters)


@bp.get("/security-log.csv")
def security_log_csv() -> Response | WerkzeugResponse:
    """The filtered log as CSV, streamed row by row (the whole log can be large). Bad filters
    send the admin back to the page, which says what is wrong."""
    log = _read_filters()
    if log.query is None:
        return redirect(url_for("admin.security_log", **log.filters))
    record_admin_action("security_log_exported", filters=log.filters)
    query = log.query
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response = Response(stream_with_context(_csv_lines(export_rows(query))), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="security-log-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _csv_lines(rows: Iterator[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer: Any = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
