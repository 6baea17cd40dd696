"""Long jobs (issue 16, item 5): school import, bulk issuance, large exports, the weekly
report on demand — run once by a Celery worker, with progress pushed to their owner.

core knows no feature app: each app registers its job kinds from its AppConfig.ready()
(`register(kind, run=…, title=…)`), as it registers its to-do sections (core/todo.py).
`run(job, progress)` does the work and returns an `Output` (a message, a result file, a
page of the platform the result lives on); it reports with `progress(done, total)`.

The guarantees:

- `start(kind, key, owner, …)` makes one job per (kind, owner, key) while one is queued
  or running: a second start returns the first job. A partial unique index on `key`
  (job_active_key) decides, so two requests at once cannot both create one.
- The work runs in one transaction with the job's final state: a failure rolls back
  every write of the job and leaves only the job marked failed, with a reason the owner
  can read (in Chinese: the platform's language). A result file written before the
  failure is removed.
- Progress is persisted at most every PROGRESS_EVERY seconds, from a thread of its own
  (a connection of its own, so the figures are visible while the work's transaction is
  open), and each persisted step is published as a `job.progress` event to the owner's
  account group only (core.events): a page reloaded, or a socket reconnecting, resumes
  from the stored figures and the replayed events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import events
from core.models import Job

log = logging.getLogger(__name__)

ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)
PROGRESS_EVERY = 0.5  # seconds between persisted (and pushed) progress steps
HEARTBEAT = 30  # seconds: a running job without steps is touched this often
EVENT_KIND = "job.progress"


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "JOB_STALE_SECONDS", 900))


# --- the kinds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    key: str
    run: Callable
    title: Callable[[Job], str] | str


_kinds: dict[str, Kind] = {}


def register(kind: str, *, run: Callable, title: Callable | str = "") -> None:
    """Register (or replace) a job kind; `run(job, progress)` does its work."""
    _kinds[kind] = Kind(key=kind, run=run, title=title)


def kinds() -> list[str]:
    return sorted(_kinds)


class JobFailed(Exception):
    """A job cannot be done: its message is the reason shown to the owner."""


@dataclass
class Output:
    message: str = ""
    file_name: str = ""
    content: bytes | object | None = None  # bytes or a binary file object
    url: str = ""  # a page of the platform holding the result


# --- starting -----------------------------------------------------------------------------


def dedupe_key(kind: str, owner_id: int, key: str) -> str:
    return f"{kind}:{owner_id}:{key}"[:255]


def start(
    kind: str,
    key: str,
    owner,
    *,
    params: dict | None = None,
    title: str = "",
    unit_path: str | None = None,
) -> Job:
    """The job of `kind` for `key` started by `owner`: a new one queued for a worker
    (after the caller's transaction commits), or the one already queued or running.
    `job.created` says which."""
    if kind not in _kinds:
        raise LookupError(f"no job kind {kind!r}")
    dedupe = dedupe_key(kind, owner.pk, key)
    if unit_path is None:
        unit = getattr(owner, "unit", None)
        unit_path = getattr(unit, "path", "") or ""
    for _attempt in range(5):
        existing = Job.objects.filter(key=dedupe, status__in=ACTIVE).first()
        if existing is not None:
            if existing.touched_at >= timezone.now() - stale_after():
                existing.created = False
                return existing
            _fail(existing, _("The job stopped answering (its worker was lost); start it again."))
            continue
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    kind=kind,
                    owner_id=owner.pk,
                    unit_path=unit_path,
                    key=dedupe,
                    title=title[:200],
                    params=params or {},
                )
        except IntegrityError:
            # Another start of the same key committed first: take its job.
            continue
        transaction.on_commit(lambda pk=job.pk: enqueue(pk))
        job.created = True
        return job
    raise RuntimeError(f"could not start or find the job {dedupe!r}")


def enqueue(pk: int) -> None:
    """Hand the job to a worker; a broker that cannot take it fails the job at once."""
    from core.tasks import run_job

    try:
        run_job.delay(pk)
    except Exception:
        log.warning("could not queue job %s", pk, exc_info=True)
        job = Job.objects.filter(pk=pk).first()
        if job is not None and job.status == Job.Status.QUEUED:
            _fail(
                job,
                _("The job could not be queued (the task queue is unavailable); try again later."),
            )


# --- what the owner sees ------------------------------------------------------------------


def url_of(job: Job) -> str:
    return reverse("job_detail", args=[job.pk])


def state(job: Job) -> dict:
    """The job as its page and its events show it."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "title": job.title,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "message": job.message,
        "url": url_of(job),
        "result_url": reverse("job_result", args=[job.pk]) if job.result else job.result_url,
    }


def _announce(job: Job) -> None:
    events.publish(
        kind=EVENT_KIND, payload={"job": state(job)}, groups=[events.account_group(job.owner_id)]
    )


def owned(owner, pk: int) -> Job | None:
    """The owner's job `pk`, or None (someone else's job is as good as absent)."""
    return Job.objects.filter(pk=pk, owner_id=owner.pk).first()


def mine(owner, limit: int = 50):
    return Job.objects.filter(owner_id=owner.pk).defer("params").order_by("-created_at")[:limit]


