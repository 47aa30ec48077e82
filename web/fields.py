"""Form fields the WTForms core lacks, shared by several areas' forms."""
from __future__ import annotations

from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    """A set of checkboxes (one per choice) instead of a multi-select list, which few people
    know how to use; rendered in a ``<fieldset>`` by the ``checkboxes`` template macro."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
