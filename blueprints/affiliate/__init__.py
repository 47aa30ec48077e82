"""Affiliate clicks out to DHgate and the commission they bring.

Two blueprints: ``bp`` (the report, under ``/affiliate``) and ``go_bp`` (the tracked redirect at
``/go/<token>``, short because it is in every outbound link and public because links in e-mails
and chat are followed without a session).
"""
from flask import Blueprint

bp = Blueprint("affiliate", __name__)
go_bp = Blueprint("go", __name__)

from blueprints.affiliate import routes  # noqa: E402,F401  (registers the views on bp and go_bp)
