"""Forms of the notifications area."""
from flask_wtf import FlaskForm


class MarkReadForm(FlaskForm):
    """No fields: carries the CSRF token for the mark-as-read buttons."""
