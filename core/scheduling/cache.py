"""Availability from a per-process cache of store-days, kept exact by versions in the
database.

Why: the loader's cost grows with people x days (rows, working-time rules, subtraction),
while a store's free time changes only when someone books, cancels or edits a schedule,
and customers ask for the same weeks again and again. So each app process keeps, per
store and local day, the free time (working minus busy) of every active person of the
store, and per store and service who performs it; a request assembles its window from
those days, and the customer's question (anyone, under the store's rule) is answered from
each day's slots, computed once per store, service and day (:class:`CachedWindow`).

Why it stays exact across processes: ``availability_versions`` (one row per store and
UTC date, plus a store-wide row, :mod:`core.models.availability`) is bumped inside the
transaction of every write that changes working or busy time. A request reads, in its one
statement, the loader's first statement (store policy, service timing, offer: never
cached) joined with the versions of its window; a cached day is used only while the
store-wide version and the versions of every UTC date the local day overlaps are those it
was loaded under, and for at most ``FULIAN_AVAILABILITY_CACHE_TTL`` seconds (a safety net
for writes that bypass the services, e.g. SQL typed by hand). Versions are read before
the data they validate, so a day loaded while a write commits is at worst loaded again.

Who bumps: every ORM flush of an availability input (bookings, time-off, overrides,
weekly templates, rosters and their shifts, opening hours, holidays, stores, staff)
queues bumps for what it touched, old and new values alike (:func:`_collect_changes`),
so no ORM writer can forget; a writer that uses Core statements instead (a bulk
``DELETE``, an ``INSERT … RETURNING`` fast path) calls :func:`invalidate`,
:func:`invalidate_store` or :func:`invalidate_busy` inside its write transaction.
Services and their offers are read on every request and need nothing. Bumps are gathered
and written as one statement just before the transaction commits, so they commit or roll
back with the change and keep the version rows locked only for the commit itself. The
booking write path never reads this cache: it checks the slot again inside its own
transaction, so even a stale day could only offer a slot that then answers 409.
"""

from __future__ import annotations

import secrets
import threading
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    and_,
    event,
    inspect,
    literal,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import WRITE_OPTION, write_transaction
from ..extensions import db
from ..models import (
    STORE_WIDE,
    AvailabilityOverride,
    AvailabilityVersion,
    Booking,
    OpeningHours,
    Roster,
    RosterShift,
    StaffProfile,
    Store,
    StoreHoliday,
    TimeOff,
    WeeklyAvailability,
    staff_stores,
)
from . import engine, localtime
from .loader import (
    Interval,
    StoreWindow,
    head_query,
    load_window,
    not_found,
    people_query,
    read_rows,
    rows_query,
    window_of,
)

__all__ = ["invalidate", "invalidate_busy", "invalidate_store", "window"]

EXTENSION = "fulian_availability_cache"
_PENDING = "fulian_availability_bumps"  # Session.info key: bumps waiting for the commit
_ONE_DAY = timedelta(days=1)


class DayCache:
    """A bounded, thread-safe LRU of plain data entries, each valid for one version
    token and at most ``ttl`` seconds. ``capacity`` counts intervals (and people), the
    bulk of the memory: about 120 bytes each."""

    def __init__(self, ttl: float, capacity: int) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, float, Any, int]] = \
            OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], token: Any) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] != token or entry[1] < time.monotonic():
                self._held -= entry[3]
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, key: tuple[Any, ...], token: Any, value: Any, size: int) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._held -= old[3]
            self._entries[key] = (token, time.monotonic() + self.ttl, value, size)
            self._held += size
            while self._held > self.capacity and len(self._entries) > 1:
                _key, evicted = self._entries.popitem(last=False)
                self._held -= evicted[3]

    def __len__(self) -> int:
        return len(self._entries)


