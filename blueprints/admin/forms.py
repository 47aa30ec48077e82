"""Forms of the admin area: adding and editing people, and the filters above the user list and
the security log. Every label and message goes through ``lazy_gettext``."""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from models.users import ROLES, TIERS
from services.audit import EVENT_LABELS
from services.labels import tier_label

_IP_PART = re.compile(r"[0-9A-Fa-f.:]{1,45}")


def tier_choices() -> list[SelectChoice]:
    """Every subscription tier, named as the rest of the product names it."""
    return [SelectChoice(tier, tier_label(tier)) for tier in TIERS]


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
    state = SelectField(
        _l("Status"),
        choices=[
            _any(),
            SelectChoice("active", _l("Active")),
            SelectChoice("deactivated", _l("Deactivated")),
            SelectChoice("locked", _l("Locked")),
        ],
        validators=[Optional()],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = [_any(), *role_choices()]
        self.tier.choices = [_any(), *tier_choices()]


class SecurityLogFilterForm(FlaskForm):
    """The filters above the security log: a GET form like the user list's. Dates are days in
    the viewer's time zone, both ends included."""

    class Meta:
        csrf = False

    event = SelectField(_l("Event"), validators=[Optional()])
    user = SearchField(_l("User (e-mail or username)"), validators=[Optional(), Length(max=254)])
    ip = SearchField(_l("IP address"), validators=[Optional(), Length(max=45)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.event.choices = [_any(), *(SelectChoice(event, label) for event, label in EVENT_LABELS.items())]

    def validate_ip(self, field: StringField) -> None:
        """A whole address or the start of one (``192.168.``, ``2001:db8:``): digits, hex
        letters, dots and colons only, so a typo is named instead of silently matching nothing."""
        text = (field.data or "").strip()
        if text and not _IP_PART.fullmatch(text):
            raise ValidationError(_l("Enter an IP address or its beginning, like 192.168. or 2001:db8:"))

    def validate_since(self, field: DateField) -> None:
        _check_log_day(field.data)

    def validate_until(self, field: DateField) -> None:
        _check_log_day(field.data)
        if self.since.data and field.data and field.data < self.since.data:
            raise ValidationError(_l("“Until” must not be before “From”."))


# The security log's possible days, with room on both sides; a day far outside (year 1 or 9999)
# would also overflow when turned into the bounds of a time range.
FIRST_LOG_DAY, LAST_LOG_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _check_log_day(day: date | None) -> None:
    if day is not None and not FIRST_LOG_DAY <= day <= LAST_LOG_DAY:
        raise ValidationError(
            _l("Choose a day from %(first)s to %(last)s.", first=FIRST_LOG_DAY.isoformat(), last=LAST_LOG_DAY.isoformat())
        )
