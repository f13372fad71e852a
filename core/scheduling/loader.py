"""Fetch what the availability engine needs for one store and window, in two statements.

Loading ORM objects dominates availability cost (NOTES trap 9), so everything here is
Core selects returning row tuples of only the columns the engine needs, one pass for the
whole store, independent of the number of staff and days:

1. :func:`head_query`: the store's policy and time zone, the service's timing, and
   whether the store offers it (the time zone is needed before anything is dated);
2. :func:`rows_query`: one ``UNION ALL`` of the people (id, name, whether they perform
   the service), opening hours and dated exceptions, published roster shifts and weeks,
   weekly templates, dated overrides, active bookings' blocked ranges and approved
   time-off.

Working time of a day, per person: the published roster's shift if the store published
a roster for that ISO week; otherwise the dated override, else the weekly template; a
person with no template at the store at all works the store's opening hours. Always
clipped to the store's opening hours of that day (holidays close or replace them).

:func:`load_window` reads and computes everything for one window (the booking write
path and the back office use it: never cached); :mod:`core.scheduling.cache` reuses the
same statements and :func:`read_rows`/:meth:`Rows.free_time` for the days it misses, so
both paths compute free time the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Boolean,
    CompoundSelect,
    Connection,
    Date,
    Select,
    String,
    and_,
    cast,
    exists,
    literal,
    null,
    select,
    true,
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
Minutes = tuple[tuple[int, int], ...]


@dataclass
class StoreWindow:
    """Plain data for one store, one service and the local days [day_from, day_to].

    ``known_free`` is set instead of ``work``/``busy`` when free time comes ready-made
    (from :mod:`core.scheduling.cache`)."""

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
    known_free: dict[int, list[Interval]] | None = None

    def free(self) -> dict[int, list[Interval]]:
        if self.known_free is not None:
            return self.known_free
        return {sid: engine.free_time(self.work.get(sid, []), self.busy.get(sid, []))
                for sid in self.staff_names}

    def rule(self, now: int, *, notice: bool = True, horizon: bool = True) -> engine.SlotRule:
        return engine.SlotRule(
            duration=self.duration_min * 60, buffer_before=self.buffer_before_min * 60,
            buffer_after=self.buffer_after_min * 60,
            earliest=now + self.min_notice_min * 60 if notice else None,
            latest=now + self.horizon_days * 86400 if horizon else None,
        )

    def candidates(self) -> list[int]:
        """Every aligned start of the window's local days (see :mod:`.localtime`)."""
        return localtime.aligned_candidates(self.day_from, self.day_to, self.tz,
                                            self.step_min)

    def slots(self, now: int, *, notice: bool = True, horizon: bool = True,
              rule: engine.SlotRule | None = None) -> list[tuple[int, tuple[int, ...]]]:
        """Every start in the window with the staff who can take it (under ``rule``,
        by default the store's rule for customers)."""
        if not self.bookable or not self.staff_names:
            return []
        return engine.any_staff_slots(
            self.free(), self.candidates(), rule or self.rule(now, notice=notice,
                                                              horizon=horizon))


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
    out: list[tuple[int, int]] = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return tuple(sorted(out))


# ------------------------------------------------------------------------- statement 1


def head_query(store_id: int, service_id: int) -> Select[Any]:
    """The store's policy and the service's timing: one row, or none when the store or
    the service does not exist. ``offered`` is null when the store does not offer it."""
    return (
        select(Store.timezone, Store.status, Store.slot_step_min, Store.min_notice_min,
               Store.horizon_days, Service.duration_min, Service.buffer_before_min,
               Service.buffer_after_min, Service.published,
               StoreServiceOffer.service_id.label("offered"))
        .select_from(Store)
        .join(Service, Service.id == service_id)
        .outerjoin(StoreServiceOffer, and_(StoreServiceOffer.store_id == Store.id,
                                           StoreServiceOffer.service_id == Service.id))
        .where(Store.id == store_id)
    )


