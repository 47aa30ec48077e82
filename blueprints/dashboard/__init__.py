"""The member overview and the admin platform dashboard."""
from flask import Blueprint

from services.dashboard_cache import generation_redis_key
from web.login import prefetch_with_session

bp = Blueprint("dashboard", __name__)
# A kept platform page checks its generation in the session check's round trip (page_cache).
bp.record_once(lambda _state: prefetch_with_session("dashboard.platform", generation_redis_key))

from blueprints.dashboard import routes  # noqa: E402,F401  (registers the views on bp)
