"""Views of the monitoring area: monitors, their products, price history and events.

Every view looks monitors up through ``services.monitors.queries.get_monitor(viewer, id)``, which
returns None for someone else's monitor: members get a 404 (not a 403, which would confirm the
monitor exists); admins may open any monitor. Changes go through ``services.monitors.commands``,
so the web, the CLI and the tests share one set of rules. Words and formats every page uses
(labels, money, times) are template globals registered by ``web.context``.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.monitoring import bp
from blueprints.monitoring.forms import ConfirmForm, KeywordForm, MonitorSettingsForm, NewMonitorForm
from extensions import db
from models import Monitor, MonitorProduct, User
from services import charts, formatting
from services.audit import record_security_event
from services.dhgate.types import InvalidDHgateInput, MonitorTarget
from services.monitors import commands, queries, rules
from services.notifications.preferences import set_monitor_kinds
from services.plans import describe_limits
from web.params import page_arg

PER_PAGE = 25


# --------------------------------------------------------------------------- helpers


def _monitor_or_404(monitor_id: int) -> Monitor:
    monitor = queries.get_monitor(current_user, monitor_id)
    if monitor is None:
        abort(404)
    return monitor


def _owner_of(monitor: Monitor) -> User:
    """The monitor's owner (the current user unless an admin is looking at someone else's)."""
    if monitor.user_id == current_user.id:
        return current_user
    owner = db.session.get(User, monitor.user_id)
    assert owner is not None  # monitors.user_id is a non-null foreign key
    return owner


def _audit_admin_action(monitor: Monitor, action: str) -> None:
    """An admin changing a member's monitor leaves a trace in the security log."""
    if monitor.user_id != current_user.id:
        record_security_event(
            "admin_action",
            details={"action": action, "monitor_id": monitor.id, "owner_id": monitor.user_id},
        )


def image_src(url: str | None) -> str | None:
    """Product images come from DHgate's CDN; only http(s) (and protocol-relative) are shown."""
    if not url:
        return None
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    return url if url.startswith(("https://", "http://")) else None


def _field_error(form: Any, exc: rules.MonitorError) -> None:
    """Attach a service error to its form field (or flash it when it belongs to no field)."""
    name = exc.field if exc.field and exc.field in form else None
    if name is None:
        flash(exc.message, "error")
        return
    form[name].errors = [*form[name].errors, exc.message]


@bp.context_processor
def _monitoring_helpers() -> dict[str, Any]:
    return {
        "monitor_link": commands.monitor_link,
        "image_src": image_src,
        "price_change_pct": queries.price_change_pct,
        "is_new": queries.is_new,
        "product_link": commands.product_link,
        "now": datetime.now(UTC),
    }


# --------------------------------------------------------------------------- list


@bp.get("/")
@login_required
def index() -> str:
    kind = request.args.get("kind") or None
    kind = kind if kind in ("store", "search", "product") else None
    status = request.args.get("status") or None
    status = status if status in queries.STATUS_FILTERS else None
    everyone = current_user.is_admin and request.args.get("everyone") == "1"
    sort = request.args.get("sort") or "name"
    sort = sort if sort in queries.MONITOR_SORTS else "name"
    listing = queries.monitors_page(
        current_user, kind=kind, status=status, everyone=everyone, sort=sort, page=page_arg(), per_page=PER_PAGE
    )
    # What the pager's links carry, so the next page keeps the filters and the order.
    keep = {name: value for name, value in (("kind", kind), ("status", status), ("sort", sort if sort != "name" else None)) if value}
    if everyone:
        keep["everyone"] = "1"
    return render_template(
        "monitoring/index.html",
        rows=listing.rows,
        pagination=listing.pagination,
        keep=keep,
        kind=kind,
        status=status,
        sort=sort,
        everyone=everyone,
        filtered=bool(kind or status),
    )


# --------------------------------------------------------------------------- create


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Response | str | tuple[str, int]:
    """Start watching something. Typed words that are no link become a search only once the
    member said yes to "Watch the search for …?" (a second submit of the same form carrying
    ``confirm_search``), so a mistyped link never silently turns into a search."""
    form = NewMonitorForm()
    form.set_interval_choices(current_user)
    understood: MonitorTarget | None = None
    if form.is_submitted() and form.target.data:
        try:
            understood = commands.understand(form.target.data)
        except InvalidDHgateInput as exc:
            form.validate()
            form.target.errors = [*form.target.errors, str(exc)]
            return _render_new(form, None), 422
    if form.validate_on_submit() and understood is not None:
        confirmed = form.confirm_search.data == understood.dhgate_id
        if commands.is_typed_search(form.target.data or "", understood) and not confirmed:
            return _render_new(form, understood, ask_search=True)
        try:
            monitor = commands.create_monitor(current_user, understood, form.settings())
        except rules.DuplicateMonitorError as exc:
            _field_error(form, exc)
            return _render_new(form, understood, duplicate=exc.existing), 422
        except rules.MonitorError as exc:
            _field_error(form, exc)
        else:
            flash(_("Now watching “%(name)s”. The first check starts within a minute.", name=monitor.name), "success")
            return redirect(url_for("monitoring.detail", monitor_id=monitor.id))
    if form.is_submitted():
        return _render_new(form, understood), 422
    return _render_new(form, None)


