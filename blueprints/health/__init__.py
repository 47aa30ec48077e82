"""Probes for load balancers and monitoring (liveness, readiness, Prometheus metrics) and the
public status page for people, when an admin has switched it on."""
from flask import Blueprint

bp = Blueprint("health", __name__)

from blueprints.health import routes  # noqa: E402,F401  (registers the views on bp)
