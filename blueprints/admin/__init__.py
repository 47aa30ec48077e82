"""Running the platform: its people (accounts, their sessions, the security log) and its
operations (failed jobs, the public status page switch).

Every view here is for admins only; the check sits on the blueprint (``before_request``), so a
view added later cannot forget it."""
from flask import Blueprint

from web.access import refuse_non_admins

bp = Blueprint("admin", __name__)
bp.before_request(refuse_non_admins)

from blueprints.admin import (  # noqa: E402,F401  (registers the views on bp)
    affiliate_import,
    affiliate_reports,
    affiliate_settings,
    operations,
    routes,
    security_log,
    sessions,
)
