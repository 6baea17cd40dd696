from django import forms
from django.utils.translation import gettext_lazy as _


class ExportReasonForm(forms.Form):
    """Why full ID numbers leave the platform: written into the audit log (issue 14)."""

    reason = forms.CharField(
        label=_("Reason for exporting full ID numbers"),
        min_length=4,
        max_length=200,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 200}),
        help_text=_("4 to 200 characters, e.g. the verification task and who asked for it."),
    )