def _cache() -> DayCache | None:
    """This app's cache in this process (``None`` when ``FULIAN_AVAILABILITY_CACHE`` is
    off). Per app, because tests run several apps over different databases in one
    process."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(EXTENSION)
    if found is None:
        config = app.config
        found = app.extensions.setdefault(EXTENSION, DayCache(
            float(config.get("FULIAN_AVAILABILITY_CACHE_TTL", 300)),
            int(config.get("FULIAN_AVAILABILITY_CACHE_SIZE", 250_000)),
        ) if config.get("FULIAN_AVAILABILITY_CACHE", True) else False)
    return found if isinstance(found, DayCache) else None


# ----------------------------------------------------------------------------- reading


@lru_cache(maxsize=4096)
def _day_span(day: date, tz: ZoneInfo) -> tuple[int, int] | None:
    """The instants ``[start, end)`` of a local day under the loader's DST rules (a day
    lost entirely to a time-zone change, like Samoa's 2011-12-30, has none)."""
    whole = localtime.wall_intervals_to_instants(day, [(0, localtime.MINUTES_PER_DAY)], tz)
    return whole[0] if whole else None


def _utc_dates(span: tuple[int, int] | None) -> tuple[date, ...]:
    if span is None:
        return ()
    first = datetime.fromtimestamp(span[0], UTC).date()
    last = datetime.fromtimestamp(span[1] - 1, UTC).date()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def _version_range(day_from: date | None, day_to: date | None) -> tuple[date, date]:
    """UTC dates whose versions a window needs: every local day lies within a day of its
    UTC date; an unknown "today" (no ``day_from``) is within a day of UTC's."""
    today = datetime.now(UTC).date()
    first_lo = day_from or today - _ONE_DAY
    first_hi = day_from or today + _ONE_DAY
    last = day_to or first_hi + timedelta(days=6)
    return first_lo - _ONE_DAY, last + _ONE_DAY


def _split(free: list[Interval], spans: list[tuple[int, int] | None]
           ) -> list[list[Interval]]:
    """``free`` (normalised) cut into the given ascending day spans."""
    out: list[list[Interval]] = []
    i, n = 0, len(free)
    for span in spans:
        part: list[Interval] = []
        out.append(part)
        if span is None:
            continue
        start, end = span
        while i < n and free[i][1] <= start:
            i += 1
        j = i
        while j < n and free[j][0] < end:
            a, b = free[j]
            part.append(free[j] if a >= start and b <= end
                        else (max(a, start), min(b, end)))
            j += 1
    return out


def _join(parts: Iterable[list[Interval]]) -> list[Interval]:
    """Consecutive days' intervals as one normalised list (merged across midnight)."""
    out: list[Interval] = []
    for part in parts:
        if not part:
            continue
        if out and out[-1][1] == part[0][0]:
            out[-1] = (out[-1][0], part[0][1])
            out.extend(part[1:])
        else:
            out.extend(part)
    return out


