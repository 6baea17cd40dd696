"""Input a careless or hostile client can send that is legal JSON or HTTP but no alert:
each is refused with a reason, nothing half-written, the process keeps serving."""

import json

import pytest

from roll.models import IntakeBatch, ProblemRecord
from tests.roll.helpers import API, CLOSE, alert


def _json(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def _raw_json(payload) -> bytes:
    """JSON as the roll system might write it, lone-surrogate escapes included."""
    return json.dumps(payload, ensure_ascii=True).encode()


@pytest.mark.parametrize("field", ["name", "detail", "school_code"])
def test_a_lone_surrogate_refuses_its_alert_only(tree, hebei, field):
    body = _raw_json({"alerts": [alert("GOOD-1"), alert("BAD-1", **{field: "x\ud800y"})]})
    data = _json(hebei.post_raw(body), 200)
    assert data["accepted"] == 1
    [bad] = data["rejected"]
    assert bad["alert_id"] == "BAD-1" and any("surrogate" in e for e in bad["errors"])
    assert list(ProblemRecord.objects.values_list("alert_id", flat=True)) == ["GOOD-1"]


def test_an_alert_id_with_a_lone_surrogate_is_rejected_without_echoing_it(tree, hebei):
    body = _raw_json({"alerts": [alert("\udc00"), alert("GOOD-1")]})
    data = _json(hebei.post_raw(body), 200)
    assert data["accepted"] == 1
    assert data["rejected"] == [
        {"index": 0, "alert_id": None, "errors": ["alert_id must be 1–64 printable characters"]}
    ]


@pytest.mark.parametrize("batch_id", ["b\udc00", "B" * 101, 123, ["x"], "two\nlines"])
def test_a_bad_batch_id_refuses_the_request_and_stores_nothing(tree, hebei, batch_id):
    body = _raw_json({"batch_id": batch_id, "alerts": [alert("GOOD-1")]})
    assert _json(hebei.post_raw(body), 400)["error"] == "bad_batch_id"
    assert not ProblemRecord.objects.exists() and not IntakeBatch.objects.exists()


def test_a_batch_id_is_echoed_as_sent(tree, hebei):
    data = _json(hebei.send([alert("GOOD-1")], batch_id="河北-2026-11-20 第1批"), 200)
    assert data["batch_id"] == "河北-2026-11-20 第1批"


def test_deeply_nested_json_is_bad_json(tree, hebei):
    body = b'{"alerts": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}"
    assert _json(hebei.post_raw(body), 400)["error"] == "bad_json"


def test_a_timestamp_of_thousands_of_digits_is_a_bad_timestamp(tree, hebei):
    body = _raw_json({"alerts": [alert("GOOD-1")]})
    response = hebei.post_raw(body, stamp="9" * 5000)
    assert _json(response, 401)["error"] == "bad_timestamp"
    assert not ProblemRecord.objects.exists()


@pytest.mark.parametrize("grade", [10**40, "1" * 21, "六\x00"])
def test_a_grade_past_its_limit_is_refused_whatever_its_type(tree, hebei, grade):
    data = _json(hebei.send([alert("BAD-1", grade=grade)]), 200)
    assert data["accepted"] == 0 and "grade" in data["rejected"][0]["errors"][0]


@pytest.mark.parametrize("birth_date", ["20120301", "2012-W10-3", "2012-3-1", "2012-03-01T00:00"])
def test_birth_date_must_be_written_yyyy_mm_dd(tree, hebei, birth_date):
    data = _json(hebei.send([alert("BAD-1", birth_date=birth_date)]), 200)
    assert data["rejected"][0]["errors"] == ["birth_date must be a YYYY-MM-DD string"]


@pytest.mark.parametrize("alert_id", ["HB 0001", "河北-0001", "x" * 64])
def test_any_printable_alert_id_up_to_64_characters_is_taken(tree, hebei, alert_id):
    assert _json(hebei.send([alert(alert_id)]), 200)["accepted"] == 1
    assert ProblemRecord.objects.get().alert_id == alert_id


@pytest.mark.parametrize("alert_id", ["", "x" * 65, "tab\there", "new\nline"])
def test_an_alert_id_that_is_not_1_to_64_printable_characters_is_rejected(tree, hebei, alert_id):
    data = _json(hebei.send([alert(alert_id)]), 200)
    assert data["rejected"][0]["errors"] == ["alert_id must be 1–64 printable characters"]


def test_close_with_unstorable_ids_lists_them_as_unknown(tree, hebei):
    _json(hebei.send([alert("HB-1")]), 200)
    body = _raw_json({"alert_ids": ["\ud800", "a\x00b", "HB-1"], "outcome": "verified"})
    data = _json(hebei.post_raw(body, CLOSE), 200)
    assert data["applied"] == 1 and data["unknown"] == ["\ud800", "a\x00b"]


@pytest.mark.parametrize("detail", ["bad\udc00", "nul\x00"])
def test_reopen_with_an_unstorable_detail_is_refused(tree, hebei, detail):
    _json(hebei.send([alert("HB-1")]), 200)
    _json(hebei.close(["HB-1"]), 200)
    body = _raw_json({"alert_ids": ["HB-1"], "outcome": "reopened", "detail": detail})
    assert _json(hebei.post_raw(body, CLOSE), 400)["error"] == "bad_detail"
    assert ProblemRecord.objects.get().status == "closed"


def test_reopening_a_record_that_is_still_open_changes_nothing_in_the_feed(tree, hebei):
    _json(hebei.send([alert("HB-1")]), 200)
    before = hebei.feed()
    data = _json(hebei.close(["HB-1"], outcome="reopened", detail="仍未更正"), 200)
    assert (data["applied"], data["unchanged"]) == (0, 1)
    record = ProblemRecord.objects.get()
    assert record.reopen_count == 0 and record.reopened_detail == "仍未更正"
    assert hebei.feed(since=before["next_cursor"])["items"] == []


def test_the_feed_shows_no_old_correction_on_a_reopened_record(tree, hebei):
    from roll import services
    from tests import factories

    _json(hebei.send([alert("HB-1")]), 200)
    record = ProblemRecord.objects.get()
    services.records_update(
        actor=factories.staff(tree.school), record_ids=[record.pk], action="resolve", note="已改"
    )
    _json(hebei.close(["HB-1"], outcome="reopened", detail="身份证号仍不一致"), 200)
    [item] = [i for i in hebei.feed()["items"] if i["alert_id"] == "HB-1"]
    assert item["status"] == "open"
    assert item["resolved_at"] is None and item["resolution_note"] == ""


def test_a_get_signed_with_an_empty_query_mark_is_accepted(tree, hebei):
    response = hebei.get(API + "?")
    assert _json(response, 200)["items"] == []


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_get_a_json_405(tree, hebei, method):
    response = hebei.client.generic(method, API, b"{}", content_type="application/json")
    assert _json(response, 405)["error"] == "method_not_allowed"
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}


@pytest.mark.parametrize("path", ["/api/roll/v1/alerts/", "/api/roll/v2/alerts", "/api/"])
def test_unknown_api_addresses_get_a_json_404(tree, hebei, path):
    response = hebei.client.post(path, b"{}", content_type="application/json")
    assert _json(response, 404)["error"] == "not_found"
