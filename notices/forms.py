import re

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.selectors import levels_below
from accounts.widgets import UnitPickerInput
from core.files import MultipleFileField
from notices.models import Priority, Reminder
from notices.selectors import targetable_levels


def offered_levels(actor) -> list[str]:
    """The levels a manager's notice or forward offers: only those below its own unit's
    (a county: 学校); a school, with none below, its own (its own staff)."""
    return levels_below(actor.unit.level) or [actor.unit.level]


def split_codes(value: str) -> list[str]:
    return [c for c in re.split(r"[\s,，;；、]+", value or "") if c]


class AudienceFields(forms.Form):
    target_codes = forms.CharField(
        label=_("Send to units (codes)"),
        max_length=2000,
        widget=UnitPickerInput(multiple=True),
        help_text=_(
            "One or more unit codes in your jurisdiction, separated by spaces or commas; each reaches the unit and everything under it."
        ),
    )
    levels = forms.MultipleChoiceField(
        label=_("Levels"),
        choices=targetable_levels,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Which levels of those subtrees receive it."),
        error_messages={
            "invalid_choice": _("Only the levels below your own can be chosen."),
        },
    )
    managers_only = forms.BooleanField(label=_("Managers only"), required=False)

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None:
            offered = offered_levels(actor)
            self.fields["levels"].choices = [
                (value, label) for value, label in targetable_levels() if value in offered
            ]

    def clean_target_codes(self):
        return split_codes(self.cleaned_data["target_codes"])


class FormalFields(forms.Form):
    """The circular's formal lines (issue 15); left empty, publishing fills them."""

    main_recipients = forms.CharField(
        label=_("Main recipients (主送)"),
        max_length=300,
        required=False,
        help_text=_("Leave empty for the names of the units it is sent to, joined with 、."),
    )
    issuer_line = forms.CharField(
        label=_("Issuing authority (落款)"),
        max_length=100,
        required=False,
        help_text=_("Leave empty for your unit's numbering rule's issuing authority, or its name."),
    )
    signed_on = forms.DateField(
        label=_("Date of issue (成文日期)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Leave empty for the day it is published."),
    )


class NumberingForm(forms.Form):
    """A unit's rule for its circulars' document numbers (文号); checked by the service."""

    prefix = forms.CharField(
        label=_("Issuing authority's abbreviation (机关代字)"),
        max_length=30,
        help_text=_("For example 冀教学籍."),
    )
    pattern = forms.CharField(
        label=_("Pattern"),
        max_length=60,
        required=False,
        help_text=_(
            "{prefix} is the abbreviation, {year} the year of publishing, {n} the number "
            "(from 1 each year). Empty: {prefix}〔{year}〕{n}号."
        ),
    )
    issuer_line = forms.CharField(
        label=_("Issuing authority (落款)"),
        max_length=100,
        required=False,
        help_text=_("Signed under each circular; empty: your unit's name."),
    )


class NoticeForm(AudienceFields, FormalFields):
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(
        label=_("Body"),
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        max_length=50_000,
        help_text=_("Simple formatting (Markdown): **bold**, lists, tables and links."),
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL
    )
    requires_ack = forms.BooleanField(label=_("Ask for an acknowledgement (回执)"), required=False)
    ack_deadline = forms.DateTimeField(
        label=_("Acknowledge by"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    publish_at = forms.DateTimeField(
        label=_("Publish at (leave empty to publish at once)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    files = MultipleFileField(label=_("Attachments"))

    field_order = [
        "title",
        "body",
        "priority",
        "target_codes",
        "levels",
        "managers_only",
        "requires_ack",
        "ack_deadline",
        "publish_at",
        "main_recipients",
        "issuer_line",
        "signed_on",
        "files",
    ]

    def clean(self):
        data = super().clean()
        if data.get("requires_ack") and not data.get("ack_deadline"):
            self.add_error("ack_deadline", _("Give a deadline for the acknowledgement."))
        return data


class ForwardForm(AudienceFields, FormalFields):
    note = forms.CharField(
        label=_("Forwarding note"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=5000,
    )

    field_order = [
        "note",
        "target_codes",
        "levels",
        "managers_only",
        "main_recipients",
        "issuer_line",
        "signed_on",
    ]


class AckForm(forms.Form):
    reply = forms.CharField(
        label=_("Reply (optional)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
    )
    files = MultipleFileField(label=_("Files (optional)"))


class ReminderForm(forms.Form):
    mode = forms.ChoiceField(choices=Reminder.Mode.choices)


class WithdrawForm(forms.Form):
    # The length rules (4–500) are the service's, with its messages.
    reason = forms.CharField(
        label=_("Reason for withdrawing"),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 500}),
        required=False,
        help_text=_("Recipients see it on the notice (4 to 500 characters)."),
    )


class CorrectForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(
        label=_("Body"),
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        max_length=50_000,
        help_text=_("Simple formatting (Markdown): **bold**, lists, tables and links."),
    )
    note = forms.CharField(
        label=_("What was corrected (更正说明)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Shown to recipients above the changes (4 to 2,000 characters)."),
    )
    requires_ack = forms.BooleanField(label=_("Ask for an acknowledgement (回执)"), required=False)
    ack_deadline = forms.DateTimeField(
        label=_("Acknowledge by"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    files = MultipleFileField(label=_("Attachments to add"))
    replace_files = forms.BooleanField(
        label=_("Replace the attachments (the old ones are not carried over)"), required=False
    )

    def clean(self):
        data = super().clean()
        if data.get("requires_ack") and not data.get("ack_deadline"):
            self.add_error("ack_deadline", _("Give a deadline for the acknowledgement."))
        return data
