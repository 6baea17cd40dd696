"""The boundary with the student-roll system (../shared/ROLL_API.md): API keys, seen
signatures, intake batches and the problem records (问题学籍) they carry."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import SEGMENT, Account, Unit
from roll.masking import mask


class RollKey(models.Model):
    """A key the roll system signs with, issued for one province or the Ministry. The
    secret is kept encrypted (HMAC needs it back); it is shown once at creation."""

    key_id = models.CharField(max_length=40, unique=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(_("label"), max_length=100, blank=True)
    secret_encrypted = models.BinaryField()
    created_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key_id

    @property
    def scope(self) -> str:
        """Alert ids are unique within the key's province or the Ministry."""
        return self.unit.code


class SeenSignature(models.Model):
    """Signatures already used inside the timestamp window: the same one twice is a
    replay. Rows older than the window are purged by beat."""

    signature = models.CharField(max_length=80, primary_key=True)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.signature


class IntakeBatch(models.Model):
    """One accepted POST of alerts: what it brought, and whether the schools it
    touched have had their tickets and notifications brought up to date."""

    key = models.ForeignKey(RollKey, on_delete=models.PROTECT, related_name="batches")
    batch_id = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    school_ids = models.JSONField(default=list)
    # {school code: alerts accepted}, for the announcement.
    school_counts = models.JSONField(default=dict)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["received_at"], condition=Q(synced_at__isnull=True), name="batch_unsynced"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key_id}:{self.batch_id}"


class Kind(models.TextChoices):
    ID_INVALID = "id_invalid", _("Invalid ID number")
    ID_DUPLICATE = "id_duplicate", _("Duplicate ID number")
    IDENTITY_DUPLICATE = "identity_duplicate", _("Same name, gender and birth date")
    CROSS_PROVINCE = "cross_province_duplicate", _("Duplicate across provinces")
    POLICE_AUTH = "police_auth_failed", _("Not verified by public security")


class RecordStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("status", "Open")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_RECORD_STATUSES = (RecordStatus.OPEN, RecordStatus.IN_PROGRESS)


class ProblemRecord(models.Model):
    """One flagged student record. `change_seq` is the position of its last status
    change in the feed the roll system walks (assigned in commit order)."""

    scope = models.CharField(max_length=10)
    alert_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # No index of their own on the three foreign keys: records are looked up by
    # school_path, never by who resolved them or by batch. And no database-level
    # constraint on the two every intake row fills: PostgreSQL would check both for
    # each of a batch's 5,000 rows at commit. The intake reads the schools and creates
    # the batch in the same transaction, and neither is ever deleted (PROTECT still
    # holds in Django).
    school = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    school_path = models.CharField(max_length=SEGMENT * 6)
    name = models.CharField(max_length=100)
    gender = models.CharField(max_length=1, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    id_number = models.CharField(max_length=18, blank=True)
    id_check_ok = models.BooleanField(null=True)
    roll_no = models.CharField(max_length=19, blank=True)
    grade = models.CharField(max_length=20, blank=True)
    graduating = models.BooleanField(default=False)
    detected_at = models.DateTimeField()
    detail = models.TextField(blank=True)
    related_school_codes = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=12, choices=RecordStatus.choices, default=RecordStatus.OPEN
    )
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    reopened_detail = models.TextField(blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)
    change_seq = models.BigIntegerField(unique=True)
    batch = models.ForeignKey(
        IntakeBatch, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "alert_id"], name="alert_once_per_scope")
        ]
        # One index for every look-up by place: a school's records (its path), a
        # subtree's (a range of paths), by status and kind. Each index costs each
        # intake batch its share of the COPY and the WAL (measured: six indexes
        # double a batch's insert time over these four).
        indexes = [
            models.Index(fields=["school_path", "status", "kind"], name="record_path_status_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.alert_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_RECORD_STATUSES

    @property
    def masked_id(self) -> str:
        return mask(self.id_number)


class Reminder(models.Model):
    """A school reminded about its long-open graduating records on a day: at most once."""

    school = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    records = models.PositiveIntegerField()
    notice = models.ForeignKey(
        "notices.Notice", on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "day"], name="roll_reminder_daily")
        ]

    def __str__(self) -> str:
        return f"{self.school_id} {self.day}"


class ArrivalNotice(models.Model):
    """The day's inbox entry telling a school (or a county's managers) that new problem
    records arrived: at most one per unit a day, so a seasonal run of hundreds of
    batches is one entry, while each batch still rings the live event."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    notice = models.ForeignKey(
        "notices.Notice", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["unit", "day"], name="roll_arrival_daily")]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.day}"
