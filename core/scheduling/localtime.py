"""The time-zone edge of scheduling: local wall-clock rules in, UTC instants out.

Why a separate module: the engine (:mod:`core.scheduling.engine`) is time-zone blind by design,
so every daylight-saving decision lives here, in one small, exhaustively tested place
(NOTES item 8). Local times are always built as ``datetime(..., tzinfo=ZoneInfo(tz))`` and
converted by ``zoneinfo``; no code here adds a UTC offset by hand.

DST policy (shared by the loader, the roster and the booking pages):

* A local time that does not exist (the spring-forward gap) is never offered as a slot start;
  an opening/working *boundary* inside the gap moves forward to the first existing local time
  after it (02:30 on a 02:00→03:00 night becomes 03:00).
* A local time that exists twice (the fall-back hour) is two different instants: both are
  offered as slot starts; an interval *start* takes the first occurrence and an interval *end*
  the second, so "00:00–24:00" covers the whole 25-hour day. Precisely, an interval covers
  everything from the first moment the wall clock shows its start to the last moment it shows a
  time before its end. That is the second occurrence for an end *inside* the repeated hour, but
  the only relevant one for an end exactly where the repeated hour begins: a 00:00–01:00 shift
  on London's fall-back night is one hour (it is over when the clock first shows 01:00), not
  two, and "…–24:00" the evening before a midnight fall-back (America/Havana) does not reach
  into the next day.
* "09:00" means 09:00 on the wall clock on every day, so the UTC instant shifts with the offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from core.scheduling.engine import Interval, normalise

__all__ = [
    "aligned_candidates",
    "day_bounds",
    "instant_to_local_iso",
    "local_to_instant",
    "wall_intervals_to_instants",
]

MINUTES_PER_DAY = 1440


def _wall(day: date, minute: int) -> datetime:
    """Naive local wall-clock datetime for ``day 00:00 + minute`` (1440 = next midnight)."""
    if not 0 <= minute <= MINUTES_PER_DAY:
        raise ValueError(f"minute must be within 0..1440, got {minute}")
    if minute == MINUTES_PER_DAY:
        day = day + timedelta(days=1)
        minute = 0
    hour, mins = divmod(minute, 60)
    return datetime(day.year, day.month, day.day, hour, mins)


def _exists(wall: datetime, tz: ZoneInfo, fold: int) -> int | None:
    """Instant of the aware ``wall`` if that local time exists, else None.

    Existence is checked by round-tripping (local → UTC → local) and comparing the wall-clock
    fields: in a spring-forward gap zoneinfo still returns *an* instant (PEP 495), but
    converting it back lands on a different wall time, which is how the gap is recognised
    without knowing the zone's transition table.
    """
    aware = wall.replace(tzinfo=tz, fold=fold)
    instant = int(aware.timestamp())
    back = datetime.fromtimestamp(instant, tz).replace(tzinfo=None)
    return instant if back == wall else None


def local_to_instant(day: date, minute: int, tz: ZoneInfo, *, fold: int = 0) -> int | None:
    """Instant of local wall-clock ``day 00:00 + minute``, or None if it does not exist.

    ``minute`` is 0..1440 (1440 is the next day's midnight, so a day's end can be expressed
    without a date change). ``fold`` picks the occurrence of an ambiguous fall-back time:
    0 = first, 1 = second; for an unambiguous time both give the same instant.
    """
    if fold not in (0, 1):
        raise ValueError("fold must be 0 or 1")
    return _exists(_wall(day, minute), tz, fold)


def _first_instant_at_or_after(wall: datetime, tz: ZoneInfo) -> int:
    """First instant whose local wall time is >= ``wall``, where ``wall`` is in a gap.

    PEP 495 maps a gap time to two instants, one per offset, that bracket the transition; local
    wall time is increasing between them, so a bisection over whole seconds finds the
    transition instant (= the first existing local time after the gap) exactly, for any gap
    length, using only zoneinfo conversions.
    """
    t0 = int(wall.replace(tzinfo=tz, fold=0).timestamp())
    t1 = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    lo, hi = min(t0, t1), max(t0, t1)
    # Invariant: wall(lo) < wall <= wall(hi).
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


def _start_boundary(day: date, minute: int, tz: ZoneInfo) -> int:
    """First instant whose wall time is >= the start: the first occurrence of a repeated time,
    the end of the gap for a time inside a spring-forward gap."""
    wall = _wall(day, minute)
    instant = _exists(wall, tz, 0)
    if instant is None:
        instant = _first_instant_at_or_after(wall, tz)
    return instant


def _end_boundary(day: date, minute: int, tz: ZoneInfo) -> int:
    """Just after the last instant whose wall time is < the end (see the module's DST policy).

    Looking at the second *before* the end, in its later occurrence, gives the second
    occurrence for an end inside a repeated hour and the single occurrence for an end where the
    repeated hour begins; an end inside or right after a gap lands on the end of the gap.
    """
    wall = _wall(day, minute) - timedelta(seconds=1)
    instant = _exists(wall, tz, 1)
    if instant is None:
        return _first_instant_at_or_after(wall, tz)
    return instant + 1


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of a local calendar day, as aware UTC datetimes: from the first
    instant the wall clock shows ``day`` to the first instant it shows the next day. So a
    day is 23 or 25 hours long across a DST change, and a midnight that does not exist
    (zones that change at 00:00) starts the day where the gap ends. The one definition of
    "a local day" for queries (pages, reports, "any staff" fairness)."""
    return (datetime.fromtimestamp(_start_boundary(day, 0, tz), UTC),
            datetime.fromtimestamp(_start_boundary(day + timedelta(days=1), 0, tz), UTC))


def wall_intervals_to_instants(
    day: date, intervals_min: list[tuple[int, int]], tz: ZoneInfo
) -> list[Interval]:
    """One day's local intervals (minutes since local midnight) as normalised instant intervals.

    ``(540, 1260)`` is 09:00–21:00 local. Starts take the first occurrence of a repeated time
    and ends the second (unless the end is exactly where the repeated hour begins), so an
    interval covers its whole wall-clock span through a fall-back and nothing more; boundaries
    inside a spring-forward gap move to the end of the gap, so an interval lying entirely
    inside the gap becomes empty and is dropped. Intervals crossing midnight must be split by
    the caller (one call per local day keeps the day → rules mapping obvious).
    """
    out: list[Interval] = []
    for start_min, end_min in intervals_min:
        if start_min > end_min:
            raise ValueError(f"interval ends before it starts: {(start_min, end_min)}")
        if start_min == end_min:
            continue
        out.append((_start_boundary(day, start_min, tz), _end_boundary(day, end_min, tz)))
    return normalise(out)


@lru_cache(maxsize=1024)  # ~4 KB a day: a few MB at most
def _day_candidates(day: date, tz: ZoneInfo, step_min: int) -> tuple[int, ...]:
    """Aligned starts of one local day, cached: they never change for a (day, zone, step).

    Why the cheap classification first: for an ordinary time ``utcoffset`` is the same for
    fold 0 and fold 1 (PEP 495), so one conversion suffices; only when the offsets differ (gap
    or repeated hour, a few minutes a year) do both folds go through the round-trip check.
    """
    out: list[int] = []
    y, m, d = day.year, day.month, day.day
    for minute in range(0, MINUTES_PER_DAY, step_min):
        hour, mins = divmod(minute, 60)
        aware = datetime(y, m, d, hour, mins, tzinfo=tz)
        if aware.utcoffset() == aware.replace(fold=1).utcoffset():
            out.append(int(aware.timestamp()))
            continue
        wall = aware.replace(tzinfo=None)
        for fold in (0, 1):
            instant = _exists(wall, tz, fold)
            if instant is not None:
                out.append(instant)
    return tuple(out)


def aligned_candidates(day_from: date, day_to: date, tz: ZoneInfo, step_min: int) -> list[int]:
    """Candidate slot starts: every instant of the local days ``[day_from, day_to]`` (inclusive)
    whose local minute-of-day is a multiple of ``step_min``. Sorted, unique.

    Alignment is local because customers expect 09:00, 09:15, ... on the wall clock, also in
    zones with half-hour offsets (Asia/Kolkata) and on DST days. Non-existent local times are
    skipped; both occurrences of a repeated local time are included (different instants).
    Per-day results are memoised, so repeated requests cost a few list extensions.
    """
    if step_min <= 0:
        raise ValueError("step_min must be positive")
    out: list[int] = []
    day = day_from
    one_day = timedelta(days=1)
    while day <= day_to:
        out.extend(_day_candidates(day, tz, step_min))
        day += one_day
    # Days are consecutive and each day's instants ascend, so this is normally already sorted;
    # sorting a sorted list is linear, and it guarantees order and uniqueness even for zones
    # whose transitions sit at midnight.
    return sorted(set(out))


def instant_to_local_iso(ts: int, tz: ZoneInfo) -> str:
    """ISO 8601 local time with its offset, e.g. ``2026-03-29T09:00:00+01:00``.

    The offset is kept so that the two occurrences of a repeated hour stay distinguishable
    in API responses and the client never has to guess the zone rules.
    """
    return datetime.fromtimestamp(ts, tz).isoformat()
