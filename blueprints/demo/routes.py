"""The demo mailbox: a list of the mails the sink received, and one mail (its HTML in a sandboxed
frame, its text part and its headers). A member sees the mails sent to their own address; an
admin sees them all."""
from __future__ import annotations

from flask import abort, current_app, make_response, render_template
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.demo import bp
from services.demo_mail import MailView, list_mails, read_mail

# The HTML part is shown in <iframe sandbox> and served with a CSP sandbox of its own, so a mail's
# markup can neither run script nor reach the app's cookies, whatever the mail contains.
MAIL_HTML_CSP = "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _recipient() -> str | None:
    return None if current_user.is_admin else str(current_user.email)


def _folder() -> str:
    return str(current_app.config["DEMO_MAIL_DIR"])


def _mail(key: str) -> MailView:
    mail = read_mail(_folder(), key, recipient=_recipient())
    if mail is None:
        abort(404)
    return mail


@bp.get("/mail")
@login_required
def mailbox() -> str:
    return render_template("demo/mailbox.html", mails=list_mails(_folder(), recipient=_recipient()))


@bp.get("/mail/<key>")
@login_required
def mail(key: str) -> str:
    return render_template("demo/mail.html", mail=_mail(key))


@bp.get("/mail/<key>/html")
@login_required
def mail_html(key: str) -> Response:
    mail = _mail(key)
    if mail.html is None:
        abort(404)
    response = make_response(mail.html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = MAIL_HTML_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # shown in the mail page's own frame only
    return response