def _render_new(
    form: NewMonitorForm, understood: MonitorTarget | None, duplicate: Monitor | None = None, *,
    ask_search: bool = False,
) -> str:
    form.show_allowed_interval(current_user)
    return render_template(
        "monitoring/new.html",
        form=form,
        understood=understood,
        duplicate=duplicate,
        ask_search=ask_search,
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
        summary=queries.monitor_summary(monitor),
        runs=queries.recent_poll_runs(monitor, limit=10),
        events=queries.recent_events(monitor, limit=20),
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
    form.set_interval_choices(owner, current=monitor.poll_interval)
    if form.validate_on_submit():
        try:
            settings = form.settings()
            if monitor.kind != "product":
                settings.stock_alerts = monitor.stock_alerts  # not on the form for stores/searches
            commands.update_monitor(monitor, settings)
            set_monitor_kinds(monitor, form.chosen_alert_kinds())
        except rules.MonitorError as exc:
            db.session.rollback()
            _field_error(form, exc)
        else:
            _audit_admin_action(monitor, "monitor_edit")
            flash(_("Saved “%(name)s”.", name=monitor.name), "success")
            return redirect(url_for("monitoring.detail", monitor_id=monitor.id))
    form.show_allowed_interval(owner, current=monitor.poll_interval)
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
    if commands.set_active(monitor, active):
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
        outcome = commands.request_poll_now(monitor)
    except rules.MonitorError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("monitoring.detail", monitor_id=monitor.id))
    _audit_admin_action(monitor, "monitor_poll_now")
    messages = {
        commands.PollRequest.QUEUED: (_("Checking “%(name)s” now. Results appear here in a moment.", name=monitor.name), "success"),
        commands.PollRequest.ALREADY_QUEUED: (_("A check of “%(name)s” is already on its way.", name=monitor.name), "info"),
        commands.PollRequest.QUEUE_UNAVAILABLE: (
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
        commands.delete_monitor(monitor)
        flash(_("Deleted “%(name)s” and its history.", name=name), "success")
        return redirect(url_for("monitoring.index"))
    return render_template(
        "monitoring/delete.html",
        monitor=monitor,
        form=form,
        summary=queries.monitor_summary(monitor),
    )


# --------------------------------------------------------------------------- products


@bp.get("/<int:monitor_id>/products")
@login_required
def products(monitor_id: int) -> str:
    monitor = _monitor_or_404(monitor_id)
    search = (request.args.get("q") or "").strip()[:200]
    sort = request.args.get("sort", "first_seen")
    sort = sort if sort in queries.PRODUCT_SORTS else "first_seen"
    default_direction = "asc" if sort == "title" else "desc"
    direction = request.args.get("dir", default_direction)
    direction = direction if direction in ("asc", "desc") else default_direction
    status = request.args.get("status") or None
    status = status if status in queries.PRODUCT_STATUS_FILTERS else None
    pagination = queries.monitor_products(
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
        total_products=queries.product_count(monitor),
    )


@bp.get("/<int:monitor_id>/products/<bigint:product_id>")
@login_required
def product(monitor_id: int, product_id: int) -> str:
    monitor = _monitor_or_404(monitor_id)
    link: MonitorProduct | None = queries.get_monitor_product(monitor, product_id)
    if link is None:
        abort(404)
    item = link.product
    history = queries.price_history(item.id)
    points = [(p.recorded_at, p.price_min) for p in history]
    summary = charts.summarise(points)

    def fmt_price(value: Decimal) -> str:
        return formatting.money(value, item.currency)

    def fmt_date(value: datetime) -> str:
        return formatting.day(value)

    chart = charts.price_history_svg(
        points,
        chart_id=f"price-history-{item.id}",
        title=_("Price history of %(title)s", title=item.title),
        desc=_price_description(summary, fmt_price, fmt_date),
        empty_text=_("No price recorded yet"),
        end_at=datetime.now(UTC),
        format_price=fmt_price,
        format_date=fmt_date,
        format_axis=formatting.chart_axis_label,
    )
    return render_template(
        "monitoring/product.html",
        monitor=monitor,
        link=link,
        product=item,
        chart=chart,
        summary=summary,
        tiers=queries.price_tiers(item),
        events=queries.recent_events(monitor, product_id=item.id, limit=50),
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
            added = commands.add_global_keywords(current_user, form.term.data or "")
        except rules.MonitorError as exc:
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
        keywords=queries.global_keywords(current_user.id),
    )
    return (page, 422) if form.is_submitted() else page


@bp.post("/keywords/<int:keyword_id>/delete")
@login_required
def keyword_delete(keyword_id: int) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not commands.remove_global_keyword(current_user, keyword_id):
        abort(404)
    flash(_("Keyword removed."), "success")
    return redirect(url_for("monitoring.keywords"))