def window_of(store_id: int, head: Any, day_from: date | None, day_to: date | None
              ) -> StoreWindow:
    """An empty :class:`StoreWindow` from a :func:`head_query` row; ``day_from=None``
    means today in the store's time zone, ``day_to=None`` a week from ``day_from``."""
    tz = ZoneInfo(head.timezone)
    if day_from is None:
        day_from = datetime.now(tz).date()
    if day_to is None:
        day_to = day_from + timedelta(days=6)
    return StoreWindow(
        store_id=store_id, tz=tz, step_min=head.slot_step_min,
        min_notice_min=head.min_notice_min, horizon_days=head.horizon_days,
        day_from=day_from, day_to=day_to,
        bookable=head.status == "active" and bool(head.published)
        and head.offered is not None,
        duration_min=head.duration_min, buffer_before_min=head.buffer_before_min,
        buffer_after_min=head.buffer_after_min,
    )


def not_found(store_id: int, day_from: date | None, day_to: date | None) -> StoreWindow:
    today = datetime.now(UTC).date()
    return StoreWindow(store_id, ZoneInfo("UTC"), 15, 0, 0, day_from or today,
                       day_to or day_from or today, False, found=False)


# ------------------------------------------------------------------------- statement 2


def people_query(store_id: int, service_id: int | None = None,
                 staff_id: int | None = None) -> Select[Any]:
    """Ids of the active people of the store; with ``service_id`` only those who
    perform it, with ``staff_id`` only that person."""
    query = select(StaffProfile.id).join(staff_stores, and_(
        staff_stores.c.staff_id == StaffProfile.id, staff_stores.c.store_id == store_id)
    ).where(StaffProfile.active.is_(True))
    if service_id is not None:
        query = query.join(staff_services, and_(staff_services.c.staff_id == StaffProfile.id,
                                                staff_services.c.service_id == service_id))
    if staff_id is not None:
        query = query.where(StaffProfile.id == staff_id)
    return query


