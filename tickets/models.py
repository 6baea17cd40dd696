"""Support tickets (工单): the request, its timeline and its files.

A ticket sits at one support tier (a unit) at a time, assigned to one engineer of
that tier or waiting in the tier's queue. The SLA clock of the current tier lives on
the ticket; `escalation/` owns the rules that move it (routing, clocks, sweeps).
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import SEGMENT, Account, Unit


class Category(models.TextChoices):
    ACCOUNT = "account", _("Account or login")
    DATA_IMPORT = "import", _("Data import")
    PROBLEM_RECORDS = "problem_records", _("Problem records")
    TRANSFER = "transfer", _("Transfer")
    PROMOTION = "promotion", _("Promotion and graduation")
    ENROLMENT = "enrolment", _("Enrolment")
    FAULT = "fault", _("System fault or slowness")
    OTHER = "other", _("Other")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class Status(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting", _("Waiting on reporter")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING)
# Tickets that hold a place in an engineer's capacity.
HELD_STATUSES = (Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING)
_OPEN = Q(status__in=OPEN_STATUSES)


class Ticket(models.Model):
    reporter = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="tickets")
    reporter_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    # The reporter unit's tree path: "tickets under this unit" is one range scan.
    reporter_path = models.CharField(max_length=SEGMENT * 6, editable=False)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    description_html = models.TextField(editable=False)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.NEW
    )
    tier = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_tickets"
    )
    # Tier entries so far (creation is the first) and send-backs so far: the
    # escalation sweep moves a ticket only if `hop` is still what it read.
    hop = models.PositiveIntegerField(default=0)
    round = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    tier_entered_at = models.DateTimeField(default=timezone.now)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # SLA clock of the current tier (escalation/sla.py): due times are None while
    # met, paused or stopped; `breach_at` and `warn_at` are what the sweep scans.
    response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    resolution_used = models.FloatField(default=0)
    clock_started_at = models.DateTimeField(null=True, blank=True)
    response_warned = models.BooleanField(default=False)
    resolution_warned = models.BooleanField(default=False)
    breach_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    breached = models.BooleanField(default=False)
    # The school's problem-record ticket, raised by the platform for the roll system's
    # alerts: any account of the school stands on its reporter side, and it runs no
    # SLA clock (the reminders set its pace). Not the category: anyone may raise a
    # ticket *about* problem records.
    raised_by_platform = models.BooleanField(default=False, db_default=False, editable=False)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["reporter", "-id"], name="ticket_reporter"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee"),
            models.Index(
                fields=["tier", "tier_entered_at"], condition=_OPEN, name="ticket_tier_open"
            ),
            # Covering: the dashboard's backlog figures (count, status, age) are index-only
            # scans, so a large backlog spread over a long history costs no heap reads
            # (bench/tickets/pages.py: 30,000 open among 1,000,000, 24,000 heap pages).
            models.Index(
                fields=["reporter_path"],
                include=["status", "created_at", "id"],
                condition=_OPEN,
                name="ticket_open_path",
            ),
            models.Index(fields=["created_at", "reporter_path"], name="ticket_created"),
            models.Index(
                fields=["breach_at"], condition=Q(breach_at__isnull=False), name="ticket_breach_at"
            ),
            models.Index(
                fields=["warn_at"], condition=Q(warn_at__isnull=False), name="ticket_warn_at"
            ),
            models.Index(
                fields=["resolved_at"], condition=Q(status="resolved"), name="ticket_resolved"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class EventKind(models.TextChoices):
    CREATED = "created", _("Raised")
    ROUTED = "routed", _("Routed")
    ASSIGNED = "assigned", _("Assigned")
    STATUS = "status", _("Status changed")
    REPLY = "reply", _("Reply")
    NOTE = "note", _("Internal note")
    ESCALATED = "escalated", _("Escalated")
    RETURNED = "returned", _("Sent back")
    WARNING = "warning", _("SLA warning")
    BREACH = "breach", _("SLA breached")
    RATED = "rated", _("Rated")


class TicketEvent(models.Model):
    """One entry of a ticket's timeline. `internal` entries (notes, routing decisions)
    are never shown to the reporter."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    actor = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, related_name="+")
    body_html = models.TextField(blank=True)
    internal = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["ticket", "id"], name="ticket_event_order")]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.kind}"


class TicketFile(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="files")
    event = models.ForeignKey(TicketEvent, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to="tickets/%Y/%m/")
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return self.name


class CannedReply(models.Model):
    """A canned reply (常用回复) a support tier keeps: its engineers and managers edit
    them; the engineers of the tier and of every tier below it insert them in the reply
    box by their shortcut (static/js/canned.js)."""

    tier = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=100)
    body = models.TextField()
    # "/zhuanxue": what typed in the reply box offers this reply.
    shortcut = models.CharField(max_length=31)
    created_by = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "shortcut"], name="canned_reply_shortcut")
        ]

    def __str__(self) -> str:
        return f"{self.shortcut} {self.title}"
