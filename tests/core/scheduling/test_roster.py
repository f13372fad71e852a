"""The roster generator against hand-made store weeks and a brute-force per-minute oracle.

Why both: the scenarios pin down the product behaviour a manager sees (full cover when
possible, the right reason code when not); the property tests check, on hundreds of random
small weeks, the invariants no scenario can enumerate — every shift legal, every limit kept,
and the gap report equal to a naive recount of demand and cover cell by cell.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling.roster import (
    AVAILABLE_UNSCHEDULED,
    DAY_MINUTES,
    MAX_HOURS,
    NO_ONE_AVAILABLE,
    NOT_ENOUGH_STAFF,
    REASON_CODES,
    REST_DAYS,
    CoverageRule,
    Gap,
    RosterInput,
    RosterResult,
    Shift,
    StaffInput,
    coverage_gaps,
    generate_roster,
)

H = 60
WEEK = range(7)


def every_day(*intervals: tuple[int, int]) -> dict[int, list[tuple[int, int]]]:
    return {d: list(intervals) for d in WEEK}


def person(staff_id: int, available: dict[int, list[tuple[int, int]]], **kw: object) -> StaffInput:
    return StaffInput(staff_id, f"staff {staff_id}", available, **kw)  # type: ignore[arg-type]


def assert_limits(data: RosterInput, result: RosterResult) -> None:
    for s in data.staff:
        mine = [sh for sh in result.shifts if sh.staff_id == s.staff_id]
        days = [sh.day for sh in mine]
        assert len(days) == len(set(days)), "two shifts on one day"
        assert len(days) <= 7 - s.min_rest_days
        total = sum(sh.end - sh.start for sh in mine)
        assert total <= s.max_minutes
        assert result.minutes_by_staff[s.staff_id] == total


# --- scenarios ------------------------------------------------------------------------------


def simple_store() -> RosterInput:
    return RosterInput(
        open_hours=every_day((10 * H, 20 * H)),
        staff=[person(i, every_day((10 * H, 20 * H))) for i in range(1, 5)],
        rules=[CoverageRule(day=None, start=10 * H, end=20 * H, min_staff=2)],
    )


def test_simple_store_is_fully_covered_within_limits() -> None:
    data = simple_store()
    result = generate_roster(data)
    assert result.gaps == []
    assert_limits(data, result)
    for s in data.staff:
        worked = {sh.day for sh in result.shifts if sh.staff_id == s.staff_id}
        assert 7 - len(worked) >= 1, "everyone keeps at least one rest day"
    for day in WEEK:
        today = [sh for sh in result.shifts if sh.day == day]
        assert len(today) == 2
        assert all((sh.start, sh.end) == (10 * H, 20 * H) for sh in today)
    # Fairness tie-break: 14 ten-hour shifts spread 4/4/3/3, not 4/4/4/2.
    assert sorted(result.minutes_by_staff.values()) == [1800, 1800, 2400, 2400]


def test_skill_rule_is_met_by_the_only_skilled_person() -> None:
    colour = 7
    days = {d: [(10 * H, 18 * H)] for d in range(1, 6)}  # Tue..Sat
    data = RosterInput(
        open_hours=days,
        staff=[
            person(1, every_day((10 * H, 18 * H))),
            person(2, every_day((10 * H, 18 * H)), skills=frozenset({colour})),
            person(3, every_day((10 * H, 18 * H))),
        ],
        rules=[
            CoverageRule(None, 10 * H, 18 * H, 1),
            CoverageRule(None, 14 * H, 18 * H, 1, skill=colour),
        ],
    )
    result = generate_roster(data)
    assert result.gaps == []
    assert_limits(data, result)
    for day in days:
        assert any(
            sh.staff_id == 2 and sh.day == day and sh.start <= 14 * H and sh.end >= 18 * H
            for sh in result.shifts
        )


def test_skill_rule_counts_only_skilled_staff() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 14 * H)]},
        staff=[person(1, every_day((0, DAY_MINUTES)))],
        rules=[CoverageRule(0, 10 * H, 14 * H, 1, skill=3)],
    )
    result = generate_roster(data)
    assert result.shifts == []  # the unskilled person adds nothing, so is not scheduled
    assert result.gaps == [Gap(0, 10 * H, 14 * H, 1, 0, 3, (NO_ONE_AVAILABLE,))]


def test_impossible_demand_gives_merged_gaps_with_counts_and_reasons() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 20 * H)]},
        staff=[person(1, {0: [(10 * H, 18 * H)]}), person(2, {0: [(10 * H, 16 * H)]})],
        rules=[
            CoverageRule(0, 10 * H, 20 * H, 3),
            CoverageRule(0, 12 * H, 14 * H, 1, skill=9),
        ],
    )
    result = generate_roster(data)
    assert result.shifts == [Shift(1, 0, 10 * H, 18 * H), Shift(2, 0, 10 * H, 16 * H)]
    assert result.gaps == [
        Gap(0, 10 * H, 16 * H, 3, 2, None, (NOT_ENOUGH_STAFF,)),
        Gap(0, 12 * H, 14 * H, 1, 0, 9, (NO_ONE_AVAILABLE,)),
        Gap(0, 16 * H, 18 * H, 3, 1, None, (NOT_ENOUGH_STAFF,)),
        Gap(0, 18 * H, 20 * H, 3, 0, None, (NO_ONE_AVAILABLE,)),
    ]


def test_max_hours_forces_a_gap() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 20 * H)], 1: [(10 * H, 20 * H)]},
        staff=[person(1, every_day((10 * H, 20 * H)), max_minutes=10 * H)],
        rules=[CoverageRule(None, 10 * H, 20 * H, 1)],
    )
    result = generate_roster(data)
    assert result.shifts == [Shift(1, 0, 10 * H, 20 * H)]
    assert result.gaps == [Gap(1, 10 * H, 20 * H, 1, 0, None, (MAX_HOURS,))]


def test_trim_to_allowance_keeps_the_block_covering_most_deficit() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 20 * H)]},
        staff=[person(1, every_day((10 * H, 20 * H)), skills=frozenset({7}), max_minutes=4 * H)],
        rules=[CoverageRule(0, 10 * H, 20 * H, 1), CoverageRule(0, 15 * H, 17 * H, 1, skill=7)],
    )
    result = generate_roster(data)
    # 4 h allowance: the earliest 4 h block that also covers the 2 h colour peak.
    assert result.shifts == [Shift(1, 0, 13 * H, 17 * H)]
    assert result.gaps == [
        Gap(0, 10 * H, 13 * H, 1, 0, None, (MAX_HOURS,)),
        Gap(0, 17 * H, 20 * H, 1, 0, None, (MAX_HOURS,)),
    ]


def test_rest_days_force_a_gap() -> None:
    data = RosterInput(
        open_hours=every_day((10 * H, 20 * H)),
        staff=[person(1, every_day((10 * H, 20 * H)), max_minutes=100 * H, min_rest_days=1)],
        rules=[CoverageRule(None, 10 * H, 20 * H, 1)],
    )
    result = generate_roster(data)
    assert [sh.day for sh in result.shifts] == [0, 1, 2, 3, 4, 5]
    assert result.gaps == [Gap(6, 10 * H, 20 * H, 1, 0, None, (REST_DAYS,))]


def test_rest_days_and_max_hours_reported_together() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 14 * H)], 1: [(10 * H, 14 * H)]},
        staff=[person(1, every_day((10 * H, 14 * H)), max_minutes=4 * H, min_rest_days=6)],
        rules=[CoverageRule(None, 10 * H, 14 * H, 1)],
    )
    result = generate_roster(data)
    assert result.shifts == [Shift(1, 0, 10 * H, 14 * H)]
    assert result.gaps == [Gap(1, 10 * H, 14 * H, 1, 0, None, (MAX_HOURS, REST_DAYS))]


def test_closed_day_gets_no_shifts_and_no_gaps() -> None:
    data = RosterInput(
        open_hours={d: [(10 * H, 20 * H)] for d in range(6)} | {6: []},
        staff=[person(i, every_day((8 * H, 22 * H))) for i in (1, 2)],
        rules=[CoverageRule(None, 0, DAY_MINUTES, 1)],
    )
    result = generate_roster(data)
    assert result.gaps == []
    assert {sh.day for sh in result.shifts} == set(range(6))
    assert_limits(data, result)


def test_availability_outside_open_hours_is_clipped() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 20 * H)]},
        staff=[person(1, {0: [(0, 5 * H), (8 * H, 22 * H)]})],
        rules=[CoverageRule(0, 0, DAY_MINUTES, 1)],
    )
    result = generate_roster(data)
    assert result.shifts == [Shift(1, 0, 10 * H, 20 * H)]
    assert result.gaps == []


def test_availability_shorter_than_min_shift_is_not_availability() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 20 * H)]},
        staff=[person(1, {0: [(10 * H, 11 * H)]})],
        rules=[CoverageRule(0, 10 * H, 11 * H, 1)],
        min_shift=2 * H,
    )
    result = generate_roster(data)
    assert result.shifts == []
    assert result.gaps == [Gap(0, 10 * H, 11 * H, 1, 0, None, (NO_ONE_AVAILABLE,))]


def test_no_rules_means_no_shifts() -> None:
    data = replace(simple_store(), rules=[])
    result = generate_roster(data)
    assert result == RosterResult([], [], {1: 0, 2: 0, 3: 0, 4: 0})


def test_peak_rule_schedules_only_the_useful_block_of_min_shift() -> None:
    data = RosterInput(
        open_hours=every_day((10 * H, 20 * H)),
        staff=[person(i, every_day((10 * H, 20 * H))) for i in (1, 2, 3)],
        rules=[CoverageRule(0, 12 * H, 13 * H, 1)],
        min_shift=2 * H,
    )
    result = generate_roster(data)
    # Nobody stands idle all day for a one-hour peak; the block is stretched to min_shift.
    assert result.shifts == [Shift(1, 0, 12 * H, 14 * H)]
    assert result.gaps == []


def test_fairness_breaks_ties_by_minutes_already_assigned() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 18 * H)], 1: [(10 * H, 18 * H)]},
        staff=[person(2, every_day((10 * H, 18 * H))), person(1, every_day((10 * H, 18 * H)))],
        rules=[CoverageRule(None, 10 * H, 18 * H, 1)],
    )
    result = generate_roster(data)
    assert result.shifts == [Shift(1, 0, 10 * H, 18 * H), Shift(2, 1, 10 * H, 18 * H)]


def test_unaligned_open_hours_demand_only_whole_cells() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H + 15, 20 * H)]},
        staff=[person(1, {0: [(9 * H, 21 * H)]})],
        rules=[CoverageRule(0, 9 * H, 21 * H, 1)],
    )
    result = generate_roster(data)
    # 10:00-10:30 is half closed, so nobody could cover it: no demand, no false alarm;
    # the 15-minute sliver covers nothing and is trimmed off.
    assert result.shifts == [Shift(1, 0, 10 * H + 30, 20 * H)]
    assert result.gaps == []


def test_coverage_gaps_recomputes_after_a_manager_removes_a_shift() -> None:
    data = simple_store()
    result = generate_roster(data)
    assert coverage_gaps(data, result.shifts) == []
    light = min(data.staff, key=lambda s: (result.minutes_by_staff[s.staff_id], s.staff_id))
    removed = next(sh for sh in result.shifts if sh.staff_id == light.staff_id)
    edited = [sh for sh in result.shifts if sh != removed]
    gaps = coverage_gaps(data, edited)
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap.day, gap.start, gap.end, gap.required, gap.scheduled, gap.skill) == (
        removed.day, 10 * H, 20 * H, 2, 1, None)
    # The removed person is free and within limits: the edit left cover on the table.
    assert AVAILABLE_UNSCHEDULED in gap.reasons
    assert coverage_gaps(data, [*edited, removed]) == []


def test_edited_shift_that_could_be_extended_within_allowance() -> None:
    def data(max_hours: int) -> RosterInput:
        return RosterInput(
            open_hours={0: [(10 * H, 20 * H)]},
            staff=[person(1, {0: [(10 * H, 20 * H)]}, max_minutes=max_hours * H)],
            rules=[CoverageRule(0, 10 * H, 18 * H, 1)],
        )

    edited = [Shift(1, 0, 10 * H, 16 * H)]
    # At 8 h, stretching 10-16 to 18 costs exactly the 2 h left: cover left on the table.
    assert coverage_gaps(data(8), edited) == [
        Gap(0, 16 * H, 18 * H, 1, 0, None, (AVAILABLE_UNSCHEDULED,))]
    # At 7 h only the first hour can still be added; the second would exceed the limit.
    assert coverage_gaps(data(7), edited) == [
        Gap(0, 16 * H, 17 * H, 1, 0, None, (AVAILABLE_UNSCHEDULED,)),
        Gap(0, 17 * H, 18 * H, 1, 0, None, (MAX_HOURS,)),
    ]


def test_allowance_between_block_lengths_is_max_hours() -> None:
    data = RosterInput(
        open_hours={0: [(10 * H, 20 * H)]},
        staff=[person(1, {0: [(10 * H, 20 * H)]}, max_minutes=100)],
        rules=[CoverageRule(0, 10 * H, 11 * H, 1)],
        granularity=60,
        min_shift=90,
    )
    # Blocks snap to whole hours: 60 min is below min_shift, 120 min above the allowance.
    result = generate_roster(data)
    assert result.shifts == []
    assert result.gaps == [Gap(0, 10 * H, 11 * H, 1, 0, None, (MAX_HOURS,))]


def test_same_input_in_any_order_gives_the_same_roster() -> None:
    data = simple_store()
    shuffled = replace(data, staff=data.staff[::-1], rules=data.rules[::-1])
    assert generate_roster(data) == generate_roster(shuffled)


@pytest.mark.parametrize(
    "change",
    [
        {"granularity": 7},
        {"granularity": 0},
        {"min_shift": -1},
        {"open_hours": {7: [(600, 700)]}},
        {"open_hours": {0: [(700, 600)]}},
        {"rules": [CoverageRule(0, 0, 1500, 1)]},
        {"rules": [CoverageRule(9, 0, 100, 1)]},
        {"staff": [person(1, {}), person(1, {})]},
        {"staff": [person(1, {8: [(0, 60)]})]},
    ],
)
def test_malformed_input_is_rejected(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate_roster(replace(simple_store(), **change))  # type: ignore[arg-type]


def test_coverage_gaps_rejects_unknown_staff() -> None:
    with pytest.raises(ValueError):
        coverage_gaps(simple_store(), [Shift(99, 0, 600, 720)])


# --- property tests against a brute-force oracle ---------------------------------------------

# Mostly daytime intervals of a few hours on a 10-minute grid, so that most examples have
# open days, overlapping availability and real demand (and some cells misaligned with the
# 20/30/60-minute granularity).
minute = st.integers(0, DAY_MINUTES // 10).map(lambda m: m * 10)
interval = st.one_of(
    st.tuples(st.integers(48, 100), st.integers(6, 72)).map(
        lambda t: (t[0] * 10, min(DAY_MINUTES, (t[0] + t[1]) * 10))),
    st.tuples(minute, minute).map(lambda t: (min(t), max(t))),
)
day_plan = st.dictionaries(
    st.integers(0, 6), st.lists(interval, min_size=1, max_size=2), min_size=1, max_size=7)
week_plan = st.one_of(  # often the same hours every day, as real stores and rotas are
    st.lists(interval, min_size=1, max_size=2).map(lambda ivs: {d: ivs for d in WEEK}),
    day_plan,
)


@st.composite
def roster_inputs(draw: st.DrawFn) -> RosterInput:
    ids = draw(st.lists(st.integers(1, 50), unique=True, min_size=1, max_size=5))
    staff = [
        StaffInput(
            staff_id=i,
            name=f"s{i}",
            available=draw(week_plan),
            skills=frozenset(draw(st.sets(st.sampled_from([1, 2])))),
            max_minutes=draw(st.sampled_from([2400, 1200, 600, 240, 100, 0, 7 * DAY_MINUTES])),
            min_rest_days=draw(st.sampled_from([1, 0, 2, 1, 5, 7])),
        )
        for i in ids
    ]
    rules = draw(st.lists(
        st.builds(
            CoverageRule,
            day=st.none() | st.none() | st.integers(0, 6),
            start=st.just(0),
            end=st.just(0),
            min_staff=st.sampled_from([1, 2, 3, 1, 2, 0]),
            skill=st.none() | st.sampled_from([1, 2]),
        ).flatmap(lambda r: interval.map(lambda iv: replace(r, start=iv[0], end=iv[1]))),
        min_size=1,
        max_size=4,
    ))
    return RosterInput(
        open_hours=draw(week_plan),
        staff=staff,
        rules=rules,
        granularity=draw(st.sampled_from([30, 20, 60])),
        min_shift=draw(st.sampled_from([120, 60, 90, 180, 0])),
    )


def minutes_of(intervals: list[tuple[int, int]]) -> list[bool]:
    flags = [False] * DAY_MINUTES
    for start, end in intervals:
        for m in range(start, end):
            flags[m] = True
    return flags


def runs(flags: list[bool]) -> list[tuple[int, int]]:
    out, start = [], None
    for m, on in enumerate([*flags, False]):
        if on and start is None:
            start = m
        elif not on and start is not None:
            out.append((start, m))
            start = None
    return out


class Oracle:
    """Naive per-minute / per-cell recomputation of everything the generator reports."""

    def __init__(self, data: RosterInput) -> None:
        self.data = data
        g = data.granularity
        self.cells = DAY_MINUTES // g
        self.open = [minutes_of(data.open_hours.get(d, [])) for d in WEEK]
        self.cands: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for s in data.staff:
            for d in WEEK:
                av = minutes_of(s.available.get(d, []))
                both = [a and o for a, o in zip(av, self.open[d], strict=True)]
                self.cands[(s.staff_id, d)] = [
                    (a, b) for a, b in runs(both) if b - a >= data.min_shift
                ]
        self.demand: dict[tuple[int, int | None, int], int] = {}
        for r in data.rules:
            for d in WEEK if r.day is None else [r.day]:
                for c in range(self.cells):
                    cs, ce = c * g, (c + 1) * g
                    if all(self.open[d][cs:ce]) and max(cs, r.start) < min(ce, r.end):
                        k = (d, r.skill, c)
                        self.demand[k] = max(self.demand.get(k, 0), r.min_staff)

    def qualifies(self, s: StaffInput, skill: int | None) -> bool:
        return skill is None or skill in s.skills

    def shortfalls(self, shifts: list[Shift]) -> dict[tuple[int, int | None, int], tuple[int, int]]:
        g = self.data.granularity
        by_id = {s.staff_id: s for s in self.data.staff}
        out = {}
        for (d, skill, c), need in self.demand.items():
            have = sum(
                1 for sh in shifts
                if sh.day == d and sh.start <= c * g and (c + 1) * g <= sh.end
                and self.qualifies(by_id[sh.staff_id], skill)
            )
            if have < need:
                out[(d, skill, c)] = (need, have)
        return out

    def reasons(self, d: int, skill: int | None, c: int, shifts: list[Shift]) -> tuple[str, ...]:
        """The documented reason rules, restated naively (every block enumerated)."""
        g, min_shift = self.data.granularity, self.data.min_shift
        cs, ce = c * g, (c + 1) * g
        usable, found = False, set()
        for s in self.data.staff:
            cand = next(((a, b) for a, b in self.cands[(s.staff_id, d)] if a <= cs and ce <= b),
                        None)
            if not self.qualifies(s, skill) or cand is None:
                continue
            usable = True
            mine = [sh for sh in shifts if sh.staff_id == s.staff_id]
            today = [sh for sh in mine if sh.day == d]
            if any(sh.start <= cs and ce <= sh.end for sh in today):
                continue
            left = s.max_minutes - sum(sh.end - sh.start for sh in mine)
            if today:
                near = [sh for sh in today if sh.start < cand[1] and cand[0] < sh.end]
                if near:  # else: on a shift elsewhere that day
                    sh = near[0]
                    grow = max(sh.end, ce) - min(sh.start, cs) - (sh.end - sh.start)
                    found.add(MAX_HOURS if grow > left else AVAILABLE_UNSCHEDULED)
                continue
            a, b = cand
            edges = sorted({a, b, *range(0, DAY_MINUTES + 1, g)} & set(range(a, b + 1)))
            fits = any(
                x <= cs and y >= ce and min_shift <= y - x <= left for x in edges for y in edges
            )
            rest = len({sh.day for sh in mine}) >= 7 - s.min_rest_days
            if rest:
                found.add(REST_DAYS)
            if not fits:
                found.add(MAX_HOURS)
            if fits and not rest:
                found.add(AVAILABLE_UNSCHEDULED)
        if not usable:
            return (NO_ONE_AVAILABLE,)
        return tuple(r for r in REASON_CODES if r in found) or (NOT_ENOUGH_STAFF,)

    def check_gaps(self, gaps: list[Gap], shifts: list[Shift]) -> None:
        g = self.data.granularity
        seen: dict[tuple[int, int | None, int], tuple[int, int]] = {}
        for gap in gaps:
            assert gap.start % g == 0 and gap.end % g == 0 and gap.start < gap.end
            for c in range(gap.start // g, gap.end // g):
                key = (gap.day, gap.skill, c)
                assert key not in seen, "overlapping gaps"
                seen[key] = (gap.required, gap.scheduled)
                assert gap.reasons == self.reasons(gap.day, gap.skill, c, shifts)
        assert seen == self.shortfalls(shifts)
        # Merged: no two touching gaps that say the same thing.
        ends = {(gp.day, gp.skill, gp.end, gp.required, gp.scheduled, gp.reasons) for gp in gaps}
        for gp in gaps:
            assert (gp.day, gp.skill, gp.start, gp.required, gp.scheduled, gp.reasons) not in ends
        assert gaps == sorted(gaps, key=lambda x: (x.day, x.start, x.skill is not None,
                                                   x.skill or 0))


@settings(max_examples=150, deadline=None)
@given(roster_inputs())
def test_generated_roster_is_legal_and_its_gaps_match_a_recount(data: RosterInput) -> None:
    oracle = Oracle(data)
    result = generate_roster(data)
    g = data.granularity
    by_id = {s.staff_id: s for s in data.staff}
    for sh in result.shifts:
        # Inside one maximal interval of availability ∩ opening hours, and at least min_shift
        # long: trimming to the weekly allowance never goes below min_shift.
        assert any(a <= sh.start < sh.end <= b for a, b in oracle.cands[(sh.staff_id, sh.day)])
        assert sh.end - sh.start >= data.min_shift
        # Nobody is scheduled who adds nothing.
        assert any(
            oracle.demand.get((sh.day, k, c), 0) > 0
            for k in [None, *sorted(by_id[sh.staff_id].skills)]
            for c in range(-(-sh.start // g), sh.end // g)
        )
    assert_limits(data, result)
    assert set(result.minutes_by_staff) == set(by_id)
    assert result.shifts == sorted(result.shifts, key=lambda s: (s.day, s.start, s.staff_id))
    oracle.check_gaps(result.gaps, result.shifts)
    assert coverage_gaps(data, result.shifts) == result.gaps
    # The greedy only stops when nobody free and within limits could help.
    assert all(AVAILABLE_UNSCHEDULED not in gp.reasons for gp in result.gaps)
    # Deterministic, whatever the order of staff and rules.
    assert generate_roster(replace(data, staff=data.staff[::-1], rules=data.rules[::-1])) == result


@settings(max_examples=150, deadline=None)
@given(roster_inputs(), st.data())
def test_coverage_gaps_of_an_edited_roster_match_a_recount(
    data: RosterInput, draw: st.DataObject
) -> None:
    """A manager drops some shifts and adds others anywhere (even off-grid, outside
    availability, twice a day): the report must still equal the naive recount."""
    shifts = generate_roster(data).shifts
    keep = draw.draw(st.lists(st.booleans(), min_size=len(shifts), max_size=len(shifts)))
    added = draw.draw(st.lists(
        st.builds(
            Shift,
            staff_id=st.sampled_from([s.staff_id for s in data.staff]),
            day=st.integers(0, 6),
            start=st.just(0),
            end=st.just(0),
        ).flatmap(lambda sh: interval.map(lambda iv: replace(sh, start=iv[0], end=iv[1]))),
        max_size=4,
    ))
    edited = [sh for sh, k in zip(shifts, keep, strict=True) if k] + added
    Oracle(data).check_gaps(coverage_gaps(data, edited), edited)
