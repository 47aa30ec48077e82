"""The demo's pages: the e-mails the product sent, as the local mail sink of ``make demo``
received them. Registered only when ``DEMO_MAIL_DIR`` is set outside production (see
``app_parts``), so a real site has no such URL at all."""
from flask import Blueprint

bp = Blueprint("demo", __name__)

from blueprints.demo import routes  # noqa: E402,F401  (registers the views on bp)
