"""The roll-system contract (/work/shared/ROLL_API.md), spoken over HTTP only: every
request is signed here with hmac/hashlib (tests/roll/helpers.py), never by roll.auth.
The database is read to check what was stored; records are worked by a school account
through roll.services.records_update, as a school would on its page."""

import base64
import json
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from roll import services
from roll.models import IntakeBatch, ProblemRecord, RollKey
from tests import factories
from tests.roll.helpers import API, CLOSE, DETECTED, Roll, alert, ric, sign, wrong_check

CN = ZoneInfo("Asia/Shanghai")
HB_SCHOOL, HB_SIBLING, BJ_SCHOOL = "1301020001", "1301040001", "1101010001"


def _stored():
    return sorted(
        ProblemRecord.objects.values_list(
            "scope", "alert_id", "status", "change_seq", "changed_at", "resolution_note"
        )
    )


def _nothing_stored():
    assert ProblemRecord.objects.count() == 0
    assert IntakeBatch.objects.count() == 0


def _ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def _refused(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    assert data.get("error"), data
    return data


def _resolve(school, alert_ids, note="已更正身份证号"):
    actor = factories.staff(school)
    pks = list(ProblemRecord.objects.filter(alert_id__in=alert_ids).values_list("pk", flat=True))
    assert len(pks) == len(alert_ids)
    return services.records_update(actor=actor, record_ids=pks, action="resolve", note=note)


# --- POST /alerts: good and bad alerts ---------------------------------------------------------


def test_good_batch_is_stored(tree, hebei):
    alerts = [
        alert("HB-000001", graduating=True, related_school_codes=["1101050001"]),
        alert(
            "HB-000002",
            school=HB_SIBLING,
            kind="police_auth_failed",
            name="李四",
            gender="F",
            birth_date="2011-12-31",
            id_number=None,
            roll_no="G" + ric("13010420111231002"),
            grade=5,
            detected_at="2026-11-20T00:00:00Z",
        ),
        {
            "alert_id": "HB-000003",
            "kind": "cross_province_duplicate",
            "school_code": HB_SCHOOL,
            "name": "王五",
            "detected_at": DETECTED,
        },
    ]
    data = _ok(hebei.send(alerts))
    assert data == {
        "batch_id": "hb-2026-11-20-0001",
        "accepted": 3,
        "duplicates": 0,
        "rejected": [],
    }
    records = {r.alert_id: r for r in ProblemRecord.objects.all()}
    assert set(records) == {"HB-000001", "HB-000002", "HB-000003"}
    first, second, third = records["HB-000001"], records["HB-000002"], records["HB-000003"]
    assert first.school_id == tree.school.pk and first.school_path == tree.school.path
    assert first.status == "open" and first.scope == "130000"
    assert first.kind == "id_duplicate" and first.name == "张三" and first.gender == "M"
    assert str(first.birth_date) == "2012-03-01" and first.graduating is True
    assert first.id_number == ric("13010220120301123") and first.id_check_ok is True
    assert first.detected_at == datetime(2026, 11, 20, 8, tzinfo=CN)
    assert first.related_school_codes == ["1101050001"] and first.grade == "6"
    assert second.school_id == tree.sibling_school.pk and second.kind == "police_auth_failed"
    assert second.roll_no == "G" + ric("13010420111231002") and second.id_check_ok is None
    assert second.grade == "5" and second.gender == "F" and second.graduating is False
    assert second.detected_at == datetime(2026, 11, 20, 8, tzinfo=CN)
    assert third.gender == "" and third.birth_date is None and third.id_number == ""
    assert IntakeBatch.objects.get().accepted == 3


def test_unknown_fields_are_ignored(tree, hebei):
    """The contract only ever grows by adding fields: unknown ones must not refuse."""
    data = _ok(hebei.post({"alerts": [alert("HB-1", future_field=1)], "source": "v2"}))
    assert data["accepted"] == 1 and data["rejected"] == [] and data["batch_id"] == ""


def test_each_bad_alert_is_listed_with_every_reason_and_the_good_are_stored(tree, hebei):
    alerts = [
        alert("HB-GOOD-1"),
        alert(
            "HB-BAD-1",
            kind="not_a_kind",
            gender="X",
            birth_date="2999-01-01",
            id_number="13010220120301",
        ),
        alert("HB-GOOD-2", kind="id_invalid", id_number=wrong_check(ric("13010220120301123"))),
        {"kind": "id_invalid", "school_code": "9999999999", "detected_at": "2026-11-20T08:00:00"},
        alert(
            "HB-BAD-3",
            birth_date="2013-02-30",
            roll_no="G" + wrong_check(ric("13010220120301123")),
            graduating="yes",
        ),
        "not an object",
        alert("HB-GOOD-3", school=HB_SIBLING, graduating=True),
    ]
    data = _ok(hebei.send(alerts))
    assert data["accepted"] == 3 and data["duplicates"] == 0
    rejected = {r["index"]: r for r in data["rejected"]}
    assert sorted(rejected) == [1, 3, 4, 5]

    bad = rejected[1]
    assert bad["alert_id"] == "HB-BAD-1"
    assert len(bad["errors"]) >= 4
    for field in ("kind", "gender", "birth_date", "id_number"):
        assert any(field in e for e in bad["errors"]), (field, bad["errors"])

    missing = rejected[3]
    assert missing["alert_id"] is None
    for field in ("alert_id", "name", "detected_at", "school_code"):
        assert any(field in e for e in missing["errors"]), (field, missing["errors"])

    third = rejected[4]
    assert third["alert_id"] == "HB-BAD-3" and len(third["errors"]) >= 3
    for field in ("birth_date", "roll_no", "graduating"):
        assert any(field in e for e in third["errors"]), (field, third["errors"])

    assert rejected[5]["alert_id"] is None and rejected[5]["errors"]
    stored = dict(ProblemRecord.objects.values_list("alert_id", "id_check_ok"))
    assert stored == {"HB-GOOD-1": True, "HB-GOOD-2": False, "HB-GOOD-3": True}
    assert IntakeBatch.objects.get().rejected == 4


@pytest.mark.parametrize(
    "id_number, check_ok",
    [
        (ric("13010220120301123"), True),
        (wrong_check(ric("13010220120301123")), False),
        (ric("13010220120300000"), True),  # check character X
        (wrong_check(ric("11010120100101004")), False),
        (None, None),
        ("", None),
    ],
)
def test_id_number_check_character_is_recorded_not_required(tree, hebei, id_number, check_ok):
    data = _ok(hebei.send([alert("HB-ID", kind="id_invalid", id_number=id_number)]))
    assert data["accepted"] == 1, data
    record = ProblemRecord.objects.get()
    assert record.id_check_ok is check_ok
    assert record.id_number == (id_number or "")


@pytest.mark.parametrize(
    "id_number",
    [
        "13010220120301123",  # 17 characters
        "1301022012030112345",  # 19
        ric("13010220120300000").replace("X", "x"),  # lower-case x
        "13010220120X011235",  # X not last
        "１３０１０２２０１２０３０１１２３５",  # full-width digits
        ric("13010220120301123") + "\n",
        " " + ric("13010220120301123"),
        130102201203011235,
    ],
)
def test_malformed_id_number_is_refused(tree, hebei, id_number):
    data = _ok(hebei.send([alert("HB-OK"), alert("HB-ID", id_number=id_number)]))
    assert data["accepted"] == 1
    assert [(r["index"], r["alert_id"]) for r in data["rejected"]] == [(1, "HB-ID")]
    assert any("id_number" in e for e in data["rejected"][0]["errors"])


@pytest.mark.parametrize(
    "roll_no, ok",
    [
        ("G" + ric("13010220120301123"), True),
        ("G" + ric("13010220120300000"), True),  # check character X
        # Only the check character is the contract's rule, not python-stdnum's list of
        # places and their years: 密云区 (110118) got its code in 2015, 133100 is 雄安新区.
        ("G" + ric("11011820120301123"), True),
        ("G" + ric("13310020120301123"), True),
        ("G" + wrong_check(ric("13010220120301123")), False),
        ("G" + ric("13010220120301123")[:-1] + "x", False),
        ("G" + "A" + ric("13010220120301123")[1:], False),
        ("J" + "0123456789ABCDEFGH", True),
        ("J" + "130102201203011234", True),
        ("J" + "0123456789abcdefgh", False),
        ("J" + "0123456789ABCDEFG", False),  # 17
        ("J" + "0123456789ABCDEFGHI", False),  # 19
        ("J" + "0123456789ABCDEF-H", False),
        ("X" + ric("13010220120301123"), False),
        (ric("13010220120301123"), False),  # no prefix
        (12345, False),
    ],
)
def test_roll_no_rules(tree, hebei, roll_no, ok):
    data = _ok(hebei.send([alert("HB-RN", roll_no=roll_no)]))
    if ok:
        assert data["accepted"] == 1 and data["rejected"] == [], data
        assert ProblemRecord.objects.get().roll_no == roll_no
    else:
        assert data["accepted"] == 0
        assert [r["index"] for r in data["rejected"]] == [0]
        assert any("roll_no" in e for e in data["rejected"][0]["errors"])
        assert ProblemRecord.objects.count() == 0


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"alert_id": ""}, "alert_id"),
        ({"alert_id": "x" * 65}, "alert_id"),
        ({"alert_id": "HB-1\n"}, "alert_id"),
        ({"alert_id": 17}, "alert_id"),
        ({"kind": None}, "kind"),
        ({"kind": ["id_invalid"]}, "kind"),
        ({"kind": {"id": 1}}, "kind"),
        ({"kind": "ID_INVALID"}, "kind"),
        ({"school_code": None}, "school_code"),
        ({"school_code": "130102"}, "school_code"),  # a county, not a school
        ({"school_code": ["1301020001"]}, "school_code"),
        ({"school_code": {"code": "1301020001"}}, "school_code"),
        ({"school_code": "13010200011"}, "school_code"),
        ({"school_code": "13010\x0020001"}, "school_code"),
        ({"name": None}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "张\x00三"}, "name"),
        ({"detail": "与学校\x00重复"}, "detail"),
        ({"grade": "六\x00"}, "grade"),
        ({"related_school_codes": ["11010\x0050001"]}, "related_school_codes"),
        ({"related_school_codes": "1101050001"}, "related_school_codes"),
        ({"detected_at": None}, "detected_at"),
        ({"detected_at": "2026-11-20T08:00:00"}, "detected_at"),  # no offset
        ({"detected_at": "yesterday"}, "detected_at"),
        ({"detected_at": 1763596800}, "detected_at"),
        ({"detected_at": "0001-01-01T00:00:00+08:00"}, "detected_at"),
        ({"detected_at": "9999-12-31T23:59:59-12:00"}, "detected_at"),
        ({"gender": "male"}, "gender"),
        ({"gender": ["M"]}, "gender"),
        ({"birth_date": "2012-13-01"}, "birth_date"),
        ({"birth_date": 20120301}, "birth_date"),
        ({"graduating": "true"}, "graduating"),
        ({"graduating": 1}, "graduating"),
    ],
)
def test_one_odd_alert_is_refused_alone(tree, hebei, fields, field):
    """Whatever one alert carries, it is judged alone: refused with a reason naming
    the field, never failing the batch (no 500) for the good alert beside it."""
    odd = {**alert("HB-ODD"), **fields}
    data = _ok(hebei.send([alert("HB-OK"), odd]))
    assert data["accepted"] == 1, data
    assert [r["index"] for r in data["rejected"]] == [1]
    errors = data["rejected"][0]["errors"]
    assert any(field in e for e in errors), errors
    assert list(ProblemRecord.objects.values_list("alert_id", flat=True)) == ["HB-OK"]


