"""Delivery jobs: thin wrappers over ``services.notifications.sending``.

``deliver_notification`` is enqueued when an alert is written; ``deliver_due`` runs every minute
and sends retries that came due, alerts held by quiet hours, and anything whose job was lost;
``send_digests`` runs hourly and sends the digests that are due (``services.notifications.digests``). Both are safe to run twice at
once: every send is claimed by a conditional update first.
"""
from __future__ import annotations

from services.notifications.digests import send_digests as write_and_send_digests
from services.notifications.sending import deliver_due as send_due
from services.notifications.sending import deliver_notification as send_notification
from services.queue import job


@job("high", timeout=300)
def deliver_notification(notification_id: int) -> dict[str, int]:
    """Send every due delivery of one notification once."""
    return send_notification(notification_id).outcomes


@job("default", timeout=900)
def deliver_due() -> dict[str, int]:
    """Send every due delivery (retries after their backoff, and deliveries nobody enqueued)."""
    return send_due().outcomes


@job("default", timeout=900)
def send_digests() -> dict[str, int]:
    """Write and send the hourly and daily digests that are due now."""
    run = write_and_send_digests()
    return {"digests": len(run.digests), **run.sending.outcomes}
