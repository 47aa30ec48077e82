"""Access checks other blueprints can put on their views.

    from blueprints.auth.decorators import admin_required

    @bp.get("/platform")
    @admin_required
    def platform() -> str: ...
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user

from extensions import login_manager

P = ParamSpec("P")
R = TypeVar("R")


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    """Anonymous visitors go to the login page (and come back here after); members get 403."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()  # type: ignore[return-value]
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