def test_birth_date_today_is_accepted_and_tomorrow_refused(tree, hebei):
    today = datetime.now(CN).date()
    data = _ok(
        hebei.send(
            [
                alert("HB-TODAY", birth_date=today.isoformat()),
                alert("HB-TOMORROW", birth_date=(today + timedelta(days=1)).isoformat()),
            ]
        )
    )
    assert data["accepted"] == 1
    assert [r["alert_id"] for r in data["rejected"]] == ["HB-TOMORROW"]


# --- duplicates -------------------------------------------------------------------------------


def test_retried_batch_is_all_duplicates_and_changes_nothing(tree, hebei):
    alerts = [alert("HB-1", graduating=True), alert("HB-2"), alert("HB-3", school=HB_SIBLING)]
    body = json.dumps({"batch_id": "b-1", "alerts": alerts}).encode()
    assert _ok(hebei.post_raw(body))["accepted"] == 3
    _resolve(tree.school, ["HB-2"])
    before = _stored()
    last_seq = max(row[3] for row in before)

    for _ in range(2):  # the roll system retries after a timeout, then once more
        again = _ok(hebei.post_raw(body))
        assert again == {"batch_id": "b-1", "accepted": 0, "duplicates": 3, "rejected": []}
    assert _stored() == before
    assert ProblemRecord.objects.count() == 3
    assert max(ProblemRecord.objects.values_list("change_seq", flat=True)) == last_seq
    assert ProblemRecord.objects.get(alert_id="HB-2").status == "resolved"

    # Changed content under a stored alert id is still a duplicate: nothing changes.
    data = _ok(hebei.send([alert("HB-1", name="改名", school=HB_SIBLING)]))
    assert data["duplicates"] == 1 and data["accepted"] == 0
    assert _stored() == before
    assert ProblemRecord.objects.get(alert_id="HB-1").name == "张三"


