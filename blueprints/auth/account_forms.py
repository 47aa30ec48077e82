"""Forms of accounts by e-mail: forgot password, signup, resend confirmation, change address,
and deleting one's account."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from blueprints.auth.forms import NewPasswordMixin
from services.accounts import MAX_PASSWORD_LENGTH


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(NewPasswordMixin, FlaskForm):
    pass


class SignupForm(NewPasswordMixin, FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])


class ResendVerificationForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class ChangeEmailForm(FlaskForm):
    new_email = EmailField(_l("New e-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)])


class DeleteAccountForm(FlaskForm):
    confirm_email = StringField(_l("Type your e-mail address to confirm"),
                                validators=[DataRequired(), Length(max=254)])
