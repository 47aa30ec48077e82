"""The signed cookie session, verified once per cookie value per process.

Flask checks a session cookie's signature (HMAC, base64, zlib) on every request that carries
one, although a browser sends the same value again and again until the session changes. A value
that verified is kept here with its signing time: the same string gets its data back without
verifying again, as long as it is within the session lifetime exactly as Flask would decide it
(so an expired cookie is still refused). Only an identical string hits, so nothing an attacker
can send is accepted that Flask would refuse; the memory is bounded per process.
"""
from __future__ import annotations

import threading
import time

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

KEPT_COOKIES = 4096  # cookie values per process; past that the memory starts again


class VerifiedCookieSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie sessions, remembering cookie values whose signature already verified."""

    def __init__(self) -> None:
        self._verified: dict[str, tuple[int, str]] = {}  # cookie value -> (signed at, payload)
        self._lock = threading.Lock()

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return super().open_session(app, request)
        max_age = int(app.permanent_session_lifetime.total_seconds())
        kept = self._verified.get(value)
        if kept is not None and 0 <= int(time.time()) - kept[0] <= max_age:  # itsdangerous' own test
            return self.session_class(self.serializer.loads(kept[1]))
        signer = self.get_signing_serializer(app)
        if signer is None:
            return None
        try:
            data, signed_at = signer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        with self._lock:
            if len(self._verified) >= KEPT_COOKIES:
                self._verified.clear()
            # Kept as its JSON, so every request gets data of its own to change.
            self._verified[value] = (int(signed_at.timestamp()), self.serializer.dumps(data))
        return self.session_class(data)


def init_app(app: Flask) -> None:
    app.session_interface = VerifiedCookieSessionInterface()
