"""Views of the monitoring area: monitors, their products, price history and events.

Every view looks monitors up through ``services.monitors.get_monitor(viewer, id)``, which returns
None for someone else's monitor: members get a 404 (not a 403, which would confirm the monitor
exists); admins may open any monitor. Changes go through the service, so the web, the CLI and
the tests share one set of rules.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from babel.dates import format_skeleton
from flask_babel import format_currency, format_date, format_decimal, format_time, get_locale, to_user_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.monitoring import bp
from blueprints.monitoring.forms import ConfirmForm, KeywordForm, MonitorSettingsForm, NewMonitorForm
from extensions import db
from models import Monitor, MonitorProduct, User
from services import charts
from services import monitors as monitor_service
from services.dhgate.types import InvalidDHgateInput, MonitorTarget
from services.plans import describe_limits
from web.params import page_arg

PER_PAGE = 25


# --------------------------------------------------------------------------- helpers


def _monitor_or_404(monitor_id: int) -> Monitor:
    monitor = monitor_service.get_monitor(current_user, monitor_id)
    if monitor is None:
        abort(404)
    return monitor


def _owner_of(monitor: Monitor) -> User:
    """The monitor's owner (the current user unless an admin is looking at someone else's)."""
    if monitor.user_id == current_user.id:
        return current_user  # type: ignore[return-value]
    owner = db.session.get(User, monitor.user_id)
    assert owner is not None  # monitors.user_id is a non-null foreign key
    return owner


def _audit_admin_action(monitor: Monitor, action: str) -> None:
    """An admin changing a member's monitor leaves a trace in the security log."""
    if monitor.user_id != current_user.id:
        from services.audit import record_security_event

        record_security_event(
            "admin_action",
            details={"action": action, "monitor_id": monitor.id, "owner_id": monitor.user_id},
        )


def money(value: Decimal | None, currency: str | None = None) -> str:
    """A price in the viewer's locale, with the currency when known; '—' when unknown."""
    if value is None:
        return "—"
    if currency:
        try:
            return format_currency(value, currency)
        except (ValueError, LookupError):
            pass
    return format_decimal(value, format="#,##0.00")


def number(value: Decimal | None) -> str:
    """A percentage or count in the viewer's locale without needless zeros (5, 12.5)."""
    return "—" if value is None else format_decimal(value, format="#,##0.##")


def price_range(low: Decimal | None, high: Decimal | None, currency: str | None) -> str:
    if low is None:
        return "—"
    if high is None or high == low:
        return money(low, currency)
    return f"{money(low, currency)} – {money(high, currency)}"


def interval_label(seconds: int) -> str:
    return monitor_service.format_interval(seconds)


def chart_axis_label(value: datetime, scale: charts.AxisScale) -> str:
    """Chart axis text in the viewer's zone and language, as fine as the chart's span needs:
    "2:05 PM", "Jan 1, 2:05 PM" or "Jan 1, 2026" (Dutch: "14:05", "1 jan, 14:05", "1 jan 2026")."""
    if scale == "date":
        return format_date(value, "medium")
    time = format_time(value, "short")
    if scale == "time":
        return time
    locale = get_locale()
    day = format_skeleton("MMMd", to_user_timezone(value), locale=locale)
    return str(locale.datetime_formats["short"]).replace("{1}", day).replace("{0}", time)


def image_src(url: str | None) -> str | None:
    """Product images come from DHgate's CDN; only http(s) (and protocol-relative) are shown."""
    if not url:
        return None
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    return url if url.startswith(("https://", "http://")) else None


def _field_error(form: Any, exc: monitor_service.MonitorError) -> None:
    """Attach a service error to its form field (or flash it when it belongs to no field)."""
    name = exc.field if exc.field and exc.field in form else None
    if name is None:
        flash(exc.message, "error")
        return
    form[name].errors = [*form[name].errors, exc.message]


