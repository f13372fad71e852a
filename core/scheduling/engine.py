"""The availability engine: pure interval arithmetic over integer UTC instants.

Why this shape (ARCHITECTURE rule 4): availability is the hottest read path of a booking
platform and the easiest place to hide double-booking or DST bugs. Keeping it free of Flask,
the database and ``datetime`` makes it trivially property-tested against a brute-force oracle
and benchmarked on its own. The loader (I/O) turns rows into instants and wall-clock rules into
candidate starts (see :mod:`core.scheduling.localtime`); this module only answers "which of
these starts fit?".

Conventions
-----------
* An instant is an ``int``: seconds since the Unix epoch, UTC. No time zones in here, ever.
* An interval is ``(start, end)``, half-open ``[start, end)``, so adjacent intervals touch
  without overlapping and a booking ending at 10:00 never collides with one starting at 10:00.
* An interval list is *normalised* when sorted, non-overlapping, non-adjacent and without empty
  members. Every function here returns normalised lists; functions documented as taking "any
  order" normalise their inputs, the hot-path ones (:func:`staff_slots`,
  :func:`any_staff_slots`) trust their caller to pass normalised lists (``free_time`` output).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise, repeat

Interval = tuple[int, int]

__all__ = [
    "Interval",
    "SlotRule",
    "any_staff_slots",
    "free_time",
    "intersect",
    "normalise",
    "staff_slots",
    "subtract",
]


def normalise(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort, merge overlapping *and adjacent* intervals, drop empty ones.

    Adjacent intervals are merged because ``[9:00, 12:00) + [12:00, 13:00)`` is one stretch of
    free time: a 2-hour service starting at 11:00 fits, and keeping them apart would make
    :func:`staff_slots` (which requires one containing interval) wrongly reject it.
    """
    # Hot path (once per staff member and request): one sort, one pass, no per-item helpers.
    it = iter(sorted(intervals))
    for cur_start, cur_end in it:
        if cur_start < cur_end:
            break
    else:
        return []
    merged: list[Interval] = []
    append = merged.append
    for start, end in it:
        if start > cur_end:
            if start < end:  # an empty interval here must not open a new run
                append((cur_start, cur_end))
                cur_start, cur_end = start, end
        elif end > cur_end:
            cur_end = end
    append((cur_start, cur_end))
    return merged


