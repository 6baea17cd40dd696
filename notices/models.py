"""Circulars (通知), their audiences, attachments, receipts (回执) and reminders (催办)."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import SEGMENT, Account, Level, Unit


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    PUBLISHED = "published", _("Published")


class Priority(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class Notice(models.Model):
    """A circular published to one or more subtrees, filtered by level and role.

    The audience is computed from the tree when someone reads: publishing writes
    this row and a few targets, never a row per recipient."""

    author = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    author_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    body_html = models.TextField(blank=True, editable=False)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    requires_ack = models.BooleanField(_("acknowledgement required"), default=False)
    ack_deadline = models.DateTimeField(_("acknowledge by"), null=True, blank=True)
    publish_at = models.DateTimeField(_("publish at"), null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Comma-separated levels the notice reaches, e.g. "county,school".
    levels = models.CharField(max_length=60)
    managers_only = models.BooleanField(_("managers only"), default=False)
    forwarded_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="forwards"
    )
    origin = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    forward_note = models.TextField(_("forwarding note"), blank=True)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The circular's formal shape (issue 15): its document number (文号, e.g.
    # 冀教学籍〔2026〕12号, from the author unit's DocNumberRule when published), the main
    # recipients line (主送), the issuing authority's line (落款) and the date (成文日期).
    doc_number = models.CharField(_("document number"), max_length=60, blank=True)
    doc_year = models.PositiveSmallIntegerField(null=True, blank=True)
    doc_seq = models.PositiveIntegerField(null=True, blank=True)
    main_recipients = models.CharField(_("main recipients (主送)"), max_length=300, blank=True)
    issuer_line = models.CharField(_("issuing authority (落款)"), max_length=100, blank=True)
    signed_on = models.DateField(_("date of issue (成文日期)"), null=True, blank=True)
    # Withdrawn (撤回): recipients still see the notice, marked withdrawn with the reason;
    # what they read and acknowledged is kept.
    withdrawn_at = models.DateTimeField(null=True, blank=True, db_index=True)
    withdrawn_by = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdraw_reason = models.TextField(_("reason for withdrawing"), blank=True)
    # A correction (更正) is a new notice, version n + 1, that `corrects` the old one;
    # the old one is then superseded and points its readers to the new version.
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections"
    )
    version = models.PositiveSmallIntegerField(default=1)
    superseded_at = models.DateTimeField(null=True, blank=True)
    correction_note = models.TextField(_("what was corrected"), blank=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [models.Index(fields=["status", "publish_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["author_unit", "doc_year", "doc_seq"],
                condition=models.Q(doc_seq__isnull=False),
                name="notice_doc_number_unique",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def level_list(self) -> list[str]:
        return [lv for lv in self.levels.split(",") if lv]

    @property
    def level_labels(self) -> list[str]:
        return [Level(lv).label for lv in self.level_list]

    @property
    def source(self) -> "Notice":
        """The notice whose attachments this one carries (itself, or the forwarded original)."""
        return self.origin or self


class NoticeTarget(models.Model):
    """One subtree of a notice's audience."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="targets")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(max_length=SEGMENT * 6)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "unit"], name="notice_target_unique")
        ]
        indexes = [models.Index(fields=["path", "notice"])]

    def __str__(self) -> str:
        return f"{self.notice_id} → {self.unit_id}"


class Receipt(models.Model):
    """One recipient's read and acknowledgement of a notice, written when they act."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="receipts")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    # The reader's unit path, kept here so statistics group receipts without joins.
    unit_path = models.CharField(max_length=SEGMENT * 6)
    read_at = models.DateTimeField(default=timezone.now)
    acked_at = models.DateTimeField(null=True, blank=True)
    reply = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["notice", "account"], name="receipt_unique")]
        indexes = [
            models.Index(fields=["notice", "unit_path"]),
            models.Index(fields=["account", "notice"]),
        ]

    def __str__(self) -> str:
        return f"{self.notice_id} read by {self.account_id}"


class ReceiptTally(models.Model):
    """Read and acknowledgement counters of one notice's receipts within one bucket: the
    reader's unit when it is not a school, else the school's county. Written in the
    transaction that writes the receipt (services.notice_mark_read / notice_acknowledge),
    so the statistics above the county sum a few thousand of these rows instead of
    counting the receipts. One row per county, not per notice: readers of a national
    notice in different counties never wait for each other's row lock."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=SEGMENT * 6)
    read = models.PositiveIntegerField(default=0)
    acked = models.PositiveIntegerField(default=0)
    # Units of the bucket with at least one receipt.
    units_read = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "path"], name="receipt_tally_unique")
        ]

    def __str__(self) -> str:
        return f"{self.notice_id} @ {self.path}: {self.read} read, {self.acked} acked"


class AudienceTally(models.Model):
    """A notice's audience (active accounts and units) per bucket, as counted at
    `counted_at`: the denominators of the statistics above the county. The audience
    follows the tree, which the notices app does not write, so these are recounted
    when older than selectors.AUDIENCE_MAX_AGE or when a unit was added or removed;
    the statistics page says when."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=SEGMENT * 6)
    accounts = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(default=0)
    counted_at = models.DateTimeField()
    # The unit table when counted (number of units, highest id): units are added
    # rarely and hardly ever removed, and a change recounts at once, so `units` is
    # the live figure, which the drill-down relies on (selectors.laggards).
    tree_units = models.PositiveIntegerField(default=0)
    tree_last_unit = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "path"], name="audience_tally_unique")
        ]

    def __str__(self) -> str:
        return f"{self.notice_id} @ {self.path}: {self.accounts} accounts"


def _attachment_path(instance, filename):
    return f"private/notices/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A file on a notice, or on a receipt's reply. Served only through a view that
    checks the reader may see it; stored under a random name, never a public URL."""

    notice = models.ForeignKey(
        Notice, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    receipt = models.ForeignKey(
        Receipt, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(notice__isnull=False, receipt__isnull=True)
                | models.Q(notice__isnull=True, receipt__isnull=False),
                name="attachment_belongs_to_one",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Reminder(models.Model):
    """A 催办 sent for a notice: to those who have not read, or not acknowledged."""

    class Mode(models.TextChoices):
        UNREAD = "unread", _("not read")
        UNACKED = "unacked", _("not acknowledged")

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="reminders")
    sent_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=10, choices=Mode.choices)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"reminder {self.notice_id} {self.mode}"


class DocNumberRule(models.Model):
    """A unit's rule for its circulars' document numbers (文号): the prefix (机关代字,
    e.g. 冀教学籍) and the pattern, numbered from 1 each year."""

    unit = models.OneToOneField(Unit, on_delete=models.CASCADE, related_name="+")
    prefix = models.CharField(_("issuing authority's abbreviation (机关代字)"), max_length=30)
    # {prefix}, {year} and {n} are filled in; the default gives 冀教学籍〔2026〕12号.
    pattern = models.CharField(_("pattern"), max_length=60, default="{prefix}〔{year}〕{n}号")
    issuer_line = models.CharField(_("issuing authority (落款)"), max_length=100, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.prefix}"


class DocNumberCounter(models.Model):
    """The last number given in one unit's year; locked row by row when numbering, so
    two circulars of one unit never share a number and other units never wait."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["unit", "year"], name="doc_number_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.year}: {self.last}"
