"""The security log: one place that writes and reads ``security_events`` rows."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import g, has_app_context, has_request_context
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from extensions import db
from models import SecurityEvent, User
from services.formatting import spreadsheet_safe

# Every event the product writes, with words an admin understands. Unknown names still show.
EVENT_LABELS: dict[str, Any] = {
    "login": _l("Logged in"),
    "logout": _l("Logged out"),
    "failed_login": _l("Failed login"),
    "lockout": _l("Locked out"),
    "rate_limited": _l("Rate limited"),
    "password_changed": _l("Password changed"),
    "session_revoked": _l("Session ended"),
    "csrf_failed": _l("Refused form"),
    "admin_action": _l("Admin action"),
    "signup": _l("Signed up"),
    "email_verified": _l("E-mail address confirmed"),
    "email_change_requested": _l("E-mail change requested"),
    "email_changed": _l("E-mail address changed"),
    "account_deleted": _l("Account deleted"),
}


def event_label(event: str) -> str:
    label = EVENT_LABELS.get(event)
    return str(label) if label is not None else event


@dataclass(frozen=True)
class Client:
    """Who is asking: the address (as the WSGI server sees it, behind ProxyFix if configured)
    and the user agent. The request layer (``web.login``) stores one on ``g`` first thing in
    every request, so services can record it without reaching for ``flask.request``."""

    ip: str | None = None
    user_agent: str | None = None


CLIENT_KEY = "client"
NOBODY = Client()  # jobs and CLI commands: no client to record


def current_client() -> Client:
    """The client of the current request, or ``NOBODY`` outside one."""
    if not has_app_context():
        return NOBODY
    client = g.get(CLIENT_KEY)
    return client if isinstance(client, Client) else NOBODY


def record_security_event(
    event: str,
    *,
    user_id: int | None = None,
    details: dict[str, Any] | None = None,
    commit: bool = True,
) -> SecurityEvent:
    """Write one event, with the request's IP and user agent when there is a request.

    Commits by default because these events must survive the request failing afterwards (a
    refused login is exactly the case where nothing else gets committed).
    """
    if user_id is None and has_request_context() and current_user and current_user.is_authenticated:
        user_id = current_user.id
    client = current_client()
    row = SecurityEvent(
        event=event[:32],
        user_id=user_id,
        ip=client.ip,
        user_agent=client.user_agent,
        details=details,
    )
    db.session.add(row)
    if commit:
        db.session.commit()
    return row


def record_admin_action(action: str, *, target: User | None = None, **details: Any) -> SecurityEvent:
    """An admin changed something about someone: who did what to whom, in one event."""
    payload: dict[str, Any] = {"action": action, **details}
    if target is not None:
        payload["target_user_id"] = target.id
        payload["target"] = target.username
    return record_security_event("admin_action", details=payload)


def events_query(
    *,
    event: str | None = None,
    user: str | None = None,
    user_id: int | None = None,
    ip: str | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
) -> Select[SecurityEvent]:
    """Newest first, optionally one kind of event, one person (by id, or by a fragment of their
    e-mail or username), an IP address or its beginning, and a time range (``since`` included,
    ``before`` excluded)."""
    query = select(SecurityEvent).options(selectinload(SecurityEvent.user))
    if event:
        query = query.where(SecurityEvent.event == event)
    if user_id is not None:
        query = query.where(SecurityEvent.user_id == user_id)
    if user:
        pattern = f"%{_escape_like(user.strip().lower())}%"
        matching_ids = select(User.id).where(
            or_(func.lower(User.email).like(pattern, escape="\\"), func.lower(User.username).like(pattern, escape="\\"))
        )
        query = query.where(SecurityEvent.user_id.in_(matching_ids))
    if ip:
        query = query.where(SecurityEvent.ip.like(f"{_escape_like(ip.strip())}%", escape="\\"))
    if since is not None:
        query = query.where(SecurityEvent.created_at >= since)
    if before is not None:
        query = query.where(SecurityEvent.created_at < before)
    return query.order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc())


def _escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards taken literally (a ``_`` in a username is just a ``_``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def recent_events(user_id: int, limit: int = 10) -> list[SecurityEvent]:
    return list(db.session.scalars(events_query(user_id=user_id).limit(limit)))


EXPORT_COLUMNS = ("time_utc", "event", "user_id", "username", "ip", "user_agent", "details")
def export_rows(query: Select[SecurityEvent], *, batch: int = 500) -> Iterator[list[str]]:
    """The header, then one row per event of ``query``, read from the database ``batch`` rows at
    a time so an export of the whole log never holds it in memory."""
    yield list(EXPORT_COLUMNS)
    for row in db.session.scalars(query.execution_options(yield_per=batch)):
        yield [
            spreadsheet_safe(cell)
            for cell in (
                row.created_at.astimezone(UTC).isoformat(timespec="seconds"),
                row.event,
                "" if row.user_id is None else str(row.user_id),
                row.user.username if row.user is not None else "",
                row.ip or "",
                row.user_agent or "",
                json.dumps(row.details, sort_keys=True, default=str) if row.details else "",
            )
        ]
