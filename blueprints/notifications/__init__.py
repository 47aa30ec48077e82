"""The in-app notification inbox and notification preferences."""
from flask import Blueprint

from services.notifications import live

bp = Blueprint("notifications", __name__)
bp.record_once(lambda _state: live.install())  # keep the live badge's versions true in every process

from blueprints.notifications import routes  # noqa: E402,F401  (registers the views on bp)
