"""Forms of the admin area: adding and editing people, and the filters above the user list and
the security log. Every label and message goes through ``lazy_gettext``."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    RadioField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from blueprints.auth.forms import tier_choices
from models.users import ROLES
from services.audit import EVENT_LABELS


def _any() -> SelectChoice:
    return SelectChoice("", _l("Any"))


def role_choices() -> list[SelectChoice]:
    labels = {"admin": _l("Admin"), "member": _l("Member")}
    return [SelectChoice(role, labels.get(role, role)) for role in ROLES]


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
    """The filters above the security log: a GET form like the user list's."""

    class Meta:
        csrf = False

    event = SelectField(_l("Event"), validators=[Optional()])
    user = SearchField(_l("User (e-mail or username)"), validators=[Optional(), Length(max=254)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.event.choices = [_any(), *(SelectChoice(event, label) for event, label in EVENT_LABELS.items())]
