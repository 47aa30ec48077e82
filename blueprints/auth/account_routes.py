"""Views of accounts by e-mail: forgotten passwords, public signup and its confirmation, and
changing one's address. The rules live in ``services.account_flows``; the mails are sent by
background jobs, so these pages answer at once and the same whether or not an account exists."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.auth import bp
from blueprints.auth.account_forms import (
    ChangeEmailForm,
    ForgotPasswordForm,
    ResendVerificationForm,
    ResetPasswordForm,
    SignupForm,
)
from extensions import limiter
from services import account_flows
from services.account_flows import WrongPassword
from services.account_links import email_change_for_token, user_for_reset_token, user_for_verify_token
from services.accounts import AccountError
from web.security import no_store

ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def _ip_mail_limit() -> str:
    return current_app.config["ACCOUNT_MAIL_RATE_LIMIT_IP"]


def _address_mail_limit() -> str:
    return current_app.config["ACCOUNT_MAIL_RATE_LIMIT_ADDRESS"]


def address_rate_limit_key() -> str:
    """Flask-Limiter key of the per-address limit: the address as typed, normalised and hashed,
    so nobody can fill one person's inbox by spelling their address differently."""
    address = (request.form.get("email") or "").strip().lower()
    return "account-mail:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def _too_many_mails() -> str:
    return _("Too many requests for e-mails. Please wait a few minutes and try again.")


def _invalid_link() -> Response:
    return no_store(make_response(render_template("auth/link_invalid.html"), 400))


def _mail_form_limits(view: ViewT) -> ViewT:
    """The limits of every form that sends an e-mail: per IP, and per address typed."""
    per_address = limiter.limit(_address_mail_limit, key_func=address_rate_limit_key, methods=["POST"],
                                error_message=_too_many_mails)
    per_ip = limiter.limit(_ip_mail_limit, methods=["POST"], error_message=_too_many_mails)
    return cast("ViewT", per_ip(per_address(view)))


def _require_signup() -> None:
    if not account_flows.signup_enabled():
        abort(404)


# --- forgotten passwords --------------------------------------------------------------------------

@bp.route("/forgot", methods=["GET", "POST"])
@_mail_form_limits
def forgot_password() -> str:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        address = form.email.data or ""
        if account_flows.clean_address(address) is None:
            form.email.errors = [*form.email.errors, _("That is not a valid e-mail address.")]
        else:
            account_flows.request_password_reset(address)
            return render_template("auth/mail_sent.html", address=address.strip(), purpose="reset")
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Response | str:
    user = user_for_reset_token(token)
    if user is None:
        return _invalid_link()
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            account_flows.reset_password(user, form.new_password.data or "")
        except AccountError as exc:
            form.new_password.errors = [*form.new_password.errors, str(exc)]
        else:
            flash(_("Your password is changed and every session of your account was logged out. You can log in now."),
                  "success")
            return redirect(url_for("auth.login"))
    return no_store(make_response(render_template("auth/reset_password.html", form=form, user=user)))


# --- public signup --------------------------------------------------------------------------------

@bp.route("/signup", methods=["GET", "POST"])
@_mail_form_limits
def signup() -> Response | str:
    _require_signup()
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = account_flows.sign_up(form.email.data or "", form.username.data or "", form.new_password.data or "")
        except AccountError as exc:
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            return render_template("auth/mail_sent.html", address=user.email, purpose="verify")
    return render_template("auth/signup.html", form=form)


@bp.get("/verify/<token>")
def verify_account(token: str) -> Response:
    user = user_for_verify_token(token)
    if user is None:
        return _invalid_link()
    if account_flows.confirm_account(user):
        flash(_("Your address is confirmed. Welcome! You can log in now."), "success")
    else:
        flash(_("Your address was already confirmed. You can log in."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/verify/resend", methods=["GET", "POST"])
@_mail_form_limits
def resend_verification() -> str:
    form = ResendVerificationForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"][:254]
    if form.validate_on_submit():
        account_flows.resend_verification(form.email.data or "")
        return render_template("auth/mail_sent.html", address=(form.email.data or "").strip(), purpose="verify")
    return render_template("auth/resend_verification.html", form=form)


# --- changing the address -------------------------------------------------------------------------

@bp.route("/email", methods=["GET", "POST"])
@login_required
def change_email() -> Response | str:
    user = current_user._get_current_object()
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            new_email = account_flows.request_email_change(user, form.new_email.data or "", form.password.data or "")
        except AccountError as exc:
            field = form.password if isinstance(exc, WrongPassword) else form.new_email
            field.errors = [*field.errors, str(exc)]
        else:
            flash(_("We sent a link to %(email)s. Your address changes when you follow it.", email=new_email), "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/change_email.html", form=form, user=user)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str) -> Response | str:
    """A page with one button rather than a change on GET: mail scanners open links, people
    press buttons."""
    found = email_change_for_token(token)
    if found is None:
        return _invalid_link()
    user, new_email = found
    if request.method == "POST":
        try:
            account_flows.apply_email_change(user, new_email)
        except AccountError as exc:
            flash(str(exc), "error")
            return _invalid_link()
        flash(_("Your e-mail address is now %(email)s.", email=new_email), "success")
        return redirect(url_for("auth.account") if current_user.is_authenticated else url_for("auth.login"))
    return no_store(make_response(render_template("auth/confirm_email.html", user=user, new_email=new_email)))