def test_same_alert_id_twice_in_one_batch(tree, hebei):
    data = _ok(hebei.send([alert("HB-1"), alert("HB-1", name="李四"), alert("HB-2")]))
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (2, 1, [])
    assert ProblemRecord.objects.get(alert_id="HB-1").name == "张三"


def test_alert_ids_are_unique_per_province_not_across(tree, hebei, beijing):
    assert _ok(hebei.send([alert("X-1")]))["accepted"] == 1
    assert _ok(beijing.send([alert("X-1", school=BJ_SCHOOL)]))["accepted"] == 1
    assert _ok(hebei.send([alert("X-1", school=HB_SIBLING)]))["duplicates"] == 1
    assert sorted(ProblemRecord.objects.values_list("scope", "alert_id")) == [
        ("110000", "X-1"),
        ("130000", "X-1"),
    ]


def test_keys_of_one_province_share_its_alert_ids(tree, hebei, api_client):
    mgr = factories.manager(tree.province)
    other, secret = services.key_issue(actor=mgr, unit=tree.province)
    assert _ok(hebei.send([alert("HB-1")]))["accepted"] == 1
    second = Roll(api_client, other.key_id, secret)
    assert _ok(second.send([alert("HB-1")]))["duplicates"] == 1


# --- the key's subtree -------------------------------------------------------------------------


def test_school_outside_the_keys_subtree_is_refused(tree, hebei):
    data = _ok(hebei.send([alert("HB-1", school=BJ_SCHOOL), alert("HB-2")]))
    assert data["accepted"] == 1
    [refused] = data["rejected"]
    assert refused["index"] == 0 and refused["alert_id"] == "HB-1" and refused["errors"]
    assert any("school_code" in e for e in refused["errors"])
    assert list(ProblemRecord.objects.values_list("alert_id", flat=True)) == ["HB-2"]


def test_beijing_key_cannot_touch_hebei(tree, beijing):
    data = _ok(beijing.send([alert("BJ-1"), alert("BJ-2", school=BJ_SCHOOL)]))
    assert data["accepted"] == 1 and [r["index"] for r in data["rejected"]] == [0]
    assert ProblemRecord.objects.get().school_id == tree.muni_school.pk


def test_ministry_key_may_touch_any_school(tree, ministry):
    data = _ok(
        ministry.send(
            [alert("M-1"), alert("M-2", school=HB_SIBLING), alert("M-3", school=BJ_SCHOOL)]
        )
    )
    assert data == {
        "batch_id": "hb-2026-11-20-0001",
        "accepted": 3,
        "duplicates": 0,
        "rejected": [],
    }
    assert set(ProblemRecord.objects.values_list("scope", flat=True)) == {"000000"}


