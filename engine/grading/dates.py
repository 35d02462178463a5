"""Dates and gestational ages, the answers MedCalc-Bench asks for besides numbers.

Dates read in US order (M/D/Y, as MedCalc asks), ISO order, or with month names; gestational ages
as "(4 weeks, 3 days)", "4w 3d", "(4, 3)", or whole weeks or days. Both compare by value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_MONTH_NAMES = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
DATE_RE = re.compile(
    rf"""
    (?<![\d/.])
    (?:
        (?P<m>\d{{1,2}})(?P<sep>[/\-.])(?P<d>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}|\d{{2}})(?![\d/])
      | (?P<iy>\d{{4}})(?P<isep>[/\-.])(?P<im>\d{{1,2}})(?P=isep)(?P<id>\d{{1,2}})(?![\d/])
      | (?P<mn>{_MONTH_NAMES})\.?\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<my>\d{{4}})
      | (?P<dd>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mn2>{_MONTH_NAMES})\.?,?\s+(?P<dy>\d{{4}})
    )
    """,
    re.X | re.I,
)


def date_value(m: re.Match[str]) -> date | None:
    """A valid calendar date from a `DATE_RE` match (US order M/D/Y, as MedCalc asks)."""
    if m["m"] is not None:
        y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
        if len(m["y"]) == 2:
            y += 2000 if y < 69 else 1900  # the strptime %y convention
    elif m["iy"] is not None:
        y, mo, d = int(m["iy"]), int(m["im"]), int(m["id"])
    elif m["mn"] is not None:
        y, mo, d = int(m["my"]), _MONTHS[m["mn"][:3].lower()], int(m["md"])
    else:
        y, mo, d = int(m["dy"]), _MONTHS[m["mn2"][:3].lower()], int(m["dd"])
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def format_date(d: date) -> str:
    """MM/DD/YYYY, the form MedCalc's golds use."""
    return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"


GA_RE = re.compile(
    r"""
    (?<![\w.])
    (?:
        (?:[(\[]\s*)?['"]?(?P<w>\d{1,3})\s*(?:weeks?|wks?|w)(?![a-z])\s*['"]?\s*
        (?:,|and|\+|&)?\s*['"]?\s*(?P<d>\d{1,3})\s*(?:days?|d)(?![a-z])\s*['"]?\s*[)\]]?
      | [(\[]\s*(?P<w2>\d{1,3})\s*,\s*(?P<d2>\d{1,3})\s*[)\]]
      | (?P<wo>\d{1,3})\s*(?:weeks?|wks?)(?![a-z])
      | (?P<do>\d{1,4})\s*days?(?![a-z])
    )
    """,
    re.X | re.I,
)


@dataclass(frozen=True)
class GestationalAge:
    """Weeks and days; two ages are the same answer when their total days are."""

    weeks: int
    days: int

    @property
    def total_days(self) -> int:
        return self.weeks * 7 + self.days

    def __str__(self) -> str:
        return f"({self.weeks} weeks, {self.days} days)"


def ga_value(m: re.Match[str]) -> GestationalAge:
    """The age a `GA_RE` match names (a bare day count is split into weeks and days)."""
    if m["w"] is not None:
        return GestationalAge(int(m["w"]), int(m["d"]))
    if m["w2"] is not None:
        return GestationalAge(int(m["w2"]), int(m["d2"]))
    if m["wo"] is not None:
        return GestationalAge(int(m["wo"]), 0)
    days = int(m["do"])
    return GestationalAge(days // 7, days % 7)