def subtract(base: Iterable[Interval], cuts: Iterable[Interval]) -> list[Interval]:
    """Return ``base − cuts`` (both in any order), normalised.

    Why a linear sweep: with both lists sorted, one pass with a cursor into ``cuts`` is
    O(n + m); per-interval scans of all cuts would be quadratic in bookings per staff member
    per window, which is exactly what grows with a 30-day booking horizon. ``cuts`` is only
    sorted, not merged: the sweep tolerates overlapping and empty cuts itself, and skipping the
    merge pass saves a third of the cost of :func:`free_time`, the engine's hottest call.
    """
    base_n = normalise(base)
    cuts_s = sorted(cuts)
    if not cuts_s or not base_n:
        return base_n
    out: list[Interval] = []
    append = out.append
    j = 0
    n_cuts = len(cuts_s)
    for start, end in base_n:
        # Skip cuts that end before this base interval starts; they cannot touch later ones
        # either, because base intervals are sorted. (Overlapping cuts further on that also
        # end early are harmless no-ops below.)
        while j < n_cuts and cuts_s[j][1] <= start:
            j += 1
        pos = start  # everything in [start, pos) is decided
        k = j
        while k < n_cuts:
            c_start, c_end = cuts_s[k]
            if c_start >= end:
                break
            if c_end > pos and c_end > c_start:  # ignore cuts already covered, and empty ones
                if c_start > pos:
                    append((pos, c_start))
                pos = c_end
                if pos >= end:
                    break
            k += 1
        if pos < end:
            append((pos, end))
    return out


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Return the common part of two interval lists (any order), normalised.

    Used e.g. to clip a staff member's roster to the store's opening hours, or to combine a
    person's free time with a room's; a two-pointer sweep keeps it O(n + m).
    """
    a_n = normalise(a)
    b_n = normalise(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(a_n) and j < len(b_n):
        a_start, a_end = a_n[i]
        b_start, b_end = b_n[j]
        start = a_start if a_start > b_start else b_start
        end = a_end if a_end < b_end else b_end
        if start < end:
            out.append((start, end))
        # Advance whichever interval finishes first; the other may still overlap the next one.
        if a_end < b_end:
            i += 1
        else:
            j += 1
    # Inputs were normalised, so outputs are disjoint; they can only touch where both inputs
    # touched, which normalisation already excluded.
    return out


@dataclass(frozen=True)
class SlotRule:
    """What a service needs from a free interval.

    ``duration`` is the time the customer is served; the buffers are set-up and clean-up that
    block the staff member but are not sold. ``earliest`` already includes the minimum notice
    (the loader computes ``now + notice``) and ``latest`` is the booking horizon, both as
    instants bounding the slot *start*; ``None`` means unbounded. Frozen so a rule can be shared
    across staff and cached without defensive copies.
    """

    duration: int
    buffer_before: int = 0
    buffer_after: int = 0
    earliest: int | None = None
    latest: int | None = None

    def __post_init__(self) -> None:
        # A zero-length service would "fit" into zero-length gaps between bookings and negative
        # buffers would let bookings overlap; both are data errors worth failing loudly on.
        if self.duration <= 0:
            raise ValueError("duration must be positive")
        if self.buffer_before < 0 or self.buffer_after < 0:
            raise ValueError("buffers must not be negative")


def _slot_index_ranges(
    free: Sequence[Interval], candidates: Sequence[int], rule: SlotRule
) -> list[tuple[int, int]]:
    """Index ranges ``[i, j)`` into ``candidates`` of the valid starts, in ascending order.

    The heart of the engine: a start ``s`` fits the free interval ``[a, b)`` iff
    ``a <= s - before`` and ``s + duration + after <= b``, i.e. ``s`` lies in
    ``[a + before, b - duration - after]``. Two bisections per free interval find the matching
    slice of the sorted candidates, so the cost is O(#free · log #candidates) instead of
    O(#free · #candidates), and no Python code runs per candidate.
    """
    before = rule.buffer_before
    tail = rule.duration + rule.buffer_after
    n = len(candidates)
    lo_bound = 0 if rule.earliest is None else bisect_left(candidates, rule.earliest)
    hi_bound = n if rule.latest is None else bisect_left(candidates, rule.latest)
    if lo_bound >= hi_bound:
        return []
    ranges: list[tuple[int, int]] = []
    lo = lo_bound
    for a, b in free:
        first = a + before
        last = b - tail  # inclusive
        if first > last:
            continue
        i = bisect_left(candidates, first, lo, hi_bound)
        if i == hi_bound:
            break  # this and every later interval start past the horizon
        j = bisect_left(candidates, last + 1, i, hi_bound)
        if i < j:
            ranges.append((i, j))
        # Free intervals are normalised, so the next admissible range starts after ``last``.
        lo = j
    return ranges


def staff_slots(free: Sequence[Interval], candidates: Sequence[int], rule: SlotRule) -> list[int]:
    """Starts from ``candidates`` at which one staff member can take the service.

    ``free`` must be normalised (what :func:`free_time` returns) and ``candidates`` sorted and
    unique (what :func:`core.scheduling.localtime.aligned_candidates` returns). A start is valid
    iff its whole blocked range ``[s - buffer_before, s + duration + buffer_after)`` lies inside
    one free interval and ``earliest <= s < latest``. Candidates come from the caller, not from
    the free intervals, because slot alignment is a *local wall-clock* rule (":00, :15, :30")
    that this engine, deliberately time-zone blind, cannot know.
    """
    out: list[int] = []
    for i, j in _slot_index_ranges(free, candidates, rule):
        out.extend(candidates[i:j])
    return out


def free_time(work: Iterable[Interval], busy: Iterable[Interval]) -> list[Interval]:
    """Working time minus everything that blocks it (bookings incl. buffers, time off, closures).

    A named function rather than a bare ``subtract`` so the loader reads as the business rule
    and the single place where "busy" is defined can grow (e.g. resource locks) without touching
    callers.
    """
    return subtract(work, busy)


def any_staff_slots(
    per_staff: Mapping[int, Sequence[Interval]], candidates: Sequence[int], rule: SlotRule
) -> list[tuple[int, tuple[int, ...]]]:
    """Starts at which *any* staff member can take the service, with who can.

    Returns ``[(start, (staff_id, ...)), ...]`` sorted by start, staff ids sorted, only starts
    with at least one staff member. This backs the "no preference" booking flow: the customer
    picks a time, the booking service then picks one of the listed staff.

    Why a sweep over index ranges: each staff member's valid starts are slices ``[i, j)`` of
    the same sorted ``candidates``, so the set of available staff only changes at slice ends.
    Sweeping those boundaries keeps a sorted list of active staff and emits one shared tuple per
    stretch of unchanged staff, so the cost grows with the number of slices, not with the
    number of (start, staff) pairs, which is large for a quiet store (200 staff x 30 days x
    45 starts = 270,000 pairs, but a few thousand slices).
    """
    opening: dict[int, list[int]] = {}
    closing: dict[int, list[int]] = {}
    for staff_id in per_staff:
        for i, j in _slot_index_ranges(per_staff[staff_id], candidates, rule):
            opening.setdefault(i, []).append(staff_id)
            closing.setdefault(j, []).append(staff_id)
    if not opening:
        return []
    positions = sorted(opening.keys() | closing.keys())
    active: list[int] = []  # staff ids available at the current position, sorted
    out: list[tuple[int, tuple[int, ...]]] = []
    for pos, next_pos in pairwise(positions):
        # Close before opening: one staff member's slices may touch (j == next i).
        for staff_id in closing.get(pos, ()):
            active.remove(staff_id)
        for staff_id in opening.get(pos, ()):
            insort(active, staff_id)
        if active:
            out.extend(zip(candidates[pos:next_pos], repeat(tuple(active))))
    return out
