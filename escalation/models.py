"""Support tiers, duty rosters, the round-robin pointer, SLA targets and the
escalation log."""

from datetime import time

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Unit
from tickets.models import Priority, Ticket

DEFAULT_CAPACITY = 20


class SupportSettings(models.Model):
    """Per province: whether its prefectures are a support tier (off by default)."""

    province = models.OneToOneField(Unit, on_delete=models.CASCADE, primary_key=True)
    prefecture_tier = models.BooleanField(_("prefectures give support"), default=False)

    def __str__(self) -> str:
        return f"{self.province_id}: prefecture tier {self.prefecture_tier}"


class DutyProfile(models.Model):
    """An engineer's availability. No row means the defaults: on duty, not away,
    capacity 20."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="duty"
    )
    on_duty = models.BooleanField(_("on duty"), default=True)
    away = models.BooleanField(_("away"), default=False)
    capacity = models.PositiveSmallIntegerField(_("capacity"), default=DEFAULT_CAPACITY)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.account_id} on={self.on_duty} away={self.away} cap={self.capacity}"


# "24:00" as the end of a slot: the last instant of the day.
END_OF_DAY = time.max


def hhmm(moment: time) -> str:
    return "24:00" if moment == END_OF_DAY else f"{moment:%H:%M}"


class DutySlot(models.Model):
    """One weekly time range (Asia/Shanghai). `end` at or before `start` runs past
    midnight into the next day; an engineer with no slots is on duty around the clock
    while the on-duty switch is on."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="duty_slots")
    weekday = models.PositiveSmallIntegerField()  # 0 = Monday
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self) -> str:
        return f"{self.account_id} {self.weekday} {self.label}"

    @property
    def label(self) -> str:
        return f"{hhmm(self.start)}–{hhmm(self.end)}"


class Rotation(models.Model):
    """A tier's round-robin pointer: the engineer who got the last ticket, moved by
    one conditional UPDATE per assignment (escalation/services.py), and how many
    turns the tier has given (each routing decision records its number)."""

    tier = models.OneToOneField(Unit, on_delete=models.CASCADE, primary_key=True)
    last_account_id = models.BigIntegerField(null=True)
    turns = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.tier_id} → {self.last_account_id}"


class SlaTarget(models.Model):
    """A Ministry- or province-wide override of the default targets for a priority."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    priority = models.CharField(max_length=10, choices=Priority.choices)
    response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["unit", "priority"], name="sla_target_once")]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.priority} {self.response_minutes}/{self.resolution_minutes}"


class EntryKind(models.TextChoices):
    OPENED = "opened", _("Raised")
    BREACH = "breach", _("Escalated on SLA breach")
    MANUAL = "manual", _("Escalated by an engineer")
    RETURNED = "returned", _("Sent back")


class EscalationRecord(models.Model):
    """A ticket's stay at one tier: how it got there, when it left, whether the SLA
    was breached there.

    At most one per (ticket, tier, round) — `round` counts send-backs — so a sweep
    that runs twice, or races another, cannot escalate the same breach twice: the
    second insert violates the constraint and its transaction rolls back."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="stints")
    tier = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    level = models.CharField(max_length=12)
    from_tier = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    round = models.PositiveIntegerField(default=0)
    hop = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, related_name="+")
    entered_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    breached = models.BooleanField(default=False)
    # At the last tier a breach alerts its managers; set once by a conditional update.
    alerted = models.BooleanField(default=False)
    # Denormalised from the ticket for the dashboard's range scans.
    reporter_path = models.CharField(max_length=60)
    created_on = models.DateTimeField()

    class Meta:
        ordering = ["hop"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "tier", "round"], name="one_stint_per_ticket_tier_round"
            ),
        ]
        indexes = [
            models.Index(fields=["created_on", "reporter_path"], name="stint_created"),
        ]

    def __str__(self) -> str:
        return f"ticket {self.ticket_id} at {self.tier_id} (round {self.round}, {self.kind})"
