"""Fingerprinted static files: ``url_for('static', ...)`` adds a content hash, so assets can be
cached for a year and still change the moment a file does."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request


@lru_cache(maxsize=512)
def _file_hash(path: str, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def fingerprint(filename: str) -> str | None:
    static_folder = current_app.static_folder
    if not static_folder:
        return None
    path = Path(static_folder) / filename
    try:
        stat = path.stat()
    except OSError:
        return None
    return _file_hash(str(path), stat.st_mtime_ns)


def add_static_version(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == "static" and "filename" in values and "v" not in values:
        version = fingerprint(values["filename"])
        if version:
            values["v"] = version


def cache_static(response: Response) -> Response:
    """A versioned asset never changes under its URL: let browsers and proxies keep it."""
    if request.endpoint == "static" and request.args.get("v") and response.status_code == 200:
        max_age = current_app.config["STATIC_MAX_AGE"]
        response.headers["Cache-Control"] = f"public, max-age={max_age}, immutable"
    return response


def init_app(app: Flask) -> None:
    app.url_defaults(add_static_version)
    app.after_request(cache_static)
