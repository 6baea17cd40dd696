"""The roll-system boundary's writes: keys, alert intake, the status feed, the roll
system's close/reopen, the school's work on its records, and what follows from them
(one problem-record ticket per school, real-time events, daily reminders).

Every change of a record's status takes the next `change_seq` while holding a
PostgreSQL advisory lock until commit (SQLite serialises writers anyway), so
sequence numbers become visible in order and a reader following the feed's cursor
can never pass a change that commits later with a smaller number.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import scoping
from accounts.models import Account, AuditAction, Level, Unit
from accounts.services import audit_event
from core import events, metrics
from core.text import storable
from escalation import workhours
from roll import auth, selectors
from roll.models import (
    OPEN_RECORD_STATUSES,
    ArrivalNotice,
    IntakeBatch,
    ProblemRecord,
    RecordStatus,
    Reminder,
    RollKey,
)
from roll.validation import alert_id_ok, judge

log = logging.getLogger(__name__)

MAX_ALERTS = 5000
MAX_BATCH_ID = 100
MAX_KEY_LABEL = 100
MAX_FEED = 1000
DEFAULT_FEED = 500
MAX_NOTE = 2000
MAX_BULK = 5000  # what the school's page lists at most
_FEED_LOCK = 7_241_002
COLUMNS = (
    "scope",
    "alert_id",
    "kind",
    "school_id",
    "school_path",
    "name",
    "gender",
    "birth_date",
    "id_number",
    "id_check_ok",
    "roll_no",
    "grade",
    "graduating",
    "detected_at",
    "detail",
    "related_school_codes",
    "status",
    "resolution_note",
    "reopened_detail",
    "reopen_count",
    "created_at",
    "changed_at",
    "change_seq",
    "batch_id",
)
_COLUMN_FIELDS = {f.column: f for f in ProblemRecord._meta.concrete_fields}


class Refused(Exception):
    """A whole request refused: nothing stored."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


# --- keys ---------------------------------------------------------------------------------


def can_manage_keys(actor, unit: Unit) -> bool:
    return unit.level in (Level.MINISTRY, Level.PROVINCE) and scoping.can_manage_unit(actor, unit)


def key_issue(*, actor: Account, unit: Unit, label: str = "", ip=None) -> tuple[RollKey, str]:
    """A new key for `unit`'s subtree; returns it and the secret, shown this once."""
    if not can_manage_keys(actor, unit):
        raise PermissionDenied
    label = (label or "").strip()
    if len(label) > MAX_KEY_LABEL:
        raise ValidationError(_("The label is limited to %d characters.") % MAX_KEY_LABEL)
    secret, encrypted = auth.new_secret()
    with transaction.atomic():
        key = RollKey.objects.create(
            key_id=auth.new_key_id(),
            unit=unit,
            label=label,
            secret_encrypted=encrypted,
            created_by=actor,
        )
        audit_event(
            action=AuditAction.ROLL_KEY_ISSUED,
            actor=actor,
            unit=unit,
            ip=ip,
            detail={"key": key.key_id},
        )
    return key, secret


def key_revoke(*, actor: Account, key: RollKey, ip=None) -> None:
    if not can_manage_keys(actor, key.unit):
        raise PermissionDenied
    with transaction.atomic():
        if RollKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor
        ):
            audit_event(
                action=AuditAction.ROLL_KEY_REVOKED,
                actor=actor,
                unit=key.unit,
                ip=ip,
                detail={"key": key.key_id},
            )


# --- sequence -----------------------------------------------------------------------------