# --- authentication ---------------------------------------------------------------------------


def _body(alert_id="HB-1"):
    return json.dumps({"batch_id": "b", "alerts": [alert(alert_id)]}).encode()


def _stale(roll):
    return roll.post_raw(_body(), stamp=str(int(time.time()) - 301))


def _future(roll):
    return roll.post_raw(_body(), stamp=str(int(time.time()) + 301))


AUTH_FAILURES = {
    "signature of another body": lambda r: r.post_raw(_body(), message=_body("HB-2")),
    "signature with another secret": lambda r: r.post_raw(
        _body(), signature=sign("rs_" + "0" * 64, str(int(time.time())), _body())
    ),
    "signature without sha256=": lambda r: r.post_raw(
        _body(), signature=sign(r.secret, str(int(time.time())), _body())[7:]
    ),
    "sha1= signature": lambda r: r.post_raw(
        _body(), signature="sha1=" + sign(r.secret, str(int(time.time())), _body())[7:]
    ),
    "non-ASCII signature": lambda r: r.post_raw(_body(), signature="sha256=é" + "0" * 63),
    "unknown key": lambda r: r.post_raw(_body(), key="rk_0000000000000000"),
    "stale timestamp": _stale,
    "future timestamp": _future,
    "timestamp not a number": lambda r: r.post_raw(_body(), stamp="yesterday"),
    "timestamp in milliseconds": lambda r: r.post_raw(_body(), stamp=str(int(time.time() * 1000))),
    "timestamp of Unicode digits": lambda r: r.post_raw(_body(), stamp="²"),
    "missing key": lambda r: r.post_raw(_body(), key=None),
    "missing timestamp": lambda r: r.post_raw(_body(), timestamp=None),
    "missing signature": lambda r: r.post_raw(_body(), signature=None),
    "empty signature": lambda r: r.post_raw(_body(), signature=""),
    "no headers at all": lambda r: r.client.generic(
        "POST", API, _body(), content_type="application/json"
    ),
}


# The error codes docs/api.md promises for each.
AUTH_CODES = {
    "signature of another body": "bad_signature",
    "signature with another secret": "bad_signature",
    "signature without sha256=": "bad_signature",
    "sha1= signature": "bad_signature",
    "non-ASCII signature": "bad_signature",
    "unknown key": "unknown_key",
    "stale timestamp": "stale_timestamp",
    "future timestamp": "stale_timestamp",
    "timestamp not a number": "bad_timestamp",
    "timestamp in milliseconds": "bad_timestamp",
    "timestamp of Unicode digits": "bad_timestamp",
    "missing key": "missing_credentials",
    "missing timestamp": "missing_credentials",
    "missing signature": "missing_credentials",
    "empty signature": "missing_credentials",
    "no headers at all": "missing_credentials",
}


@pytest.mark.parametrize("case", sorted(AUTH_FAILURES))
def test_bad_credentials_get_401_json_and_store_nothing(tree, hebei, case):
    assert _refused(AUTH_FAILURES[case](hebei), 401)["error"] == AUTH_CODES[case]
    _nothing_stored()


@pytest.mark.parametrize("case", ["stale timestamp", "missing signature", "unknown key"])
def test_bad_credentials_on_the_feed_and_close(tree, hebei, case):
    assert _ok(hebei.send([alert("HB-1")]))["accepted"] == 1
    before = _stored()
    stamp = str(int(time.time()) - 301) if case == "stale timestamp" else None
    override = {"signature": None} if case == "missing signature" else {}
    if case == "unknown key":
        override = {"key": "rk_nope"}
    get = hebei.get(API + "?limit=5", stamp=stamp, **override)
    _refused(get, 401)
    body = json.dumps({"alert_ids": ["HB-1"], "outcome": "verified"}).encode()
    _refused(hebei.post_raw(body, CLOSE, stamp=stamp, **override), 401)
    assert _stored() == before


def test_timestamp_inside_the_window_is_accepted(tree, hebei):
    assert _ok(hebei.post_raw(_body("HB-1"), stamp=str(int(time.time()) - 290)))["accepted"] == 1
    assert _ok(hebei.post_raw(_body("HB-2"), stamp=str(int(time.time()) + 290)))["accepted"] == 1


def test_revoked_key_gets_401(tree, hebei, hebei_key):
    key, _secret = hebei_key
    assert _ok(hebei.send([alert("HB-1")]))["accepted"] == 1
    services.key_revoke(actor=factories.manager(tree.province), key=key)
    before = _stored()
    assert _refused(hebei.post_raw(_body("HB-2")), 401)["error"] == "revoked_key"
    assert _refused(hebei.get(API), 401)["error"] == "revoked_key"
    assert _refused(hebei.close(["HB-1"]), 401)["error"] == "revoked_key"
    assert _stored() == before


