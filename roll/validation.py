"""Judging one alert of an intake batch on its own (ROLL_API.md, POST /alerts).

Pure functions over the decoded JSON: every reason an alert is refused is
collected, not just the first, and a good alert comes back as the fields to store.
ID check characters come from python-stdnum (`stdnum.cn.ric`), never hand-rolled.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from stdnum.cn import ric

from core.text import storable
from roll.models import Kind

KINDS = frozenset(Kind.values)
MAX_ALERT_ID = 64
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")
SELF_ASSIGNED = re.compile(r"^[0-9A-Z]{18}$")
MAX_NAME = 100
MAX_DETAIL = 2000
MAX_GRADE = 20
MAX_RELATED = 50
FIELDS = frozenset(
    {
        "alert_id",
        "kind",
        "school_code",
        "name",
        "gender",
        "birth_date",
        "id_number",
        "roll_no",
        "grade",
        "graduating",
        "detected_at",
        "detail",
        "related_school_codes",
    }
)


def check_character_ok(number: str) -> bool:
    # calc_check_digit takes the whole number, check character included (and ignores it).
    return ric.calc_check_digit(number) == number[-1]


def _text(alert, field, errors, *, required=False, limit=None, line=False) -> str:
    """A string field; `line`: one line of printable characters (codes). Names and
    details are the roll system's data: control characters in them are kept (the
    pages escape them, the workbook drops what Excel refuses), NUL is not storable."""
    value = alert.get(field)
    if value is None or value == "":
        if required:
            errors.append(f"{field} is required")
        return ""
    if not isinstance(value, str):
        errors.append(f"{field} must be a string")
        return ""
    if limit is not None and len(value) > limit:
        errors.append(f"{field} is longer than {limit} characters")
    if "\x00" in value:
        errors.append(f"{field} must not contain NUL characters")
    elif not storable(value):
        errors.append(f"{field} is not valid Unicode (it holds a lone surrogate)")
    elif line and not value.isprintable():
        errors.append(f"{field} must be one line of printable characters")
    return value


def alert_id_ok(alert_id) -> bool:
    """1–64 printable characters (ROLL_API.md)."""
    return (
        isinstance(alert_id, str)
        and 0 < len(alert_id) <= MAX_ALERT_ID
        and alert_id.isprintable()
        and storable(alert_id)
    )


def judge(alert, *, today: date) -> tuple[dict | None, list[str]]:
    """(the fields to store, []) or (None, every reason it is refused).
    `school_code` is checked against the tree by the caller."""
    if not isinstance(alert, dict):
        return None, ["alert must be a JSON object"]
    errors: list[str] = []
    alert_id = alert.get("alert_id")
    if not alert_id_ok(alert_id):
        errors.append("alert_id must be 1–64 printable characters")
    kind = alert.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        errors.append("kind must be one of " + ", ".join(sorted(KINDS)))
    school_code = _text(alert, "school_code", errors, required=True, limit=10, line=True)
    name = _text(alert, "name", errors, required=True, limit=MAX_NAME).strip()
    if alert.get("name") and isinstance(alert.get("name"), str) and not name:
        errors.append("name is required")

    detected_at = None
    raw = alert.get("detected_at")
    if raw is None or raw == "":
        errors.append("detected_at is required")
    elif not isinstance(raw, str):
        errors.append("detected_at must be an ISO 8601 string")
    else:
        try:
            detected_at = datetime.fromisoformat(raw)
        except ValueError:
            errors.append("detected_at is not an ISO 8601 date and time")
        else:
            if detected_at.tzinfo is None:
                errors.append("detected_at needs a UTC offset")
            else:
                # Stored in UTC, shown in China time: a day's margin keeps both inside
                # the years datetime can hold.
                try:
                    in_range = 1 < detected_at.astimezone(UTC).year < 9999
                except OverflowError:
                    in_range = False
                if not in_range:
                    errors.append("detected_at is out of range")

    gender = alert.get("gender")
    if gender in (None, ""):
        gender = ""
    elif gender not in ("M", "F"):
        errors.append("gender must be M or F")
        gender = ""

    birth_date = None
    raw = alert.get("birth_date")
    if raw not in (None, ""):
        if not isinstance(raw, str) or not ISO_DATE.fullmatch(raw):
            errors.append("birth_date must be a YYYY-MM-DD string")
        else:
            try:
                birth_date = date.fromisoformat(raw)
            except ValueError:
                errors.append("birth_date is not a real calendar date (YYYY-MM-DD)")
            else:
                if birth_date > today:
                    errors.append("birth_date is in the future")

    id_number = alert.get("id_number")
    id_check_ok = None
    if id_number in (None, ""):
        id_number = ""
    elif not isinstance(id_number, str) or not ID_NUMBER.fullmatch(id_number):
        errors.append("id_number must be 18 characters: 17 digits then a digit or X")
        id_number = ""
    else:
        id_check_ok = check_character_ok(id_number)

    roll_no = alert.get("roll_no")
    if roll_no in (None, ""):
        roll_no = ""
    elif not isinstance(roll_no, str) or len(roll_no) != 19:
        errors.append("roll_no must be 19 characters: G or J then 18 characters")
        roll_no = ""
    elif roll_no[0] == "G":
        if not (ID_NUMBER.fullmatch(roll_no[1:]) and check_character_ok(roll_no[1:])):
            errors.append(
                "roll_no: G must be followed by a resident ID number with a right check character"
            )
    elif roll_no[0] == "J":
        if not SELF_ASSIGNED.fullmatch(roll_no[1:]):
            errors.append("roll_no: J must be followed by 18 characters 0-9 or A-Z")
    else:
        errors.append("roll_no must start with G or J")

    grade = alert.get("grade")
    if grade in (None, ""):
        grade = ""
    else:
        if isinstance(grade, int) and not isinstance(grade, bool):
            grade = str(grade)
        if (
            not isinstance(grade, str)
            or len(grade) > MAX_GRADE
            or not grade.isprintable()
            or not storable(grade)
        ):
            errors.append(f"grade must be a string of at most {MAX_GRADE} printable characters")
            grade = ""

    graduating = alert.get("graduating", False)
    if graduating is None:
        graduating = False
    elif not isinstance(graduating, bool):
        errors.append("graduating must be true or false")
        graduating = False

    detail = _text(alert, "detail", errors, limit=MAX_DETAIL)
    related = alert.get("related_school_codes")
    if related in (None, ""):
        related = []
    elif (
        not isinstance(related, list)
        or len(related) > MAX_RELATED
        or not all(
            isinstance(c, str) and 0 < len(c) <= 10 and c.isprintable() and storable(c)
            for c in related
        )
    ):
        errors.append(f"related_school_codes must be a list of at most {MAX_RELATED} school codes")
        related = []

    if errors:
        return None, errors
    return {
        "alert_id": alert_id,
        "kind": kind,
        "school_code": school_code,
        "name": name,
        "gender": gender,
        "birth_date": birth_date,
        "id_number": id_number,
        "id_check_ok": id_check_ok,
        "roll_no": roll_no,
        "grade": grade,
        "graduating": graduating,
        "detected_at": detected_at,
        "detail": detail,
        "related_school_codes": related,
    }, []
