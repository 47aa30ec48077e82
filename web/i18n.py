"""Language and time zone per request: the user's choice, then ``?lang``, then the browser."""
from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from extensions import babel

LANG_SESSION_KEY = "lang"


def select_locale() -> str | None:
    """Outside a request (CLI, jobs) the default locale; callers pass a user's locale explicitly
    with ``flask_babel.force_locale`` when they write to that user."""
    if not has_request_context():
        return None
    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in languages:
        session[LANG_SESSION_KEY] = asked  # remembered for the rest of the visit
        return asked
    if current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    remembered = session.get(LANG_SESSION_KEY)
    if remembered in languages:
        return remembered
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str | None:
    if not has_request_context():
        return None
    if current_user.is_authenticated and current_user.timezone:
        return current_user.timezone
    return None


def current_theme() -> str:
    """``light``/``dark``/``system``: the user's setting, else the cookie an anonymous visitor set."""
    if current_user.is_authenticated and current_user.theme:
        return current_user.theme
    theme = request.cookies.get("theme", "system")
    return theme if theme in ("light", "dark", "system") else "system"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path) + "/translations")
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals["current_theme"] = current_theme
    app.jinja_env.globals["get_locale"] = get_locale
