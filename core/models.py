"""Stored real-time events: what a reconnecting client replays from its last id."""

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """Something a person may miss while offline. Its `seq` is the id clients see: seqs
    become visible in increasing order (see `core.events.sequence_pending`), so a client
    resumes from the last one it saw."""

    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # NULL from the writer's INSERT until the sequencer numbers the committed row.
    seq = models.BigIntegerField(null=True, unique=True)

    class Meta:
        indexes = [
            # The sequencer's scan: only the few rows not numbered yet.
            models.Index(
                fields=["id"], name="event_unsequenced", condition=models.Q(seq__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class EventTarget(models.Model):
    """A group an event was sent to; an account's replay is the events of its groups."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="targets")
    group = models.CharField(max_length=90)
    # The event's seq, set in the same statement: a replay reads (group, seq) from one
    # index instead of walking every event of the country since the client's seq.
    seq = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "event"], name="event_target_unique")
        ]
        indexes = [models.Index(fields=["group", "seq"], name="event_target_group_seq")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.group}"
