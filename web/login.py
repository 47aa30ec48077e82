"""Logging browsers in and out: Flask-Login wired to the server-side session rows.

The rows themselves (creating, revoking, listing) are ``services.sessions``; this module is the
cookie side that only makes sense inside a request: the user loader, where an anonymous visitor
is sent, and the cookie session that is reset at every login and logout. It also records who is
asking (``services.audit.Client`` on ``g``) before anything else runs in a request, so services
can log the address and browser without touching ``flask.request``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from extensions import login_manager
from models import AdminSession, User
from services import session_cache, sessions
from services.audit import CLIENT_KEY, Client
from web.errors import wants_json

# Harmless choices made before logging in that the person expects to keep (the language).
_SURVIVES_LOGIN = ("lang",)
# endpoint -> functions naming Redis keys its view reads on every hit: they are read with the
# session's auth epoch (``prefetched``): from the pub/sub mirror, or in the same ``MGET``.
_PREFETCH: dict[str, list[Callable[[], str]]] = {}
PREFETCHED = "dhm_prefetched"


def prefetch_with_session(endpoint: str, key: Callable[[], str]) -> None:
    """Have the logged-in requests of ``endpoint`` read Redis key ``key()`` along with the
    session check; the view finds the value with ``prefetched``."""
    keys = _PREFETCH.setdefault(endpoint, [])
    if key not in keys:  # every app built in this process registers its blueprints again
        keys.append(key)


def prefetched(key: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``key`` was read with this request's session check, else ``(False, None)``."""
    values = g.get(PREFETCHED)
    if values is None or key not in values:
        return False, None
    return True, values[key]


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.login_message = lazy_gettext("Please log in to see this page.")
    login_manager.session_protection = None  # our own session rows do this job, revocably
    login_manager.user_loader(load_user)
    session_cache.install()
    login_manager.unauthorized_handler(handle_unauthorized)
    # First of all before-request hooks: CSRF and rate-limit refusals, which run in hooks of
    # their own, record security events that need to know who asked.
    app.before_request_funcs.setdefault(None, []).insert(0, remember_client)


def load_user(token: str) -> User | None:
    """Flask-Login's loader: ``services.sessions`` checks the session, reading the keys this
    endpoint's view asked for in the same Redis round trip."""
    keys = [key() for key in _PREFETCH.get(request.endpoint or "", ())]
    user, values = sessions.load_session_user(token, keys)
    if keys:
        g.setdefault(PREFETCHED, {}).update(zip(keys, values, strict=True))
    return user


def remember_client() -> None:
    """Store who is asking on ``g`` for the services that record it."""
    g.setdefault(CLIENT_KEY, Client(ip=request.remote_addr, user_agent=request.user_agent.string[:512] or None))


def handle_unauthorized() -> Response:
    """Anonymous visitor on a protected page: people go to the login form (coming back here
    afterwards), JSON clients get a 401 they can act on instead of an HTML redirect."""
    if wants_json():
        abort(401)
    flash(str(login_manager.login_message), login_manager.login_message_category)
    here: str | None = request.full_path if request.query_string else request.path
    limit = current_app.config["NEXT_URL_MAX_LENGTH"]
    if here is not None and len(here) > limit:  # the login form would ignore it anyway
        here = request.path if len(request.path) <= limit else None
    return redirect(url_for("auth.login", next=here))


def start_session(user: User, *, remember: bool = False) -> AdminSession:
    """Open a session row and log this browser in with its token, in a fresh cookie session."""
    remember_client()
    row, _token = sessions.open_session(user, g.get(CLIENT_KEY), remember=remember)
    _reset_cookie_session()  # a fresh cookie: no session fixation across logins
    session.permanent = remember  # cookie lifetime: PERMANENT_SESSION_LIFETIME = REMEMBER_DAYS
    login_user(user, remember=False)  # never Flask-Login's own remember cookie: it bypasses our rows
    return row


def end_current_session(user: User, reason: str = "logout") -> None:
    """Revoke the session this request belongs to and clear the cookie."""
    if user.current_session is not None:
        sessions.revoke_session(user.current_session, reason)
    logout_user()
    _reset_cookie_session()


def _reset_cookie_session() -> None:
    """Empty the cookie session (keeping harmless choices like the language) and forget the CSRF
    token Flask-WTF cached for this request: it belonged to the old session and would fail."""
    keep = {key: session[key] for key in _SURVIVES_LOGIN if key in session}
    session.clear()
    session.update(keep)
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
