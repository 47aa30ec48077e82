"""``@needs_redis``: a ``flask`` command that uses Redis starts the embedded server first.

Building the app starts no process (``create_app`` only points ``REDIS_URL`` at the embedded
server's socket when none is configured), so each command that talks to Redis asks for it here.
Commands that touch only the database (``db upgrade``, ``users …``) never start a server.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from flask import current_app

from services.embedded_redis import EmbeddedRedisError, ensure_app_redis

P = ParamSpec("P")
R = TypeVar("R")


def needs_redis(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command`` with the app's embedded Redis started (when the app uses it).

    Place it below ``@with_appcontext`` / the group's ``command`` decorator: it needs the app.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            ensure_app_redis(current_app._get_current_object())  # type: ignore[attr-defined]
        except EmbeddedRedisError as exc:
            raise click.ClickException(str(exc)) from None
        return command(*args, **kwargs)

    return wrapper
