"""Forms of the monitoring area.

The forms check shape (lengths, numbers); the rules that matter (allowed hosts, tier-bounded
intervals, duplicates, keyword limits) live in ``services.monitors`` so the CLI obeys them too.
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from models import Monitor, User
from services import monitors as monitor_service


class MonitorSettingsForm(FlaskForm):
    """Everything a member can change on a monitor (the edit form, and part of the new form)."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=monitor_service.MAX_NAME_LENGTH)])
    # Choices are set per member (see ``set_interval_choices``); the service checks the tier.
    poll_interval = SelectField(_l("Check every"), coerce=int, validate_choice=False)
    keywords = StringField(
        _l("Keywords"), validators=[Optional(), Length(max=monitor_service.MAX_KEYWORDS_PER_MONITOR * 101)]
    )
    price_drop_pct = DecimalField(
        _l("Price drop alert (%)"), places=2, default=monitor_service.DEFAULT_PRICE_DROP_PCT,
        validators=[Optional(), NumberRange(min=Decimal("0.01"), max=100)],
        render_kw={"step": "0.01", "min": "0.01", "max": "100", "inputmode": "decimal"},
    )
    price_rise_pct = DecimalField(
        _l("Price rise alert (%)"), places=2, default=monitor_service.DEFAULT_PRICE_RISE_PCT,
        validators=[Optional(), NumberRange(min=Decimal("0.01"), max=1000)],
        render_kw={"step": "0.01", "min": "0.01", "max": "1000", "inputmode": "decimal"},
    )
    target_price = DecimalField(
        _l("Target price"), places=2, validators=[Optional(), NumberRange(min=Decimal("0.01"))],
        render_kw={"step": "0.01", "min": "0.01", "inputmode": "decimal"},
    )
    stock_alerts = BooleanField(_l("Tell me when it sells out or is back in stock"), default=True)
    submit = SubmitField(_l("Save changes"))

    def settings(self) -> monitor_service.MonitorSettings:
        """The submitted values as the service's settings object."""
        return monitor_service.MonitorSettings(
            name=self.name.data,
            poll_interval=self.poll_interval.data,
            keywords=monitor_service.parse_keywords(self.keywords.data or ""),
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

    def set_interval_choices(self, owner: User, interval_label: Callable[[int], str]) -> None:
        """Offer every configured interval; those faster than the owner's plan are shown but
        disabled (with the plan that unlocks them), so the limit is visible, not a surprise."""
        choices: list[tuple[int, str, dict[str, bool]]] = []
        for option in monitor_service.interval_options(owner):
            label = interval_label(option.seconds)
            if not option.allowed:
                label = gettext("%(interval)s (%(tier)s plan)", interval=label, tier=monitor_service.tier_label(option.tier))
                choices.append((option.seconds, label, {"disabled": True}))
            else:
                choices.append((option.seconds, label, {}))
        self.poll_interval.choices = choices

    def show_allowed_interval(self, owner: User) -> None:
        """Before re-rendering a refused form: preselect an interval the plan allows, since a
        disabled option cannot be submitted again."""
        allowed = {option.seconds for option in monitor_service.interval_options(owner) if option.allowed}
        if self.poll_interval.data not in allowed:
            self.poll_interval.data = monitor_service.default_interval(owner)


class NewMonitorForm(MonitorSettingsForm):
    """Start watching something: a pasted link or keywords, plus the settings."""

    target = TextAreaField(
        _l("DHgate link or search keywords"),
        validators=[InputRequired(message=_l("Paste a DHgate link or type search keywords.")), Length(max=2000)],
        render_kw={"rows": 2, "spellcheck": "false", "autocapitalize": "off"},
    )
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
