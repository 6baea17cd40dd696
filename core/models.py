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


def _job_result_path(job, filename: str) -> str:
    import uuid

    return f"private/jobs/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Job(models.Model):
    """A long job run by a Celery worker (core/jobs.py): its progress, outcome and
    result file, kept so the job's page survives a reload."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    kind = models.CharField(max_length=60)
    # The account that started it (accounts.Account's pk: core imports no app).
    owner_id = models.BigIntegerField()
    unit_path = models.CharField(max_length=255, blank=True, default="")
    # kind:owner:what — at most one queued or running job per key (job_active_key).
    key = models.CharField(max_length=255)
    title = models.CharField(max_length=200, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, default="")
    result = models.FileField(upload_to=_job_result_path, max_length=200, blank=True)
    result_name = models.CharField(max_length=200, blank=True, default="")
    # A page of the platform the result lives on (an issue batch's credential sheet).
    result_url = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life (start, progress): a job silent for JOB_STALE_SECONDS was
    # lost with its worker and no longer holds its key.
    touched_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=models.Q(status__in=["queued", "running"]),
                name="job_active_key",
            )
        ]
        indexes = [models.Index(fields=["owner_id", "-created_at"], name="job_owner_recent")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