def test_replayed_request_gets_401_and_stores_nothing_more(tree, hebei):
    body = _body("HB-1")
    headers = hebei.headers(body)
    first = hebei.client.generic("POST", API, body, content_type="application/json", **headers)
    assert _ok(first)["accepted"] == 1
    before = _stored()
    batches = IntakeBatch.objects.count()
    second = hebei.client.generic("POST", API, body, content_type="application/json", **headers)
    assert _refused(second, 401)["error"] == "replayed"
    assert _stored() == before and IntakeBatch.objects.count() == batches

    # A replayed GET and a replayed close are refused the same way.
    path = API + "?limit=1"
    headers = hebei.headers(path.encode())
    assert hebei.client.get(path, **headers).status_code == 200
    assert _refused(hebei.client.get(path, **headers), 401)["error"] == "replayed"
    close = json.dumps({"alert_ids": ["HB-1"], "outcome": "verified"}).encode()
    headers = hebei.headers(close)
    done = hebei.client.generic("POST", CLOSE, close, content_type="application/json", **headers)
    assert _ok(done)["unknown"] == [] and ProblemRecord.objects.get().status == "closed"
    before = _stored()
    again = hebei.client.generic("POST", CLOSE, close, content_type="application/json", **headers)
    assert _refused(again, 401)["error"] == "replayed"
    assert _stored() == before


def test_last_used_is_recorded(tree, hebei, hebei_key):
    key, _ = hebei_key
    assert key.last_used_at is None
    _ok(hebei.send([alert("HB-1")]))
    assert RollKey.objects.get(pk=key.pk).last_used_at is not None


def test_get_signed_like_a_post_is_refused(tree, hebei):
    """GET signs "{ts}.{path with query}", not "{ts}." (its empty body)."""
    assert _ok(hebei.send([alert("HB-1")]))["accepted"] == 1
    path = API + "?limit=10&status=open"
    assert _refused(hebei.get(path, message=b""), 401)["error"] == "bad_signature"
    _refused(hebei.get(path, message=API.encode()), 401)  # the path without its query
    _refused(hebei.get(path, message=b"/api/roll/v1/alerts?status=open&limit=10"), 401)
    assert len(_ok(hebei.get(path))["items"]) == 1


def test_post_signed_like_a_get_is_refused(tree, hebei):
    body = _body()
    _refused(hebei.post_raw(body, message=API.encode()), 401)
    _nothing_stored()


# --- bodies the contract refuses as a whole -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"\xff\xfe{",
        b'{"alerts": [',
        json.dumps([alert("HB-1")]).encode(),
        b'"alerts"',
        b"null",
        b"42",
        json.dumps({"batch_id": "b", "items": [alert("HB-1")]}).encode(),
        json.dumps({"batch_id": "b"}).encode(),
        json.dumps({"alerts": {"0": alert("HB-1")}}).encode(),
        json.dumps({"alerts": "HB-1"}).encode(),
        json.dumps({"alerts": None}).encode(),
    ],
)
def test_body_that_is_not_an_object_with_alerts_gets_400(tree, hebei, body):
    _refused(hebei.post_raw(body), 400)
    _nothing_stored()


def test_more_than_5000_alerts_gets_413(tree, hebei):
    alerts = [alert(f"HB-{n}") for n in range(5001)]
    _refused(hebei.send(alerts), 413)
    _nothing_stored()


def test_5000_alerts_are_accepted(tree, hebei):
    alerts = [alert(f"HB-{n}", graduating=n % 2 == 0) for n in range(5000)]
    data = _ok(hebei.send(alerts))
    assert data["accepted"] == 5000 and data["rejected"] == []
    assert ProblemRecord.objects.count() == 5000
    seqs = sorted(ProblemRecord.objects.values_list("change_seq", flat=True))
    assert len(set(seqs)) == 5000


def _padded(size: int) -> bytes:
    body = json.dumps({"batch_id": "big", "alerts": [alert("HB-1")]}).encode()
    return body + b" " * (size - len(body))


def test_body_of_exactly_8_mib_is_accepted(tree, hebei):
    """Larger than Django's 2.5 MiB form limit, within the contract's 8 MiB."""
    data = _ok(hebei.post_raw(_padded(8 * 2**20)))
    assert data["accepted"] == 1


def test_body_over_8_mib_gets_413(tree, hebei):
    _refused(hebei.post_raw(_padded(8 * 2**20 + 1)), 413)
    _nothing_stored()


