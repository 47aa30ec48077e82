"""Views of a member's data rights: download everything as JSON, or delete the account."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, flash, redirect, render_template, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from blueprints.auth import bp
from blueprints.auth.account_forms import DeleteAccountForm
from services.data_rights import DeletionRefused, delete_account, export_json
from web.login import end_current_session


@bp.get("/account/data")
@login_required
def data_rights() -> str:
    user = current_user._get_current_object()
    return render_template("auth/data_rights.html", user=user, form=DeleteAccountForm())


@bp.get("/account/export")
@login_required
def export_data() -> Response:
    """The download, streamed: sections are read in batches while the file is sent."""
    user = current_user._get_current_object()
    filename = f"dhgate-monitor-{user.username}-{datetime.now(UTC):%Y%m%d}.json"
    response = Response(stream_with_context(export_json(user)), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/delete")
@login_required
def delete_own_account() -> BaseResponse | tuple[str, int]:
    user = current_user._get_current_object()
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            delete_account(user, form.confirm_email.data or "")
        except DeletionRefused as exc:
            form.confirm_email.errors = [*form.confirm_email.errors, str(exc)]
        else:
            user.current_session = None  # its row went with the account
            end_current_session(user, "account_deleted")
            flash(_("Your account and everything in it are deleted. Goodbye!"), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/data_rights.html", user=user, form=form), 400
