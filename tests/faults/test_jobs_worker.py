"""Long jobs (core/jobs.py) on a real `celery -A config worker`: the register export
queued twice is written once with its progress stored and announced to its owner; a
school import with a bad row fails in the worker with the row's reason and writes
nothing."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from accounts import jobs as account_jobs
from accounts.models import Unit
from core import jobs
from core.models import Event, EventTarget, Job
from tests import factories
from tests.faults.conftest import until

pytestmark = pytest.mark.faults


def _finished(pk: int) -> Job | None:
    return Job.objects.filter(pk=pk, status__in=("done", "failed")).first()


def test_a_real_worker_runs_a_job_once_and_fails_a_bad_one_cleanly(
    tree, workers, beat, monkeypatch
):
    # The test process hands jobs to the test's own broker, as the web process would.
    monkeypatch.setattr(jobs, "enqueue", lambda pk: beat("core.tasks.run_job", pk))
    owner = factories.manager(tree.province)
    for n in range(30):
        factories.staff(tree.county, full_name=f"备案{n}")
    first = account_jobs.start_register_export(
        owner=owner, unit=tree.province, subtree=True, since=None, ip=None
    )
    again = account_jobs.start_register_export(
        owner=owner, unit=tree.province, subtree=True, since=None, ip=None
    )
    assert again.pk == first.pk and not again.created
    beat("core.tasks.run_job", first.pk)  # a duplicate delivery as well
    worker = workers("w1")

    job = until(lambda: _finished(first.pk), "the worker finishes the export")
    assert job.status == "done", job.message
    assert job.total >= 31 and job.done == job.total
    sheet = load_workbook(io.BytesIO(job.result.read())).active
    names = {row[3] for row in sheet.iter_rows(min_row=4, values_only=True)}
    assert {f"备案{n}" for n in range(30)} <= names
    until(
        lambda: (
            sum(
                1
                for line in worker.log.read_text().splitlines()
                if "core.tasks.run_job[" in line and "succeeded" in line
            )
            == 2
        ),
        "the worker takes both deliveries",
    )
    # Ran once: one running announcement, one done; all to the owner alone.
    states = [
        e.payload["job"]["status"]
        for e in Event.objects.filter(kind=jobs.EVENT_KIND, payload__job__id=first.pk)
    ]
    assert states.count("running") >= 1 and states.count("done") == 1
    assert states[0] == "running" and states[-1] == "done"
    groups = set(
        EventTarget.objects.filter(event__kind=jobs.EVENT_KIND).values_list("group", flat=True)
    )
    assert groups == {f"acct.{owner.pk}"}

    rows = [
        (2, "1301020201", "长安区新学校", tree.county.code),
        (3, "1301020202", "", tree.county.code),
    ]
    bad = account_jobs.start_import_schools(owner=owner, rows=rows, file_name="schools.xlsx")
    job = until(lambda: _finished(bad.pk), "the worker fails the import")
    assert job.status == "failed"
    assert "第 3 行" in job.message and "未导入" in job.message
    assert not Unit.objects.filter(code__in=["1301020201", "1301020202"]).exists()
