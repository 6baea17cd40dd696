"""Knowledge base (常见问题): articles written by support engineers, published at a tier
(a unit where support is given) and read by that unit's subtree; and the suggestion
sessions of the ticket form, from which the deflection rate is counted."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import SEGMENT, Account, Unit


class Article(models.Model):
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    # The tier's tree path: "published at a unit on my path" is a list of paths.
    unit_path = models.CharField(max_length=SEGMENT * 6, editable=False, db_index=True)
    title = models.CharField(_("title"), max_length=200)
    question = models.TextField(_("question"), max_length=4000)
    answer = models.TextField(_("answer"), max_length=20000)
    answer_html = models.TextField(editable=False)
    # jieba tokens joined by spaces (kb/search.py): the title's and the rest.
    search_title = models.TextField(editable=False, default="")
    search_body = models.TextField(editable=False, default="")
    published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)
    # The solved ticket it was written from (the ticket's id only; its text was edited).
    source_ticket_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    updated_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["published", "unit_path"], name="kb_article_pub")]

    def __str__(self) -> str:
        return self.title


class SuggestSession(models.Model):
    """One ticket form opened by one account: whether suggestions were shown, an article
    opened, and the ticket raised. Shown and no ticket within DEFLECT_MINUTES: deflected."""

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    unit_path = models.CharField(max_length=SEGMENT * 6, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    shown_at = models.DateTimeField(null=True, blank=True)
    shown_count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    opened_article = models.ForeignKey(
        Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    ticket_id = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "-created_at"], name="kb_session_account"),
            models.Index(fields=["unit_path", "created_at"], name="kb_session_path"),
        ]

    def __str__(self) -> str:
        return str(self.token)