# --- progress -----------------------------------------------------------------------------


class Progress:
    """`progress(done, total=None, message=None)`: throttled, persisted and pushed from a
    thread with a connection of its own, so the figures show while the job's own
    transaction is still open."""

    def __init__(self, job: Job):
        self.job = job
        self.done = job.done
        self.total = job.total
        self.message = ""
        self._last = 0.0
        self._queue: queue.Queue = queue.Queue()
        self._thread = None
        # SQLite (make run's default) takes one writer at a time: a second connection's
        # write would wait out the busy timeout (20 s) behind the job's own transaction
        # and fail. There the steps stay in memory and the bar moves when the job ends;
        # PostgreSQL stores and pushes each step.
        if connection.vendor != "sqlite":
            self._thread = threading.Thread(target=self._write, name=f"job-{job.pk}", daemon=True)
            self._thread.start()

    def __call__(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.done = max(0, int(done))
        if total is not None:
            self.total = max(0, int(total))
        if message is not None:
            self.message = message
        now = time.monotonic()
        if self._thread is not None and now - self._last >= PROGRESS_EVERY:
            self._last = now
            self._queue.put((self.done, self.total, self.message))

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _write(self) -> None:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=HEARTBEAT)
                except queue.Empty:
                    # No step for a while: still say the job is alive, so a new start
                    # never takes it for lost (JOB_STALE_SECONDS) while it works.
                    self._touch()
                    continue
                if item is None:
                    return
                # Only the latest step matters when several wait.
                while not self._queue.empty():
                    nxt = self._queue.get()
                    if nxt is None:
                        self._store(*item)
                        return
                    item = nxt
                self._store(*item)
        finally:
            connection.close()

    def _touch(self) -> None:
        try:
            Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).update(
                touched_at=timezone.now()
            )
        except Exception:
            log.warning("could not touch job %s", self.job.pk, exc_info=True)

    def _store(self, done: int, total: int, message: str) -> None:
        try:
            with transaction.atomic():
                updated = Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).update(
                    done=done, total=total, message=message, touched_at=timezone.now()
                )
                if updated:
                    job = Job.objects.get(pk=self.job.pk)
                    _announce(job)
        except Exception:  # progress is a courtesy: the job goes on
            log.warning("could not store the progress of job %s", self.job.pk, exc_info=True)


# --- running ------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    if isinstance(exc, JobFailed):
        return str(exc)
    if isinstance(exc, ValidationError):
        return "；".join(str(m) for m in exc.messages)
    if isinstance(exc, PermissionDenied):
        return str(exc) or _("You may no longer do this.")
    return _("The job stopped on an unexpected error; nothing was changed. Try again later.")


def _fail(job: Job, reason: str) -> None:
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=Job.Status.FAILED,
            message=reason[:4000],
            finished_at=timezone.now(),
            touched_at=timezone.now(),
        )
        if updated:
            job.refresh_from_db()
            _announce(job)


def run(pk: int) -> Job | None:
    """Do job `pk` (what the Celery task calls): once, whichever worker takes it."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=pk, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, touched_at=now
    )
    if not claimed:
        return None
    job = Job.objects.get(pk=pk)
    with translation.override(settings.LANGUAGE_CODE):
        kind = _kinds.get(job.kind)
        if kind is None:
            _fail(job, _("This kind of job is no longer known."))
            return job
        _announce(job)
        progress = Progress(job)
        written: list[str] = []
        try:
            with transaction.atomic():
                output = kind.run(job, progress) or Output()
                progress.close()
                if output.content is not None:
                    content = output.content
                    content = ContentFile(content) if isinstance(content, bytes) else File(content)
                    job.result.save(output.file_name or "result", content, save=False)
                    written.append(job.result.name)
                job.status = Job.Status.DONE
                job.done = progress.total or progress.done
                job.total = progress.total or progress.done
                job.message = output.message[:4000]
                job.result_name = (output.file_name or "")[:200]
                job.result_url = output.url[:200]
                job.finished_at = job.touched_at = timezone.now()
                finished = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
                    status=job.status,
                    done=job.done,
                    total=job.total,
                    message=job.message,
                    result=job.result.name or "",
                    result_name=job.result_name,
                    result_url=job.result_url,
                    finished_at=job.finished_at,
                    touched_at=job.touched_at,
                )
                if not finished:
                    # Declared lost meanwhile (and perhaps started again): keep nothing.
                    raise JobFailed(
                        _("The job stopped answering (its worker was lost); start it again.")
                    )
                _announce(job)
        except Exception as exc:
            progress.close()
            from django.core.files.storage import default_storage

            for name in written:
                default_storage.delete(name)
            if not isinstance(exc, JobFailed | ValidationError | PermissionDenied):
                log.exception("job %s (%s) failed", job.pk, job.kind)
            job.result = ""
            _fail(job, _reason(exc))
        finally:
            progress.close()
    job.refresh_from_db()
    return job


def run_task(pk: int) -> None:
    """The Celery task's body: a worker's connections are fresh for each job."""
    close_old_connections()
    try:
        run(pk)
    finally:
        close_old_connections()
