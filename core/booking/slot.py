"""What one staff member's time looks like around one booking, in ONE statement.

Checking a booking needs far less than an availability page: one person, one or two
local days. The store-wide loader (:func:`core.scheduling.loader.load_window`) reads
every eligible person of the store in two statements; here a single ``UNION ALL`` reads
the store's opening hours and exceptions, the published roster, the person's weekly
template, dated overrides, bookings and approved time-off for those days, as row tuples.
The rows are read and the working-time rule applied by the loader's own code
(:func:`core.scheduling.loader.read_rows`, ``Rows.working_time``: roster shift if the
week is published, else the dated override, else the template, else the opening hours;
always within the opening hours), so the booking check and the availability page can
never disagree.
"""

from __future__ import annotations

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
from ..scheduling.loader import epoch, read_rows

Interval = tuple[int, int]


def _kind(code: str) -> Any:
    """The first column of each part of the union: which kind of row it is."""
    return literal(code, String).label("kind")


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
    # sorted by the loader's own reader, so that the working-time rule is the loader's
    found = read_rows((k, staff_id, d, None if w is None else int(w),
                       None if a is None else int(a), None if b is None else int(b), ok, None)
                      for k, d, w, a, b, ok in rows)
    return (found.working_time([staff_id], day_from, day_to, tz)[staff_id],
            found.busy_time([staff_id]).get(staff_id, []))


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


