"""The member overview and the admin platform dashboard."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from blueprints.dashboard import routes  # noqa: E402,F401  (registers the views on bp)