def window(conn: Connection, store_id: int, service_id: int, day_from: date | None,
           day_to: date | None, *, staff_id: int | None = None) -> StoreWindow:
    """Like :func:`core.scheduling.loader.load_window` (same answers), served from this
    process's cache: one SELECT when every day is cached, two otherwise.

    The window (a :class:`CachedWindow`) carries free time instead of working and busy
    time. Not for checks inside a write transaction: those read the database.
    """
    cache = _cache()
    if cache is None:
        return load_window(conn, store_id, service_id, day_from, day_to, staff_id=staff_id)
    lo, hi = _version_range(day_from, day_to)
    version = AvailabilityVersion
    rows = conn.execute(
        head_query(store_id, service_id).add_columns(version.day, version.version)
        .outerjoin(version, and_(version.store_id == Store.id,
                                 or_(version.day == STORE_WIDE, version.day.between(lo, hi))))
    ).all()
    if not rows:
        return not_found(store_id, day_from, day_to)
    result = window_of(store_id, rows[0], day_from, day_to)
    if not result.bookable:
        return result
    versions = {_as_date(r.day): r.version for r in rows if r.day is not None}
    store_token = versions.pop(STORE_WIDE, 0)
    tz = result.tz
    days = [result.day_from + timedelta(days=i)
            for i in range((result.day_to - result.day_from).days + 1)]
    spans = [_day_span(day, tz) for day in days]
    tokens = [(store_token, tuple(versions.get(u, 0) for u in _utc_dates(span)))
              for span in spans]
    keys = [("day", store_id, tz.key, day) for day in days]
    found = [cache.get(key, token) for key, token in zip(keys, tokens, strict=True)]
    people = cache.get(("people", store_id), store_token)
    able = cache.get(("able", store_id, service_id), store_token)
    missing = [day for day, got in zip(days, found, strict=True) if got is None]
    if missing or people is None or able is None:
        first, last = (min(missing), max(missing)) if missing else (None, None)
        loaded = read_rows(conn.execute(rows_query(
            store_id, people_query(store_id), service_id,
            days=(first, last, tz) if first and last else None, with_people=True)).all())
        people = dict(sorted(loaded.names.items()))
        able = tuple(sid for sid in people if sid in loaded.performs)
        cache.put(("people", store_id), store_token, people, len(people))
        cache.put(("able", store_id, service_id), store_token, able, len(able))
        if first and last:
            span_days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
            span_spans = [_day_span(day, tz) for day in span_days]
            by_day: list[dict[int, list[Interval]]] = [{} for _ in span_days]
            for sid, free in loaded.free_time(people, first, last, tz).items():
                for per_day, part in zip(by_day, _split(free, span_spans), strict=True):
                    if part:
                        per_day[sid] = part
            fresh = dict(zip(span_days, by_day, strict=True))
            for i, day in enumerate(days):
                if found[i] is None:
                    found[i] = fresh[day]
                    cache.put(keys[i], tokens[i], found[i],
                              1 + sum(len(v) for v in found[i].values()))
    return CachedWindow(
        **{f.name: getattr(result, f.name) for f in fields(StoreWindow)
           if f.name not in ("staff_names", "known_free")},
        staff_names={sid: people[sid] for sid in able if staff_id in (None, sid)},
        store_key=(store_id, service_id, store_token), per_day=found, day_tokens=tokens,
        spans=spans, all_able=staff_id is None, cache=cache)


