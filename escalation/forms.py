import re
from datetime import time

from django import forms
from django.utils.translation import gettext_lazy as _

from escalation.models import END_OF_DAY
from tickets.models import Priority

WEEKDAYS = [
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
]
_RANGE = re.compile(r"^([0-9]{1,2}):([0-9]{2})\s*[-–~～至]\s*([0-9]{1,2}):([0-9]{2})$")


def parse_ranges(text: str):
    """'08:00-12:00, 14:00-18:00' → [(08:00, 12:00), (14:00, 18:00)]; ValueError with
    the bad piece."""
    out = []
    for piece in re.split(r"[,，;；\s]+(?=\d)", (text or "").strip()):
        piece = piece.strip()
        if not piece:
            continue
        m = _RANGE.match(piece)
        if not m:
            raise ValueError(piece)
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        # 24:00 may end a slot (midnight at the end of the day), nothing else past 23:59.
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(piece)
        out.append((time(h1, m1), END_OF_DAY if h2 == 24 else time(h2, m2)))
    return out


class ScheduleForm(forms.Form):
    """One text field per weekday: '08:00-12:00, 14:00-18:00'; '22:00-02:00' runs past
    midnight; empty means no duty that day."""

    capacity = forms.IntegerField(label=_("Capacity (open tickets)"), min_value=0, max_value=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for n, name in enumerate(WEEKDAYS):
            self.fields[f"day{n}"] = forms.CharField(label=name, required=False, max_length=200)

    def clean(self):
        data = super().clean()
        rows = []
        for n in range(7):
            try:
                for start, end in parse_ranges(data.get(f"day{n}", "")):
                    rows.append((n, start, end))
            except ValueError as exc:
                self.add_error(
                    f"day{n}",
                    _("“%s” is not a time range; write it like 08:00-12:00.") % exc.args[0],
                )
        data["rows"] = rows
        return data


class SlaForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for value, label in Priority.choices:
            self.fields[f"{value}_response"] = forms.IntegerField(
                label=_("%s: first response (minutes)") % label, min_value=1, max_value=43200
            )
            self.fields[f"{value}_resolution"] = forms.IntegerField(
                label=_("%s: resolution (minutes)") % label, min_value=1, max_value=129600
            )

    def targets(self):
        return {
            p: (self.cleaned_data[f"{p}_response"], self.cleaned_data[f"{p}_resolution"])
            for p in Priority.values
        }
