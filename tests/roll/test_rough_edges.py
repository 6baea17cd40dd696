"""Issue 15 (rough edges): the overviews' "oldest open" is the date the roll system found
the record, not the day the platform imported it; the pages' wording is Chinese."""

import re
from datetime import timedelta

from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext

from roll import services
from tests import factories
from tests.roll.helpers import alert


def _cells(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert table, table_id
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    ]


def test_oldest_open_is_the_date_the_record_was_found(tree, hebei_key, client_for):
    key, _ = hebei_key
    now = timezone.now()
    found = now - timedelta(days=40)
    result = services.intake(
        key=key,
        payload={"alerts": [alert("F1", detected_at=found.isoformat())]},
        now=now,  # imported today
    )
    assert result["accepted"] == 1, result
    found_day = timezone.localtime(found).strftime("%Y-%m-%d")
    imported_day = timezone.localtime(now).strftime("%Y-%m-%d")

    county = client_for(factories.manager(tree.county)).get("/roll/").content.decode()
    row = re.search(r'<tr data-unit="1301020001">(.*?)</tr>', county, re.S)[1]
    assert row.rstrip().endswith(f"<td>{found_day}</td>")
    assert imported_day not in row

    province = client_for(factories.manager(tree.province)).get("/roll/")
    slowest = _cells(province.content.decode(), "roll-slowest")
    assert slowest[0][0] == "长安区" and slowest[0][-1] == found_day


def test_headings_are_chinese(tree, hebei_key, client_for):
    key, _ = hebei_key
    services.intake(key=key, payload={"alerts": [alert("W1")]}, now=timezone.now())
    province = client_for(factories.manager(tree.province))
    overview = province.get("/roll/")
    keys = province.get("/roll/keys/")
    school = client_for(factories.staff(tree.school)).get("/roll/")
    with translation.override("zh-hans"):
        county_heading = pgettext("column of counties", "County")
        name_heading = pgettext("person", "Name")
        api_key = gettext("API key")
    assert county_heading == "区县" and name_heading == "姓名" and api_key == "接口密钥"
    assert f"<th>{county_heading}</th>" in overview.content.decode()
    assert f"<th>{api_key}</th>" in keys.content.decode()
    assert "X-Roll-Key" not in keys.content.decode()
    assert f"<th>{name_heading}</th>" in school.content.decode()
