"""Views of the admin area: the people who use the platform and their sessions (every live
session on one page is ``sessions``; the security log is ``security_log``). The rules live in
services; these views translate between HTTP and them. The blueprint itself refuses everyone
but admins (see ``blueprints.admin``)."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import Field

from blueprints.admin import bp
from blueprints.admin.forms import EditUserForm, NewUserForm, PasswordSetup, UserFilterForm
from extensions import db
from models import User
from services import accounts
from services.accounts import AccountChanges, AccountError
from services.audit import event_label, recent_events, record_admin_action, record_security_event
from services.auth_login import unlock
from services.auth_tokens import link_lifetime, make_set_password_token
from services.people import (
    USAGE_RECENT_DAYS,
    PeopleFilter,
    count_people,
    monitor_counts,
    people_query,
    person_monitors,
    person_usage,
)
from services.sessions import (
    describe_user_agent,
    find_live_session,
    live_sessions,
    revoke_session,
    revoke_user_sessions,
)
from web.login import end_current_session
from web.params import page_arg
from web.security import no_store

USERS_PER_PAGE = 25
PERSON_MONITORS_SHOWN = 50


# --- template helpers ----------------------------------------------------------------------------
# Registered app-wide: a member's own session list (auth) names devices the same way.

@bp.app_template_filter("device")
def device_filter(user_agent: str | None) -> str:
    """A user agent as "Firefox 121 on Windows", in the viewer's language."""
    device = describe_user_agent(user_agent)
    if device.browser and device.os:
        return _("%(browser)s on %(os)s", browser=device.browser, os=device.os)
    return device.browser or device.os or _("Unknown browser")


@bp.app_template_global("security_event_label")
def security_event_label(event: str) -> str:
    return event_label(event)


# --- people --------------------------------------------------------------------------------------

@bp.get("/users")
def users() -> str:
    form = UserFilterForm(request.args)
    form.validate()
    filters = PeopleFilter(
        search=_valid(form.q) or "", role=_valid(form.role), tier=_valid(form.tier), state=_valid(form.state)
    )
    now = datetime.now(UTC)
    page = db.paginate(people_query(filters, now=now), page=page_arg(), per_page=USERS_PER_PAGE, error_out=False)
    kept = {k: v for k, v in request.args.items() if k in ("q", "role", "tier", "state") and v}
    return render_template(
        "admin/users.html", form=form, page=page, filters=kept, total=count_people(), now=now,
        monitors=monitor_counts([user.id for user in page.items]),
    )


def _valid(field: Field) -> str | None:
    """A filter's value, or None when it is empty or not one of its choices (a stale or edited
    link then shows everyone rather than an error: these filters only narrow a list)."""
    return None if field.errors else (field.data or None)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new() -> Response | str:
    form = NewUserForm()
    error = None
    if form.validate_on_submit():
        temporary = form.password_setup.data == PasswordSetup.TEMPORARY
        password = accounts.generate_password(16 if temporary else 40)
        try:
            user = accounts.create_user(
                form.email.data or "",
                form.username.data or "",
                password,
                role=form.role.data or "member",
                subscription_tier=form.subscription_tier.data or "free",
                must_change_password=temporary,
            )
        except AccountError as exc:
            error = str(exc)
        else:
            record_admin_action(
                "user_created", target=user, role=user.role, tier=user.subscription_tier,
                password_setup=form.password_setup.data,
            )
            link = None if temporary else url_for("auth.set_password", token=make_set_password_token(user), _external=True)
            page = render_template(
                "admin/user_created.html", user=user, password=password if temporary else None,
                link=link, link_hours=int(link_lifetime().total_seconds() // 3600),
            )
            return no_store(make_response(page))
    return render_template("admin/user_new.html", form=form, error=error)


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int) -> Response | str:
    user = _user_or_404(user_id)
    form = EditUserForm(obj=user)
    if form.validate_on_submit():
        changes = AccountChanges(
            role=form.role.data,
            subscription_tier=form.subscription_tier.data,
            api_quota=form.api_quota.data,
            is_active=bool(form.is_active.data),
        )
        if _apply_changes(user, changes):
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template(
        "admin/user_edit.html",
        user=user,
        form=form,
        rows=live_sessions(user.id),
        current_session_id=current_user.current_session.id,
        events=recent_events(user.id),
        is_self=user.id == current_user.id,
        is_locked=_is_locked(user),
        usage=person_usage(user.id),
        monitors=person_monitors(user.id, limit=PERSON_MONITORS_SHOWN),
        usage_days=USAGE_RECENT_DAYS,
    )