def _lock_feed() -> int:
    """Hold the feed lock until commit; returns the last sequence number used."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FEED_LOCK])
    return ProblemRecord.objects.aggregate(m=Max("change_seq"))["m"] or 0


# --- intake -------------------------------------------------------------------------------


def intake(*, key: RollKey, payload, now: datetime | None = None) -> dict:
    """Store a batch of alerts (ROLL_API.md, POST /alerts). Each alert is judged alone;
    an alert id already stored in the key's scope is a duplicate and changes nothing."""
    now = now or timezone.now()
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise Refused(400, "bad_request", "the body must be a JSON object with an `alerts` list")
    alerts = payload["alerts"]
    if len(alerts) > MAX_ALERTS:
        raise Refused(413, "too_many_alerts", f"at most {MAX_ALERTS} alerts per request")
    batch_id = payload.get("batch_id")
    if batch_id is None:
        batch_id = ""
    elif not (
        isinstance(batch_id, str)
        and len(batch_id) <= MAX_BATCH_ID
        and batch_id.isprintable()
        and storable(batch_id)
    ):
        raise Refused(
            400,
            "bad_batch_id",
            f"`batch_id` must be a string of at most {MAX_BATCH_ID} printable characters",
        )

    today = now.astimezone(workhours.TZ).date()
    codes, ids = set(), []
    for a in alerts:
        if isinstance(a, dict):
            if isinstance(a.get("school_code"), str) and storable(a["school_code"]):
                codes.add(a["school_code"])
            if alert_id_ok(a.get("alert_id")):
                ids.append(a["alert_id"])
    schools = {
        code: (pk, path, level)
        for code, pk, path, level in Unit.objects.filter(code__any_of=list(codes)).values_list(
            "code", "id", "path", "level"
        )
    }
    root = key.unit.path
    rejected, duplicates, per_school = [], 0, Counter()

    with transaction.atomic():
        last = _lock_feed()
        existing = set(
            ProblemRecord.objects.filter(scope=key.scope, alert_id__any_of=ids).values_list(
                "alert_id", flat=True
            )
        )
        batch = IntakeBatch.objects.create(key=key, batch_id=batch_id, received_at=now)
        # Each alert is judged and, if good and new, written straight into the COPY:
        # the database stores the first rows while the rest are still being judged.
        with _record_writer() as write:
            for index, alert in enumerate(alerts):
                clean, errors = judge(alert, today=today)
                code = alert.get("school_code") if isinstance(alert, dict) else None
                found = schools.get(code) if isinstance(code, str) and code else None
                if isinstance(code, str) and code:
                    if found is None or found[2] != Level.SCHOOL:
                        errors = [*errors, "unknown school_code"]
                    elif not found[1].startswith(root):
                        errors = [*errors, "school_code is outside the key's area"]
                if errors:
                    alert_id = alert.get("alert_id") if isinstance(alert, dict) else None
                    rejected.append(
                        {
                            "index": index,
                            "alert_id": alert_id if alert_id_ok(alert_id) else None,
                            "errors": errors,
                        }
                    )
                    continue
                if clean["alert_id"] in existing:
                    duplicates += 1
                    continue
                existing.add(clean["alert_id"])
                per_school[code] += 1
                last += 1
                write(_record_row(key.scope, clean, found, now, last, batch.pk))
        accepted = sum(per_school.values())
        IntakeBatch.objects.filter(pk=batch.pk).update(
            accepted=accepted,
            duplicates=duplicates,
            rejected=len(rejected),
            school_ids=sorted(schools[c][0] for c in per_school),
            school_counts=dict(per_school),
            synced_at=None if accepted else now,
        )
        if accepted:
            transaction.on_commit(lambda: _sync_soon(batch.pk))
        # The intake rate for Prometheus (core/metrics.py), once the batch is stored.
        outcomes = {"accepted": accepted, "duplicate": duplicates, "rejected": len(rejected)}
        transaction.on_commit(lambda: metrics.roll_intake(outcomes))
    return {
        "batch_id": batch_id,
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": rejected,
    }


def _record_row(scope: str, c: dict, school: tuple, now, seq: int, batch_pk: int) -> tuple:
    """A judged alert as a ProblemRecord row, in COLUMNS order."""
    return (
        scope,
        c["alert_id"],
        c["kind"],
        school[0],
        school[1],
        c["name"],
        c["gender"],
        c["birth_date"],
        c["id_number"],
        c["id_check_ok"],
        c["roll_no"],
        c["grade"],
        c["graduating"],
        c["detected_at"],
        c["detail"],
        c["related_school_codes"],
        RecordStatus.OPEN,
        "",
        "",
        0,
        now,
        now,
        seq,
        batch_pk,
    )


