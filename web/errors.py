"""Error pages in the site's layout for people, JSON bodies for JSON clients; never a traceback."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from markupsafe import escape
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from extensions import db
from services.audit import record_security_event

logger = logging.getLogger(__name__)

# Redis not answering (stopped, restarting, still loading its snapshot) as the Redis client and
# the rate limiter's storage report it. A passing condition, so a 503 with Retry-After, not a 500.
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, StorageError)
RETRY_AFTER_SECONDS = 30


def wants_json() -> bool:
    """JSON for the API, for XHR/fetch callers and for clients that prefer JSON over HTML."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _titles() -> dict[int, str]:
    return {
        400: _("Bad request"),
        401: _("Please log in"),
        403: _("Not allowed"),
        404: _("Page not found"),
        405: _("Method not allowed"),
        413: _("Too large"),
        429: _("Too many requests"),
        500: _("Something went wrong"),
        503: _("Temporarily unavailable"),
    }


def render_error(code: int, description: str | None) -> tuple[Response | str, int]:
    title = _titles().get(code, _("Error"))
    if wants_json():
        return jsonify(error=title, message=description or title, status=code), code
    try:
        return render_template("errors/error.html", code=code, title=title, description=description), code
    except Exception:  # noqa: BLE001 - the layout itself failed (DB down, broken template): stay calm
        logger.exception("error page could not be rendered in the layout")
        return _bare_page(code, title, description), code


def _bare_page(code: int, title: str, description: str | None) -> str:
    """A minimal page that needs nothing but the standard library to render."""
    text = f"<p>{escape(description)}</p>" if description else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{code} {escape(title)}</title></head>'
        f"<body><h1>{escape(title)}</h1>{text}<p><a href=\"/\">DHgate Monitor</a></p></body></html>"
    )


def handle_http_exception(exc: HTTPException) -> tuple[Response | str, int] | Response:
    code = exc.code or 500
    response, status = render_error(code, _describe(exc))
    if code == 429:
        resp = make_response(response, status)
        retry_after = _retry_after(exc)
        if retry_after:
            resp.headers["Retry-After"] = str(retry_after)
        return resp
    return response, status


def _describe(exc: HTTPException) -> str | None:
    """The exception's description when a route gave one on purpose, else our friendly text."""
    default = type(exc).description
    return None if exc.description == default else exc.description


def _retry_after(exc: HTTPException) -> int | None:
    existing = getattr(exc, "retry_after", None)
    if existing:
        return int(existing)
    response = exc.get_response()
    header = response.headers.get("Retry-After")
    return int(header) if header and header.isdigit() else None


def handle_csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
    record_security_event("csrf_failed", details={"reason": exc.description, "path": request.path[:200]})
    return render_error(400, _("The form expired or was sent from another page. Please try again."))


def log_redis_unavailable(exc: Exception) -> None:
    """One warning line per refused request (no traceback: the cause is outside this code), and
    a rollback so the error page can still read the database."""
    logger.warning("Redis unavailable on %s %s: %s", request.method, request.path, exc)
    _rollback()


def handle_redis_unavailable(exc: Exception) -> Response:
    """A page that needed Redis while it is down: "try again shortly", with Retry-After."""
    log_redis_unavailable(exc)
    body, status = render_error(503, _("A service this page needs is not answering. Please try again shortly."))
    response = make_response(body, status)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the error page must render whatever state the DB is in
        logger.debug("rollback after error failed", exc_info=True)


def handle_unexpected(exc: Exception) -> tuple[Response | str, int]:
    """Log the traceback for operators; show the person a calm page."""
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)  # type: ignore[return-value]
    logger.exception("unhandled error on %s %s", request.method, request.path)
    _rollback()
    return render_error(500, None)


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(InternalServerError, handle_http_exception)
    for error in REDIS_UNAVAILABLE:
        app.register_error_handler(error, handle_redis_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
