"""Opening hours as people write them: ``"mon-fri 09:00-21:00; sat,sun 10:00-18:00"``.

Several intervals for one day express a break: ``"mon-fri 09:00-12:00,13:00-21:00"``.
Times are local wall-clock minutes since midnight; ``24:00`` closes at midnight.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from ..errors import ValidationFailed

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _bad(text: str) -> ValidationFailed:
    return ValidationFailed(
        _l("Opening hours not understood: %(text)s", text=text),
        field_errors={"hours": [_l("Write them like: mon-fri 09:00-21:00; sat 10:00-18:00")]},
    )


def _minutes(text: str, whole: str) -> int:
    m = _TIME.match(text.strip())
    if not m:
        raise _bad(whole)
    h, mi = int(m.group(1)), int(m.group(2))
    if mi > 59 or h > 24 or (h == 24 and mi):
        raise _bad(whole)
    return h * 60 + mi


def _days(spec: str, whole: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()[:7]
        if "-" in part:
            a, b = (p.strip()[:3] for p in part.split("-", 1))
            if a not in DAYS or b not in DAYS:
                raise _bad(whole)
            i, j = DAYS.index(a), DAYS.index(b)
            out.extend(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        else:
            if part[:3] not in DAYS:
                raise _bad(whole)
            out.append(DAYS.index(part[:3]))
    return out


def parse_hours(text: str) -> list[tuple[int, int, int]]:
    """Return sorted ``(weekday, opens_min, closes_min)``; raise ValidationFailed."""
    result: set[tuple[int, int, int]] = set()
    for clause in filter(None, (c.strip() for c in text.split(";"))):
        bits = clause.split(None, 1)
        if len(bits) != 2:
            raise _bad(text)
        days = _days(bits[0], text)
        for interval in bits[1].split(","):
            if "-" not in interval:
                raise _bad(text)
            a, b = interval.split("-", 1)
            start, end = _minutes(a, text), _minutes(b, text)
            if start >= end:
                raise _bad(text)
            result.update((d, start, end) for d in days)
    rows = sorted(result)
    for d in range(7):
        day = [r for r in rows if r[0] == d]
        for prev, nxt in zip(day, day[1:], strict=False):
            if nxt[1] < prev[2]:
                raise ValidationFailed(
                    _l("Opening hours overlap on %(day)s.", day=DAYS[d]),
                    field_errors={"hours": [_l("Intervals of one day must not overlap.")]},
                )
    return rows


def format_hours(rows: list[tuple[int, int, int]]) -> str:
    """The inverse of :func:`parse_hours`; consecutive days with equal hours are joined."""
    by_day: dict[int, str] = {}
    for d, a, b in sorted(rows):
        iv = f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
        by_day[d] = f"{by_day[d]},{iv}" if d in by_day else iv
    clauses: list[str] = []
    days = sorted(by_day)
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] == days[j] + 1 and by_day[days[j + 1]] == by_day[
                days[i]]:
            j += 1
        span = DAYS[days[i]] if i == j else f"{DAYS[days[i]]}-{DAYS[days[j]]}"
        clauses.append(f"{span} {by_day[days[i]]}")
        i = j + 1
    return "; ".join(clauses)