@contextmanager
def _record_writer():
    """A function that takes one ProblemRecord row (COLUMNS order) at a time: a
    binary COPY stream on PostgreSQL, a bulk INSERT at the end elsewhere."""
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            copy_writer(cursor.cursor, ProblemRecord._meta.db_table) as write,
        ):
            yield write
        return
    rows = []
    yield rows.append
    ProblemRecord.objects.bulk_create(
        [ProblemRecord(**dict(zip(COLUMNS, row, strict=True))) for row in rows], batch_size=500
    )


@contextmanager
def copy_writer(cursor, table: str):
    """Binary COPY into `table` (COLUMNS) through a psycopg cursor, one row per call.
    With the column types declared, psycopg encodes each value without looking its
    type up: about a third of the CPU of a text COPY of the same rows."""
    from psycopg.types.json import Jsonb

    types = [_COLUMN_FIELDS[c].db_type(connection).split("(")[0] for c in COLUMNS]
    related = COLUMNS.index("related_school_codes")
    with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)

        def write(row: tuple) -> None:
            row = list(row)
            row[related] = Jsonb(row[related])
            copy.write_row(row)

        yield write


def _sync_soon(batch_pk: int) -> None:
    """Tickets and notifications for a committed batch, by the worker; the minute job
    picks up any batch whose task was lost (broker down, worker killed)."""
    from roll import tasks

    try:
        tasks.sync_batch.delay(batch_pk)
    except Exception:  # the broker is unreachable: beat's sync_pending will do it
        log.warning("could not queue sync of batch %s", batch_pk, exc_info=True)


# --- what follows an intake ----------------------------------------------------------------


def sync_batch(batch_pk: int, now: datetime | None = None) -> bool:
    """Bring the touched schools' tickets up to date and tell their people. Idempotent:
    a batch is marked synced by a conditional update, so it is announced once."""
    now = now or timezone.now()
    batch = (
        IntakeBatch.objects.select_related("key__unit")
        .filter(pk=batch_pk, synced_at__isnull=True)
        .first()
    )
    if batch is None:
        return False
    sync_schools(batch.school_ids, now=now)
    with transaction.atomic():
        if not IntakeBatch.objects.filter(pk=batch_pk, synced_at__isnull=True).update(
            synced_at=now
        ):
            return False
        _announce(batch, now)
    return True


def sync_pending(now: datetime | None = None) -> int:
    """Every batch not yet synced (beat, every minute)."""
    pks = (
        IntakeBatch.objects.filter(synced_at__isnull=True)
        .order_by("received_at")
        .values_list("pk", flat=True)
    )
    return sum(sync_batch(pk, now) for pk in list(pks[:200]))


def sync_schools(school_ids, *, now: datetime | None = None) -> None:
    from tickets import services as tickets

    now = now or timezone.now()
    schools = list(Unit.objects.filter(pk__in=list(school_ids)))
    # By path: the records' one index on the school is (school_path, status, kind).
    open_there = ProblemRecord.objects.filter(
        school_path__in=[s.path for s in schools], status__in=OPEN_RECORD_STATUSES
    )
    stats = {
        row["school_id"]: row
        for row in open_there.values("school_id").annotate(
            open=Count("id"),
            graduating=Count("id", filter=Q(graduating=True)),
            oldest=Min("created_at"),
        )
    }
    by_kind: dict[int, Counter] = {}
    for school_id, kind, n in open_there.values_list("school_id", "kind").annotate(n=Count("id")):
        by_kind.setdefault(school_id, Counter())[kind] = n
    with translation.override(settings.LANGUAGE_CODE):
        for school in schools:
            row = stats.get(school.pk, {"open": 0, "graduating": 0})
            tickets.problem_ticket_sync(
                school=school,
                open_records=row["open"],
                graduating=row["graduating"],
                summary=selectors.ticket_summary(school, row, by_kind.get(school.pk, Counter())),
                now=now,
            )


