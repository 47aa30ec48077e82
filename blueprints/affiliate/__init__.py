"""Affiliate clicks out to DHgate and the commission they bring."""
from flask import Blueprint

bp = Blueprint("affiliate", __name__)

from blueprints.affiliate import routes  # noqa: E402,F401  (registers the views on bp)
