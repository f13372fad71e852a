"""DST and odd-offset behaviour of the local-time edge, plus the engine end to end.

Fixed cases pin the documented policy on real transitions (Europe/London, America/New_York) and
on zones without DST or with half-hour offsets (Asia/Shanghai, Asia/Kolkata). Property tests
then compare against an independent oracle that walks *instants* minute by minute and reads
their local wall time, so the wall-time → instant code is checked by the opposite direction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling.engine import SlotRule, free_time, staff_slots
from core.scheduling.localtime import (
    aligned_candidates,
    day_bounds,
    instant_to_local_iso,
    local_to_instant,
    wall_intervals_to_instants,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
KOLKATA = ZoneInfo("Asia/Kolkata")

# (zone, day, kind, local minute-of-day where the missing / repeated hour begins)
TRANSITIONS = [
    (LONDON, date(2026, 3, 29), "gap", 60),  # 01:00 -> 02:00, 01:xx missing
    (LONDON, date(2026, 10, 25), "fold", 60),  # 02:00 -> 01:00, 01:xx twice
    (NEW_YORK, date(2026, 3, 8), "gap", 120),  # 02:00 -> 03:00, 02:xx missing
    (NEW_YORK, date(2026, 11, 1), "fold", 60),  # 02:00 -> 01:00, 01:xx twice
]
IDS = [f"{tz.key}-{day}" for tz, day, _, _ in TRANSITIONS]


def _local(ts: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, tz)


# --- local_to_instant / instant_to_local_iso ------------------------------------------------


def test_local_to_instant_gap_fold_and_midnight() -> None:
    assert local_to_instant(date(2026, 3, 29), 90, LONDON) is None  # 01:30 does not exist
    assert local_to_instant(date(2026, 3, 29), 90, LONDON, fold=1) is None
    first = local_to_instant(date(2026, 10, 25), 90, LONDON)
    second = local_to_instant(date(2026, 10, 25), 90, LONDON, fold=1)
    assert first is not None and second is not None and second - first == 3600
    assert instant_to_local_iso(first, LONDON) == "2026-10-25T01:30:00+01:00"
    assert instant_to_local_iso(second, LONDON) == "2026-10-25T01:30:00+00:00"
    # unambiguous: fold does not matter
    assert local_to_instant(date(2026, 6, 1), 540, LONDON) == local_to_instant(
        date(2026, 6, 1), 540, LONDON, fold=1
    )
    # 1440 is the next day's midnight
    assert local_to_instant(date(2026, 3, 28), 1440, LONDON) == local_to_instant(
        date(2026, 3, 29), 0, LONDON
    )
    with pytest.raises(ValueError):
        local_to_instant(date(2026, 1, 1), 1441, LONDON)
    with pytest.raises(ValueError):
        local_to_instant(date(2026, 1, 1), 0, LONDON, fold=2)


def test_instant_to_local_iso_keeps_the_offset() -> None:
    paris = ZoneInfo("Europe/Paris")
    ts = local_to_instant(date(2026, 3, 29), 540, paris)
    assert ts is not None
    assert instant_to_local_iso(ts, paris) == "2026-03-29T09:00:00+02:00"
    assert instant_to_local_iso(ts, KOLKATA) == "2026-03-29T12:30:00+05:30"
    assert instant_to_local_iso(0, ZoneInfo("UTC")) == "1970-01-01T00:00:00+00:00"


# --- aligned_candidates ---------------------------------------------------------------------


@pytest.mark.parametrize(("tz", "day", "kind", "hour_start"), TRANSITIONS, ids=IDS)
def test_candidates_skip_the_gap_and_repeat_the_fold(
    tz: ZoneInfo, day: date, kind: str, hour_start: int
) -> None:
    cands = aligned_candidates(day - timedelta(days=1), day + timedelta(days=1), tz, 15)
    assert cands == sorted(set(cands)), "sorted and unique"
    locals_ = [_local(ts, tz) for ts in cands]
    assert all(lt.minute % 15 == 0 and lt.second == 0 for lt in locals_)
    assert {lt.date() for lt in locals_} == {day - timedelta(days=1), day, day + timedelta(days=1)}
    on_day = [lt for lt in locals_ if lt.date() == day]
    if kind == "gap":
        assert len(on_day) == 96 - 4
        assert not [lt for lt in on_day if lt.hour == hour_start // 60]
        # every candidate really is that wall time (nothing "normalised" into a gap)
        for ts, lt in zip(cands, locals_, strict=True):
            assert local_to_instant(lt.date(), lt.hour * 60 + lt.minute, tz) == ts
    else:
        assert len(on_day) == 96 + 4
        repeated = [lt for lt in on_day if lt.hour == hour_start // 60]
        assert [lt.strftime("%H:%M") for lt in repeated] == ["01:00", "01:15", "01:30", "01:45"] * 2
        assert [lt.fold for lt in repeated] == [0] * 4 + [1] * 4
    assert len([lt for lt in locals_ if lt.date() != day]) == 2 * 96


def test_candidates_without_dst_are_96_a_day() -> None:
    cands = aligned_candidates(date(2026, 3, 1), date(2026, 3, 31), SHANGHAI, 15)
    assert len(cands) == 31 * 96
    assert all(b - a == 900 for a, b in zip(cands, cands[1:], strict=False))
    assert instant_to_local_iso(cands[0], SHANGHAI) == "2026-03-01T00:00:00+08:00"


def test_kolkata_step_is_aligned_to_local_not_utc() -> None:
    cands = aligned_candidates(date(2026, 3, 29), date(2026, 3, 29), KOLKATA, 15)
    assert len(cands) == 96
    assert {_local(ts, KOLKATA).minute for ts in cands} == {0, 15, 30, 45}
    hourly = aligned_candidates(date(2026, 3, 29), date(2026, 3, 29), KOLKATA, 60)
    assert {_local(ts, KOLKATA).minute for ts in hourly} == {0}
    # local :00 is :30 in UTC; a UTC-aligned grid would have produced :00
    assert {(ts % 3600) // 60 for ts in hourly} == {30}
    assert instant_to_local_iso(hourly[9], KOLKATA) == "2026-03-29T09:00:00+05:30"


def test_candidates_edge_cases() -> None:
    assert aligned_candidates(date(2026, 3, 2), date(2026, 3, 1), LONDON, 15) == []
    with pytest.raises(ValueError):
        aligned_candidates(date(2026, 3, 1), date(2026, 3, 1), LONDON, 0)
    # steps that do not divide the day restart at local midnight
    odd = aligned_candidates(date(2026, 3, 1), date(2026, 3, 2), LONDON, 7)
    assert len(odd) == 2 * len(range(0, 1440, 7))


# --- wall_intervals_to_instants -------------------------------------------------------------


@pytest.mark.parametrize(("tz", "day", "kind", "hour_start"), TRANSITIONS, ids=IDS)
def test_opening_hours_stay_on_the_wall_clock(
    tz: ZoneInfo, day: date, kind: str, hour_start: int
) -> None:
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        [(start, end)] = wall_intervals_to_instants(d, [(540, 1260)], tz)
        assert instant_to_local_iso(start, tz).startswith(f"{d.isoformat()}T09:00:00")
        assert instant_to_local_iso(end, tz).startswith(f"{d.isoformat()}T21:00:00")
        assert end - start == 12 * 3600
    # the UTC instant of 09:00 moves by the offset change
    before = wall_intervals_to_instants(day - timedelta(days=1), [(540, 1260)], tz)[0][0]
    after = wall_intervals_to_instants(day + timedelta(days=1), [(540, 1260)], tz)[0][0]
    assert after - before == 2 * 86400 + (-3600 if kind == "gap" else 3600)


@pytest.mark.parametrize(("tz", "day", "kind", "hour_start"), TRANSITIONS, ids=IDS)
def test_whole_day_is_23_or_25_hours(tz: ZoneInfo, day: date, kind: str, hour_start: int) -> None:
    [(start, end)] = wall_intervals_to_instants(day, [(0, 1440)], tz)
    assert end - start == (23 if kind == "gap" else 25) * 3600
    [(s_prev, e_prev)] = wall_intervals_to_instants(day - timedelta(days=1), [(0, 1440)], tz)
    assert e_prev - s_prev == 24 * 3600 and e_prev == start


def test_gap_boundaries_move_forward() -> None:
    spring = date(2026, 3, 29)
    [(start, end)] = wall_intervals_to_instants(spring, [(90, 600)], LONDON)  # 01:30-10:00
    assert instant_to_local_iso(start, LONDON) == "2026-03-29T02:00:00+01:00"
    assert instant_to_local_iso(end, LONDON) == "2026-03-29T10:00:00+01:00"
    [(start, end)] = wall_intervals_to_instants(spring, [(0, 90)], LONDON)  # ends in the gap
    assert instant_to_local_iso(end, LONDON) == "2026-03-29T02:00:00+01:00"
    assert end - start == 3600
    assert wall_intervals_to_instants(spring, [(70, 110)], LONDON) == []  # wholly in the gap
    [(start, _)] = wall_intervals_to_instants(date(2026, 3, 8), [(150, 600)], NEW_YORK)
    assert instant_to_local_iso(start, NEW_YORK) == "2026-03-08T03:00:00-04:00"


def test_fold_start_takes_first_end_takes_second_occurrence() -> None:
    autumn = date(2026, 10, 25)
    [(start, end)] = wall_intervals_to_instants(autumn, [(0, 90)], LONDON)  # 00:00-01:30
    assert instant_to_local_iso(end, LONDON) == "2026-10-25T01:30:00+00:00"
    assert end - start == 150 * 60
    [(start, end)] = wall_intervals_to_instants(autumn, [(90, 150)], LONDON)  # 01:30-02:30
    assert instant_to_local_iso(start, LONDON) == "2026-10-25T01:30:00+01:00"
    assert end - start == 120 * 60


def test_end_where_the_repeated_hour_begins_is_its_first_occurrence() -> None:
    # A 00:00-01:00 shift is over when the clock first shows 01:00: one hour, not two.
    autumn = date(2026, 10, 25)
    [(start, end)] = wall_intervals_to_instants(autumn, [(0, 60)], LONDON)
    assert instant_to_local_iso(end, LONDON) == "2026-10-25T01:00:00+01:00"
    assert end - start == 3600
    # Havana falls back 01:00 -> 00:00: "...-24:00" the evening before must not reach into the
    # repeated midnight hour of the next day, while the next day itself has 25 hours.
    havana = ZoneInfo("America/Havana")
    [(start, end)] = wall_intervals_to_instants(date(2026, 10, 31), [(0, 1440)], havana)
    assert end - start == 24 * 3600
    assert instant_to_local_iso(end, havana) == "2026-11-01T00:00:00-04:00"
    [(start, end)] = wall_intervals_to_instants(date(2026, 11, 1), [(0, 1440)], havana)
    assert end - start == 25 * 3600
    # Havana springs forward 00:00 -> 01:00: the day starts at 01:00 and has 23 hours.
    [(start, end)] = wall_intervals_to_instants(date(2026, 3, 8), [(0, 1440)], havana)
    assert instant_to_local_iso(start, havana) == "2026-03-08T01:00:00-04:00"
    assert end - start == 23 * 3600


def test_night_schedule_through_the_fall_back_night() -> None:
    # Saturday 22:00-24:00 + Sunday 00:00-06:00 is 9 hours on the wall clock, 9 + 1 in reality.
    sat, sun = date(2026, 10, 24), date(2026, 10, 25)
    work = free_time(
        wall_intervals_to_instants(sat, [(1320, 1440)], LONDON)
        + wall_intervals_to_instants(sun, [(0, 360)], LONDON),
        [],
    )
    assert len(work) == 1 and work[0][1] - work[0][0] == 9 * 3600
    # A whole-day roster over Saturday, Sunday, Monday covers 24 + 25 + 24 hours.
    days = [sat, sun, date(2026, 10, 26)]
    whole = free_time([iv for d in days for iv in wall_intervals_to_instants(d, [(0, 1440)],
                                                                            LONDON)], [])
    assert len(whole) == 1 and whole[0][1] - whole[0][0] == 73 * 3600


def test_wall_intervals_validation_and_normalisation() -> None:
    day = date(2026, 6, 1)
    with pytest.raises(ValueError):
        wall_intervals_to_instants(day, [(600, 540)], LONDON)
    assert wall_intervals_to_instants(day, [(540, 540)], LONDON) == []
    assert wall_intervals_to_instants(day, [(780, 1260), (540, 720), (700, 800)], LONDON) == \
        wall_intervals_to_instants(day, [(540, 1260)], LONDON)


# --- engine + localtime ---------------------------------------------------------------------


def test_staff_on_londons_spring_forward_sunday() -> None:
    day = date(2026, 3, 29)
    work = wall_intervals_to_instants(day, [(540, 1260)], LONDON)
    cands = aligned_candidates(day, day, LONDON, 15)
    slots = staff_slots(free_time(work, []), cands, SlotRule(duration=3600))
    assert instant_to_local_iso(slots[0], LONDON) == "2026-03-29T09:00:00+01:00"
    assert instant_to_local_iso(slots[-1], LONDON) == "2026-03-29T20:00:00+01:00"
    assert len(slots) == 11 * 4 + 1


def test_round_the_clock_staff_on_fall_back_night_gets_both_occurrences() -> None:
    day = date(2026, 10, 25)
    work = wall_intervals_to_instants(day, [(0, 1440)], LONDON)
    slots = staff_slots(work, aligned_candidates(day, day, LONDON, 30), SlotRule(duration=1800))
    isos = [instant_to_local_iso(ts, LONDON) for ts in slots]
    assert len(slots) == 50
    assert "2026-10-25T01:30:00+01:00" in isos and "2026-10-25T01:30:00+00:00" in isos


# --- property tests against an instant-walking oracle ---------------------------------------

ZONES = [
    "Europe/London",
    "America/New_York",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Santiago",  # transitions at local midnight
    "America/Havana",  # midnight transitions
]


@cache
def _transition_days(key: str) -> tuple[date, ...]:
    """Local dates (2025-2027) on which the zone's offset changes, found by hourly sampling."""
    tz = ZoneInfo(key)
    start = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    days: set[date] = set()
    prev = _local(start, tz).utcoffset()
    for ts in range(start, start + 3 * 365 * 86400, 3600):
        lt = _local(ts, tz)
        if lt.utcoffset() != prev:
            days.add(lt.date())
            prev = lt.utcoffset()
    return tuple(sorted(days))