def _announce(batch: IntakeBatch, now: datetime) -> None:
    """A stored `roll.alerts` event per school (its accounts) and per county (its
    managers), each with only its own counts; and the day's inbox entry for those not
    yet told today."""
    counts = batch.school_counts
    schools = list(
        Unit.objects.filter(code__any_of=list(counts), level=Level.SCHOOL).select_related("parent")
    )
    items, per_county, counties = [], {}, {}
    for school in schools:
        n = counts[school.code]
        items.append(_alerts_event(batch, {school.code: n}, school, Level.SCHOOL, False))
        if school.parent is not None:
            per_county.setdefault(school.parent.code, {})[school.code] = n
            counties[school.parent.code] = school.parent
    for code, per in per_county.items():
        items.append(_alerts_event(batch, per, counties[code], Level.COUNTY, True))
    if items:
        events.publish_many(items)
    _inbox_entries(batch, schools, list(counties.values()), now)


def _alerts_event(batch, per_school: dict, unit: Unit, level: str, managers_only: bool):
    payload = {"batch": batch.batch_id, "schools": per_school, "total": sum(per_school.values())}
    return ("roll.alerts", payload, [events.tree_group(unit.code, level, managers_only)])


def _claim_arrivals(units: list[Unit], day) -> list[Unit]:
    """The units not yet told today, claimed by this transaction: concurrent syncs of
    two batches never both tell the same unit."""
    ArrivalNotice.objects.bulk_create(
        [ArrivalNotice(unit=u, day=day) for u in units], ignore_conflicts=True
    )
    claimed = set(
        ArrivalNotice.objects.select_for_update(skip_locked=True)
        .filter(unit__in=units, day=day, notice__isnull=True)
        .values_list("unit_id", flat=True)
    )
    return [u for u in units if u.pk in claimed]


def _inbox_entries(batch, schools: list[Unit], counties: list[Unit], now: datetime) -> None:
    from notices.services import notice_publish_system

    day = now.astimezone(workhours.TZ).date()
    author = batch.key.unit
    with translation.override(settings.LANGUAGE_CODE):
        for units, level, managers_only, title, body in (
            (
                _claim_arrivals(schools, day),
                Level.SCHOOL,
                False,
                _("New problem records for your school"),
                _(
                    "The student-roll system has flagged records of your school that need correcting. Open **Problem records** to work through them, graduating students first, and mark each one resolved with how it was corrected."
                ),
            ),
            (
                _claim_arrivals(counties, day),
                Level.COUNTY,
                True,
                _("New problem records for schools of your county"),
                _(
                    "The student-roll system has flagged records of schools in your county. **Problem records** shows each school's progress and the oldest open records; the Excel workbook lists them school by school."
                ),
            ),
        ):
            if not units:
                continue
            notice = notice_publish_system(
                author_unit=author,
                title=title,
                body=body,
                targets=units,
                levels=[level],
                managers_only=managers_only,
            )
            ArrivalNotice.objects.filter(unit__in=units, day=day).update(notice=notice)


# --- the feed and the roll system's verdicts -------------------------------------------------


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, seq = raw.split(":", 1)
        if version != "v1" or not (seq.isascii() and seq.isdigit()) or int(seq) >= 2**63:
            raise ValueError
        return int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "bad_cursor", "`since` is not a cursor this API gave out") from exc


def feed(
    *, key: RollKey, status: str = "", since: str = "", limit: str | int = DEFAULT_FEED
) -> dict:
    if status and status not in RecordStatus.values:
        raise Refused(400, "bad_status", "status must be open, in_progress, resolved or closed")
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise Refused(400, "bad_limit", "limit must be a number from 1 to 1,000") from None
    if not 1 <= limit <= MAX_FEED:
        raise Refused(400, "bad_limit", "limit must be a number from 1 to 1,000")
    after = decode_cursor(since) if since else 0
    qs = ProblemRecord.objects.filter(
        scoping.under("school_path", key.unit.path), change_seq__gt=after
    )
    if status:
        qs = qs.filter(status=status)
    rows = list(
        qs.order_by("change_seq").values(
            "alert_id",
            "status",
            "resolved_at",
            "resolution_note",
            "school__code",
            "changed_at",
            "change_seq",
        )[:limit]
    )
    done = (RecordStatus.RESOLVED, RecordStatus.CLOSED)
    items = [
        {
            "alert_id": r["alert_id"],
            "status": r["status"],
            # A reopened record keeps its old note for the school; the feed says
            # only what holds now.
            "resolved_at": _iso(r["resolved_at"]) if r["status"] in done else None,
            "resolution_note": r["resolution_note"] if r["status"] in done else "",
            "school_code": r["school__code"],
            "changed_at": _iso(r["changed_at"]),
        }
        for r in rows
    ]
    next_seq = rows[-1]["change_seq"] if rows else after
    return {"items": items, "next_cursor": encode_cursor(next_seq)}


