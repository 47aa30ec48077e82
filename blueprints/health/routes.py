"""Probes: ``/healthz`` (liveness), ``/readyz`` (readiness) and ``/metrics`` (Prometheus).

``/healthz`` touches nothing: it answers while the process can answer. ``/readyz`` runs only
the critical checks and reuses the process's verdict for ``READYZ_CACHE_SECONDS``, so probes
cannot overload the database; the non-critical checks come from the last recorded run, so its
``state`` (healthy / degraded / down) is the banner's. It answers 503 only when *down*: a degraded
platform still serves. Its body names each check's status and time, never an error text or a URL. ``/metrics`` is for admins and for scrapers holding ``METRICS_TOKEN``. ``/status`` is
the public status page: 404 until an admin switches it on, then readable without logging in.
"""
from __future__ import annotations

import hmac

from flask import Response, abort, current_app, jsonify, render_template, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST

from blueprints.health import bp
from extensions import limiter
from services.health import overall_state, readiness
from services.prometheus import render
from services.site_settings import status_page_public
from services.status_page import status_page


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz() -> tuple[Response, int]:
    results = readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    overall = overall_state(results)
    ok = overall.serving
    body = {
        "status": "ok" if ok else "unavailable",
        "state": overall.state,
        "failing": list(overall.failing),
        "checks": {r.name: {"status": r.status, "response_ms": r.response_ms, "critical": r.critical} for r in results},
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ok else 503


@bp.get("/status")
def status() -> str:
    """The public status page; "not found" while it is switched off, so its existence is not
    announced before the admin decides to publish it."""
    if not status_page_public():
        abort(404)
    return render_template("health/status.html", page=status_page())


@bp.get("/metrics")
@limiter.exempt
def metrics() -> Response:
    if not _may_read_metrics():
        return Response(
            "unauthorized\n", status=401, mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
        )
    response = Response(render(current_app._get_current_object()), mimetype=CONTENT_TYPE_LATEST)  # type: ignore[attr-defined]
    response.headers["Cache-Control"] = "no-store"
    return response


def _may_read_metrics() -> bool:
    """A logged-in admin, or the configured bearer token (compared in constant time)."""
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), str(token).encode())
    return bool(current_user.is_authenticated and current_user.is_admin)
