"""The in-app notification inbox and notification preferences."""
from flask import Blueprint

bp = Blueprint("notifications", __name__)

from blueprints.notifications import routes  # noqa: E402,F401  (registers the views on bp)
