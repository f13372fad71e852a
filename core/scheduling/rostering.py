"""Rosters (排班表) as a service: generate a week from availability and coverage rules,
let a manager adjust shifts, publish. The published roster is what availability uses.

The pure generator (:mod:`core.scheduling.roster`) sees only local minutes per weekday;
this module turns the database's templates, overrides, time-off, opening hours and
holidays of one ISO week into that input and stores the result.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..db import utcnow, write_transaction
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import (
    AvailabilityOverride,
    CoverageRule,
    Roster,
    RosterShift,
    StaffProfile,
    Store,
    TimeOff,
    WeeklyAvailability,
)
from ..org.stores import get_store
from . import roster as pure

WEEK_RE = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
DAY_NAMES = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
REASONS = {
    "no_one_available": _l("nobody with the needed skill is available then"),
    "max_hours": _l("available staff would exceed their weekly hours"),
    "rest_days": _l("available staff need their rest days"),
    "not_enough_staff": _l("everybody available is already scheduled"),
    "available_unscheduled": _l("someone available is not scheduled"),
}


def parse_week(text: str) -> date:
    """``2026-W49`` → the Monday of that ISO week."""
    m = WEEK_RE.match((text or "").strip())
    try:
        if not m:
            raise ValueError
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as exc:
        raise ValidationFailed(_l("Not a valid ISO week: %(text)s (use e.g. 2026-W49).",
                                  text=text), field_errors={"week": [_l("Invalid value.")]}
                               ) from exc


def _minutes_off(day: date, tz: ZoneInfo, spans: list[tuple[datetime, datetime]]
                 ) -> list[tuple[int, int]]:
    """Time-off overlapping a local day, as local minutes of that day."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    out = []
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a < b:
            la, lb = a.astimezone(tz), b.astimezone(tz)
            sa = la.hour * 60 + la.minute
            sb = 1440 if lb.date() > day else lb.hour * 60 + lb.minute
            out.append((sa, sb))
    return out


def _subtract(intervals: list[tuple[int, int]], cuts: list[tuple[int, int]]
              ) -> list[tuple[int, int]]:
    out = intervals
    for ca, cb in cuts:
        nxt = []
        for a, b in out:
            if cb <= a or ca >= b:
                nxt.append((a, b))
                continue
            if a < ca:
                nxt.append((a, ca))
            if cb < b:
                nxt.append((cb, b))
        out = nxt
    return out


