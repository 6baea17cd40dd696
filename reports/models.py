"""The weekly report (周报表) sent up: one row per (unit, week), so delivery is once."""

from django.db import models
from django.utils import timezone

from accounts.models import Unit


class WeeklyReport(models.Model):
    """A unit's report of one Monday–Sunday week (Asia/Shanghai), delivered to its
    parent unit's managers as a system notice. The unique (unit, week) pair makes the
    beat job idempotent: a second run, or a racing worker, finds the row and sends
    nothing."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()  # the Monday
    created_at = models.DateTimeField(default=timezone.now)
    notice = models.ForeignKey(
        "notices.Notice", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The total row's raw figures as sent, for the record.
    figures = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["unit", "week"], name="weekly_report_once"),
        ]
        indexes = [models.Index(fields=["week"], name="weekly_report_week")]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.week}"
