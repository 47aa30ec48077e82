"""Views of the auth area: logging in and out, passwords, one's own sessions, preferences and
account settings. (Managing other people is the admin area's.) The rules live in services; these
views translate between HTTP and them."""
from __future__ import annotations

from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from blueprints.auth import bp
from blueprints.auth.forms import AccountSettingsForm, ChangePasswordForm, LoginForm, SetPasswordForm
from extensions import limiter
from models import User
from models.users import THEMES
from services import accounts
from services.accounts import AccountError
from services.audit import record_security_event
from services.auth_login import attempt_login, unlock
from services.auth_tokens import user_for_set_password_token
from services.plans import describe_limits
from services.sessions import (
    find_live_session,
    live_sessions,
    revoke_session,
    revoke_user_sessions,
)
from web.errors import (
    REDIS_UNAVAILABLE,
    RETRY_AFTER_SECONDS,
    handle_redis_unavailable,
    log_redis_unavailable,
    wants_json,
)
from web.i18n import LANG_SESSION_KEY
from web.login import end_current_session, start_session
from web.security import login_rate_limit_key, no_store, safe_next_url

THEME_COOKIE = "theme"
THEME_COOKIE_MAX_AGE = 365 * 24 * 3600


# --- temporary passwords -------------------------------------------------------------------------

_ALLOWED_BEFORE_NEW_PASSWORD = frozenset({"auth.change_password", "auth.logout", "auth.preferences", "static"})


@bp.before_app_request
def require_new_password() -> Response | None:
    """Someone who logged in with a temporary password chooses their own before anything else."""
    endpoint = request.endpoint or ""
    if endpoint in _ALLOWED_BEFORE_NEW_PASSWORD or endpoint.startswith("health.") or request.path.startswith("/api/"):
        return None
    if not current_user.is_authenticated or not current_user.must_change_password:
        return None
    flash(_("Please choose a new password before you continue."), "warning")
    return redirect(url_for("auth.change_password"))


# --- logging in and out --------------------------------------------------------------------------

def _ip_login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT_IP"]


def _account_login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"]


def _too_many_logins() -> str:
    return _("Too many login attempts. Please wait a moment and try again.")


def _default_landing() -> str:
    return url_for("dashboard.overview")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_ip_login_limit, methods=["POST"], error_message=_too_many_logins)
