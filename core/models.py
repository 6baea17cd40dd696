"""Stored real-time events: what a reconnecting client replays from its last id."""

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """Something a person may miss while offline. Ids become visible in increasing order
    (see `core.events.publish`), so a client resumes from the last id it saw."""

    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class EventTarget(models.Model):
    """A group an event was sent to; an account's replay is the events of its groups."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="targets")
    group = models.CharField(max_length=90)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "event"], name="event_target_unique")
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.group}"
