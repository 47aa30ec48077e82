"""Security headers, private caching of logged-in pages, the Origin/Referer check on state
changes, safe ``next`` redirects, and the record of every rate-limit breach."""
from __future__ import annotations

import hashlib
from urllib.parse import urljoin, urlsplit

from flask import Flask, Response, abort, current_app, request
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user

from services.accounts import find_user
from services.audit import record_security_event
from web.errors import handle_http_exception

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",  # no inline scripts anywhere: every script is a static file
    "style-src 'self'",
    "img-src 'self' data: https:",  # product images come from DHgate's CDN
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "object-src 'none'",
])

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"


def content_security_policy(dhgate_base_url: str) -> str:
    """The CSP, letting product images load from a plain-http DHgate stand-in (the sandbox
    marketplace of ``make demo``); the real site's images are https and already allowed."""
    origin = _origin_of(dhgate_base_url or "")
    if origin and origin.startswith("http://"):
        return CONTENT_SECURITY_POLICY.replace("img-src 'self' data: https:", f"img-src 'self' data: https: {origin}")
    return CONTENT_SECURITY_POLICY


def init_app(app: Flask) -> None:
    app.config["CONTENT_SECURITY_POLICY"] = content_security_policy(app.config["DHGATE_BASE_URL"])
    app.before_request(check_same_origin)
    app.after_request(add_security_headers)
    app.after_request(keep_private_pages_private)
    app.jinja_env.globals["safe_next"] = safe_next_url
    app.jinja_env.globals["here_as_next"] = here_as_next
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)


def no_store(response: Response) -> Response:
    """Pages showing a secret once (a password, a link) must not sit in any cache or history."""
    response.headers["Cache-Control"] = "no-store"
    return response


def add_security_headers(response: Response) -> Response:
    """Headers every response carries; HSTS only where the site is served over HTTPS."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.config["CONTENT_SECURITY_POLICY"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("ENV_NAME") == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    return response


PRIVATE_CACHE_CONTROL = "private, no-store"


def keep_private_pages_private(response: Response) -> Response:
    """What a logged-in person sees is theirs: no shared cache may keep it, and no browser may
    show it from its cache after they log out (the back button on a shared computer).

    Responses that chose their own caching keep it (``no_store`` pages, the JSON status, static
    assets), and so does everything served to visitors who are not logged in.
    """
    if "Cache-Control" in response.headers or request.endpoint == "static":
        return response
    if current_user and current_user.is_authenticated:
        response.headers["Cache-Control"] = PRIVATE_CACHE_CONTROL
    return response


def _allowed_origins() -> set[str]:
    own = f"{request.scheme}://{request.host}"
    return {own, *current_app.config["TRUSTED_ORIGINS"]}


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def check_same_origin() -> None:
    """Refuse state changes that a browser says came from another site.

    CSRF tokens are the main defence; this is the second lock (OWASP's "verify origin with
    standard headers"). Requests without either header (CLI tools, API clients with tokens) are
    left to the CSRF token check.
    """
    if request.method not in UNSAFE_METHODS:
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        if origin not in _allowed_origins():
            _refuse_cross_origin(origin)
        return
    referer = request.headers.get("Referer")
    if referer and _origin_of(referer) not in _allowed_origins():
        _refuse_cross_origin(_origin_of(referer) or "?")


def _refuse_cross_origin(origin: str) -> None:
    record_security_event("csrf_failed", details={"reason": "cross-origin request", "origin": origin[:200]})
    abort(403, description="Cross-site request refused.")


def safe_next_url(target: str | None, fallback: str = "/") -> str:
    """``target`` when it points at this site, else ``fallback``.

    Rejects absolute URLs to other hosts, scheme-relative ``//evil``, backslash tricks browsers
    normalise to ``//``, anything that is not http(s), and anything longer than the
    ``NEXT_URL_MAX_LENGTH`` setting.
    """
    if not target or len(target) > current_app.config["NEXT_URL_MAX_LENGTH"]:
        return fallback
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return fallback
    host_url = request.host_url
    joined = urlsplit(urljoin(host_url, target))
    own = urlsplit(host_url)
    if joined.scheme not in ("http", "https") or joined.netloc != own.netloc:
        return fallback
    # "//evil.example" as a path is a scheme-relative URL to a browser: keep a single slash.
    path = "/" + (joined.path or "/").lstrip("/")
    return path + (f"?{joined.query}" if joined.query else "")


def here_as_next() -> str:
    """The current page as a ``next`` target for forms and the login redirect: path and query,
    just the path when that would be longer than ``safe_next_url`` follows, else nothing."""
    limit = current_app.config["NEXT_URL_MAX_LENGTH"]
    for candidate in (request.full_path if request.query_string else request.path, request.path):
        if len(candidate) <= limit:
            return candidate
    return ""


def login_rate_limit_key() -> str:
    """Flask-Limiter key of the per-account login limit: the login as typed, normalised and
    hashed (so spelling "Alice" or " alice" shares one bucket, and keys stay short)."""
    login = (request.form.get("login") or "").strip().lower()
    return "login:" + hashlib.sha256(login.encode()).hexdigest()[:32]


def handle_rate_limited(exc: RateLimitExceeded) -> Response:
    """Log every Flask-Limiter breach as ``rate_limited``, then show the usual 429 page.

    Flask-Limiter's own after-request hook adds ``Retry-After`` to this response.
    """
    key_func = exc.limit.key_func
    per_account = key_func is login_rate_limit_key
    if per_account:
        scope = "account"
    elif key_func is get_remote_address:
        scope = "ip"
    else:
        scope = getattr(key_func, "__name__", "custom")
    details = {
        "limit": str(exc.limit.limit),
        "scope": scope,
        "endpoint": request.endpoint,
        "path": request.path[:200],
    }
    user_id = None
    if per_account:
        login = (request.form.get("login") or "").strip()[:254]
        details["login"] = login
        target = find_user(login)
        user_id = target.id if target is not None else None
    record_security_event("rate_limited", user_id=user_id, details=details)
    if not exc.limit.error_message:
        exc.description = _("You have sent too many requests (the limit is %(limit)s).", limit=str(exc.limit.limit))
    return handle_http_exception(exc)  # type: ignore[return-value]