@cache
def _walk(key: str, day: date) -> tuple[tuple[int, date, int], ...]:
    """(instant, local date, local minute-of-day) for every whole UTC minute around ``day``."""
    tz = ZoneInfo(key)
    t0 = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) - 2 * 86400
    out = []
    for ts in range(t0, t0 + 6 * 86400, 60):
        lt = _local(ts, tz)
        out.append((ts, lt.date(), lt.hour * 60 + lt.minute))
    return tuple(out)


@st.composite
def _zone_day(draw: st.DrawFn) -> tuple[str, date]:
    key = draw(st.sampled_from(ZONES))
    days = _transition_days(key)
    if days and draw(st.booleans()):
        day = draw(st.sampled_from(days)) + timedelta(days=draw(st.integers(-1, 1)))
    else:
        day = draw(st.dates(min_value=date(2025, 1, 2), max_value=date(2027, 12, 30)))
    return key, day


@settings(max_examples=150, deadline=None)
@given(zone_day=_zone_day(), step=st.sampled_from([5, 15, 20, 30, 45, 60, 90]))
def test_candidates_match_instant_walk(zone_day: tuple[str, date], step: int) -> None:
    key, day = zone_day
    expected = [ts for ts, d, m in _walk(key, day) if d == day and m % step == 0]
    assert aligned_candidates(day, day, ZoneInfo(key), step) == expected