def _apply_changes(user: User, changes: AccountChanges) -> bool:
    """Apply an admin's change, log it, end the sessions of a deactivated account, and flash
    the outcome; False (with the reason flashed) when the rules refuse it."""
    try:
        diff = accounts.update_user(user, changes, actor=current_user._get_current_object())
    except AccountError as exc:
        flash(str(exc), "error")
        db.session.rollback()
        return False
    if diff:
        record_admin_action("user_updated", target=user, changes=diff)
    if diff.get("is_active") == [True, False]:
        ended = revoke_user_sessions(user.id, "deactivated")
        record_security_event("session_revoked", user_id=user.id, details={"count": ended, "by": "admin", "reason": "deactivated"})
        flash(_("%(name)s is deactivated and logged out everywhere.", name=user.username), "success")
    elif diff.get("is_active") == [False, True]:
        flash(_("%(name)s is active again and may log in.", name=user.username), "success")
    else:
        flash(_("Saved.") if diff else _("Nothing changed."), "success")
    return True


@bp.post("/users/<int:user_id>/deactivate")
def user_deactivate(user_id: int) -> Response:
    """One button for what the form's checkbox also does: log them out and keep them out."""
    user = _user_or_404(user_id)
    _apply_changes(user, AccountChanges(is_active=False))
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.post("/users/<int:user_id>/reactivate")
def user_reactivate(user_id: int) -> Response:
    user = _user_or_404(user_id)
    _apply_changes(user, AccountChanges(is_active=True))
    return redirect(url_for("admin.user_edit", user_id=user.id))


def _back_to(user: User) -> Response:
    """After ending sessions: the all-sessions page when the action came from there (a fixed
    choice, not a URL, so nobody can aim the redirect elsewhere), else the person's page."""
    if request.form.get("return_to") == "sessions":
        return redirect(url_for("admin.all_sessions"))
    return redirect(url_for("admin.user_edit", user_id=user.id))


def _is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > datetime.now(UTC)


@bp.post("/users/<int:user_id>/sessions/<int:session_id>/revoke")
def user_session_revoke(user_id: int, session_id: int) -> Response:
    user = _user_or_404(user_id)
    row = find_live_session(session_id, user_id=user.id)
    if row is None:
        abort(404)
    record_security_event("session_revoked", user_id=user.id, details={"session_id": row.id, "by": "admin"})
    record_admin_action("session_revoked", target=user, session_id=row.id)
    if row.id == current_user.current_session.id:
        end_current_session(current_user._get_current_object(), "revoked")
        return redirect(url_for("auth.login"))
    revoke_session(row, "revoked_by_admin")
    flash(_("That session is logged out."), "success")
    return _back_to(user)


@bp.post("/users/<int:user_id>/sessions/revoke-all")
def user_sessions_revoke_all(user_id: int) -> Response:
    user = _user_or_404(user_id)
    keep = current_user.current_session.id if user.id == current_user.id else None
    ended = revoke_user_sessions(user.id, "revoked_by_admin", except_session_id=keep)
    if ended:
        record_security_event("session_revoked", user_id=user.id, details={"count": ended, "by": "admin"})
        record_admin_action("sessions_revoked", target=user, count=ended)
    flash(_("%(n)s sessions were logged out.", n=ended), "success")
    return _back_to(user)


@bp.post("/users/<int:user_id>/password-link")
def user_password_link(user_id: int) -> Response:
    """A fresh one-time link, e.g. for someone who forgot their password. Their current password
    keeps working until they use it."""
    user = _user_or_404(user_id)
    if not user.is_active:
        flash(_("Activate the account first: deactivated accounts cannot set a password."), "error")
        return redirect(url_for("admin.user_edit", user_id=user.id))
    link = url_for("auth.set_password", token=make_set_password_token(user), _external=True)
    record_admin_action("password_link_created", target=user)
    page = render_template(
        "admin/user_created.html", user=user, password=None, link=link,
        link_hours=int(link_lifetime().total_seconds() // 3600), new=False,
    )
    return no_store(make_response(page))


@bp.post("/users/<int:user_id>/unlock")
def user_unlock(user_id: int) -> Response:
    user = _user_or_404(user_id)
    unlock(user)
    record_admin_action("user_unlocked", target=user)
    flash(_("The account is unlocked."), "success")
    return redirect(url_for("admin.user_edit", user_id=user.id))
