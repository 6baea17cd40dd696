"""The unit picker's widget (issue 15): a plain text input of unit codes that
static/js/unit_picker.js enhances (chips with the units' names, a search by name,
pinyin initials or code, browsing the tree). Without script it stays the text input."""

import json

from django import forms
from django.urls import reverse
from django.utils.translation import gettext as _


def picker_labels() -> dict[str, str]:
    """The picker's words in the page's language (the script has none of its own)."""
    return {
        "search": _("Find a unit: name, pinyin initials (e.g. sjz) or code"),
        "results": _("Units found"),
        "browse": _("Browse the units"),
        "open": _("Open its units"),
        "remove": _("Remove this unit"),
        "chosen": _("Chosen units"),
        "none": _("No unit found in your jurisdiction."),
        "unknown": _("No unit has this code in your jurisdiction"),
        "closed": _("closed down"),
        "loading": _("Loading…"),
        "failed": _("The units could not be loaded. Type the codes instead."),
        "below": _("%s below"),
        "added": _("Added: %s"),
        "removed": _("Removed: %s"),
        "typed": _("Codes (you may also type them)"),
    }


def picker_attrs(*, multiple: bool, levels=()) -> dict[str, str]:
    """The input's data-* attributes the script reads: its mode, the JSON's addresses,
    the words, and the levels offered (none: every level of one's subtree)."""
    attrs = {
        "data-unit-picker": "multi" if multiple else "single",
        "data-picker-search": reverse("unit_picker_search"),
        "data-picker-children": reverse("unit_picker_children"),
        "data-picker-units": reverse("unit_picker_units"),
        "data-picker-labels": json.dumps(picker_labels(), ensure_ascii=False),
        "autocomplete": "off",
    }
    if levels:
        attrs["data-picker-levels"] = ",".join(levels)
    return attrs


class UnitPickerInput(forms.TextInput):
    """`multiple`: a list of codes separated by spaces; otherwise one code. `levels`: the
    levels the picker offers (by default every level of one's subtree)."""

    def __init__(self, *, multiple: bool = False, levels=None, attrs=None):
        super().__init__(attrs)
        self.multiple = multiple
        self.levels = list(levels or [])

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].update(picker_attrs(multiple=self.multiple, levels=self.levels))
        return context