@bp.context_processor
def _monitoring_helpers() -> dict[str, Any]:
    return {
        "money": money,
        "number": number,
        "monitor_link": monitor_service.monitor_link,
        "price_range": price_range,
        "interval_label": interval_label,
        "image_src": image_src,
        "kind_label": monitor_service.kind_label,
        "status_label": monitor_service.status_label,
        "status_tone": monitor_service.status_tone,
        "outcome_label": monitor_service.outcome_label,
        "outcome_tone": monitor_service.outcome_tone,
        "product_status": monitor_service.product_status,
        "product_status_label": monitor_service.product_status_label,
        "price_change_pct": monitor_service.price_change_pct,
        "is_new": monitor_service.is_new,
        "product_link": monitor_service.product_link,
        "now": datetime.now(UTC),
    }


# --------------------------------------------------------------------------- list


@bp.get("/")
@login_required
def index() -> str:
    kind = request.args.get("kind") or None
    kind = kind if kind in ("store", "search", "product") else None
    status = request.args.get("status") or None
    status = status if status in monitor_service.STATUS_FILTERS else None
    everyone = current_user.is_admin and request.args.get("everyone") == "1"
    rows = monitor_service.list_monitors(current_user, kind=kind, status=status, everyone=everyone)
    return render_template(
        "monitoring/index.html",
        rows=rows,
        kind=kind,
        status=status,
        everyone=everyone,
        filtered=bool(kind or status),
    )


# --------------------------------------------------------------------------- create


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Response | str | tuple[str, int]:
    form = NewMonitorForm()
    form.set_interval_choices(current_user, interval_label)
    understood: MonitorTarget | None = None
    if form.is_submitted() and form.target.data:
        try:
            understood = monitor_service.understand(form.target.data)
        except InvalidDHgateInput as exc:
            form.validate()
            form.target.errors = [*form.target.errors, str(exc)]
            return _render_new(form, None), 422
    if form.validate_on_submit() and understood is not None:
        try:
            monitor = monitor_service.create_monitor(current_user, understood, form.settings())
        except monitor_service.DuplicateMonitorError as exc:
            _field_error(form, exc)
            return _render_new(form, understood, duplicate=exc.existing), 422
        except monitor_service.MonitorError as exc:
            _field_error(form, exc)
        else:
            flash(_("Now watching “%(name)s”. The first check starts within a minute.", name=monitor.name), "success")
            return redirect(url_for("monitoring.detail", monitor_id=monitor.id))
    if form.is_submitted():
        return _render_new(form, understood), 422
    return _render_new(form, None)


def _render_new(form: NewMonitorForm, understood: MonitorTarget | None, duplicate: Monitor | None = None) -> str:
    form.show_allowed_interval(current_user)
    return render_template(
        "monitoring/new.html",
        form=form,
        understood=understood,
        duplicate=duplicate,
        limits=describe_limits(current_user),
    )


# --------------------------------------------------------------------------- one monitor


@bp.get("/<int:monitor_id>")
@login_required
def detail(monitor_id: int) -> str:
    monitor = _monitor_or_404(monitor_id)
    return render_template(
        "monitoring/detail.html",
        monitor=monitor,
        owner=_owner_of(monitor),
        summary=monitor_service.monitor_summary(monitor),
        runs=monitor_service.recent_poll_runs(monitor, limit=10),
        events=monitor_service.recent_events(monitor, limit=20),
        action_form=ConfirmForm(),
    )


