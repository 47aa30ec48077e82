"""Forms of the auth area (log in, passwords, account settings). Every label and message goes
through ``lazy_gettext``."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError

from models.users import THEMES
from services.accounts import MAX_PASSWORD_LENGTH, available_timezones


def theme_choices() -> list[SelectChoice]:
    labels = {"system": _l("Same as my device"), "light": _l("Light"), "dark": _l("Dark")}
    return [SelectChoice(theme, labels[theme]) for theme in THEMES]


def locale_choices() -> list[SelectChoice]:
    # Each language in its own words, so people find theirs whatever the page language is.
    names = {"en": "English", "nl": "Nederlands"}
    return [SelectChoice(code, names.get(code, code)) for code in current_app.config["LANGUAGES"]]


class MinPasswordLength:
    """The configured minimum, read when the form is checked (tests and sites may change it)."""

    def __call__(self, form: FlaskForm, field: PasswordField) -> None:
        minimum = current_app.config["PASSWORD_MIN_LENGTH"]
        if field.data and len(field.data) < minimum:
            raise ValidationError(_l("Use at least %(n)s characters.", n=minimum))
        if field.data and len(field.data) > MAX_PASSWORD_LENGTH:
            raise ValidationError(_l("Use at most %(n)s characters.", n=MAX_PASSWORD_LENGTH))


class LoginForm(FlaskForm):
    login = StringField(_l("E-mail or username"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)])
    remember = BooleanField(_l("Keep me logged in"))
    next = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        days = current_app.config["REMEMBER_DAYS"]
        self.remember.label.text = ngettext(
            "Keep me logged in for %(num)s day", "Keep me logged in for %(num)s days", days
        )


class NewPasswordMixin:
    """Two fields for a new password: typed twice, so a typo does not lock the person out."""

    new_password = PasswordField(_l("New password"), validators=[DataRequired(), MinPasswordLength()])
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords are not the same."))],
    )


class ChangePasswordForm(NewPasswordMixin, FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])


class SetPasswordForm(NewPasswordMixin, FlaskForm):
    pass


class AccountSettingsForm(FlaskForm):
    locale = SelectField(_l("Language"), validators=[InputRequired()])
    theme = SelectField(_l("Theme"), validators=[InputRequired()])
    timezone = SelectField(_l("Time zone"), validators=[InputRequired()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locale.choices = locale_choices()
        self.theme.choices = theme_choices()
        self.timezone.choices = [SelectChoice(name, name.replace("_", " ")) for name in available_timezones()]
