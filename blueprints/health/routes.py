"""Probes: ``/healthz`` (liveness), ``/readyz`` (readiness) and ``/metrics`` (Prometheus).

``/healthz`` touches nothing: it answers while the process can answer. ``/readyz`` runs only
the critical checks and reuses the process's verdict for ``READYZ_CACHE_SECONDS``, so probes
cannot overload the database; its body names each check's status and time, never an error text
or a URL. ``/metrics`` is for admins and for scrapers holding ``METRICS_TOKEN``.
"""
from __future__ import annotations

import hmac

from flask import Response, current_app, jsonify, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST

from blueprints.health import bp
from extensions import limiter
from services.health import overall_ok, readiness
from services.prometheus import render


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz() -> tuple[Response, int]:
    results = readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    ok = overall_ok(results)
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {r.name: {"status": r.status, "response_ms": r.response_ms} for r in results},
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ok else 503


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
