from datetime import date

from celery import shared_task
from django.utils import timezone

from reports import services


@shared_task(ignore_result=True)
def send_due(today: str | None = None) -> int:
    """Daily (beat): on a report day, fan the reporting units out in batches."""
    day = date.fromisoformat(today) if today else timezone.localdate()
    batches = services.due_batches(day)
    for week, ids in batches:
        send_batch.delay(ids, week.isoformat())
    return len(batches)


@shared_task(ignore_result=True)
def send_batch(unit_ids: list[int], week: str) -> int:
    return services.deliver_many(unit_ids, date.fromisoformat(week))