def busy_span(day_from: date, day_to: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Instants that bound every busy range that can touch the local days (generous by a
    day on each side, so no zone rule can leave one out)."""
    start = datetime(day_from.year, day_from.month, day_from.day, tzinfo=tz) - timedelta(days=1)
    end = datetime(day_to.year, day_to.month, day_to.day, tzinfo=tz) + timedelta(days=2)
    return start, end


def rows_query(store_id: int, people: Select[Any], service_id: int, *,
               days: tuple[date, date, ZoneInfo] | None, with_people: bool,
               exclude_booking_id: int | None = None) -> CompoundSelect:
    """One ``UNION ALL`` of row tuples ``(kind, sid, day, wd, a, b, ok, name)``.

    ``people`` selects the staff ids to read; ``with_people`` adds their rows (kind
    ``s``: name, and in ``ok`` whether they perform ``service_id``); ``days`` =
    ``(day_from, day_to, tz)`` adds working and busy time of those local days.
    """
    big, none_day, none_int = BigInteger, cast(null(), Date), cast(null(), BigInteger)
    none_name = cast(null(), String)

    def kind(code: str) -> Any:
        return literal(code, String).label("kind")

    parts: list[Select[Any]] = []
    if with_people:
        performs = exists().where(staff_services.c.staff_id == StaffProfile.id,
                                  staff_services.c.service_id == service_id)
        parts.append(select(kind("s"), cast(StaffProfile.id, big).label("sid"),
                            none_day.label("day"), none_int.label("wd"), none_int.label("a"),
                            none_int.label("b"), performs.label("ok"),
                            StaffProfile.display_name.label("name"))
                     .where(StaffProfile.id.in_(people)))
    if days is not None:
        day_from, day_to, tz = days
        monday_from = day_from - timedelta(days=day_from.weekday())
        start, end = busy_span(day_from, day_to, tz)
        bookings = select(kind("b"), cast(Booking.staff_id, big), none_day, none_int,
                          epoch(Booking.block_start), epoch(Booking.block_end), true(),
                          none_name).where(
            Booking.staff_id.in_(people), Booking.status.in_(ACTIVE_STATUSES),
            Booking.block_start < end, Booking.block_end > start)
        if exclude_booking_id is not None:
            bookings = bookings.where(Booking.id != exclude_booking_id)
        parts += [
            select(kind("w"), none_int, none_day, cast(OpeningHours.weekday, big),
                   cast(OpeningHours.opens_min, big), cast(OpeningHours.closes_min, big),
                   true(), none_name)
            .where(OpeningHours.store_id == store_id),
            select(kind("h"), none_int, StoreHoliday.day, none_int,
                   cast(StoreHoliday.opens_min, big), cast(StoreHoliday.closes_min, big),
                   cast(~StoreHoliday.closed, Boolean), none_name)
            .where(StoreHoliday.store_id == store_id, StoreHoliday.day >= day_from,
                   StoreHoliday.day <= day_to),
            select(kind("r"), cast(RosterShift.staff_id, big), RosterShift.day, none_int,
                   cast(RosterShift.start_min, big), cast(RosterShift.end_min, big), true(),
                   none_name)
            .join(Roster, Roster.id == RosterShift.roster_id)
            .where(Roster.store_id == store_id, Roster.status == "published",
                   RosterShift.day >= day_from, RosterShift.day <= day_to,
                   RosterShift.staff_id.in_(people)),
            select(kind("p"), none_int, Roster.week_start, none_int, none_int, none_int,
                   true(), none_name)
            .where(Roster.store_id == store_id, Roster.status == "published",
                   Roster.week_start >= monday_from, Roster.week_start <= day_to),
            select(kind("a"), cast(WeeklyAvailability.staff_id, big), none_day,
                   cast(WeeklyAvailability.weekday, big),
                   cast(WeeklyAvailability.start_min, big),
                   cast(WeeklyAvailability.end_min, big), true(), none_name)
            .where(WeeklyAvailability.store_id == store_id,
                   WeeklyAvailability.staff_id.in_(people)),
            select(kind("o"), cast(AvailabilityOverride.staff_id, big),
                   AvailabilityOverride.day, none_int,
                   cast(AvailabilityOverride.start_min, big),
                   cast(AvailabilityOverride.end_min, big), AvailabilityOverride.available,
                   none_name)
            .where(AvailabilityOverride.store_id == store_id,
                   AvailabilityOverride.staff_id.in_(people),
                   AvailabilityOverride.day >= day_from, AvailabilityOverride.day <= day_to),
            bookings,
            select(kind("t"), cast(TimeOff.staff_id, big), none_day, none_int,
                   epoch(TimeOff.start_at), epoch(TimeOff.end_at), true(), none_name)
            .where(TimeOff.staff_id.in_(people), TimeOff.status == "approved",
                   TimeOff.start_at < end, TimeOff.end_at > start),
        ]
    return union_all(*parts)


@dataclass
class Rows:
    """The rows of :func:`rows_query`, sorted by kind (all plain data)."""

    names: dict[int, str] = field(default_factory=dict)
    performs: set[int] = field(default_factory=set)
    weekly_open: dict[int, list[tuple[int, int]]] = field(
        default_factory=lambda: defaultdict(list))
    special: dict[date, list[tuple[int, int]]] = field(default_factory=dict)
    rostered_weeks: set[date] = field(default_factory=set)
    shifts: dict[tuple[int, date], list[tuple[int, int]]] = field(
        default_factory=lambda: defaultdict(list))
    template: dict[int, dict[int, list[tuple[int, int]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    overrides: dict[tuple[int, date], list[tuple[int, int]]] = field(default_factory=dict)
    busy: dict[int, list[Interval]] = field(default_factory=lambda: defaultdict(list))

    def working_time(self, staff_ids: Iterable[int], day_from: date, day_to: date,
                     tz: ZoneInfo) -> dict[int, list[Interval]]:
        """Working instants per person over the local days (sorted, normalised)."""
        staff_ids = list(staff_ids)
        out: dict[int, list[Interval]] = {sid: [] for sid in staff_ids}
        template = {sid: {wd: tuple(sorted(v)) for wd, v in days.items()}
                    for sid, days in self.template.items()}
        day = day_from
        while day <= day_to:
            wd = day.weekday()
            open_min = tuple(sorted(self.special.get(day, self.weekly_open.get(wd, []))))
            if open_min:
                rostered = day - timedelta(days=wd) in self.rostered_weeks
                # Most people share a few day shapes: convert each shape of the day once.
                shapes: dict[Minutes, list[Interval]] = {}
                for sid in staff_ids:
                    if rostered:
                        wanted = tuple(sorted(self.shifts.get((sid, day), ())))
                    elif (sid, day) in self.overrides:
                        wanted = tuple(sorted(self.overrides[(sid, day)]))
                    elif sid in template:
                        wanted = template[sid].get(wd, ())
                    else:
                        wanted = open_min
                    instants = shapes.get(wanted)
                    if instants is None:
                        clipped = _clip(wanted, open_min)
                        instants = localtime.wall_intervals_to_instants(
                            day, list(clipped), tz) if clipped else []
                        shapes[wanted] = instants
                    out[sid].extend(instants)
            day += timedelta(days=1)
        # Days ascend and each day's instants are normalised: only touching days merge.
        return {sid: engine.normalise(v) for sid, v in out.items()}

    def busy_time(self, staff_ids: Iterable[int]) -> dict[int, list[Interval]]:
        return {sid: engine.normalise(self.busy[sid]) for sid in staff_ids
                if sid in self.busy}

    def free_time(self, staff_ids: Iterable[int], day_from: date, day_to: date,
                  tz: ZoneInfo) -> dict[int, list[Interval]]:
        """Working time minus busy time per person over the local days."""
        work = self.working_time(staff_ids, day_from, day_to, tz)
        return {sid: engine.free_time(w, self.busy.get(sid, ())) for sid, w in work.items()}


def read_rows(rows: Iterable[Any]) -> Rows:
    """Sort the rows of :func:`rows_query` into plain dictionaries."""
    out = Rows()
    for kind, sid, day, wd, a, b, ok, name in rows:
        if kind == "b" or kind == "t":
            out.busy[sid].append((a, b))
        elif kind == "s":
            out.names[sid] = name
            if ok:
                out.performs.add(sid)
        elif kind == "w":
            out.weekly_open[wd].append((a, b))
        elif kind == "h":
            d = _date(day)
            out.special.setdefault(d, [])
            if ok and a is not None and b is not None:
                out.special[d].append((a, b))
        elif kind == "r":
            out.shifts[(sid, _date(day))].append((a, b))
        elif kind == "p":
            out.rostered_weeks.add(_date(day))
        elif kind == "a":
            out.template[sid][wd].append((a, b))
        else:  # "o"
            key = (sid, _date(day))
            out.overrides.setdefault(key, [])
            if ok and a is not None:
                out.overrides[key].append((a, b))
    return out


def load_window(conn: Connection, store_id: int, service_id: int, day_from: date | None,
                day_to: date | None, *, staff_id: int | None = None,
                exclude_booking_id: int | None = None) -> StoreWindow:
    """Load a :class:`StoreWindow` of the people who perform the service (or only
    ``staff_id``) using two SELECT statements, straight from the database.

    ``day_from=None`` means today in the store's time zone and ``day_to=None`` a week
    from ``day_from``: resolved after the first statement, so defaults cost no extra read.
    """
    head = conn.execute(head_query(store_id, service_id)).first()
    if head is None:
        return not_found(store_id, day_from, day_to)
    window = window_of(store_id, head, day_from, day_to)
    people = people_query(store_id, service_id, staff_id)
    rows = read_rows(conn.execute(rows_query(
        store_id, people, service_id, days=(window.day_from, window.day_to, window.tz),
        with_people=True, exclude_booking_id=exclude_booking_id)).all())
    window.staff_names = dict(sorted(rows.names.items()))
    if window.staff_names:
        window.work = rows.working_time(window.staff_names, window.day_from, window.day_to,
                                        window.tz)
        window.busy = rows.busy_time(window.staff_names)
    return window