@bp.route("/<int:monitor_id>/edit", methods=["GET", "POST"])
@login_required
def edit(monitor_id: int) -> Response | str | tuple[str, int]:
    monitor = _monitor_or_404(monitor_id)
    owner = _owner_of(monitor)
    form = MonitorSettingsForm()
    if not form.is_submitted():
        form.fill_from(monitor)
    form.set_interval_choices(owner, interval_label)
    if form.validate_on_submit():
        try:
            settings = form.settings()
            if monitor.kind != "product":
                settings.stock_alerts = monitor.stock_alerts  # not on the form for stores/searches
            monitor_service.update_monitor(monitor, settings)
        except monitor_service.MonitorError as exc:
            db.session.rollback()
            _field_error(form, exc)
        else:
            _audit_admin_action(monitor, "monitor_edit")
            flash(_("Saved “%(name)s”.", name=monitor.name), "success")
            return redirect(url_for("monitoring.detail", monitor_id=monitor.id))
    form.show_allowed_interval(owner)
    page = render_template(
        "monitoring/edit.html",
        form=form,
        monitor=monitor,
        limits=describe_limits(owner, own=owner.id == current_user.id),
    )
    return (page, 422) if form.is_submitted() else page


@bp.post("/<int:monitor_id>/pause")
@login_required
def pause(monitor_id: int) -> Response:
    return _set_active(monitor_id, False)


@bp.post("/<int:monitor_id>/resume")
@login_required
def resume(monitor_id: int) -> Response:
    return _set_active(monitor_id, True)


