"""Intake → records → school resolves → feed shows the change (service and HTTP)."""

import hashlib
import hmac
import json
import time

import pytest

from roll import services
from roll.models import ProblemRecord
from tests import factories
from tickets.models import Category, Ticket


def _signed(client, key_id, secret, path, body=b"", method="post", skew=0):
    stamp = str(int(time.time()) + skew)
    message = body if method == "post" else path.encode()
    sig = (
        "sha256="
        + hmac.new(secret.encode(), stamp.encode() + b"." + message, hashlib.sha256).hexdigest()
    )
    headers = {
        "HTTP_X_ROLL_KEY": key_id,
        "HTTP_X_ROLL_TIMESTAMP": stamp,
        "HTTP_X_ROLL_SIGNATURE": sig,
    }
    if method == "post":
        return client.post(path, body, content_type="application/json", **headers)
    return client.get(path, **headers)


@pytest.fixture
def key(tree):
    mgr = factories.manager(tree.province)
    key, secret = services.key_issue(actor=mgr, unit=tree.province)
    return key, secret


def test_intake_feed_and_resolve(tree, key, client, django_capture_on_commit_callbacks):
    key, secret = key
    factories.staff(tree.county, is_support_engineer=True)
    school_staff = factories.staff(tree.school)
    alerts = [
        {
            "alert_id": "HB-1",
            "kind": "id_invalid",
            "school_code": "1301020001",
            "name": "张三",
            "id_number": "130102201203011234",
            "graduating": True,
            "detected_at": "2026-11-20T08:00:00+08:00",
        },
        {
            "alert_id": "HB-2",
            "kind": "nope",
            "school_code": "9999999999",
            "name": "",
            "detected_at": "yesterday",
        },
    ]
    body = json.dumps({"batch_id": "b1", "alerts": alerts}).encode()
    with django_capture_on_commit_callbacks(execute=True):
        r = _signed(client, key.key_id, secret, "/api/roll/v1/alerts", body)
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["accepted"] == 1 and data["duplicates"] == 0
    assert data["rejected"][0]["index"] == 1 and len(data["rejected"][0]["errors"]) >= 4
    services.sync_pending()
    ticket = Ticket.objects.get(category=Category.PROBLEM_RECORDS)
    assert ticket.reporter_unit_id == tree.school.pk and ticket.priority == "high"
    # A retry is signed afresh (the same signature twice is a replay).
    again = _signed(client, key.key_id, secret, "/api/roll/v1/alerts", body, skew=1)
    assert again.json()["duplicates"] == 1 and ProblemRecord.objects.count() == 1

    record = ProblemRecord.objects.get()
    assert record.id_check_ok is False
    with django_capture_on_commit_callbacks(execute=True):
        services.records_update(
            actor=school_staff, record_ids=[record.pk], action="resolve", note="已更正"
        )
    ticket.refresh_from_db()
    assert ticket.status == "resolved"
    feed = _signed(client, key.key_id, secret, "/api/roll/v1/alerts?limit=10", method="get").json()
    assert [i["status"] for i in feed["items"]] == ["resolved"]
    more = _signed(
        client, key.key_id, secret, f"/api/roll/v1/alerts?since={feed['next_cursor']}", method="get"
    ).json()
    assert more["items"] == []
