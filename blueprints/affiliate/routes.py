"""Affiliate performance (a member sees their own figures, an admin everyone's) and the tracked
redirect every outbound DHgate link goes through."""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from flask import abort, jsonify, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from blueprints.affiliate import bp, go_bp
from extensions import csrf
from services import (
    affiliate,
    affiliate_clicks,
    affiliate_links,
    affiliate_postback,
    affiliate_reports,
    affiliate_settings,
)
from web.params import int_arg

logger = logging.getLogger(__name__)


@bp.get("/")
@login_required
def index() -> str:
    everyone = current_user.is_admin and request.args.get("scope") == "all"
    days = int_arg("days", 30, minimum=1, maximum=366, clamp=True)
    days = days if days in affiliate.PERIODS else 30
    data = affiliate.summary(None if everyone else current_user.id, days=days)
    currency = affiliate_settings.current().currency
    return render_template(
        "affiliate/index.html", data=data, everyone=everyone, days=days, periods=affiliate.PERIODS,
        chart=affiliate_reports.per_day_chart(data, currency), currency=currency,
    )


@go_bp.route("/go/<token>", methods=["GET", "HEAD"])
def follow(token: str) -> Response:
    """302 to the DHgate page a signed token names, with our affiliate parameters; the click is
    counted in Redis (when it is a person's, and not a repeat) and reaches the database later."""
    try:
        link = affiliate_links.read_token(token)
    except affiliate_links.BadLinkToken:
        abort(400, description=_("This link is broken or was changed after we made it, so it leads nowhere. "
                                 "Open the product from your monitors instead."))
    target = affiliate_links.dhgate_target(link)
    if target is None:
        abort(400, description=_("This link does not lead to a DHgate page (any more). "
                                 "Open the product from your monitors instead."))
    click_ref = affiliate_clicks.new_click_ref()
    if affiliate_clicks.countable(request.method, request.headers):
        click = affiliate_clicks.Click(
            click_ref=click_ref, link=link, token=token,
            ip_hash=affiliate_clicks.ip_hash(request.remote_addr),
            user_agent=request.headers.get("User-Agent"), referrer=request.headers.get("Referer"),
            at=datetime.now(UTC),
        )
        try:
            affiliate_clicks.record(click)
        except RedisError as exc:  # the visitor still goes to DHgate; only this count is lost
            logger.warning("affiliate click not counted, Redis unavailable: %s", exc)
    response = redirect(affiliate_links.with_affiliate_params(target, click_ref, link.source), code=302)
    response.headers["Cache-Control"] = "no-store"  # every click must reach us to be counted
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.post("/postback")
@csrf.exempt  # server to server: the HMAC signature stands in for the CSRF token (only here)
def postback() -> tuple[Response, int]:
    """One order pushed by the affiliate network, signed with the shared secret; JSON either way
    (the network logs our answer), 404 while no secret is configured."""
    if (request.content_length or 0) > affiliate_postback.MAX_BODY_BYTES:
        return jsonify(ok=False, error="the body is too large"), 413
    try:
        result = affiliate_postback.receive(
            request.headers.get(affiliate_postback.TIMESTAMP_HEADER),
            request.headers.get(affiliate_postback.SIGNATURE_HEADER),
            request.get_data(cache=False), now=time.time(),
        )
    except affiliate_postback.PostbackRejected as exc:
        return jsonify(ok=False, error=exc.reason), exc.status
    except RedisError as exc:
        logger.warning("affiliate postback refused, Redis unavailable: %s", exc)
        return jsonify(ok=False, error="temporarily unavailable, retry later"), 503
    return jsonify(ok=True, order_id=result.order_id, outcome=result.outcome), 200
