"""Affiliate performance: a member sees their own figures, an admin everyone's."""
from __future__ import annotations

from flask import render_template, request
from flask_login import current_user, login_required

from blueprints.affiliate import bp
from services import affiliate
from web.params import int_arg


@bp.get("/")
@login_required
def index() -> str:
    everyone = current_user.is_admin and request.args.get("scope") == "all"
    days = int_arg("days", 30, minimum=1, maximum=366, clamp=True)
    days = days if days in (7, 30, 90) else 30
    data = affiliate.summary(None if everyone else current_user.id, days=days)
    return render_template("affiliate/index.html", data=data, everyone=everyone, days=days)