def test_alerts_that_fill_several_mib_are_accepted(tree, hebei):
    detail = ("与学校 1101050001 的学生身份证号重复。" * 80)[:1990]
    size = len(json.dumps(alert("HB-0", detail=detail)))
    alerts = [alert(f"HB-{n}", detail=detail) for n in range(5 * 2**20 // size)]
    body = json.dumps({"alerts": alerts}).encode()
    assert 2.5 * 2**20 < len(body) < 8 * 2**20
    assert _ok(hebei.post_raw(body))["accepted"] == len(alerts)


def test_wrong_methods(tree, hebei):
    assert hebei.client.put(API).status_code == 405
    assert hebei.get(CLOSE).status_code == 405
    _nothing_stored()


# --- GET /alerts: the feed ----------------------------------------------------------------------


def _page(roll, since=None, limit=2, **query):
    q = {"limit": limit, **query}
    if since is not None:
        q["since"] = since
    return roll.feed(**q)


def test_feed_items_carry_the_contract_fields(tree, hebei):
    _ok(hebei.send([alert("HB-1"), alert("HB-2", school=HB_SIBLING)]))
    _resolve(tree.school, ["HB-1"], note="已更正身份证号")
    items = hebei.feed()["items"]
    assert [i["alert_id"] for i in items] == ["HB-2", "HB-1"]
    open_item, resolved = items
    assert open_item["status"] == "open" and open_item["school_code"] == HB_SIBLING
    assert open_item["resolved_at"] is None
    assert resolved["status"] == "resolved" and resolved["school_code"] == HB_SCHOOL
    assert resolved["resolution_note"] == "已更正身份证号"
    at = datetime.fromisoformat(resolved["resolved_at"])
    assert at.utcoffset() == timedelta(hours=8)
    assert abs((datetime.now(CN) - at).total_seconds()) < 120
    response = hebei.get(API)
    assert "已更正身份证号" in response.content.decode("utf-8")


def test_feed_walk_sees_every_change_once_while_changes_arrive(tree, hebei):
    """Pages of two, following next_cursor, with intake, school resolutions and the
    roll system's closes landing between pages."""
    _ok(hebei.send([alert(f"A{n}", school=HB_SCHOOL) for n in range(1, 6)], batch_id="1"))
    seen: list[tuple[str, str]] = []
    cursors = []

    def page(since):
        data = _page(hebei, since)
        seen.extend((i["alert_id"], i["status"]) for i in data["items"])
        cursors.append(data["next_cursor"])
        return data

    p = page(None)
    assert [i["alert_id"] for i in p["items"]] == ["A1", "A2"]
    # Between pages: two new alerts, a seen record and an unseen one resolved, a new one closed.
    _ok(hebei.send([alert("A6"), alert("A7", school=HB_SIBLING)], batch_id="2"))
    _resolve(tree.school, ["A1", "A4"])
    assert _ok(hebei.close(["A6"]))["unknown"] == []

    p = page(p["next_cursor"])
    assert [i["alert_id"] for i in p["items"]] == ["A3", "A5"]
    p = page(p["next_cursor"])
    assert [(i["alert_id"], i["status"]) for i in p["items"]] == [
        ("A7", "open"),
        ("A1", "resolved"),
    ]
    _resolve(tree.school, ["A3"])  # already seen as open: its change must come again
    while p["items"]:
        p = page(p["next_cursor"])
    assert seen == [
        ("A1", "open"),
        ("A2", "open"),
        ("A3", "open"),
        ("A5", "open"),
        ("A7", "open"),
        ("A1", "resolved"),
        ("A4", "resolved"),
        ("A6", "closed"),
        ("A3", "resolved"),
    ]
    # Every record's latest status is what the walk saw last for it.
    latest = dict(seen)
    assert latest == dict(ProblemRecord.objects.values_list("alert_id", "status"))
    # An empty page hands back the cursor it was given, and a later change follows it.
    assert cursors[-1] == cursors[-2]
    assert _page(hebei, cursors[-1])["next_cursor"] == cursors[-1]
    assert _ok(hebei.close(["A2"], outcome="verified"))
    tail = _page(hebei, cursors[-1])
    assert [(i["alert_id"], i["status"]) for i in tail["items"]] == [("A2", "closed")]
    assert _page(hebei, tail["next_cursor"])["items"] == []


def test_feed_walk_with_all_changes_in_between(tree, hebei):
    """A record changed several times between pages is seen once, with its latest status."""
    _ok(hebei.send([alert(f"B{n}") for n in range(1, 5)]))
    first = _page(hebei, None, limit=1)
    assert [i["alert_id"] for i in first["items"]] == ["B1"]
    _resolve(tree.school, ["B2"])
    _ok(hebei.close(["B2"], outcome="reopened", detail="身份证号仍不正确"))
    _ok(hebei.close(["B2"], outcome="verified"))
    walked = []
    cursor = first["next_cursor"]
    while True:
        data = _page(hebei, cursor, limit=1)
        if not data["items"]:
            assert data["next_cursor"] == cursor
            break
        walked += [(i["alert_id"], i["status"]) for i in data["items"]]
        cursor = data["next_cursor"]
    assert walked == [("B3", "open"), ("B4", "open"), ("B2", "closed")]


def test_empty_feed_returns_a_cursor_that_later_finds_new_alerts(tree, hebei):
    empty = _page(hebei, None, limit=10)
    assert empty["items"] == [] and empty["next_cursor"]
    again = _page(hebei, empty["next_cursor"], limit=10)
    assert again == {"items": [], "next_cursor": empty["next_cursor"]}
    _ok(hebei.send([alert("HB-1")]))
    later = _page(hebei, empty["next_cursor"], limit=10)
    assert [i["alert_id"] for i in later["items"]] == ["HB-1"]


@pytest.mark.parametrize(
    "since",
    [
        "garbage",
        "5",
        "0",
        "v1:5",
        "%FF%FE",
        "djE6LTE",  # v1:-1
        "djI6NQ",  # v2:5
        "djE6",  # v1:
        base64.urlsafe_b64encode(b"v1:" + b"9" * 30).decode().rstrip("="),
    ],
)
def test_bad_cursor_gets_400(tree, hebei, since):
    _refused(hebei.get(f"{API}?since={since}"), 400)


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1.5"])
def test_bad_limit_gets_400(tree, hebei, limit):
    _refused(hebei.get(f"{API}?limit={limit}"), 400)


def test_limit_bounds_and_default(tree, hebei):
    _ok(hebei.send([alert(f"HB-{n}") for n in range(3)]))
    assert len(_page(hebei, limit=1)["items"]) == 1
    assert len(_page(hebei, limit=1000)["items"]) == 3
    assert len(hebei.feed()["items"]) == 3


def test_status_filter(tree, hebei):
    _ok(hebei.send([alert(f"HB-{n}") for n in range(1, 6)]))
    _resolve(tree.school, ["HB-2", "HB-4"])
    _ok(hebei.close(["HB-5"]))
    pks = list(ProblemRecord.objects.filter(alert_id="HB-3").values_list("pk", flat=True))
    services.records_update(actor=factories.staff(tree.school), record_ids=pks, action="start")

    def ids(status, limit=100):
        return [
            (i["alert_id"], i["status"]) for i in _page(hebei, limit=limit, status=status)["items"]
        ]

    assert ids("open") == [("HB-1", "open")]
    assert ids("in_progress") == [("HB-3", "in_progress")]
    assert ids("resolved") == [("HB-2", "resolved"), ("HB-4", "resolved")]
    assert ids("closed") == [("HB-5", "closed")]
    # A filtered walk by pages of one.
    page = _page(hebei, limit=1, status="resolved")
    assert [i["alert_id"] for i in page["items"]] == ["HB-2"]
    page = _page(hebei, page["next_cursor"], limit=1, status="resolved")
    assert [i["alert_id"] for i in page["items"]] == ["HB-4"]
    assert _page(hebei, page["next_cursor"], limit=1, status="resolved")["items"] == []
    _refused(hebei.get(f"{API}?status=done"), 400)


def test_feed_is_the_keys_subtree(tree, hebei, beijing, ministry):
    _ok(hebei.send([alert("HB-1"), alert("HB-2", school=HB_SIBLING)]))
    _ok(beijing.send([alert("BJ-1", school=BJ_SCHOOL)]))
    _ok(ministry.send([alert("M-1", school=HB_SCHOOL), alert("M-2", school=BJ_SCHOOL)]))

    def ids(roll):
        return {i["alert_id"] for i in _page(roll, limit=100)["items"]}

    assert ids(beijing) == {"BJ-1", "M-2"}
    assert ids(hebei) == {"HB-1", "HB-2", "M-1"}
    assert ids(ministry) == {"HB-1", "HB-2", "BJ-1", "M-1", "M-2"}
    assert all(i["school_code"] == BJ_SCHOOL for i in _page(beijing, limit=100)["items"])


# --- POST /alerts/close ---------------------------------------------------------------------------


def test_verified_closes(tree, hebei):
    _ok(hebei.send([alert("HB-1"), alert("HB-2"), alert("HB-3")]))
    _resolve(tree.school, ["HB-1"])
    cursor = _page(hebei, limit=100)["next_cursor"]
    data = _ok(hebei.close(["HB-1", "HB-2"], outcome="verified"))
    assert data == {"applied": 2, "unchanged": 0, "unknown": []}
    statuses = dict(ProblemRecord.objects.values_list("alert_id", "status"))
    assert statuses == {"HB-1": "closed", "HB-2": "closed", "HB-3": "open"}
    assert ProblemRecord.objects.get(alert_id="HB-1").closed_at is not None
    items = _page(hebei, cursor, limit=100)["items"]
    assert [(i["alert_id"], i["status"]) for i in items] == [("HB-1", "closed"), ("HB-2", "closed")]
    # Verifying again changes nothing and adds nothing to the feed.
    before = _stored()
    assert _ok(hebei.close(["HB-1", "HB-2"]))["unchanged"] == 2
    assert _stored() == before
    assert _page(hebei, _page(hebei, cursor, limit=100)["next_cursor"])["items"] == []


def test_reopened_sends_back_as_open_with_the_detail(tree, hebei):
    _ok(hebei.send([alert("HB-1"), alert("HB-2")]))
    _resolve(tree.school, ["HB-1", "HB-2"])
    cursor = _page(hebei, limit=100)["next_cursor"]
    data = _ok(hebei.close(["HB-1"], outcome="reopened", detail="公安核验仍未通过"))
    assert data["unknown"] == []
    record = ProblemRecord.objects.get(alert_id="HB-1")
    assert record.status == "open" and record.reopened_detail == "公安核验仍未通过"
    assert record.closed_at is None
    assert ProblemRecord.objects.get(alert_id="HB-2").status == "resolved"
    items = _page(hebei, cursor, limit=100)["items"]
    assert [(i["alert_id"], i["status"]) for i in items] == [("HB-1", "open")]
    # A closed record can be reopened too, and resolved again by the school.
    _ok(hebei.close(["HB-2"], outcome="verified"))
    _ok(hebei.close(["HB-2"], outcome="reopened", detail="再次核查发现错误"))
    assert ProblemRecord.objects.get(alert_id="HB-2").status == "open"
    _resolve(tree.school, ["HB-1"], note="第二次更正")
    record.refresh_from_db()
    assert record.status == "resolved" and record.resolution_note == "第二次更正"


@pytest.mark.parametrize("detail", [None, "", "   ", 5])
def test_reopen_needs_a_detail(tree, hebei, detail):
    _ok(hebei.send([alert("HB-1")]))
    _resolve(tree.school, ["HB-1"])
    before = _stored()
    payload = {"alert_ids": ["HB-1"], "outcome": "reopened"}
    if detail is not None:
        payload["detail"] = detail
    _refused(hebei.post(payload, CLOSE), 400)
    assert _stored() == before


@pytest.mark.parametrize(
    "payload",
    [
        {"alert_ids": ["HB-1"], "outcome": "accepted"},
        {"alert_ids": ["HB-1"]},
        {"alert_ids": "HB-1", "outcome": "verified"},
        {"alert_ids": [1], "outcome": "verified"},
        {"outcome": "verified"},
        ["HB-1"],
    ],
)
def test_bad_close_bodies_get_400(tree, hebei, payload):
    _ok(hebei.send([alert("HB-1")]))
    before = _stored()
    _refused(hebei.post(payload, CLOSE), 400)
    _refused(hebei.post_raw(b"{not json", CLOSE), 400)
    assert _stored() == before


def test_unknown_ids_are_listed_and_the_rest_applied(tree, hebei):
    _ok(hebei.send([alert("HB-1"), alert("HB-2")]))
    data = _ok(hebei.close(["HB-1", "NOPE-1", "HB-2", "NOPE-2"], outcome="verified"))
    assert data["unknown"] == ["NOPE-1", "NOPE-2"]
    assert set(ProblemRecord.objects.values_list("status", flat=True)) == {"closed"}


def test_close_touches_only_the_keys_subtree(tree, hebei, beijing):
    _ok(hebei.send([alert("HB-1")]))
    before = _stored()
    data = _ok(beijing.close(["HB-1"], outcome="verified"))
    assert data["unknown"] == ["HB-1"]
    assert _stored() == before


def test_close_names_alerts_of_the_keys_own_scope(tree, hebei, ministry):
    """Alert ids are unique within a province or the Ministry, not across them: the
    province's HB-1 and the Ministry's HB-1 are different alerts."""
    _ok(hebei.send([alert("HB-1", school=HB_SCHOOL)]))
    _ok(ministry.send([alert("HB-1", school=HB_SIBLING)]))
    _ok(hebei.close(["HB-1"], outcome="verified"))
    assert dict(ProblemRecord.objects.values_list("scope", "status")) == {
        "130000": "closed",
        "000000": "open",
    }
    reopened = _ok(ministry.close(["HB-1"], outcome="reopened", detail="复核"))
    # The Ministry's HB-1 is still open: nothing goes back, but its detail is kept.
    assert (reopened["applied"], reopened["unchanged"]) == (0, 1)
    assert dict(ProblemRecord.objects.values_list("scope", "status")) == {
        "130000": "closed",
        "000000": "open",
    }
    assert ProblemRecord.objects.get(scope="000000").reopened_detail == "复核"
    assert ProblemRecord.objects.get(scope="130000").reopened_detail == ""


# --- concurrency (real transactions, one connection per thread) -------------------------------


def _in_thread(target, *args):
    from django.db import connection

    def run():
        try:
            target(*args)
        finally:
            connection.close()

    return threading.Thread(target=run)


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_store_each_alert_once(tree, hebei_key):
    """A batch retried while the first attempt is still being stored: every alert is
    stored once, every other copy is a duplicate, none fails."""
    key, secret = hebei_key
    body = json.dumps({"batch_id": "b", "alerts": [alert(f"HB-{n}") for n in range(300)]})
    results, errors = [], []

    def send(back):
        roll = Roll(Client(enforce_csrf_checks=True), key.key_id, secret)
        try:
            r = roll.post_raw(body.encode(), stamp=str(int(time.time()) - back))
            results.append((r.status_code, r.json()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [_in_thread(send, n) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 4
    assert all(status == 200 for status, _ in results), results
    assert sum(data["accepted"] for _, data in results) == 300
    assert sum(data["duplicates"] for _, data in results) == 900
    assert ProblemRecord.objects.count() == 300
    seqs = list(ProblemRecord.objects.values_list("change_seq", flat=True))
    assert sorted(seqs) == list(range(1, 301))


@pytest.mark.django_db(transaction=True)
def test_feed_walk_while_changes_keep_arriving(tree, hebei_key):
    """A reader follows next_cursor while another thread keeps adding alerts and the
    school and the roll system keep changing them: when both are done, the reader has
    seen every record, each with its latest status."""
    key, secret = hebei_key
    school_staff = factories.staff(tree.school)
    done = threading.Event()
    failures = []

    def write():
        roll = Roll(Client(enforce_csrf_checks=True), key.key_id, secret)
        try:
            for n in range(12):
                alerts = [
                    alert(f"C{n}-{i}", school=(HB_SCHOOL, HB_SIBLING)[i % 2]) for i in range(3)
                ]
                assert roll.send(alerts, batch_id=str(n)).status_code == 200
                pks = list(
                    ProblemRecord.objects.filter(school=tree.school, status="open")
                    .order_by("?")
                    .values_list("pk", flat=True)[:2]
                )
                if pks:
                    services.records_update(
                        actor=school_staff, record_ids=pks, action="resolve", note=f"第{n}次"
                    )
                if n % 3 == 0:
                    assert roll.close([f"C{n}-1"]).status_code == 200
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            done.set()

    writer = _in_thread(write)
    reader = Roll(Client(enforce_csrf_checks=True), key.key_id, secret)
    latest: dict[str, str] = {}
    cursor = None
    writer.start()
    while True:
        finished = done.is_set()
        page = _page(reader, cursor, limit=2)
        latest.update((i["alert_id"], i["status"]) for i in page["items"])
        cursor = page["next_cursor"]
        if finished and not page["items"]:
            break
    writer.join(timeout=120)
    assert not failures, failures
    assert latest == dict(ProblemRecord.objects.values_list("alert_id", "status"))
    assert len(latest) == 36
