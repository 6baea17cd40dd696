from django import forms
from django.utils.translation import gettext_lazy as _

from core.files import MultipleFileField, check_files
from tickets.models import Category, Priority

TEXT = 20_000


class FilesChecked(forms.Form):
    """Reports bad uploads alongside every other field error, not after them."""

    def clean_files(self):
        files = self.cleaned_data["files"]
        errors = check_files(files)
        if errors:
            raise forms.ValidationError(errors)
        return files


class TicketForm(FilesChecked):
    title = forms.CharField(label=_("Title"), max_length=200)
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=TEXT,
        help_text=_("What you did, what you expected, what happened; error messages help."),
    )
    files = MultipleFileField(label=_("Screenshots or files"))


class ReplyForm(FilesChecked):
    body = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=TEXT,
        required=False,
    )
    internal = forms.BooleanField(
        label=_("Internal note (not shown to the reporter)"), required=False
    )
    files = MultipleFileField(label=_("Files"))


class ActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(a, a) for a in ("start", "wait", "resolve", "reopen", "close")]
    )
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=TEXT, required=False
    )
    rating = forms.TypedChoiceField(
        label=_("Rating"),
        choices=[("", "—")] + [(str(n), "★" * n) for n in range(5, 0, -1)],
        coerce=int,
        empty_value=None,
        required=False,
    )
    rating_comment = forms.CharField(label=_("Comment"), max_length=500, required=False)


class RateForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Rating"), choices=[(str(n), "★" * n) for n in range(5, 0, -1)], coerce=int
    )
    rating_comment = forms.CharField(label=_("Comment"), max_length=500, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


class CannedReplyForm(forms.Form):
    """A canned reply (常用回复); tickets.services.canned_save cleans and checks it."""

    title = forms.CharField(label=_("Title"), max_length=100)
    shortcut = forms.CharField(
        label=_("Shortcut"),
        max_length=31,
        help_text=_("Typed in the reply box to insert the text, for example /zhuanxue."),
    )
    body = forms.CharField(
        label=_("Text"), widget=forms.Textarea(attrs={"rows": 6}), max_length=4000
    )