@dataclass
class CachedWindow(StoreWindow):
    """A window assembled from cached days. Free time is joined only when asked for;
    the customer's question (anyone, the store's rule) is answered per day from slots
    cached per store, service and day (see :meth:`slots`)."""

    store_key: tuple[int, int, int] = (0, 0, 0)  # store, service, store-wide version
    per_day: list[dict[int, list[Interval]]] = field(default_factory=list)
    day_tokens: list[Any] = field(default_factory=list)
    spans: list[tuple[int, int] | None] = field(default_factory=list)
    all_able: bool = True
    cache: DayCache | None = None

    def free(self) -> dict[int, list[Interval]]:
        if self.known_free is None:
            self.known_free = {sid: _join(day.get(sid, ()) for day in self.per_day)
                               for sid in self.staff_names}
        return self.known_free

    def slots(self, now: int, *, notice: bool = True, horizon: bool = True,
              rule: engine.SlotRule | None = None) -> list[tuple[int, tuple[int, ...]]]:
        """As :meth:`StoreWindow.slots`. Whether a start fits depends only on the free
        time around it, so for anyone under the store's rule each day's starts are
        computed once (from that day and its neighbours in the window, without notice
        and horizon, which are cut off here) and kept while those days' versions hold.
        """
        reach = 60 * max(self.buffer_before_min, self.duration_min + self.buffer_after_min)
        if rule is not None or not self.all_able or not self.bookable \
                or not self.staff_names or self.cache is None \
                or any(span is None or span[1] - span[0] < reach for span in self.spans):
            # (a blocked range longer than a day could reach past the neighbours)
            return super().slots(now, notice=notice, horizon=horizon, rule=rule)
        cut = self.rule(now, notice=notice, horizon=horizon)
        out: list[tuple[int, tuple[int, ...]]] = []
        for i in range(len(self.per_day)):
            starts, staff = self._day_slots(i)
            lo = 0 if cut.earliest is None else bisect_left(starts, cut.earliest)
            hi = len(starts) if cut.latest is None else bisect_left(starts, cut.latest)
            out.extend(zip(starts[lo:hi], staff[lo:hi], strict=True))
        return out

    def _day_slots(self, i: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
        assert self.cache is not None
        store_id, service_id, store_token = self.store_key
        day = self.day_from + timedelta(days=i)
        near = range(max(0, i - 1), min(len(self.per_day), i + 2))
        key = ("slots", store_id, service_id, self.tz.key, day, i > 0,
               i < len(self.per_day) - 1)
        token = (store_token, tuple(self.day_tokens[j] for j in near), self.duration_min,
                 self.buffer_before_min, self.buffer_after_min, self.step_min)
        found = self.cache.get(key, token)
        if found is None:
            free = {sid: _join(self.per_day[j].get(sid, ()) for j in near)
                    for sid in self.staff_names}
            pairs = engine.any_staff_slots(
                free, localtime.aligned_candidates(day, day, self.tz, self.step_min),
                engine.SlotRule(duration=self.duration_min * 60,
                                buffer_before=self.buffer_before_min * 60,
                                buffer_after=self.buffer_after_min * 60))
            found = (tuple(ts for ts, _ in pairs), tuple(who for _, who in pairs))
            self.cache.put(key, token, found,
                           1 + len(pairs) + sum(len(who) for who in set(found[1])) // 8)
        return found


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# --------------------------------------------------------------------------- invalidating


def invalidate(store_id: int, days: Iterable[date]) -> None:
    """The working time of these store-local days changed (a holiday, an override, a
    roster shift): bump the UTC dates around them."""
    _schedule({("store", store_id, d + timedelta(days=k)) for d in days for k in (-1, 0, 1)})


def invalidate_store(store_id: int) -> None:
    """Something of the whole store changed: its time zone, opening hours, weekly
    templates, or who works there."""
    _schedule({("store", store_id, STORE_WIDE)})


def invalidate_busy(staff_id: int, start: datetime, end: datetime) -> None:
    """A person's busy time changed in ``[start, end)`` (aware datetimes) by a statement
    that bypasses the ORM (an ``INSERT``/``UPDATE`` of bookings or time-off): every
    store they work at."""
    _schedule({("staff", staff_id, day) for day in _utc_span(start, end)})


def _schedule(bumps: set[tuple[str, int, date]]) -> None:
    """Queue bumps for the commit of the current write transaction (one of its own if
    there is none), so they commit or roll back with the change they describe."""
    session = db.session()
    if session.in_transaction() and session.connection().get_execution_options().get(
            WRITE_OPTION):
        session.info.setdefault(_PENDING, set()).update(bumps)
        return
    with write_transaction() as fresh:
        fresh.info.setdefault(_PENDING, set()).update(bumps)


def _bump_statement(bumps: set[tuple[str, int, date]], dialect: str) -> Any:
    """One ``INSERT … SELECT … ON CONFLICT DO UPDATE`` setting every named row to a new
    random version (never 0, which a missing row reads as); a person's rows are those of
    every store they work at, a roster's those of its store. Rows are written in key
    order so that two transactions never wait for each other crosswise."""
    parts = []
    for kind, ref, day in sorted(bumps):
        if kind == "store":  # (a store deleted in this transaction has no rows to bump)
            parts.append(select(Store.id.label("store_id"), literal(day, Date).label("day"))
                         .where(Store.id == ref))
        elif kind == "staff":
            parts.append(select(staff_stores.c.store_id.label("store_id"),
                                literal(day, Date).label("day"))
                         .where(staff_stores.c.staff_id == ref))
        else:  # "roster": the roster's store
            parts.append(select(Roster.store_id.label("store_id"),
                                literal(day, Date).label("day")).where(Roster.id == ref))
    rows = union(*parts).subquery()
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    statement = insert(AvailabilityVersion).from_select(
        ["store_id", "day", "version"],
        # "WHERE true" keeps SQLite from reading ON CONFLICT as a join's clause
        select(rows.c.store_id, rows.c.day,
               literal(secrets.randbits(62) + 1, BigInteger)).where(true())
        .order_by(rows.c.store_id, rows.c.day))
    return statement.on_conflict_do_update(
        index_elements=["store_id", "day"], set_={"version": statement.excluded.version})


def _now_and_before(state: Any, name: str, load: bool) -> tuple[Any, Any]:
    """An attribute's value after and before this flush (the same if unchanged). A value
    that was never loaded is read (``load``: an updated row) or stays None."""
    history = state.attrs[name].history
    now = (history.added or history.unchanged or history.deleted or [None])[0]
    if now is None and load and name not in state.dict:
        now = getattr(state.obj(), name)  # e.g. a status set on an expired booking
    return now, (history.deleted or [now])[0]


def _id_of(obj: Any) -> Any:
    """A row's id without loading it (flushed rows have it, expired ones keep it)."""
    state = inspect(obj)
    return state.identity[0] if state.identity else state.dict.get("id")


def _utc_span(start: Any, end: Any) -> list[date]:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return []
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range(max(0, (last - first).days) + 1)]


def _bumps_of(obj: Any, dirty: bool) -> set[tuple[str, int, date]]:
    """What a flushed row of an availability input invalidates (old and new values)."""
    state = inspect(obj)
    out: set[tuple[str, int, date]] = set()

    def each(*names: str) -> list[tuple[Any, ...]]:
        pairs = [_now_and_before(state, name, dirty) for name in names]
        return [tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)]

    def around(kind: str, ref: Any, day: Any, days: int = 1) -> None:
        if isinstance(ref, int) and isinstance(day, date):
            out.update((kind, ref, day + timedelta(days=k)) for k in range(-1, days + 1))

    if isinstance(obj, Booking | TimeOff):
        names = ("staff_id", "block_start", "block_end") if isinstance(obj, Booking) \
            else ("staff_id", "start_at", "end_at")
        if dirty and not any(state.attrs[n].history.has_changes()
                             for n in (*names, "status")):
            return out  # e.g. a status-history row appended, a note edited
        for staff_id, start, end in each(*names):
            if isinstance(staff_id, int):
                out.update(("staff", staff_id, d) for d in _utc_span(start, end))
    elif isinstance(obj, StoreHoliday | AvailabilityOverride):
        for store_id, day in each("store_id", "day"):
            around("store", store_id, day)
    elif isinstance(obj, RosterShift):
        for roster_id, day in each("roster_id", "day"):
            around("roster", roster_id, day)
    elif isinstance(obj, Roster):
        for store_id, monday in each("store_id", "week_start"):
            around("store", store_id, monday, 6)
    elif isinstance(obj, WeeklyAvailability | OpeningHours):
        out.update(("store", store_id, STORE_WIDE) for pair in each("store_id")
                   for store_id in pair if isinstance(store_id, int))
    elif isinstance(obj, Store) and isinstance(_id_of(obj), int):
        out.add(("store", _id_of(obj), STORE_WIDE))
    elif isinstance(obj, StaffProfile) and isinstance(_id_of(obj), int):
        out.add(("staff", _id_of(obj), STORE_WIDE))
        # stores they just left (or all of theirs, if the person is deleted) are no
        # longer found through staff_stores at commit: name them
        stores = state.attrs["stores"].history
        out.update(("store", _id_of(store), STORE_WIDE)
                   for store in (*stores.added, *stores.unchanged, *stores.deleted)
                   if isinstance(_id_of(store), int))
    return out


_INPUTS = (Booking, TimeOff, StoreHoliday, AvailabilityOverride, RosterShift, Roster,
           WeeklyAvailability, OpeningHours, Store, StaffProfile)


@event.listens_for(Session, "after_flush")
def _collect_changes(session: Session, _context: Any) -> None:
    """Rows of availability inputs written through the ORM bump what they touch, so no
    ORM writer (a service, a page, a plugin, a test factory) can forget to."""
    bumps: set[tuple[str, int, date]] = set()
    for objects, dirty in ((session.new, False), (session.deleted, False),
                           (session.dirty, True)):
        for obj in objects:
            if isinstance(obj, _INPUTS):
                bumps |= _bumps_of(obj, dirty)
    if bumps:
        session.info.setdefault(_PENDING, set()).update(bumps)


@event.listens_for(Session, "before_commit")
def _write_bumps(session: Session) -> None:
    session.flush()  # commit flushes only after this event: collect what it would write
    bumps = session.info.pop(_PENDING, None)
    if bumps:
        conn = session.connection()
        conn.execute(_bump_statement(bumps, conn.dialect.name))


@event.listens_for(Session, "after_transaction_end")
def _forget_bumps(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended (a rollback)
        session.info.pop(_PENDING, None)
