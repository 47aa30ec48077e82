"""Forms of the monitoring area.

The forms check shape (lengths, numbers); the rules that matter (allowed hosts, tier-bounded
intervals, duplicates, keyword limits) live in ``services.monitors.rules`` so the CLI obeys them
too. Intervals are read with the same parser as ``flask monitors add --interval``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from models import Monitor, User
from services.formatting import interval as format_interval
from services.labels import event_label, tier_label
from services.monitors import rules
from services.notifications.rules import ALERT_KINDS
from web.fields import MultiCheckboxField


def alert_kind_choices() -> list[SelectChoice]:
    return [SelectChoice(kind, event_label(kind)) for kind in ALERT_KINDS]


class IntervalField(SelectField):
    """The "check every" select, read by ``rules.parse_interval``: a value that is not an
    interval gets the parser's own message instead of WTForms' "could not coerce"."""

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(label, coerce=rules.parse_interval, validate_choice=False, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        try:
            self.data = rules.parse_interval(valuelist[0])
        except rules.MonitorError as exc:
            raise ValueError(exc.message) from None


class MonitorSettingsForm(FlaskForm):
    """Everything a member can change on a monitor (the edit form, and part of the new form)."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=rules.MAX_NAME_LENGTH)])
    # Choices are set per member (see ``set_interval_choices``); the service checks the tier.
    poll_interval = IntervalField(_l("Check every"))
    keywords = StringField(
        _l("Keywords"), validators=[Optional(), Length(max=rules.MAX_KEYWORDS_PER_MONITOR * 101)]
    )
    price_drop_pct = DecimalField(
        _l("Price drop alert (%)"), places=2, default=rules.DEFAULT_PRICE_DROP_PCT,
        validators=[Optional(), NumberRange(min=Decimal("0.01"), max=100)],
        render_kw={"step": "0.01", "min": "0.01", "max": "100", "inputmode": "decimal"},
    )
    price_rise_pct = DecimalField(
        _l("Price rise alert (%)"), places=2, default=rules.DEFAULT_PRICE_RISE_PCT,
        validators=[Optional(), NumberRange(min=Decimal("0.01"), max=1000)],
        render_kw={"step": "0.01", "min": "0.01", "max": "1000", "inputmode": "decimal"},
    )
    target_price = DecimalField(
        _l("Target price"), places=2, validators=[Optional(), NumberRange(min=Decimal("0.01"))],
        render_kw={"step": "0.01", "min": "0.01", "inputmode": "decimal"},
    )
    stock_alerts = BooleanField(_l("Tell me when it sells out or is back in stock"), default=True)
    # Which kinds notify (services.notifications.rules); unticked: the owner's preferences.
    custom_alert_kinds = BooleanField(_l("Choose the alerts of this monitor instead of my defaults"))
    alert_kinds = MultiCheckboxField(_l("Alerts of this monitor"), choices=alert_kind_choices)
    submit = SubmitField(_l("Save changes"))

    def settings(self) -> rules.MonitorSettings:
        """The submitted values as the service's settings object."""
        return rules.MonitorSettings(
            name=self.name.data,
            poll_interval=self.poll_interval.data,
            keywords=rules.parse_keywords(self.keywords.data or ""),
            price_drop_pct=self.price_drop_pct.data,
            price_rise_pct=self.price_rise_pct.data,
            target_price=self.target_price.data,
            stock_alerts=bool(self.stock_alerts.data),
        )

    def fill_from(self, monitor: Monitor) -> None:
        """Pre-fill an edit form (GET only) from the monitor as it is."""
        self.name.data = monitor.name
        self.poll_interval.data = monitor.poll_interval
        self.keywords.data = ", ".join(sorted((k.term for k in monitor.keywords), key=str.casefold))
        self.price_drop_pct.data = monitor.price_drop_pct
        self.price_rise_pct.data = monitor.price_rise_pct
        self.target_price.data = monitor.target_price
        self.stock_alerts.data = monitor.stock_alerts
        self.custom_alert_kinds.data = monitor.alert_kinds is not None
        self.alert_kinds.data = list(monitor.alert_kinds) if monitor.alert_kinds is not None else list(ALERT_KINDS)

    def chosen_alert_kinds(self) -> list[str] | None:
        """The monitor's own alert kinds, or ``None`` to follow the owner's preferences."""
        return list(self.alert_kinds.data or []) if self.custom_alert_kinds.data else None

    def set_interval_choices(self, owner: User, current: int | None = None) -> None:
        """Offer every configured interval; those faster than the owner's plan are shown but
        disabled (with the plan that unlocks them), so the limit is visible, not a surprise.
        ``current`` (the monitor's own interval) is always offered, so the edit form shows
        what the monitor does and keeps it when saved."""
        choices: list[tuple[int, str, dict[str, bool]]] = []
        for option in rules.interval_options(owner, current):
            label = format_interval(option.seconds)
            if not option.allowed:
                label = gettext("%(interval)s (%(tier)s plan)", interval=label, tier=tier_label(option.tier))
                choices.append((option.seconds, label, {"disabled": True}))
            else:
                choices.append((option.seconds, label, {}))
        self.poll_interval.choices = choices

    def show_allowed_interval(self, owner: User, current: int | None = None) -> None:
        """Before re-rendering a refused form: preselect an interval the plan allows, since a
        disabled option cannot be submitted again."""
        allowed = {option.seconds for option in rules.interval_options(owner, current) if option.allowed}
        if self.poll_interval.data not in allowed:
            self.poll_interval.data = current if current is not None else rules.default_interval(owner)


class NewMonitorForm(MonitorSettingsForm):
    """Start watching something: a pasted link or keywords, plus the settings."""

    target = TextAreaField(
        _l("DHgate link or search keywords"),
        validators=[InputRequired(message=_l("Paste a DHgate link or type search keywords.")), Length(max=2000)],
        render_kw={"rows": 2, "spellcheck": "false", "autocapitalize": "off"},
    )
    # Sent by the "Yes, watch this search" button (never a hidden input, which would always be
    # sent): the keywords the member agreed to watch as a search.
    confirm_search = StringField(validators=[Optional(), Length(max=400)])
    submit = SubmitField(_l("Start watching"))


class ConfirmForm(FlaskForm):
    """A bare form for one-click POST actions (pause, resume, check now, delete): CSRF only."""

    submit = SubmitField(_l("Confirm"))


class KeywordForm(FlaskForm):
    """Add member-wide keywords (comma-separated)."""

    term = StringField(
        _l("New keywords"),
        validators=[InputRequired(message=_l("Type a keyword.")), Length(max=2000)],
    )
    submit = SubmitField(_l("Add"))
