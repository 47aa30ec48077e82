"""Forms of the notifications area. Every label goes through ``lazy_gettext``."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from services.labels import event_label
from services.notifications.channels import LABEL_LIMIT, TARGET_LIMIT
from services.notifications.preferences import Preferences
from services.notifications.rules import ALERT_KINDS
from web.fields import MultiCheckboxField

HOURS = [SelectChoice(str(h), f"{h:02d}:00") for h in range(24)]


class MarkReadForm(FlaskForm):
    """No fields: carries the CSRF token for the mark-as-read buttons."""


class ChannelActionForm(FlaskForm):
    """No fields: the CSRF token of the channel buttons (add e-mail, test, pause, remove)."""


class AppriseChannelForm(FlaskForm):
    """A new apprise channel; the URL itself is checked by apprise in the service."""

    url = StringField(_l("Apprise URL"), validators=[DataRequired(), Length(max=TARGET_LIMIT)])
    label = StringField(_l("Name (optional)"), validators=[Length(max=LABEL_LIMIT)])


def kind_choices() -> list[SelectChoice]:
    return [SelectChoice(kind, event_label(kind)) for kind in ALERT_KINDS]


class PreferencesForm(FlaskForm):
    """What notifies, how often, and when to stay quiet; the service checks every value."""

    alert_kinds = MultiCheckboxField(_l("Tell me about"))
    frequency = RadioField(_l("How often"), choices=[
        SelectChoice("instant", _l("At once")), SelectChoice("hourly", _l("Hourly digest")),
        SelectChoice("daily", _l("Daily digest"))],
        validators=[InputRequired()])
    digest_hour = SelectField(_l("Daily digest at"), choices=HOURS)
    quiet_hours_start = SelectField(_l("Quiet from"), choices=[SelectChoice("", _l("Off")), *HOURS])
    quiet_hours_end = SelectField(_l("Quiet until"), choices=[SelectChoice("", _l("Off")), *HOURS])
    timezone = StringField(_l("Time zone"), validators=[InputRequired(), Length(max=64)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alert_kinds.choices = kind_choices()

    def fill_from(self, chosen: Preferences) -> None:
        self.alert_kinds.data = chosen.alert_kinds
        self.frequency.data = chosen.frequency
        self.digest_hour.data = str(chosen.digest_hour)
        self.quiet_hours_start.data = "" if chosen.quiet_hours_start is None else str(chosen.quiet_hours_start)
        self.quiet_hours_end.data = "" if chosen.quiet_hours_end is None else str(chosen.quiet_hours_end)
        self.timezone.data = chosen.timezone

    def chosen(self) -> Preferences:
        return Preferences(
            frequency=self.frequency.data or "", digest_hour=int(self.digest_hour.data or 0),
            quiet_hours_start=_hour(self.quiet_hours_start.data), quiet_hours_end=_hour(self.quiet_hours_end.data),
            timezone=self.timezone.data or "", alert_kinds=list(self.alert_kinds.data or []),
        )


def _hour(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)