def _iso(value) -> str | None:
    return value.astimezone(workhours.TZ).isoformat(timespec="seconds") if value else None


def verdict(*, key: RollKey, payload, now: datetime | None = None) -> dict:
    """POST /alerts/close: `verified` closes, `reopened` sends back to the school."""
    now = now or timezone.now()
    if not isinstance(payload, dict):
        raise Refused(400, "bad_request", "the body must be a JSON object")
    ids = payload.get("alert_ids")
    outcome = payload.get("outcome")
    detail = payload.get("detail") or ""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Refused(400, "bad_request", "`alert_ids` must be a list of alert ids")
    # An id no alert could have (unprintable, too long) is unknown, not an error.
    valid = [i for i in ids if alert_id_ok(i)]
    if len(ids) > MAX_ALERTS:
        raise Refused(413, "too_many_alerts", f"at most {MAX_ALERTS} alert ids per request")
    if outcome not in ("verified", "reopened"):
        raise Refused(400, "bad_outcome", "`outcome` must be verified or reopened")
    if not isinstance(detail, str) or len(detail) > MAX_NOTE or not storable(detail):
        raise Refused(
            400,
            "bad_detail",
            f"`detail` must be text of at most {MAX_NOTE} characters (valid Unicode, no NUL)",
        )
    if outcome == "reopened" and not detail.strip():
        raise Refused(400, "bad_detail", "`detail` is required to reopen")
    with transaction.atomic():
        last = _lock_feed()
        records = list(
            ProblemRecord.objects.select_for_update()
            .filter(
                scoping.under("school_path", key.unit.path),
                scope=key.scope,
                alert_id__any_of=valid,
            )
            .order_by("pk")
        )
        found = {r.alert_id for r in records}
        changed, detailed = [], []
        for record in records:
            if outcome == "reopened" and record.status in OPEN_RECORD_STATUSES:
                # Still open: nothing to send back, but the school sees the new detail.
                if record.reopened_detail != detail.strip():
                    record.reopened_detail = detail.strip()
                    detailed.append(record)
                continue
            if outcome == "verified" and record.status != RecordStatus.CLOSED:
                record.status = RecordStatus.CLOSED
                record.closed_at = now
            elif outcome == "reopened":
                record.status = RecordStatus.OPEN
                record.reopened_detail = detail.strip()
                record.reopen_count += 1
                record.closed_at = None
                # The earlier correction stays for the school to see; the record is
                # no longer resolved.
                record.resolved_at = None
                record.resolved_by = None
            else:
                continue
            last += 1
            record.change_seq, record.changed_at = last, now
            changed.append(record)
        _save_changes(changed)
        ProblemRecord.objects.bulk_update(detailed, ["reopened_detail"], batch_size=500)
        schools = sorted({r.school_id for r in changed})
        if schools:
            transaction.on_commit(lambda: sync_schools(schools))
    return {
        "applied": len(changed),
        "unchanged": len(found) - len(changed),
        "unknown": [i for i in dict.fromkeys(ids) if i not in found],
    }


def _save_changes(records: list[ProblemRecord]) -> None:
    # The new sequence numbers all lie above every number in use, so the one UPDATE
    # per 500 rows never collides with the unique index.
    fields = [
        "status",
        "resolution_note",
        "resolved_at",
        "resolved_by",
        "reopened_detail",
        "reopen_count",
        "closed_at",
        "changed_at",
        "change_seq",
    ]
    ProblemRecord.objects.bulk_update(records, fields, batch_size=500)


# --- the school's work ----------------------------------------------------------------------