def _set_active(monitor_id: int, active: bool) -> Response:
    monitor = _monitor_or_404(monitor_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if monitor_service.set_active(monitor, active):
        _audit_admin_action(monitor, "monitor_resume" if active else "monitor_pause")
        if active:
            flash(_("Resumed “%(name)s”. It will be checked within a minute.", name=monitor.name), "success")
        else:
            flash(_("Paused “%(name)s”. Nothing is checked until you resume it.", name=monitor.name), "success")
    return redirect(url_for("monitoring.detail", monitor_id=monitor.id))


@bp.post("/<int:monitor_id>/poll")
@login_required
def poll_now(monitor_id: int) -> Response:
    """Check now: make the monitor due and queue its poll; a Redis outage is a message, not a 500."""
    monitor = _monitor_or_404(monitor_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        outcome = monitor_service.request_poll_now(monitor)
    except monitor_service.MonitorError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("monitoring.detail", monitor_id=monitor.id))
    _audit_admin_action(monitor, "monitor_poll_now")
    messages = {
        monitor_service.PollRequest.QUEUED: (_("Checking “%(name)s” now. Results appear here in a moment.", name=monitor.name), "success"),
        monitor_service.PollRequest.ALREADY_QUEUED: (_("A check of “%(name)s” is already on its way.", name=monitor.name), "info"),
        monitor_service.PollRequest.QUEUE_UNAVAILABLE: (
            _("The job queue cannot be reached right now. “%(name)s” is marked as due and will be checked as soon as the queue is back.", name=monitor.name),
            "warning",
        ),
    }
    message, category = messages[outcome]
    flash(message, category)
    return redirect(url_for("monitoring.detail", monitor_id=monitor.id))


@bp.route("/<int:monitor_id>/delete", methods=["GET", "POST"])
@login_required
def delete(monitor_id: int) -> Response | str:
    monitor = _monitor_or_404(monitor_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = monitor.name
        _audit_admin_action(monitor, "monitor_delete")
        monitor_service.delete_monitor(monitor)
        flash(_("Deleted “%(name)s” and its history.", name=name), "success")
        return redirect(url_for("monitoring.index"))
    return render_template(
        "monitoring/delete.html",
        monitor=monitor,
        form=form,
        summary=monitor_service.monitor_summary(monitor),
    )


# --------------------------------------------------------------------------- products


@bp.get("/<int:monitor_id>/products")
@login_required
def products(monitor_id: int) -> str:
    monitor = _monitor_or_404(monitor_id)
    search = (request.args.get("q") or "").strip()[:200]
    sort = request.args.get("sort", "first_seen")
    sort = sort if sort in monitor_service.PRODUCT_SORTS else "first_seen"
    default_direction = "asc" if sort == "title" else "desc"
    direction = request.args.get("dir", default_direction)
    direction = direction if direction in ("asc", "desc") else default_direction
    status = request.args.get("status") or None
    status = status if status in monitor_service.PRODUCT_STATUS_FILTERS else None
    pagination = monitor_service.monitor_products(
        monitor, search=search, status=status, sort=sort, direction=direction, page=page_arg(), per_page=PER_PAGE
    )
    return render_template(
        "monitoring/products.html",
        monitor=monitor,
        pagination=pagination,
        links=pagination.items,
        search=search,
        sort=sort,
        direction=direction,
        status=status,
        total_products=monitor_service.product_count(monitor),
    )


@bp.get("/<int:monitor_id>/products/<bigint:product_id>")
@login_required
def product(monitor_id: int, product_id: int) -> str:
    monitor = _monitor_or_404(monitor_id)
    link: MonitorProduct | None = monitor_service.get_monitor_product(monitor, product_id)
    if link is None:
        abort(404)
    item = link.product
    history = monitor_service.price_history(item.id)
    points = [(p.recorded_at, p.price_min) for p in history]
    summary = charts.summarise(points)

    def fmt_price(value: Decimal) -> str:
        return money(value, item.currency)

    def fmt_date(value: datetime) -> str:
        return format_date(value, "medium")

    chart = charts.price_history_svg(
        points,
        chart_id=f"price-history-{item.id}",
        title=_("Price history of %(title)s", title=item.title),
        desc=_price_description(summary, fmt_price, fmt_date),
        empty_text=_("No price recorded yet"),
        end_at=datetime.now(UTC),
        format_price=fmt_price,
        format_date=fmt_date,
        format_axis=chart_axis_label,
    )
    return render_template(
        "monitoring/product.html",
        monitor=monitor,
        link=link,
        product=item,
        chart=chart,
        summary=summary,
        tiers=monitor_service.price_tiers(item),
        events=monitor_service.recent_events(monitor, product_id=item.id, limit=50),
    )


def _price_description(summary: charts.PriceSummary | None, fmt_price: Any, fmt_date: Any) -> str:
    """The chart's text alternative, translated."""
    if summary is None:
        return _("No price has been recorded yet.")
    if summary.count == 1:
        return _("One price recorded: %(price)s on %(date)s.", price=fmt_price(summary.first), date=fmt_date(summary.start))
    return _(
        "%(count)s prices from %(start)s to %(end)s: first %(first)s, latest %(last)s, "
        "lowest %(low)s, highest %(high)s.",
        count=summary.count,
        start=fmt_date(summary.start),
        end=fmt_date(summary.end),
        first=fmt_price(summary.first),
        last=fmt_price(summary.last),
        low=fmt_price(summary.lowest),
        high=fmt_price(summary.highest),
    )


# --------------------------------------------------------------------------- member-wide keywords


@bp.route("/keywords", methods=["GET", "POST"])
@login_required
def keywords() -> Response | str | tuple[str, int]:
    form = KeywordForm()
    if form.validate_on_submit():
        try:
            added = monitor_service.add_global_keywords(current_user, form.term.data or "")
        except monitor_service.MonitorError as exc:
            _field_error(form, exc)
        else:
            if added:
                flash(_("Added: %(terms)s.", terms=", ".join(k.term for k in added)), "success")
            else:
                flash(_("You already have these keywords."), "info")
            return redirect(url_for("monitoring.keywords"))
    page = render_template(
        "monitoring/keywords.html",
        form=form,
        remove_form=ConfirmForm(),
        keywords=monitor_service.global_keywords(current_user.id),
    )
    return (page, 422) if form.is_submitted() else page


@bp.post("/keywords/<int:keyword_id>/delete")
@login_required
def keyword_delete(keyword_id: int) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not monitor_service.remove_global_keyword(current_user, keyword_id):
        abort(404)
    flash(_("Keyword removed."), "success")
    return redirect(url_for("monitoring.keywords"))
