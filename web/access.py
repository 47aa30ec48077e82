"""Access checks other blueprints can put on their views.

    from web.access import admin_required

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
from werkzeug.wrappers import Response

from extensions import login_manager

P = ParamSpec("P")
R = TypeVar("R")


def refuse_non_admins() -> Response | None:
    """Anonymous visitors go to the login page (and come back here after); members get 403.

    ``None`` lets an admin through, so a whole blueprint can use it as its ``before_request``
    and no view of it can be added without the check."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    """The admin check on one view of a blueprint that members may otherwise use."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        refused = refuse_non_admins()
        if refused is not None:
            return refused  # type: ignore[return-value]
        return view(*args, **kwargs)

    return wrapped