def build_input(store: Store, monday: date) -> tuple[pure.RosterInput, dict[int, str]]:
    tz = ZoneInfo(store.timezone)
    days = [monday + timedelta(days=i) for i in range(7)]
    holidays = {h.day: h for h in store.holidays if monday <= h.day < monday + timedelta(7)}
    open_hours: dict[int, list[tuple[int, int]]] = {}
    for i, day in enumerate(days):
        hol = holidays.get(day)
        if hol is not None:
            if not hol.closed and hol.opens_min is not None and hol.closes_min is not None:
                open_hours[i] = [(hol.opens_min, hol.closes_min)]
            continue
        rows = [(h.opens_min, h.closes_min) for h in store.opening_hours if h.weekday == i]
        if rows:
            open_hours[i] = sorted(rows)
    staff = db.session.scalars(
        select(StaffProfile).where(StaffProfile.active.is_(True),
                                   StaffProfile.stores.any(Store.id == store.id))
        .order_by(StaffProfile.id)
    ).all()
    ids = [s.id for s in staff]
    weekly: dict[int, dict[int, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for row in db.session.scalars(select(WeeklyAvailability).where(
            WeeklyAvailability.store_id == store.id, WeeklyAvailability.staff_id.in_(ids))):
        weekly[row.staff_id][row.weekday].append((row.start_min, row.end_min))
    overrides: dict[tuple[int, date], list[tuple[int, int]]] = {}
    for row in db.session.scalars(select(AvailabilityOverride).where(
            AvailabilityOverride.store_id == store.id,
            AvailabilityOverride.staff_id.in_(ids),
            AvailabilityOverride.day >= monday, AvailabilityOverride.day < days[-1] +
            timedelta(days=1))):
        overrides.setdefault((row.staff_id, row.day), [])
        if row.available and row.start_min is not None:
            overrides[(row.staff_id, row.day)].append((row.start_min, row.end_min))
    week_start = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for row in db.session.scalars(select(TimeOff).where(
            TimeOff.staff_id.in_(ids), TimeOff.status == "approved",
            TimeOff.start_at < week_start + timedelta(days=8),
            TimeOff.end_at > week_start - timedelta(days=1))):
        off[row.staff_id].append((row.start_at, row.end_at))
    inputs = []
    for person in staff:
        available: dict[int, list[tuple[int, int]]] = {}
        for i, day in enumerate(days):
            if (person.id, day) in overrides:
                base = overrides[(person.id, day)]
            elif person.id in weekly:
                base = weekly[person.id].get(i, [])
            else:
                base = open_hours.get(i, [])
            base = _subtract(sorted(base), _minutes_off(day, tz, off[person.id]))
            if base:
                available[i] = base
        inputs.append(pure.StaffInput(
            staff_id=person.id, name=person.display_name, available=available,
            skills=frozenset(s.id for s in person.services),
            max_minutes=person.max_minutes_week, min_rest_days=person.min_rest_days))
    rules = [pure.CoverageRule(day=r.weekday, start=r.start_min, end=r.end_min,
                               min_staff=r.min_staff, skill=r.service_id)
             for r in db.session.scalars(select(CoverageRule).where(
                 CoverageRule.store_id == store.id).order_by(CoverageRule.id))]
    return (pure.RosterInput(open_hours=open_hours, staff=inputs, rules=rules),
            {s.id: s.display_name for s in staff})


def _gap_dicts(gaps: list[pure.Gap]) -> list[dict[str, Any]]:
    return [{"day": g.day, "start": g.start, "end": g.end, "required": g.required,
             "scheduled": g.scheduled, "skill": g.skill, "reasons": list(g.reasons)}
            for g in gaps]


def get_roster(store_ref: str | int, week: str) -> Roster:
    store = get_store(store_ref)
    monday = parse_week(week)
    roster = db.session.scalars(select(Roster).where(Roster.store_id == store.id,
                                                     Roster.week_start == monday)).first()
    if roster is None:
        raise NotFound(_l("No roster for %(store)s in %(week)s yet: generate one first.",
                          store=store.code, week=week))
    return roster


def generate(store_ref: str | int, week: str, *, publish: bool = False) -> Roster:
    """(Re)generate a week's roster from availability and coverage rules."""
    store = get_store(store_ref)
    monday = parse_week(week)
    data, _names = build_input(store, monday)
    if not data.rules:
        # No rules means "no demand": schedule everyone the store can use, one person
        # per opening hour, so a store that never set rules still gets a roster.
        data = pure.RosterInput(
            open_hours=data.open_hours, staff=data.staff,
            rules=[pure.CoverageRule(day=d, start=a, end=b, min_staff=1)
                   for d, ivs in data.open_hours.items() for a, b in ivs],
            granularity=data.granularity, min_shift=data.min_shift)
    result = pure.generate_roster(data)
    with write_transaction() as session:
        roster = session.scalars(select(Roster).where(Roster.store_id == store.id,
                                                      Roster.week_start == monday)).first()
        if roster is None:
            roster = Roster(store_id=store.id, week_start=monday)
            session.add(roster)
        roster.shifts.clear()
        session.flush()
        for shift in result.shifts:
            roster.shifts.append(RosterShift(staff_id=shift.staff_id,
                                             day=monday + timedelta(days=shift.day),
                                             start_min=shift.start, end_min=shift.end))
        roster.gaps = _gap_dicts(result.gaps)
        roster.generated_at = utcnow()
        roster.status = "published" if publish else "draft"
        roster.published_at = utcnow() if publish else None
    return roster


def set_shift(roster: Roster, staff_id: int, day: date, start_min: int | None,
              end_min: int | None) -> Roster:
    """A manager's adjustment: set (or with ``start_min=None`` remove) one shift, then
    re-explain the coverage gaps."""
    store = db.session.get(Store, roster.store_id)
    assert store is not None
    if not roster.week_start <= day < roster.week_start + timedelta(days=7):
        raise ValidationFailed(_l("The day is outside this roster's week."),
                               field_errors={"day": [_l("Invalid value.")]})
    if start_min is not None and (end_min is None or not 0 <= start_min < end_min <= 1440):
        raise ValidationFailed(_l("A shift needs a start before its end, within the day."),
                               field_errors={"end_min": [_l("Invalid value.")]})
    data, names = build_input(store, roster.week_start)
    if staff_id not in names:
        raise ValidationFailed(_l("This person does not work at this store."),
                               field_errors={"staff_id": [_l("Invalid value.")]})
    with write_transaction() as session:
        roster = session.get(Roster, roster.id)
        existing = next((s for s in roster.shifts if s.staff_id == staff_id and s.day == day),
                        None)
        if start_min is None:
            if existing is not None:
                roster.shifts.remove(existing)
        elif existing is not None:
            existing.start_min, existing.end_min = start_min, end_min
        else:
            roster.shifts.append(RosterShift(staff_id=staff_id, day=day, start_min=start_min,
                                             end_min=end_min))
        session.flush()
        # Shifts of people who left the store no longer count towards coverage.
        shifts = [pure.Shift(staff_id=s.staff_id, day=(s.day - roster.week_start).days,
                             start=s.start_min, end=s.end_min) for s in roster.shifts
                  if s.staff_id in names]
        roster.gaps = _gap_dicts(pure.coverage_gaps(data, shifts)) if data.rules else []
    return roster


def publish(roster: Roster) -> Roster:
    with write_transaction() as session:
        roster = session.get(Roster, roster.id)
        roster.status = "published"
        roster.published_at = utcnow()
    return roster


def explain_gap(gap: dict[str, Any]) -> str:
    day = DAY_NAMES[gap["day"]]
    span = f"{gap['start'] // 60:02d}:{gap['start'] % 60:02d}-" \
           f"{gap['end'] // 60:02d}:{gap['end'] % 60:02d}"
    why = "; ".join(str(REASONS.get(r, r)) for r in gap["reasons"])
    return gettext("%(day)s %(span)s needs %(required)d, %(scheduled)d scheduled: %(why)s",
                   day=day, span=span, required=gap["required"], scheduled=gap["scheduled"],
                   why=why)
