"""Conversions pushed by the affiliate network: a signed JSON postback for one order.

The endpoint is public (the network calls it server to server), so the signature is what makes a
request believable: HMAC-SHA256 under the shared ``AFFILIATE_POSTBACK_SECRET`` over
``timestamp + "." + body``. Signing the timestamp with the body means a captured request cannot
be given a fresh time, and the ``WINDOW_SECONDS`` window means it is useless after five minutes;
within those five minutes a replay is refused because the signature is remembered in Redis
(``SET NX``) for the length of the window. The order itself then goes through the same checks and
the same idempotent write as an imported report, so the network sending an order twice (with a
new timestamp, as retries do) changes nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app

from extensions import get_redis
from services.affiliate_conversions import (
    ConversionImportError,
    ConversionRow,
    ImportReport,
    import_conversions,
    parse_record,
)

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 300
MAX_BODY_BYTES = 16 * 1024  # one order is a few hundred bytes
SIGNATURE_HEADER = "X-Affiliate-Signature"
TIMESTAMP_HEADER = "X-Affiliate-Timestamp"


class PostbackRejected(Exception):
    """The postback is refused; ``status`` is the HTTP status, ``reason`` says why (for the network)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class PostbackResult:
    order_id: str
    outcome: str  # "created", "updated" or "unchanged"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex signature of a postback (what the network computes; the sandbox and tests too)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def replay_key(prefix: str, signature: str) -> str:
    return f"{prefix}aff:postback:seen:{signature}"


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float) -> None:
    """Refuse a postback that is unsigned, wrongly signed, outside the window or seen before."""
    if not timestamp or not signature:
        raise PostbackRejected(401, f"the {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required")
    try:
        moment = int(timestamp.strip())
    except ValueError:
        raise PostbackRejected(400, f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    given = signature.strip().lower().removeprefix("sha256=")
    if not hmac.compare_digest(given, sign(secret, timestamp.strip(), body)):
        raise PostbackRejected(401, "the signature does not match")
    if abs(now - moment) > WINDOW_SECONDS:
        raise PostbackRejected(401, f"the timestamp is more than {WINDOW_SECONDS} seconds away from our clock")
    # Only a correctly signed request reaches Redis, so nobody can fill it with junk keys.
    key = replay_key(current_app.config["REDIS_KEY_PREFIX"], given)
    if not get_redis().set(key, "1", nx=True, ex=WINDOW_SECONDS * 2):
        raise PostbackRejected(409, "this postback was already received (replay)")


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PostbackRejected(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise PostbackRejected(400, "the body must be a JSON object")
    return data


def receive(timestamp: str | None, signature: str | None, body: bytes, *, now: float) -> PostbackResult:
    """Check one postback and write its order; ``PostbackRejected`` when it cannot be taken."""
    secret = current_app.config.get("AFFILIATE_POSTBACK_SECRET")
    if not secret:
        raise PostbackRejected(404, "postbacks are not enabled")
    if len(body) > MAX_BODY_BYTES:
        raise PostbackRejected(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    verify(secret, timestamp, signature, body, now=now)
    data = parse_body(body)
    try:
        row = parse_record({name: None if value is None else str(value) for name, value in data.items()})
    except ValueError as exc:
        raise PostbackRejected(422, str(exc)) from None
    from_import = _write(row)
    outcome = "created" if from_import.created else "updated" if from_import.updated else "unchanged"
    logger.info("affiliate postback: order %s %s", row.order_id, outcome)
    return PostbackResult(order_id=row.order_id, outcome=outcome)


def _write(row: ConversionRow) -> ImportReport:
    try:
        return import_conversions([row])
    except ConversionImportError as exc:
        raise PostbackRejected(409, exc.errors[0].message) from None
