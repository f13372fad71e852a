"""Fetch what the availability engine needs for one store and window, in 5 queries.

Loading ORM objects dominates availability cost (NOTES trap 9), so everything here is
Core selects returning row tuples, one pass per kind of data, independent of the number
of staff: (1) store + service, (2) opening hours + dated exceptions, (3) eligible staff,
(4) working time (published roster shifts, weekly templates, dated overrides),
(5) busy time (active bookings' blocked ranges + approved time-off).

Working time of a day, per person: the published roster's shift if the store published
a roster for that ISO week; otherwise the dated override, else the weekly template; a
person with no template at the store at all works the store's opening hours. Always
clipped to the store's opening hours of that day (holidays close or replace them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Integer,
    and_,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ..models import (
    ACTIVE_STATUSES,
    AvailabilityOverride,
    Booking,
    OpeningHours,
    Roster,
    RosterShift,
    Service,
    StaffProfile,
    Store,
    StoreHoliday,
    StoreServiceOffer,
    TimeOff,
    WeeklyAvailability,
    staff_services,
    staff_stores,
)
from . import engine, localtime

Interval = tuple[int, int]
Minutes = list[tuple[int, int]]


@dataclass
class StoreWindow:
    """Plain data for one store, one service and the local days [day_from, day_to]."""

    store_id: int
    tz: ZoneInfo
    step_min: int
    min_notice_min: int
    horizon_days: int
    day_from: date
    day_to: date
    bookable: bool  # store active and service published and offered here
    found: bool = True  # the store exists
    duration_min: int = 0
    buffer_before_min: int = 0
    buffer_after_min: int = 0
    staff_names: dict[int, str] = field(default_factory=dict)
    work: dict[int, list[Interval]] = field(default_factory=dict)
    busy: dict[int, list[Interval]] = field(default_factory=dict)

    def free(self) -> dict[int, list[Interval]]:
        return {sid: engine.free_time(self.work.get(sid, []), self.busy.get(sid, []))
                for sid in self.staff_names}

    def rule(self, now: int, *, notice: bool = True, horizon: bool = True) -> engine.SlotRule:
        return engine.SlotRule(
            duration=self.duration_min * 60, buffer_before=self.buffer_before_min * 60,
            buffer_after=self.buffer_after_min * 60,
            earliest=now + self.min_notice_min * 60 if notice else None,
            latest=now + self.horizon_days * 86400 if horizon else None,
        )

    def slots(self, now: int, *, notice: bool = True, horizon: bool = True,
              rule: engine.SlotRule | None = None) -> list[tuple[int, tuple[int, ...]]]:
        """Every start in the window with the staff who can take it (under ``rule``,
        by default the store's rule for customers)."""
        if not self.bookable or not self.staff_names:
            return []
        candidates = localtime.aligned_candidates(self.day_from, self.day_to, self.tz,
                                                  self.step_min)
        return engine.any_staff_slots(
            self.free(), candidates, rule or self.rule(now, notice=notice, horizon=horizon))


class epoch(FunctionElement[int]):  # noqa: N801 (reads like the SQL function it is)
    """Whole seconds since 1970 of a UTC timestamp column, computed by the database.

    Busy time is the bulk of a window (~25k instants for 50 staff over 30 days): turning
    them into datetimes and back to integers in Python cost more than the query itself.
    """

    type = BigInteger()
    inherit_cache = True
    name = "epoch"


@compiles(epoch)
def _epoch_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    # Stored as naive UTC text; strftime('%s') reads it as UTC and truncates, like int().
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _clip(a: Minutes, b: Minutes) -> Minutes:
    out: Minutes = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return sorted(out)


def load_window(conn: Connection, store_id: int, service_id: int, day_from: date | None,
                day_to: date | None, *, staff_id: int | None = None,
                exclude_booking_id: int | None = None) -> StoreWindow:
    """Load a :class:`StoreWindow` using exactly five SELECT statements.

    ``day_from=None`` means today in the store's time zone and ``day_to=None`` a week
    from ``day_from``: resolved after the first query, so defaults cost no extra read.
    """
    # (1) store policy + service timing + whether the store offers it
    head = conn.execute(
        select(Store.timezone, Store.status, Store.slot_step_min, Store.min_notice_min,
               Store.horizon_days, Service.duration_min, Service.buffer_before_min,
               Service.buffer_after_min, Service.published, StoreServiceOffer.service_id)
        .select_from(Store)
        .join(Service, Service.id == service_id)
        .outerjoin(StoreServiceOffer, and_(StoreServiceOffer.store_id == Store.id,
                                           StoreServiceOffer.service_id == Service.id))
        .where(Store.id == store_id)
    ).first()
    if head is None:
        today = datetime.now(UTC).date()
        return StoreWindow(store_id, ZoneInfo("UTC"), 15, 0, 0, day_from or today,
                           day_to or day_from or today, False, found=False)
    tz = ZoneInfo(head.timezone)
    if day_from is None:
        day_from = datetime.now(tz).date()
    if day_to is None:
        day_to = day_from + timedelta(days=6)
    window = StoreWindow(
        store_id=store_id, tz=tz, step_min=head.slot_step_min,
        min_notice_min=head.min_notice_min, horizon_days=head.horizon_days,
        day_from=day_from, day_to=day_to,
        bookable=head.status == "active" and bool(head.published) and head.service_id
        is not None,
        duration_min=head.duration_min, buffer_before_min=head.buffer_before_min,
        buffer_after_min=head.buffer_after_min,
    )

    # (2) opening hours per weekday + dated exceptions in the window
    hours = conn.execute(union_all(
        select(literal("w").label("kind"), cast(OpeningHours.weekday, Integer).label("wd"),
               cast(null(), Date).label("day"), OpeningHours.opens_min.label("a"),
               OpeningHours.closes_min.label("b"), literal(False).label("closed"))
        .where(OpeningHours.store_id == store_id),
        select(literal("h"), cast(null(), Integer), StoreHoliday.day, StoreHoliday.opens_min,
               StoreHoliday.closes_min, StoreHoliday.closed)
        .where(StoreHoliday.store_id == store_id, StoreHoliday.day >= day_from,
               StoreHoliday.day <= day_to),
    )).all()
    weekly_open: dict[int, Minutes] = defaultdict(list)
    special: dict[date, Minutes] = {}
    for kind, wd, day, a, b, closed in hours:
        if kind == "w":
            weekly_open[wd].append((a, b))
        else:
            d = _date(day)
            special.setdefault(d, [])
            if not closed and a is not None and b is not None:
                special[d].append((a, b))

    # (3) staff who work here and perform this service
    eligible = (
        select(StaffProfile.id)
        .join(staff_stores, and_(staff_stores.c.staff_id == StaffProfile.id,
                                 staff_stores.c.store_id == store_id))
        .join(staff_services, and_(staff_services.c.staff_id == StaffProfile.id,
                                   staff_services.c.service_id == service_id))
        .where(StaffProfile.active.is_(True))
    )
    if staff_id is not None:
        eligible = eligible.where(StaffProfile.id == staff_id)
    names_query = select(StaffProfile.id, StaffProfile.display_name).where(
        StaffProfile.id.in_(eligible)
    ).order_by(StaffProfile.id)
    window.staff_names = {sid: name for sid, name in conn.execute(names_query).all()}
    if not window.staff_names:
        return window
    staff_ids = list(window.staff_names)

    # (4) working time: published roster shifts, weekly templates, dated overrides
    monday_from = day_from - timedelta(days=day_from.weekday())
    work_rows = conn.execute(union_all(
        select(literal("r").label("kind"), RosterShift.staff_id.label("sid"),
               RosterShift.day.label("day"), cast(null(), Integer).label("wd"),
               RosterShift.start_min.label("a"), RosterShift.end_min.label("b"),
               literal(True).label("ok"))
        .join(Roster, Roster.id == RosterShift.roster_id)
        .where(Roster.store_id == store_id, Roster.status == "published",
               RosterShift.day >= day_from, RosterShift.day <= day_to,
               RosterShift.staff_id.in_(staff_ids)),
        select(literal("p"), cast(null(), Integer), Roster.week_start, cast(null(), Integer),
               cast(null(), Integer), cast(null(), Integer), literal(True))
        .where(Roster.store_id == store_id, Roster.status == "published",
               Roster.week_start >= monday_from, Roster.week_start <= day_to),
        select(literal("a"), WeeklyAvailability.staff_id, cast(null(), Date),
               cast(WeeklyAvailability.weekday, Integer), WeeklyAvailability.start_min,
               WeeklyAvailability.end_min, literal(True))
        .where(WeeklyAvailability.store_id == store_id,
               WeeklyAvailability.staff_id.in_(staff_ids)),
        select(literal("o"), AvailabilityOverride.staff_id, AvailabilityOverride.day,
               cast(null(), Integer), AvailabilityOverride.start_min,
               AvailabilityOverride.end_min, AvailabilityOverride.available)
        .where(AvailabilityOverride.store_id == store_id,
               AvailabilityOverride.staff_id.in_(staff_ids),
               AvailabilityOverride.day >= day_from, AvailabilityOverride.day <= day_to),
    )).all()
    rostered_weeks: set[date] = set()
    shifts: dict[tuple[int, date], Minutes] = defaultdict(list)
    template: dict[int, dict[int, Minutes]] = defaultdict(lambda: defaultdict(list))
    overrides: dict[tuple[int, date], Minutes] = {}
    for kind, sid, day, wd, a, b, ok in work_rows:
        if kind == "r":
            shifts[(sid, _date(day))].append((a, b))
        elif kind == "p":
            rostered_weeks.add(_date(day))
        elif kind == "a":
            template[sid][wd].append((a, b))
        else:
            key = (sid, _date(day))
            overrides.setdefault(key, [])
            if ok and a is not None:
                overrides[key].append((a, b))

    days = [day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)]
    # Most people share a few day shapes: convert each (day, wall intervals) only once.
    instants: dict[tuple[date, tuple[tuple[int, int], ...]], list[Interval]] = {}
    for sid in staff_ids:
        intervals: list[Interval] = []
        for day in days:
            open_min = special.get(day, weekly_open.get(day.weekday(), []))
            if not open_min:
                continue
            if day - timedelta(days=day.weekday()) in rostered_weeks:
                wanted = shifts.get((sid, day), [])
            elif (sid, day) in overrides:
                wanted = overrides[(sid, day)]
            elif sid in template:
                wanted = template[sid].get(day.weekday(), [])
            else:
                wanted = open_min
            clipped = _clip(sorted(wanted), sorted(open_min))
            if clipped:
                key = (day, tuple(clipped))
                if key not in instants:
                    instants[key] = localtime.wall_intervals_to_instants(day, clipped, tz)
                intervals.extend(instants[key])
        window.work[sid] = engine.normalise(intervals)

    # (5) busy time: active bookings (blocked range incl. buffers) and approved time-off
    start = datetime(day_from.year, day_from.month, day_from.day, tzinfo=tz) - timedelta(days=1)
    end = datetime(day_to.year, day_to.month, day_to.day, tzinfo=tz) + timedelta(days=2)
    bookings = select(Booking.staff_id.label("sid"), epoch(Booking.block_start).label("a"),
                      epoch(Booking.block_end).label("b")).where(
        Booking.staff_id.in_(staff_ids), Booking.status.in_(ACTIVE_STATUSES),
        Booking.block_start < end, Booking.block_end > start)
    if exclude_booking_id is not None:
        bookings = bookings.where(Booking.id != exclude_booking_id)
    busy_rows = conn.execute(union_all(
        bookings,
        select(TimeOff.staff_id, epoch(TimeOff.start_at), epoch(TimeOff.end_at)).where(
            TimeOff.staff_id.in_(staff_ids), TimeOff.status == "approved",
            TimeOff.start_at < end, TimeOff.end_at > start),
    )).all()
    busy: dict[int, list[Interval]] = defaultdict(list)
    for sid, a, b in busy_rows:
        busy[sid].append((a, b))
    window.busy = {sid: engine.normalise(v) for sid, v in busy.items()}
    return window
