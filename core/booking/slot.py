"""What one staff member's time looks like around one booking, in ONE statement.

Checking a booking needs far less than an availability page: one person, one or two
local days. The store-wide loader (:func:`core.scheduling.loader.load_window`) reads
every eligible person of the store in five statements; here a single ``UNION ALL`` reads
the store's opening hours and exceptions, the published roster, the person's weekly
template, dated overrides, bookings and approved time-off for those days, as row tuples.
The working-time rule is the loader's (roster shift if the week is published, else the
dated override, else the template, else the opening hours; always within the opening
hours), so the booking check and the availability page can never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Integer,
    String,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)

from ..db import UTCDateTime
from ..models import (
    ACTIVE_STATUSES,
    AvailabilityOverride,
    Booking,
    OpeningHours,
    Roster,
    RosterShift,
    StoreHoliday,
    TimeOff,
    WeeklyAvailability,
)
from ..scheduling import engine, localtime
from ..scheduling.loader import epoch

Interval = tuple[int, int]
Minutes = list[tuple[int, int]]


def _kind(code: str) -> Any:
    """The first column of each part of the union: which kind of row it is."""
    return literal(code, String).label("kind")


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _clip(a: Minutes, b: Minutes) -> Minutes:
    out: Minutes = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return sorted(out)


def staff_time(conn: Connection, store_id: int, staff_id: int, tz: ZoneInfo,
               day_from: date, day_to: date, *, exclude_booking_id: int | None = None
               ) -> tuple[list[Interval], list[Interval]]:
    """``(work, busy)`` of one person at one store over the local days
    ``[day_from, day_to]`` as sorted instant intervals, from one statement."""
    start = datetime(day_from.year, day_from.month, day_from.day, tzinfo=tz) - timedelta(days=1)
    end = datetime(day_to.year, day_to.month, day_to.day, tzinfo=tz) + timedelta(days=2)
    rows = conn.execute(_statement(), {
        "store": store_id, "staff": staff_id, "day_from": day_from, "day_to": day_to,
        "monday_from": day_from - timedelta(days=day_from.weekday()),
        "start": start, "end": end,
        "exclude": -1 if exclude_booking_id is None else exclude_booking_id}).all()
    return _work(rows, day_from, day_to, tz), engine.normalise(
        [(int(a), int(b)) for k, _d, _w, a, b, _ok in rows if k in ("b", "t")])


@cache
def _statement() -> Any:
    """The union, built once per process (building it cost more than running it)."""
    store, staff = bindparam("store", type_=Integer), bindparam("staff", type_=Integer)
    day_from, day_to = bindparam("day_from", type_=Date), bindparam("day_to", type_=Date)
    start, end = bindparam("start", type_=UTCDateTime), bindparam("end", type_=UTCDateTime)
    none_day, none_int = cast(null(), Date), cast(null(), BigInteger)
    return union_all(
        select(_kind("w"), none_day.label("day"), cast(OpeningHours.weekday, BigInteger)
               .label("wd"), cast(OpeningHours.opens_min, BigInteger).label("a"),
               cast(OpeningHours.closes_min, BigInteger).label("b"), literal(True).label("ok"))
        .where(OpeningHours.store_id == store),
        select(_kind("h"), StoreHoliday.day, none_int, cast(StoreHoliday.opens_min, BigInteger),
               cast(StoreHoliday.closes_min, BigInteger), ~StoreHoliday.closed)
        .where(StoreHoliday.store_id == store, StoreHoliday.day >= day_from,
               StoreHoliday.day <= day_to),
        select(_kind("r"), RosterShift.day, none_int, cast(RosterShift.start_min, BigInteger),
               cast(RosterShift.end_min, BigInteger), literal(True))
        .join(Roster, Roster.id == RosterShift.roster_id)
        .where(Roster.store_id == store, Roster.status == "published",
               RosterShift.day >= day_from, RosterShift.day <= day_to,
               RosterShift.staff_id == staff),
        select(_kind("p"), Roster.week_start, none_int, none_int, none_int, literal(True))
        .where(Roster.store_id == store, Roster.status == "published",
               Roster.week_start >= bindparam("monday_from", type_=Date),
               Roster.week_start <= day_to),
        select(_kind("a"), none_day, cast(WeeklyAvailability.weekday, BigInteger),
               cast(WeeklyAvailability.start_min, BigInteger),
               cast(WeeklyAvailability.end_min, BigInteger), literal(True))
        .where(WeeklyAvailability.store_id == store, WeeklyAvailability.staff_id == staff),
        select(_kind("o"), AvailabilityOverride.day, none_int,
               cast(AvailabilityOverride.start_min, BigInteger),
               cast(AvailabilityOverride.end_min, BigInteger), AvailabilityOverride.available)
        .where(AvailabilityOverride.store_id == store, AvailabilityOverride.staff_id == staff,
               AvailabilityOverride.day >= day_from, AvailabilityOverride.day <= day_to),
        select(_kind("b"), none_day, none_int, epoch(Booking.block_start),
               epoch(Booking.block_end), literal(True)).where(
            Booking.staff_id == staff, Booking.status.in_(ACTIVE_STATUSES),
            Booking.block_start < end, Booking.block_end > start,
            Booking.id != bindparam("exclude", type_=Integer)),
        select(_kind("t"), none_day, none_int, epoch(TimeOff.start_at), epoch(TimeOff.end_at),
               literal(True)).where(
            TimeOff.staff_id == staff, TimeOff.status == "approved",
            TimeOff.start_at < end, TimeOff.end_at > start),
    )


def _work(rows: list[Any], day_from: date, day_to: date, tz: ZoneInfo) -> list[Interval]:
    weekly_open: dict[int, Minutes] = defaultdict(list)
    special: dict[date, Minutes] = {}
    shifts: dict[date, Minutes] = defaultdict(list)
    rostered_weeks: set[date] = set()
    template: dict[int, Minutes] = defaultdict(list)
    has_template = False
    overrides: dict[date, Minutes] = {}
    for k, day, wd, a, b, ok in rows:
        if k == "w":
            weekly_open[int(wd)].append((int(a), int(b)))
        elif k == "h":
            special.setdefault(_day(day), [])
            if ok and a is not None and b is not None:
                special[_day(day)].append((int(a), int(b)))
        elif k == "r":
            shifts[_day(day)].append((int(a), int(b)))
        elif k == "p":
            rostered_weeks.add(_day(day))
        elif k == "a":
            has_template = True
            template[int(wd)].append((int(a), int(b)))
        elif k == "o":
            overrides.setdefault(_day(day), [])
            if ok and a is not None:
                overrides[_day(day)].append((int(a), int(b)))
    intervals: list[Interval] = []
    day = day_from
    while day <= day_to:
        open_min = special.get(day, weekly_open.get(day.weekday(), []))
        if open_min:
            if day - timedelta(days=day.weekday()) in rostered_weeks:
                wanted = shifts.get(day, [])
            elif day in overrides:
                wanted = overrides[day]
            elif has_template:
                wanted = template.get(day.weekday(), [])
            else:
                wanted = open_min
            clipped = _clip(sorted(wanted), sorted(open_min))
            if clipped:
                intervals.extend(localtime.wall_intervals_to_instants(day, clipped, tz))
        day += timedelta(days=1)
    return engine.normalise(intervals)
