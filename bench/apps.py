"""Apps the HTTP benchmarks serve: the real app plus a trivial ``/hello`` route.

gunicorn builds them with ``gunicorn 'bench.apps:with_metrics()'``. Both are the full product
(every extension, hook and blueprint); they differ only in the request-metrics middleware.
"""
from __future__ import annotations

from flask import Flask


def _build(metrics: bool) -> Flask:
    from app import create_app
    from services.metrics import init_app

    app = create_app({"METRICS_ENABLED": metrics})

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    init_app(app)  # a no-op when app.py already did it, or when METRICS_ENABLED is false
    return app


def with_metrics() -> Flask:
    return _build(True)


def without_metrics() -> Flask:
    return _build(False)
