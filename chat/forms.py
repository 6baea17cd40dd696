from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.widgets import UnitPickerInput
from notices.forms import split_codes
from notices.selectors import targetable_levels


def _levels():
    from accounts.models import Level

    return [(Level.MINISTRY.value, Level.MINISTRY.label), *targetable_levels()]


class PolicyForm(forms.Form):
    levels = forms.MultipleChoiceField(
        label=_("Levels in this room"), choices=_levels, widget=forms.CheckboxSelectMultiple
    )


class TopicRoomForm(forms.Form):
    name = forms.CharField(label=_("Room name"), max_length=100)
    rule_units = forms.CharField(
        label=_("Members by unit (codes)"),
        required=False,
        max_length=2000,
        widget=UnitPickerInput(multiple=True),
        help_text=_("Everyone of the chosen levels under these units belongs."),
    )
    rule_levels = forms.MultipleChoiceField(
        label=_("Levels"), choices=_levels, widget=forms.CheckboxSelectMultiple, required=False
    )
    usernames = forms.CharField(
        label=_("Members by person (usernames)"),
        required=False,
        max_length=4000,
        help_text=_("Separated by spaces or commas."),
    )

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None:
            # Levels above the actor's have no unit in its subtree: offered from its own
            # level down (its own unit's people may be in a room of its own making).
            from accounts.models import LEVEL_ORDER

            mine = [lv.value for lv in LEVEL_ORDER[LEVEL_ORDER.index(actor.unit.level) :]]
            self.fields["rule_levels"].choices = [c for c in _levels() if c[0] in mine]

    def clean_rule_units(self):
        return split_codes(self.cleaned_data["rule_units"])

    def clean_usernames(self):
        return split_codes(self.cleaned_data["usernames"])


class DirectForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
