"""Forms of the affiliate admin pages: the settings, and the report's custom date range.

The settings form only shapes the fields (labels, lengths); the rules that make a value usable
(a ``{click_ref}`` in the template, rates from 0 to 100 with a default) live in
``services.affiliate_settings`` and come back as field errors, so the page and any other writer
apply the same checks."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from services.affiliate_settings import MAX_ID_LENGTH, MAX_PARAMS_LENGTH


class AffiliateSettingsForm(FlaskForm):
    affiliate_id = StringField(_l("Affiliate id"), validators=[Optional(), Length(max=MAX_ID_LENGTH)])
    url_params = TextAreaField(_l("Parameters added to DHgate links"),
                               validators=[InputRequired(), Length(max=MAX_PARAMS_LENGTH)],
                               render_kw={"rows": 4, "spellcheck": "false"})
    commission_rates = StringField(_l("Commission rates (percent per category)"),
                                   validators=[InputRequired(), Length(max=1000)])
    currency = StringField(_l("Currency"), validators=[InputRequired(), Length(min=3, max=3)])
    payout_threshold = StringField(_l("Payout threshold"), validators=[InputRequired(), Length(max=20)])


class ReportRangeForm(FlaskForm):
    """The custom range above the report (GET, so no CSRF token: it changes nothing)."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To (included)"), validators=[Optional()])
