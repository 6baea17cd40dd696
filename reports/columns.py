"""The weekly sheet's columns, in order: the one place to change what a province asks for.

Each column is (key, Chinese header, English header, Excel number format, how it is
computed). "How" is a function of one row's raw figures — the dict that
reports.selectors.raw_figures builds from the apps' selectors (notices, tickets,
roll), with these keys:

  notices          circulars published in the week that reached the unit
  audience         their audience accounts
  read             of those, receipts (people who opened them)
  ack_audience     audience of the notices asking for an acknowledgement (回执)
  acked_on_time    acknowledgements given by the deadline
  tickets_raised   tickets raised in the week (not the platform's problem-record tickets)
  tickets_solved   tickets resolved in the week
  tickets_escalated  tickets escalated in the week
  sla_met          tickets raised in the week with neither SLA clock breached
  records_opened, records_opened_grad      problem records detected (graduating grade)
  records_resolved, records_resolved_grad  problem records resolved (graduating grade)

A rate is a fraction (0–1), or None when its base is zero (shown as "—"). Totals are
computed from the summed raw figures, never by averaging the rows' rates.
To add, drop or reorder a column, edit COLUMNS; the page, the workbook and the notice
follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

INT = "0"
PERCENT = "0.0%"


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    number_format: str
    compute: Callable[[dict], float | int | None]

    @property
    def is_rate(self) -> bool:
        return self.number_format == PERCENT

    def header(self, language: str | None) -> str:
        return self.zh if (language or "zh").startswith("zh") else self.en


def field(name: str) -> Callable[[dict], int]:
    return lambda raw: raw.get(name, 0)


def rate(good: str, base: str) -> Callable[[dict], float | None]:
    def compute(raw: dict) -> float | None:
        total = raw.get(base, 0)
        return None if not total else raw.get(good, 0) / total

    return compute


COLUMNS: list[Column] = [
    Column("notices", "通知数", "Notices", INT, field("notices")),
    Column("audience", "应阅人数", "Audience", INT, field("audience")),
    Column("read", "已阅人数", "Read", INT, field("read")),
    Column("read_rate", "阅读率", "Read rate", PERCENT, rate("read", "audience")),
    Column("ack_audience", "应回执人数", "To acknowledge", INT, field("ack_audience")),
    Column("acked_on_time", "按时回执人数", "Acknowledged on time", INT, field("acked_on_time")),
    Column(
        "ack_rate",
        "按时回执率",
        "On-time acknowledgement rate",
        PERCENT,
        rate("acked_on_time", "ack_audience"),
    ),
    Column("tickets_raised", "新提工单", "Tickets raised", INT, field("tickets_raised")),
    Column("tickets_solved", "解决工单", "Tickets solved", INT, field("tickets_solved")),
    Column("tickets_escalated", "升级工单", "Tickets escalated", INT, field("tickets_escalated")),
    Column("sla_rate", "SLA达标率", "SLA compliance", PERCENT, rate("sla_met", "tickets_raised")),
    Column(
        "records_opened", "新增问题学籍", "Problem records opened", INT, field("records_opened")
    ),
    Column(
        "records_opened_grad",
        "毕业年级新增",
        "of which graduating",
        INT,
        field("records_opened_grad"),
    ),
    Column(
        "records_resolved",
        "已处理问题学籍",
        "Problem records resolved",
        INT,
        field("records_resolved"),
    ),
    Column(
        "records_resolved_grad",
        "毕业年级已处理",
        "of which graduating",
        INT,
        field("records_resolved_grad"),
    ),
]

# The raw figures every row carries (summed for the total).
RAW_KEYS = (
    "notices",
    "audience",
    "read",
    "ack_audience",
    "acked_on_time",
    "tickets_raised",
    "tickets_solved",
    "tickets_escalated",
    "sla_met",
    "records_opened",
    "records_opened_grad",
    "records_resolved",
    "records_resolved_grad",
)