@settings(max_examples=200, deadline=None)
@given(
    zone_day=_zone_day(),
    bounds=st.tuples(st.integers(0, 1440), st.integers(0, 1440)).map(sorted),
)
def test_wall_interval_is_hull_of_its_wall_minutes(zone_day: tuple[str, date],
                                                    bounds: list[int]) -> None:
    """The instant interval spans exactly from the first to the last instant whose local wall
    time lies in [start, end) on that day: this encodes gap-forward and fold first/second."""
    key, day = zone_day
    lo, hi = bounds
    inside = [ts for ts, d, m in _walk(key, day) if d == day and lo <= m < hi]
    expected = [(inside[0], inside[-1] + 60)] if inside else []
    assert wall_intervals_to_instants(day, [(lo, hi)], ZoneInfo(key)) == expected


@pytest.mark.parametrize(("zone", "day", "hours", "starts"), [
    ("Asia/Shanghai", date(2026, 12, 7), 24, "2026-12-06T16:00:00+00:00"),
    ("Europe/London", date(2026, 3, 29), 23, "2026-03-29T00:00:00+00:00"),  # spring forward
    ("Europe/London", date(2026, 10, 25), 25, "2026-10-24T23:00:00+00:00"),  # fall back
    # Chile springs forward at midnight: 00:00 does not exist, the day starts at 01:00
    ("America/Santiago", date(2026, 9, 6), 23, "2026-09-06T04:00:00+00:00"),
])
def test_day_bounds_is_the_local_calendar_day(zone: str, day: date, hours: int,
                                              starts: str) -> None:
    start, end = day_bounds(day, ZoneInfo(zone))
    assert start.isoformat() == starts and start.tzinfo is UTC
    assert end - start == timedelta(hours=hours)
    assert end == day_bounds(day + timedelta(days=1), ZoneInfo(zone))[0]  # days tile
    assert start.astimezone(ZoneInfo(zone)).date() == day
    assert (end - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).date() == day
