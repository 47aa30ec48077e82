"""Probes for load balancers and monitoring: liveness, readiness and Prometheus metrics."""
from flask import Blueprint

bp = Blueprint("health", __name__)

from blueprints.health import routes  # noqa: E402,F401  (registers the views on bp)
