from django import forms
from django.utils.translation import gettext_lazy as _

from kb import services


class ArticleForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=services.MAX_TITLE)
    question = forms.CharField(
        label=_("Question"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=services.MAX_QUESTION,
        help_text=_("The question as schools ask it."),
    )
    answer = forms.CharField(
        label=_("Answer"),
        widget=forms.Textarea(attrs={"rows": 10}),
        max_length=services.MAX_ANSWER,
        help_text=_(
            "Markdown. Leave out personal data: names, ID numbers, phone numbers of the "
            "ticket's people."
        ),
    )
