"""Every live session on the platform: who, which browser, the address as stored, last seen.

Ending one, or all of one person's, posts to the person's own session actions (``routes``)
with ``return_to=sessions``, so there is one implementation of revoking. The browser of an
ended session is logged out on its next request, because every request looks its session row
up (``services.sessions``)."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from blueprints.admin import bp
from extensions import db
from models import User
from services.people import live_sessions_query
from web.params import int_arg, page_arg

SESSIONS_PER_PAGE = 50


@bp.get("/sessions")
def all_sessions() -> str:
    """Newest activity first; ``?user_id=`` narrows the list to one person."""
    user_id = int_arg("user_id", minimum=1)
    person = db.session.get(User, user_id) if user_id is not None else None
    query = live_sessions_query(user_id=user_id)
    page = db.paginate(query, page=page_arg(), per_page=SESSIONS_PER_PAGE, error_out=False)
    filters = {"user_id": str(user_id)} if user_id is not None else {}
    return render_template(
        "admin/sessions.html",
        page=page,
        person=person,
        filters=filters,
        current_session_id=current_user.current_session.id,
    )
