"""A conversion report uploaded on the admin page, kept between "upload" and "import".

The admin uploads the file, then picks which column holds which field while looking at its first
rows. The file is kept in Redis under a random token for ``UPLOAD_TTL_SECONDS`` rather than sent
back and forth in a hidden form field: form fields are size-limited (a month's report can be
megabytes) and a token cannot be edited in between. Expiry cleans up abandoned uploads.
"""
from __future__ import annotations

import csv
import io
import itertools
import re
import secrets
from dataclasses import dataclass

from flask import current_app

from extensions import get_redis
from services.affiliate_conversions import column_fields

UPLOAD_TTL_SECONDS = 3600
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 5
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class UploadError(ValueError):
    """The uploaded file cannot be used; the message says why."""


@dataclass(frozen=True)
class Preview:
    header: list[str]
    fields: dict[int, str]  # column index -> field recognised from its name
    rows: list[list[str]]  # the first rows, as text


def _key(token: str) -> str:
    return f"{current_app.config['REDIS_KEY_PREFIX']}aff:import:{token}"


def decode_upload(data: bytes) -> str:
    """The file as text: UTF-8 (with or without a byte order mark), at most ``MAX_UPLOAD_BYTES``."""
    if not data.strip():
        raise UploadError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("the file is not UTF-8 text (save the report as CSV UTF-8)") from None


def stash(text: str) -> str:
    token = secrets.token_urlsafe(18)
    get_redis().set(_key(token), text.encode(), ex=UPLOAD_TTL_SECONDS)
    return token


def load(token: str) -> str | None:
    """The stashed file, or None when the token is malformed, unknown or expired."""
    if not _TOKEN.fullmatch(token):
        return None
    raw = get_redis().get(_key(token))
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def drop(token: str) -> None:
    if _TOKEN.fullmatch(token):
        get_redis().delete(_key(token))


def preview(text: str, rows: int = PREVIEW_ROWS) -> Preview:
    """The header, the fields its names suggest, and the first ``rows`` records."""
    try:
        reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
        header = next(reader, [])
        first = list(itertools.islice((r for r in reader if any(v.strip() for v in r)), rows))
    except csv.Error as exc:
        raise UploadError(f"not a readable CSV file ({exc})") from None
    if not header:
        raise UploadError("the file has no header line")
    return Preview(header=header, fields=column_fields(header), rows=first)
