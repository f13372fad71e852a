"""The availability engine against hand-made cases and a brute-force minute-by-minute oracle.

Why an oracle: the engine's bisect arithmetic is easy to get off by one (half-open ends,
inclusive last start, buffers outside the free interval); a boolean array per minute is too
slow for production but obviously correct, so exact agreement on hundreds of random schedules
is strong evidence the fast path is right.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling.engine import (
    Interval,
    SlotRule,
    any_staff_slots,
    free_time,
    intersect,
    normalise,
    staff_slots,
    subtract,
)

# --- unit tests -----------------------------------------------------------------------------


def test_normalise_sorts_merges_overlapping_and_adjacent_and_drops_empty() -> None:
    assert normalise([(5, 7), (1, 3), (3, 4), (6, 9), (10, 10), (12, 11)]) == [(1, 4), (5, 9)]
    assert normalise([]) == []
    assert normalise([(1, 10), (2, 3)]) == [(1, 10)]


def test_subtract_cuts_holes_edges_and_whole_intervals() -> None:
    assert subtract([(0, 10)], [(3, 5)]) == [(0, 3), (5, 10)]
    assert subtract([(0, 10)], [(0, 2), (8, 10)]) == [(2, 8)]
    assert subtract([(0, 10)], [(-5, 20)]) == []
    assert subtract([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]
    # any order, overlapping cuts
    assert subtract([(20, 30), (0, 10)], [(6, 8), (2, 4), (3, 7)]) == [(0, 2), (8, 10), (20, 30)]
    assert subtract([(0, 10)], []) == [(0, 10)]
    assert subtract([], [(0, 10)]) == []
    # touching cuts remove nothing
    assert subtract([(5, 10)], [(0, 5), (10, 15)]) == [(5, 10)]


def test_intersect() -> None:
    assert intersect([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert intersect([(0, 5)], [(5, 10)]) == []
    assert intersect([(0, 100)], [(10, 20), (30, 40)]) == [(10, 20), (30, 40)]
    assert intersect([], [(0, 1)]) == []


def test_staff_slots_buffers_must_fit_inside_one_free_interval() -> None:
    free = [(100, 200), (300, 400)]
    cands = list(range(0, 500, 10))
    rule = SlotRule(duration=50, buffer_before=10, buffer_after=20)
    # [a + 10, b - 70] -> [110, 130] and [310, 330]
    assert staff_slots(free, cands, rule) == [110, 120, 130, 310, 320, 330]


def test_staff_slots_earliest_inclusive_latest_exclusive() -> None:
    free = [(0, 1000)]
    cands = list(range(0, 1000, 100))
    rule = SlotRule(duration=100, earliest=200, latest=500)
    assert staff_slots(free, cands, rule) == [200, 300, 400]
    assert staff_slots(free, cands, SlotRule(duration=100, earliest=900, latest=100)) == []


def test_staff_slots_exact_fit_and_no_fit() -> None:
    assert staff_slots([(0, 60)], [0, 30], SlotRule(duration=60)) == [0]
    assert staff_slots([(0, 59)], [0], SlotRule(duration=60)) == []
    assert staff_slots([], [0], SlotRule(duration=60)) == []
    assert staff_slots([(0, 60)], [], SlotRule(duration=60)) == []


def test_slot_rule_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SlotRule(duration=0)
    with pytest.raises(ValueError):
        SlotRule(duration=60, buffer_after=-1)


def test_any_staff_slots_lists_staff_per_start() -> None:
    cands = [0, 60, 120, 180]
    rule = SlotRule(duration=60)
    per_staff = {7: [(0, 120)], 3: [(60, 240)], 9: []}
    assert any_staff_slots(per_staff, cands, rule) == [
        (0, (7,)),
        (60, (3, 7)),
        (120, (3,)),
        (180, (3,)),
    ]


def test_any_staff_slots_when_one_staff_members_slices_touch() -> None:
    # Two free intervals whose admissible starts are neighbouring candidates: the sweep closes
    # and reopens the same staff member at one position.
    cands = [0, 61, 200]
    per_staff = {5: [(0, 60), (61, 121)], 4: [(0, 300)]}
    assert any_staff_slots(per_staff, cands, SlotRule(duration=60)) == [
        (0, (4, 5)),
        (61, (4, 5)),
        (200, (4,)),
    ]
    assert any_staff_slots({}, cands, SlotRule(duration=60)) == []


def test_free_time_is_work_minus_busy() -> None:
    assert free_time([(0, 100)], [(10, 20), (15, 30)]) == [(0, 10), (30, 100)]


# --- property tests -------------------------------------------------------------------------

WINDOW_MIN = 2 * 1440  # a two-day grid of minutes
BASE = 1_790_000_000 - 1_790_000_000 % 86_400  # an arbitrary UTC midnight, in seconds


def _intervals_min(
    max_size: int, max_len: int = 600, min_size: int = 0
) -> st.SearchStrategy[list[tuple[int, int]]]:
    """Random (start, end) minute pairs in the window, any order, possibly overlapping/empty."""
    pair = st.tuples(
        st.integers(min_value=0, max_value=WINDOW_MIN), st.integers(min_value=0, max_value=max_len)
    ).map(lambda p: (p[0], min(p[0] + p[1], WINDOW_MIN)))
    return st.lists(pair, min_size=min_size, max_size=max_size)


def _work() -> st.SearchStrategy[list[tuple[int, int]]]:
    return _intervals_min(4, max_len=1440, min_size=1)


def _busy() -> st.SearchStrategy[list[tuple[int, int]]]:
    return _intervals_min(10, max_len=180)


def _to_instants(intervals_min: list[tuple[int, int]]) -> list[Interval]:
    return [(BASE + s * 60, BASE + e * 60) for s, e in intervals_min]


def _minute_set(intervals_min: list[tuple[int, int]]) -> set[int]:
    return {m for s, e in intervals_min for m in range(s, e)}


def _as_minute_set(intervals: list[Interval]) -> set[int]:
    return {m for s, e in intervals for m in range((s - BASE) // 60, (e - BASE) // 60)}


@st.composite
def _rules(draw: st.DrawFn) -> tuple[SlotRule, int]:
    step = draw(st.sampled_from([1, 5, 10, 15, 20, 30, 45, 60, 90]))
    bound = st.integers(min_value=-60, max_value=WINDOW_MIN + 60)
    earliest = draw(st.none() | st.none() | bound)
    latest = draw(st.none() | st.none() | bound)
    rule = SlotRule(
        duration=draw(st.integers(min_value=1, max_value=180)) * 60,
        buffer_before=draw(st.integers(min_value=0, max_value=45)) * 60,
        buffer_after=draw(st.integers(min_value=0, max_value=45)) * 60,
        earliest=None if earliest is None else BASE + earliest * 60,
        latest=None if latest is None else BASE + latest * 60,
    )
    return rule, step


def _candidates(step: int) -> list[int]:
    return [BASE + m * 60 for m in range(0, WINDOW_MIN, step)]


def _oracle(work_min: list[tuple[int, int]], busy_min: list[tuple[int, int]], step: int,
            rule: SlotRule) -> list[int]:
    """Mark every minute free/busy, then test each candidate minute by minute."""
    free = [False] * WINDOW_MIN
    for s, e in work_min:
        for m in range(s, e):
            free[m] = True
    for s, e in busy_min:
        for m in range(s, e):
            free[m] = False
    before, dur, after = rule.buffer_before // 60, rule.duration // 60, rule.buffer_after // 60
    out = []
    for c in range(0, WINDOW_MIN, step):
        instant = BASE + c * 60
        if rule.earliest is not None and instant < rule.earliest:
            continue
        if rule.latest is not None and instant >= rule.latest:
            continue
        lo, hi = c - before, c + dur + after
        if lo >= 0 and hi <= WINDOW_MIN and all(free[m] for m in range(lo, hi)):
            out.append(instant)
    return out


@settings(max_examples=300, deadline=None)
@given(a=_intervals_min(8), b=_intervals_min(8))
def test_interval_algebra_matches_sets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    ia, ib = _to_instants(a), _to_instants(b)
    sa, sb = _minute_set(a), _minute_set(b)
    for result, expected in (
        (normalise(ia), sa),
        (subtract(ia, ib), sa - sb),
        (intersect(ia, ib), sa & sb),
    ):
        assert _as_minute_set(result) == expected
        # normalised: sorted, non-empty, neither overlapping nor touching
        assert all(s < e for s, e in result)
        assert all(result[i][1] < result[i + 1][0] for i in range(len(result) - 1))


@settings(max_examples=300, deadline=None)
@given(work=_work(), busy=_busy(), rule_step=_rules())
def test_staff_slots_matches_minute_oracle(
    work: list[tuple[int, int]], busy: list[tuple[int, int]], rule_step: tuple[SlotRule, int]
) -> None:
    rule, step = rule_step
    free = free_time(_to_instants(work), _to_instants(busy))
    assert staff_slots(free, _candidates(step), rule) == _oracle(work, busy, step, rule)


@settings(max_examples=300, deadline=None)
@given(
    staff=st.dictionaries(
        st.integers(min_value=1, max_value=10_000),
        st.tuples(_work(), _busy()),
        max_size=5,
    ),
    rule_step=_rules(),
)
def test_any_staff_slots_matches_merged_oracle(
    staff: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]],
    rule_step: tuple[SlotRule, int],
) -> None:
    rule, step = rule_step
    per_staff = {
        sid: free_time(_to_instants(work), _to_instants(busy))
        for sid, (work, busy) in staff.items()
    }
    merged: dict[int, list[int]] = {}
    for sid in sorted(staff):
        work, busy = staff[sid]
        for start in _oracle(work, busy, step, rule):
            merged.setdefault(start, []).append(sid)
    expected = [(start, tuple(sids)) for start, sids in sorted(merged.items())]
    assert any_staff_slots(per_staff, _candidates(step), rule) == expected
