"""Forms of the notifications area. Every label goes through ``lazy_gettext``."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from services.notifications.channels import LABEL_LIMIT, TARGET_LIMIT


class MarkReadForm(FlaskForm):
    """No fields: carries the CSRF token for the mark-as-read buttons."""


class ChannelActionForm(FlaskForm):
    """No fields: the CSRF token of the channel buttons (add e-mail, test, pause, remove)."""


class AppriseChannelForm(FlaskForm):
    """A new apprise channel; the URL itself is checked by apprise in the service."""

    url = StringField(_l("Apprise URL"), validators=[DataRequired(), Length(max=TARGET_LIMIT)])
    label = StringField(_l("Name (optional)"), validators=[Length(max=LABEL_LIMIT)])
