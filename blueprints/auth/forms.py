"""Forms of the auth area. Every label and message goes through ``lazy_gettext``."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, ValidationError

from models.users import ROLES, THEMES, TIERS
from services.accounts import MAX_PASSWORD_LENGTH


def _any() -> SelectChoice:
    return SelectChoice("", _l("Any"))


def role_choices() -> list[SelectChoice]:
    labels = {"admin": _l("Admin"), "member": _l("Member")}
    return [SelectChoice(role, labels.get(role, role)) for role in ROLES]


def tier_choices() -> list[SelectChoice]:
    labels = {"free": _l("Free"), "pro": _l("Pro"), "business": _l("Business")}
    return [SelectChoice(tier, labels.get(tier, tier)) for tier in TIERS]


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
        from flask_babel import ngettext

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
        from services.accounts import available_timezones

        super().__init__(*args, **kwargs)
        self.locale.choices = locale_choices()
        self.theme.choices = theme_choices()
        self.timezone.choices = [SelectChoice(name, name.replace("_", " ")) for name in available_timezones()]


class PasswordSetup:
    LINK = "link"
    TEMPORARY = "temporary"


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    role = SelectField(_l("Role"), default="member")
    subscription_tier = SelectField(_l("Subscription tier"), default="free")
    password_setup = RadioField(
        _l("First password"),
        choices=[
            SelectChoice(PasswordSetup.LINK, _l("A one-time link where they choose their own password")),
            SelectChoice(PasswordSetup.TEMPORARY, _l("A temporary password they must change after logging in")),
        ],
        default=PasswordSetup.LINK,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()
        self.subscription_tier.choices = tier_choices()


class EditUserForm(FlaskForm):
    role = SelectField(_l("Role"))
    subscription_tier = SelectField(_l("Subscription tier"))
    api_quota = IntegerField(
        _l("API quota (requests per day)"), validators=[InputRequired(), NumberRange(min=0, max=10_000_000)]
    )
    is_active = BooleanField(_l("Active (may log in)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()
        self.subscription_tier.choices = tier_choices()


class UserFilterForm(FlaskForm):
    """The filters above the user list: a GET form, bookmarkable, so no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search e-mail or username"), validators=[Optional(), Length(max=254)])
    role = SelectField(_l("Role"), validators=[Optional()])
    tier = SelectField(_l("Tier"), validators=[Optional()])
    active = SelectField(
        _l("Status"),
        choices=[_any(), SelectChoice("yes", _l("Active")), SelectChoice("no", _l("Deactivated"))],
        validators=[Optional()],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = [_any(), *role_choices()]
        self.tier.choices = [_any(), *tier_choices()]


class SecurityLogFilterForm(FlaskForm):
    class Meta:
        csrf = False

    event = SelectField(_l("Event"), validators=[Optional()])
    user = SearchField(_l("User (e-mail or username)"), validators=[Optional(), Length(max=254)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from services.audit import EVENT_LABELS

        super().__init__(*args, **kwargs)
        self.event.choices = [_any(), *(SelectChoice(event, label) for event, label in EVENT_LABELS.items())]