@limiter.limit(_account_login_limit, key_func=login_rate_limit_key, methods=["POST"], error_message=_too_many_logins)
def login() -> Response | str | tuple[str, int]:
    next_url = safe_next_url(request.values.get("next"), _default_landing())
    if current_user.is_authenticated:
        return redirect(next_url)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = next_url if next_url != _default_landing() else ""
    error = None
    if form.validate_on_submit():
        result = attempt_login(form.login.data or "", form.password.data or "")
        if result.locked:
            minutes = max(1, -(-int(result.retry_after or 60) // 60))
            raise TooManyRequests(
                description=_(
                    "Too many failed attempts. For your safety this login is paused; try again in %(minutes)s minutes.",
                    minutes=minutes,
                ),
                retry_after=result.retry_after,
            )
        if result.ok and result.user is not None and result.user.awaiting_verification:
            error = _("Please confirm your e-mail address first: follow the link we sent to it.")
            return render_template("auth/login.html", form=form, error=error, unverified_email=result.user.email), 403
        if result.ok and result.user is not None:
            return _finish_login(result.user, remember=bool(form.remember.data), next_url=next_url)
        if result.reason == "inactive":
            error = _("This account has been deactivated. Please contact an administrator.")
        else:
            error = _("That e-mail/username and password do not match an account.")
    return render_template("auth/login.html", form=form, error=error), 200


def login_unavailable(exc: Exception) -> Response:
    """A login while Redis is down: the login form again, saying to try shortly (503).

    The per-IP and per-account limits and the lockout of unknown names live in Redis. Without
    them a login cannot be checked safely, so it waits rather than going through unthrottled;
    people already logged in are not affected. Other auth pages get the site's usual 503.
    """
    if request.endpoint != "auth.login" or wants_json():
        return handle_redis_unavailable(exc)
    log_redis_unavailable(exc)
    error = _("Logging in is not possible for a moment: a service it needs is not answering. Please try again shortly.")
    response = make_response(render_template("auth/login.html", form=LoginForm(), error=error), 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


for _error in REDIS_UNAVAILABLE:
    bp.register_error_handler(_error, login_unavailable)


def _finish_login(user: User, *, remember: bool, next_url: str) -> Response:
    start_session(user, remember=remember)
    record_security_event("login", user_id=user.id, details={"remember": remember})
    if user.must_change_password:
        flash(_("Welcome! Please replace your temporary password with one of your own."), "warning")
        return redirect(url_for("auth.change_password"))
    return redirect(next_url)


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        record_security_event("logout", user_id=user.id)
        end_current_session(user, "logout")
        flash(_("You are logged out."), "success")
    return redirect(url_for("auth.login"))


# --- passwords -----------------------------------------------------------------------------------

@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response | str:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(user, form.current_password.data or "", form.new_password.data or "")
        except AccountError as exc:
            form.current_password.errors = [*form.current_password.errors, str(exc)]
        else:
            ended = revoke_user_sessions(user.id, "password_changed", except_session_id=user.current_session.id)
            record_security_event("password_changed", user_id=user.id, details={"via": "self", "other_sessions_ended": ended})
            flash(
                _("Your password is changed. Your other sessions (%(n)s) were logged out.", n=ended)
                if ended
                else _("Your password is changed."),
                "success",
            )
            return redirect(url_for("auth.sessions"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str) -> Response | str | tuple[str, int]:
    """The page behind a one-time link an admin sent: choose a password, then log in."""
    user = user_for_set_password_token(token)
    if user is None:
        return no_store(make_response(render_template("auth/set_password_invalid.html"), 400))
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(user, form.new_password.data or "")
        except AccountError as exc:
            form.new_password.errors = [*form.new_password.errors, str(exc)]
        else:
            unlock(user)
            revoke_user_sessions(user.id, "password_set")
            record_security_event("password_changed", user_id=user.id, details={"via": "link"})
            flash(_("Your password is set. You can log in now."), "success")
            return redirect(url_for("auth.login"))
    return no_store(make_response(render_template("auth/set_password.html", form=form, user=user)))


# --- sessions ------------------------------------------------------------------------------------

@bp.get("/sessions")
@login_required
def sessions() -> str:
    rows = live_sessions(current_user.id)
    return render_template("auth/sessions.html", rows=rows, current_session_id=current_user.current_session.id)


@bp.post("/sessions/<int:session_id>/revoke")
@login_required
def session_revoke(session_id: int) -> Response:
    user = current_user._get_current_object()
    row = find_live_session(session_id, user_id=user.id)
    if row is None:
        abort(404)
    record_security_event("session_revoked", user_id=user.id, details={"session_id": row.id, "by": "self"})
    if row.id == user.current_session.id:
        end_current_session(user, "revoked")
        flash(_("This session has ended. Log in again to continue."), "info")
        return redirect(url_for("auth.login"))
    revoke_session(row, "revoked")
    flash(_("That session is logged out."), "success")
    return redirect(url_for("auth.sessions"))


@bp.post("/sessions/revoke-others")
@login_required
def sessions_revoke_others() -> Response:
    user = current_user._get_current_object()
    ended = revoke_user_sessions(user.id, "revoked", except_session_id=user.current_session.id)
    if ended:
        record_security_event("session_revoked", user_id=user.id, details={"count": ended, "by": "self", "scope": "others"})
    flash(_("%(n)s other sessions were logged out.", n=ended), "success")
    return redirect(url_for("auth.sessions"))


# --- preferences and account settings ------------------------------------------------------------

@bp.post("/preferences")
def preferences() -> Response:
    """Language and theme switches from the page header, for visitors and members alike."""
    locale = request.form.get("locale") or None
    theme = request.form.get("theme") or None
    if locale is not None and locale not in current_app.config["LANGUAGES"]:
        abort(400, description=_("Unknown language."))
    if theme is not None and theme not in THEMES:
        abort(400, description=_("Unknown theme."))
    if current_user.is_authenticated:
        accounts.update_preferences(current_user._get_current_object(), locale=locale, theme=theme)
    if locale is not None:
        session[LANG_SESSION_KEY] = locale
    response = redirect(safe_next_url(request.form.get("next"), url_for("dashboard.index")))
    if theme is not None:
        response.set_cookie(
            THEME_COOKIE,
            theme,
            max_age=THEME_COOKIE_MAX_AGE,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            httponly=False,
        )
    return response


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> Response | str:
    user = current_user._get_current_object()
    form = AccountSettingsForm(obj=user)
    if request.method == "GET" and not user.locale:
        form.locale.data = str(_current_locale())
    if form.validate_on_submit():
        accounts.update_preferences(user, locale=form.locale.data, theme=form.theme.data, timezone=form.timezone.data)
        session[LANG_SESSION_KEY] = form.locale.data
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form, user=user, limits=describe_limits(user))


def _current_locale() -> Any:
    return get_locale()
