"""Monitors (stores, searches, products), their products, price history and events."""
from flask import Blueprint

bp = Blueprint("monitoring", __name__)

from blueprints.monitoring import routes  # noqa: E402,F401  (registers the views on bp)
