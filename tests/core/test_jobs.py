"""Long jobs (core/jobs.py, issue 16 item 5): a job started twice runs once (also two
threads at once on PostgreSQL), progress is persisted while the job's transaction is
open and pushed to its owner alone, a failure leaves its reason and nothing written, and
the result file is its owner's alone. The kinds of accounts and tickets run as jobs."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from openpyxl import load_workbook

from accounts import jobs as account_jobs
from accounts.models import Account, AuditAction, AuditEvent, IssueBatch, Unit
from core import events, jobs
from core.models import Event, EventTarget, Job
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """The jobs handed to the broker (none is sent: each test runs them as a worker would)."""
    sent: list[int] = []
    monkeypatch.setattr(jobs, "enqueue", sent.append)
    return sent


@pytest.fixture
def steps(monkeypatch):
    """Every progress step persisted (no 0.5 s throttle)."""
    monkeypatch.setattr(jobs, "PROGRESS_EVERY", 0)


def _count_kind(job, progress):
    n = job.params.get("n", 3)
    for i in range(1, n + 1):
        progress(i, n)
    return jobs.Output(message="counted", file_name="count.txt", content=b"x" * n)


jobs.register("test.count", run=_count_kind)


def _seen_by_another_connection(pk: int, done: int) -> bool:
    """Whether a connection of another thread reads the job at `done` (within 10 s)."""
    seen = []

    def look():
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                if Job.objects.filter(pk=pk, done=done).exists():
                    seen.append(True)
                    return
                time.sleep(0.02)
        finally:
            connection.close()

    t = threading.Thread(target=look)
    t.start()
    t.join()
    return bool(seen)


def test_a_job_started_twice_is_one_job_and_runs_once(tree, queued):
    owner = factories.manager(tree.county)
    first = jobs.start("test.count", "k", owner, params={"n": 2})
    second = jobs.start("test.count", "k", owner, params={"n": 2})
    assert first.created and not second.created
    assert first.pk == second.pk and Job.objects.count() == 1
    assert queued == [first.pk]  # handed to the broker once
    done = jobs.run(first.pk)
    assert done.status == Job.Status.DONE and done.done == done.total == 2
    assert jobs.run(first.pk) is None  # a second delivery finds it taken
    # Once finished the key is free: a new start is a new job.
    third = jobs.start("test.count", "k", owner)
    assert third.created and third.pk != first.pk
    # Another owner's job of the same key is its own.
    other = jobs.start("test.count", "k", factories.manager(tree.county))
    assert other.pk not in (first.pk, third.pk)


def test_two_threads_starting_the_same_job_at_once_make_one(tree):
    owner = factories.manager(tree.county)
    barrier = threading.Barrier(2)
    got, errors = [], []

    def go():
        try:
            barrier.wait()
            got.append(jobs.start("test.count", "race", owner).pk)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(got) == 2 and got[0] == got[1]
    assert Job.objects.filter(key__endswith=":race").count() == 1


def test_a_stale_job_no_longer_holds_its_key(tree, settings):
    owner = factories.manager(tree.county)
    lost = jobs.start("test.count", "k", owner)
    Job.objects.filter(pk=lost.pk).update(status=Job.Status.RUNNING)
    settings.JOB_STALE_SECONDS = 0
    fresh = jobs.start("test.count", "k", owner)
    assert fresh.pk != lost.pk
    lost.refresh_from_db()
    assert lost.status == Job.Status.FAILED and lost.message


@pytest.mark.postgres  # a second writer beside the job's open transaction
def test_progress_is_stored_while_the_job_runs_and_pushed_to_its_owner_only(tree, steps):
    owner = factories.manager(tree.county)
    colleague = factories.manager(tree.county)
    observed = []

    def watched(job, progress):
        progress(5, 10)
        # Another connection sees the step while this job's transaction is still open.
        observed.append(_seen_by_another_connection(job.pk, 5))
        progress(10, 10)
        return jobs.Output(message="ok")

    jobs.register("test.watched", run=watched)
    job = jobs.start("test.watched", "w", owner)
    after = events.latest_id()
    jobs.run(job.pk)
    assert observed == [True]
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.message) == ("done", 10, 10, "ok")
    progress_events = Event.objects.filter(kind=jobs.EVENT_KIND, seq__gt=after).order_by("seq")
    states = [(e.payload["job"]["status"], e.payload["job"]["done"]) for e in progress_events]
    assert states[0] == ("running", 0) and ("running", 5) in states and states[-1] == ("done", 10)
    assert set(
        EventTarget.objects.filter(event__in=progress_events).values_list("group", flat=True)
    ) == {events.account_group(owner.pk)}
    # A reconnecting owner resumes them; nobody else gets them.
    mine = [f for f in events.replay(owner, after) if f["type"] == jobs.EVENT_KIND]
    assert mine and mine[-1]["job"]["status"] == "done"
    assert not [f for f in events.replay(colleague, after) if f["type"] == jobs.EVENT_KIND]


def test_a_failed_job_says_why_and_keeps_nothing(tree, settings, tmp_path):
    owner = factories.manager(tree.province)

    def half_then_fail(job, progress):
        factories.unit("school", "1301029999", "半途学校", tree.county)
        progress(1, 2)
        raise jobs.JobFailed("第 2 行：学校代码重复")

    jobs.register("test.fails", run=half_then_fail)
    job = jobs.run(jobs.start("test.fails", "f", owner).pk)
    assert job.status == Job.Status.FAILED
    assert job.message == "第 2 行：学校代码重复"
    assert not Unit.objects.filter(code="1301029999").exists()
    assert not job.result

    def crash(job, progress):
        factories.unit("school", "1301029998", "崩溃学校", tree.county)
        raise RuntimeError("boom")

    jobs.register("test.crash", run=crash)
    job = jobs.run(jobs.start("test.crash", "c", owner).pk)
    assert job.status == Job.Status.FAILED
    assert "boom" not in job.message and "未" in job.message  # a reason in Chinese, no trace
    assert not Unit.objects.filter(code="1301029998").exists()
    # Its failure reached the owner.
    last = Event.objects.filter(kind=jobs.EVENT_KIND).order_by("-id").first()
    assert last.payload["job"]["status"] == "failed" and last.payload["job"]["message"]


def test_the_result_file_is_its_owners_alone(tree, client_for):
    owner = factories.manager(tree.county)
    job = jobs.start("test.count", "r", owner, params={"n": 4})
    result_url = reverse("job_result", args=[job.pk])
    page_url = reverse("job_detail", args=[job.pk])
    client = client_for(owner)
    assert client.get(result_url).status_code == 404  # not done yet
    jobs.run(job.pk)
    response = client.get(result_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"xxxx"
    assert "count.txt" in response["Content-Disposition"]
    assert response["Cache-Control"] == "private, no-store"
    page = client.get(page_url).content.decode()
    assert result_url in page and "counted" in page
    assert f'data-job="{job.pk}"' in client.get(reverse("job_list")).content.decode()
    partial = client.get(page_url, {"partial": "1"}).content.decode()  # what jobs.js re-reads
    assert f'data-job="{job.pk}"' in partial and 'data-status="done"' in partial
    assert "<html" not in partial and result_url in partial
    for other in (factories.manager(tree.county), factories.manager(tree.province)):
        c = client_for(other)
        assert c.get(result_url).status_code == 404
        assert c.get(page_url).status_code == 404
        assert f'data-job="{job.pk}"' not in c.get(reverse("job_list")).content.decode()
    client.logout()
    assert client.get(result_url).status_code == 302


# --- the kinds of accounts and tickets ----------------------------------------------------


def test_the_school_import_as_a_job_all_or_nothing(tree):
    owner = factories.manager(tree.province)
    bad = [
        (2, "1301020101", "长安区新学校", tree.county.code),
        (3, "13010201", "短代码学校", tree.county.code),
    ]
    job = jobs.run(account_jobs.start_import_schools(owner=owner, rows=bad, file_name="a.xlsx").pk)
    assert job.status == Job.Status.FAILED
    assert "3" in job.message and "10" in job.message  # row 3, the code must be 10 digits
    assert not Unit.objects.filter(code="1301020101").exists()
    good = [(2, "1301020101", "长安区新学校", tree.county.code)]
    job = jobs.run(account_jobs.start_import_schools(owner=owner, rows=good, file_name="b.xlsx").pk)
    assert job.status == Job.Status.DONE, job.message
    assert Unit.objects.filter(code="1301020101", parent=tree.county).exists()
    # A county manager may not import schools: refused in the worker, nothing written.
    county = factories.manager(tree.county)
    rows = [(2, "1301020102", "又一所学校", tree.county.code)]
    job = jobs.run(account_jobs.start_import_schools(owner=county, rows=rows, file_name="c").pk)
    assert job.status == Job.Status.FAILED and job.message
    assert not Unit.objects.filter(code="1301020102").exists()


def test_the_import_command_starts_a_job(tree, tmp_path, queued):
    from django.core.management import call_command

    owner = factories.manager(tree.province)
    path = tmp_path / "schools.csv"
    path.write_text("学校代码,学校名称,区县代码\n1301020103,长安区第三小学,130102\n")
    call_command("import_schools", str(path), owner=owner.username)
    job = Job.objects.get(kind=account_jobs.IMPORT_SCHOOLS)
    assert queued == [job.pk]
    assert jobs.run(job.pk).status == Job.Status.DONE
    assert Unit.objects.filter(code="1301020103").exists()


@override_settings(JOB_INLINE_MAX=3)
def test_a_large_bulk_issuance_runs_as_a_job_with_the_sheet_on_the_batch_page(
    tree, client_for, queued
):
    for n in range(2, 5):
        factories.unit("school", f"130102{n:04d}", f"长安区第{n}小学", tree.county)
    owner = factories.manager(tree.province)
    client = client_for(owner)
    form = {
        "mode": "bulk",
        "bulk-unit_code": tree.province.code,
        "bulk-scope": "schools",
        "bulk-roles": "manager",
    }
    response = client.post(reverse("account_issue"), form)
    job = Job.objects.get(kind=account_jobs.ISSUE_BULK)
    assert response.status_code == 302 and response["Location"] == reverse(
        "job_detail", args=[job.pk]
    )
    again = client.post(reverse("account_issue"), form)  # a second click: the same job
    assert again["Location"] == response["Location"] and Job.objects.count() == 1
    assert IssueBatch.objects.count() == 0  # nothing before the worker
    job = jobs.run(job.pk)
    assert job.status == Job.Status.DONE, job.message
    batch = IssueBatch.objects.get()
    assert job.result_url == reverse("issue_batch", args=[batch.pk])
    assert Account.objects.filter(unit__level="school", role="manager").count() == 5
    assert client.get(job.result_url).status_code == 200


def test_a_bulk_issuance_job_that_fails_issues_nothing(tree, monkeypatch):
    from accounts import services

    owner = factories.manager(tree.province)
    before = Account.objects.count()

    def broken_audit(**kwargs):
        raise RuntimeError("disk full")

    job = account_jobs.start_issue_bulk(
        owner=owner, root=tree.province, scope="schools", roles="manager", ip=None
    )
    monkeypatch.setattr(services, "audit_event", broken_audit)
    job = jobs.run(job.pk)
    assert job.status == Job.Status.FAILED and job.message
    assert Account.objects.count() == before and not IssueBatch.objects.exists()


@override_settings(JOB_INLINE_MAX=2)
def test_a_large_register_export_is_a_job_with_the_workbook_as_result(tree, client_for, steps):
    owner = factories.manager(tree.province)
    for n in range(4):
        factories.staff(tree.county, full_name=f"登记{n}")
    client = client_for(owner)
    response = client.get(reverse("account_register_export"), {"unit": tree.province.code})
    job = Job.objects.get(kind=account_jobs.REGISTER_EXPORT)
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    job = jobs.run(job.pk)
    assert job.status == Job.Status.DONE, job.message
    assert job.total >= 5 and job.done == job.total
    content = b"".join(client.get(reverse("job_result", args=[job.pk])).streaming_content)
    import io

    sheet = load_workbook(io.BytesIO(content)).active
    names = {row[3] for row in sheet.iter_rows(min_row=4, values_only=True)}
    assert {f"登记{n}" for n in range(4)} <= names
    assert AuditEvent.objects.filter(action=AuditAction.REGISTER_EXPORTED).count() == 1


@override_settings(JOB_INLINE_MAX=1)
def test_a_large_ticket_export_is_a_job(tree, client_for):
    from tests.tickets.helpers import raise_ticket

    reporter = factories.staff(tree.school)
    for _ in range(3):
        raise_ticket(reporter)
    owner = factories.manager(tree.province)
    client = client_for(owner)
    response = client.get(reverse("ticket_export"))
    job = Job.objects.get(kind="tickets.export")
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    job = jobs.run(job.pk)
    assert job.status == Job.Status.DONE, job.message
    assert job.done == job.total == 3
    response = client.get(reverse("job_result", args=[job.pk]))
    assert response.status_code == 200 and "tickets-" in response["Content-Disposition"]


def test_the_school_import_page_hands_the_rows_to_a_job(tree, client_for, queued):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("school_import")
    csv = "学校代码,学校名称,区县代码\n1301020104,长安区第四小学,130102\n".encode()
    client = client_for(factories.manager(tree.province))
    assert client.get(url).status_code == 200
    response = client.post(url, {"file": SimpleUploadedFile("s.csv", csv)})
    job = Job.objects.get(kind=account_jobs.IMPORT_SCHOOLS)
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    assert queued == [job.pk]
    assert jobs.run(job.pk).status == Job.Status.DONE
    assert Unit.objects.filter(code="1301020104").exists()
    # A file that is no workbook is refused on the page, with its reason.
    response = client.post(url, {"file": SimpleUploadedFile("s.pdf", b"%PDF")})
    assert response.status_code == 400 and ".xlsx" in response.content.decode()
    # Only the Ministry's and provinces' managers import schools.
    for other in (factories.manager(tree.county), factories.staff(tree.province)):
        assert client_for(other).get(url).status_code == 403


def _in_another_thread(fn):
    out = []

    def run():
        try:
            out.append(fn())
        finally:
            connection.close()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0] if out else None


@pytest.mark.postgres  # a second writer beside the job's open transaction
def test_a_job_taken_for_lost_while_it_works_keeps_nothing(tree, settings):
    owner = factories.manager(tree.province)
    restarted = []

    def slow(job, progress):
        factories.unit("school", "1301029997", "迟到学校", tree.county)
        settings.JOB_STALE_SECONDS = 0  # a second start now takes this job for lost
        restarted.append(_in_another_thread(lambda: jobs.start("test.slow", "s", owner)))
        return jobs.Output(message="done late")

    jobs.register("test.slow", run=slow)
    first = jobs.run(jobs.start("test.slow", "s", owner).pk)
    assert first.status == Job.Status.FAILED and "重新发起" in first.message
    assert not Unit.objects.filter(code="1301029997").exists()
    assert restarted[0].created and restarted[0].status == Job.Status.QUEUED


@pytest.mark.postgres  # a second writer beside the job's open transaction
def test_a_running_job_without_steps_still_shows_it_is_alive(tree, monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT", 0.05)
    owner = factories.manager(tree.province)
    seen = []

    def quiet(job, progress):
        before = _in_another_thread(lambda: Job.objects.get(pk=job.pk).touched_at)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = _in_another_thread(lambda: Job.objects.get(pk=job.pk).touched_at)
            if now > before:
                seen.append(True)
                break
            time.sleep(0.05)
        return jobs.Output()

    jobs.register("test.quiet", run=quiet)
    assert jobs.run(jobs.start("test.quiet", "q", owner).pk).status == Job.Status.DONE
    assert seen == [True]


def test_a_failed_jobs_page_says_why(tree, client_for):
    owner = factories.manager(tree.province)

    def refuse(job, progress):
        raise jobs.JobFailed("第 7 行：区县代码不存在")

    jobs.register("test.refuse", run=refuse)
    job = jobs.run(jobs.start("test.refuse", "r", owner, title="导入").pk)
    page = client_for(owner).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'data-status="failed"' in page and "失败" in page
    assert "第 7 行：区县代码不存在" in page
    assert client_for(owner).get(reverse("job_result", args=[job.pk])).status_code == 404


def test_steps_are_stored_beside_the_job_only_where_two_writers_may_run(tree):
    """On SQLite a step written beside the job's open transaction would wait out the
    busy timeout: there the bar moves when the job ends (core.jobs.Progress)."""
    job = jobs.start("test.count", "writers", factories.manager(tree.county))
    progress = jobs.Progress(job)
    try:
        assert (progress._thread is not None) == (connection.vendor != "sqlite")
    finally:
        progress.close()
