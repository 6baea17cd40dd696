"""`{% unit_picker_attrs "single" %}` inside a hand-written <input> of unit codes: the
same data-* attributes accounts.widgets.UnitPickerInput gives a form field, so
static/js/unit_picker.js enhances it (issue 15)."""

from django import template
from django.forms.utils import flatatt

from accounts.widgets import picker_attrs

register = template.Library()


@register.simple_tag
def unit_picker_attrs(mode: str = "single", levels: str = ""):
    return flatatt(
        picker_attrs(multiple=mode == "multi", levels=levels.split(",") if levels else [])
    )