def records_update(
    *, actor: Account, record_ids: list[int], action: str, note: str = "", now=None
) -> int:
    """The school marks records in progress, or resolved with a note (one or many)."""
    now = now or timezone.now()
    if action not in ("start", "resolve"):
        raise ValidationError(_("Unknown action."))
    note = (note or "").strip()
    if action == "resolve" and not note:
        raise ValidationError(_("Say how the record was corrected."))
    if len(note) > MAX_NOTE:
        raise ValidationError(_("The note is limited to 2,000 characters."))
    if not record_ids:
        raise ValidationError(_("Select at least one record."))
    if len(record_ids) > MAX_BULK:
        raise ValidationError(_("At most 5,000 records at a time."))
    with transaction.atomic():
        last = _lock_feed()
        records = list(
            ProblemRecord.objects.select_for_update().filter(pk__in=record_ids).order_by("pk")
        )
        handed_over = selectors.handed_over_school_ids(actor)
        if len(records) != len(set(record_ids)) or not all(
            selectors.can_work(actor, r, handed_over) for r in records
        ):
            raise PermissionDenied
        changed = []
        for record in records:
            if action == "start" and record.status == RecordStatus.OPEN:
                record.status = RecordStatus.IN_PROGRESS
            elif action == "resolve" and record.status in OPEN_RECORD_STATUSES:
                record.status = RecordStatus.RESOLVED
                record.resolution_note = note
                record.resolved_at = now
                record.resolved_by = actor
            else:
                continue
            last += 1
            record.change_seq, record.changed_at = last, now
            changed.append(record)
        if not changed:
            raise ValidationError(_("None of the selected records can take that step now."))
        _save_changes(changed)
        schools = sorted({r.school_id for r in changed})
        transaction.on_commit(lambda: sync_schools(schools))
    return len(changed)


def unmask_audit(*, actor: Account, record: ProblemRecord, ip=None) -> None:
    audit_event(
        action=AuditAction.ROLL_ID_UNMASKED,
        actor=actor,
        unit=record.school,
        ip=ip,
        detail={"alert_id": record.alert_id, "scope": record.scope},
    )


def export_audit(
    *, actor: Account, unit: Unit, unmasked: bool, count: int, reason: str = "", ip=None
) -> None:
    """An export in the audit log; an unmasked one with the reason its manager typed."""
    detail = {"unmasked": unmasked, "records": count}
    if unmasked:
        detail["reason"] = reason
    audit_event(action=AuditAction.ROLL_EXPORTED, actor=actor, unit=unit, ip=ip, detail=detail)


# --- reminders ------------------------------------------------------------------------------


def reminders_send(now: datetime | None = None, days: int | None = None) -> int:
    """Daily: a reminder notice to each school whose graduating-grade records have been
    open more than `days` days (ROLL_REMINDER_DAYS) — at most one per school a day."""
    from django.db import IntegrityError

    from notices.services import notice_publish_system

    now = now or timezone.now()
    days = settings.ROLL_REMINDER_DAYS if days is None else days
    today = now.astimezone(workhours.TZ).date()
    due = (
        ProblemRecord.objects.filter(
            status__in=OPEN_RECORD_STATUSES,
            graduating=True,
            created_at__lte=now - timedelta(days=days),
        )
        .values("school_id")
        .annotate(n=Count("id"))
    )
    sent = 0
    with translation.override(settings.LANGUAGE_CODE):
        for row in due:
            school = Unit.objects.select_related("parent").get(pk=row["school_id"])
            try:
                with transaction.atomic():
                    reminder = Reminder.objects.create(school=school, day=today, records=row["n"])
                    notice = notice_publish_system(
                        author_unit=school.parent or school,
                        title=_(
                            "Reminder: %(n)d graduating-grade problem records open over %(days)d days"
                        )
                        % {"n": row["n"], "days": days},
                        body=_(
                            "%(school)s still has %(n)d problem records of graduating students open for more than %(days)d days. Please correct them on the platform's Problem records page; graduation cannot proceed until they are resolved."
                        )
                        % {"school": school.name, "n": row["n"], "days": days},
                        targets=[school],
                        levels=[Level.SCHOOL],
                    )
                    reminder.notice = notice
                    reminder.save(update_fields=["notice"])
                    sent += 1
            except IntegrityError:
                continue  # already reminded today
    return sent
