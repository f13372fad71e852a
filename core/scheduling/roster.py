"""Smart roster generator (智能排班): turn staff availability into a week of shifts.

A manager states *who can work when* (availability, skills, weekly hour limits, rest days)
and *how many people the store needs when* (coverage rules). This module proposes shifts
that cover the rules and explains, per uncovered period, why it could not do better, so the
manager can fix the cause (hire, relax a limit, ask someone to come in) instead of guessing.

Pure by design (ARCHITECTURE rule 4): plain dataclasses in, plain dataclasses out, no
database, no Flask, no clock. That keeps it deterministic, property-testable and cheap to
benchmark (``benchmarks/bench_roster.py``). Loading staff/rules from the database and
converting UTC instants to the store's local week is the loader's job, not this module's.

Model
-----
* Time is one store's local week: day 0 = Monday .. 6 = Sunday, minutes since local
  midnight in ``0..1440``. Overnight shifts are out of scope.
* The day is cut into ``granularity``-minute *cells* aligned to midnight. Demand and
  coverage are counted per cell, because "2 people from 10:00 to 20:00" only makes sense
  if each half hour is checked.
* Demand of a cell for a skill key (a service id, or ``None`` for "anyone") is the largest
  ``min_staff`` of the rules that overlap the cell, but only for cells lying *entirely*
  inside the store's opening hours: a shift may never leave the opening hours, so a
  half-open cell could never be covered and would be a permanent false alarm.
* Rules are independent: a colourist on shift counts towards "1 colourist" *and* towards
  "2 staff". A person covers a cell only if the shift contains the whole cell.
* A store with no rules has no demand and therefore gets no shifts: the generator never
  schedules people who add nothing. A caller that wants "someone always there" adds a rule
  such as ``CoverageRule(day=None, start=0, end=1440, min_staff=1)`` (only open cells count).

Greedy (deterministic, not optimal)
-----------------------------------
Candidates for a person and day are the maximal intervals of availability ∩ opening hours
that are at least ``min_shift`` long. From a candidate the generator takes a *block*: the
window whose length fits the person's remaining weekly minutes and covers the most
uncovered demand, earliest first on ties; then it drops edge cells that cover nothing, but
never below ``min_shift``. So a shift is never shorter than ``min_shift`` (a person whose
remaining allowance is below ``min_shift`` gets no further shift), and never pays someone to
stand idle at either end. Block edges sit on cell boundaries, or on the candidate's own
edges when a block reaches them.

Each round picks the (person, day, block) with the largest reduction of uncovered demand
(cell-units summed over every skill key the person counts for), ties broken by fewer minutes
already assigned (fairness), then staff id, day and start. It stops when no block reduces
uncovered demand. Per-person constraints: at most one shift a day, total minutes
≤ ``max_minutes``, days worked ≤ ``7 - min_rest_days``.

Known weakness of ranking by raw gain (not gain per minute, no weight for scarce skills): a
scarce specialist is attractive early because they count for both their skill and general
cover, so their weekly hours may be spent on full days early in the week and run out before
their skill is needed later. The gap report says ``max_hours`` there; a manager can fix it
by hand, and a smarter ranking can replace ``_Greedy.run`` without touching the API.

Gap reasons
-----------
Gaps are computed from the input and the shifts alone (``coverage_gaps``), so the same code
explains a generated roster and one a manager has edited. For each uncovered cell the
people who count for the skill and could work that cell (a candidate interval contains it)
are examined; codes, in this order:

* ``no_one_available`` — nobody who counts for the skill could work the cell at all;
* ``max_hours`` — someone could, but covering it would exceed their ``max_minutes``;
* ``rest_days`` — someone could, but another working day would break ``min_rest_days``;
* ``available_unscheduled`` — someone could and no limit stops it, they are just not
  scheduled. Never produced by ``generate_roster`` (the greedy would have used them); it
  flags a manager's edit that left cover on the table;
* ``not_enough_staff`` — fallback: everyone who could work it is already working it, or
  is on a shift elsewhere that day (one shift per person per day).

A gap is a maximal run of consecutive cells of one day and skill key with the same
``required``, ``scheduled`` and ``reasons``. Codes are untranslated; the caller translates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DAYS = 7
DAY_MINUTES = 24 * 60

NO_ONE_AVAILABLE = "no_one_available"
MAX_HOURS = "max_hours"
REST_DAYS = "rest_days"
AVAILABLE_UNSCHEDULED = "available_unscheduled"
NOT_ENOUGH_STAFF = "not_enough_staff"
#: Every reason code, in the order they appear inside ``Gap.reasons``.
REASON_CODES: tuple[str, ...] = (
    NO_ONE_AVAILABLE,
    MAX_HOURS,
    REST_DAYS,
    AVAILABLE_UNSCHEDULED,
    NOT_ENOUGH_STAFF,
)

Interval = tuple[int, int]


@dataclass(frozen=True)
class StaffInput:
    """One person's week: when they can work, what they can do, and their limits."""

    staff_id: int
    name: str
    available: dict[int, list[tuple[int, int]]]
    skills: frozenset[int] = frozenset()
    max_minutes: int = 40 * 60
    min_rest_days: int = 1


@dataclass(frozen=True)
class CoverageRule:
    """At least ``min_staff`` people (with service ``skill``, if set) during [start, end)."""

    day: int | None
    start: int
    end: int
    min_staff: int
    skill: int | None = None


@dataclass(frozen=True)
class RosterInput:
    """Everything the generator needs for one store's week; see the module docstring."""

    open_hours: dict[int, list[tuple[int, int]]]
    staff: list[StaffInput]
    rules: list[CoverageRule]
    granularity: int = 30
    min_shift: int = 120


@dataclass(frozen=True)
class Shift:
    """One continuous block of work, local minutes [start, end) on ``day``."""

    staff_id: int
    day: int
    start: int
    end: int


@dataclass(frozen=True)
class Gap:
    """A period where fewer people (with ``skill``) are scheduled than the rules require."""

    day: int
    start: int
    end: int
    required: int
    scheduled: int
    skill: int | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RosterResult:
    """Proposed shifts (sorted by day, start, staff), remaining gaps, minutes per person."""

    shifts: list[Shift]
    gaps: list[Gap]
    minutes_by_staff: dict[int, int]


# --------------------------------------------------------------------------- preparation


def _check_interval(what: str, start: int, end: int) -> None:
    if not (0 <= start <= end <= DAY_MINUTES):
        raise ValueError(f"{what}: interval ({start}, {end}) not within 0..{DAY_MINUTES}")


def _check_day(what: str, day: int) -> None:
    if not 0 <= day < DAYS:
        raise ValueError(f"{what}: day {day} not in 0..6")


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted union of intervals; touching intervals join (10-12 + 12-14 is one 10-14)."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two merged interval lists (two-pointer sweep)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


class _Prepared:
    """Validated, indexed form of a ``RosterInput`` shared by the greedy and the gap report."""

    def __init__(self, data: RosterInput) -> None:
        g = data.granularity
        if g <= 0 or DAY_MINUTES % g:
            raise ValueError(f"granularity {g} must be a positive divisor of {DAY_MINUTES}")
        if data.min_shift < 0:
            raise ValueError("min_shift must not be negative")
        self.g = g
        self.ncells = DAY_MINUTES // g
        self.min_shift = data.min_shift

        opening: list[list[Interval]] = [[] for _ in range(DAYS)]
        for day, intervals in data.open_hours.items():
            _check_day("open_hours", day)
            for start, end in intervals:
                _check_interval("open_hours", start, end)
            opening[day] = _merge(intervals)
        self.opening = opening

        # Cells wholly inside the opening hours: the only cells demand can apply to.
        open_cells: list[list[bool]] = []
        for day in range(DAYS):
            flags = [False] * self.ncells
            for start, end in opening[day]:
                for c in range(-(-start // g), end // g):
                    flags[c] = True
            open_cells.append(flags)

        demand: dict[tuple[int, int | None], list[int]] = {}
        for rule in data.rules:
            _check_interval("rule", rule.start, rule.end)
            if rule.day is not None:
                _check_day("rule", rule.day)
            if rule.min_staff <= 0 or rule.start >= rule.end:
                continue
            days = range(DAYS) if rule.day is None else (rule.day,)
            first, last = rule.start // g, -(-rule.end // g)  # every cell the rule overlaps
            for day in days:
                flags = open_cells[day]
                for c in range(first, last):
                    if flags[c]:
                        row = demand.setdefault((day, rule.skill), [0] * self.ncells)
                        if rule.min_staff > row[c]:
                            row[c] = rule.min_staff
        self.demand = demand
        keys = {key for _, key in demand}
        self.keys: list[int | None] = sorted(keys, key=_skill_order)

        staff = sorted(data.staff, key=lambda s: s.staff_id)
        ids = [s.staff_id for s in staff]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate staff_id in roster input")
        self.staff = staff
        self.index = {s.staff_id: i for i, s in enumerate(staff)}
        # Demanded skill keys each person counts for; people with the same set share gain
        # arrays during the greedy.
        self.quals: list[tuple[int | None, ...]] = [
            tuple(k for k in self.keys if k is None or k in s.skills) for s in staff
        ]
        self.max_days = [min(DAYS, max(0, DAYS - s.min_rest_days)) for s in staff]
        self.candidates: list[list[list[Interval]]] = []
        for s in staff:
            per_day: list[list[Interval]] = []
            for day in range(DAYS):
                own = s.available.get(day, [])
                for start, end in own:
                    _check_interval(f"staff {s.staff_id} availability", start, end)
                per_day.append([
                    (a, b) for a, b in _intersect(_merge(own), opening[day])
                    if b - a >= data.min_shift
                ])
            for day in s.available:
                _check_day(f"staff {s.staff_id} availability", day)
            self.candidates.append(per_day)

    def points(self, a: int, b: int) -> list[int]:
        """Allowed block edges inside candidate [a, b): its ends plus interior cell edges."""
        g = self.g
        inner = range((a // g + 1) * g, b, g)
        return [a, *inner, b]


def _skill_order(key: int | None) -> tuple[bool, int]:
    return (key is not None, key or 0)


# --------------------------------------------------------------------------- greedy


class _Greedy:
    """Mutable state of one generation run (kept off the public API on purpose)."""

    def __init__(self, prep: _Prepared) -> None:
        self.prep = prep
        self.short = {key: list(row) for key, row in prep.demand.items()}
        n = len(prep.staff)
        self.minutes = [0] * n
        self.days_used = [0] * n
        self.works = [[False] * DAYS for _ in range(n)]
        self.prefix: dict[tuple[int, tuple[int | None, ...]], list[int]] = {}
        # Best block per (person, day): (gain, start, end) or None; recomputed lazily.
        self.best: dict[tuple[int, int], tuple[int, int, int] | None] = {}
        self.shifts: list[Shift] = []

    def gain_prefix(self, day: int, quals: tuple[int | None, ...]) -> list[int]:
        """Prefix sums over cells of 'uncovered demand this person would reduce'."""
        key = (day, quals)
        cached = self.prefix.get(key)
        if cached is not None:
            return cached
        rows = [self.short[(day, k)] for k in quals if (day, k) in self.short]
        prefix = [0] * (self.prep.ncells + 1)
        total = 0
        for c in range(self.prep.ncells):
            for row in rows:
                if row[c] > 0:
                    total += 1
            prefix[c + 1] = total
        self.prefix[key] = prefix
        return prefix

    def evaluate(self, i: int, day: int) -> tuple[int, int, int] | None:
        """Best block for person ``i`` on ``day`` under their current limits, or None."""
        prep = self.prep
        if self.works[i][day] or self.days_used[i] >= prep.max_days[i]:
            return None
        remaining = prep.staff[i].max_minutes - self.minutes[i]
        if remaining < prep.min_shift or remaining <= 0 or not prep.quals[i]:
            return None
        g, min_shift = prep.g, prep.min_shift
        prefix = self.gain_prefix(day, prep.quals[i])
        best: tuple[int, int, int] | None = None
        for a, b in prep.candidates[i][day]:
            limit = min(remaining, b - a)
            if limit < min_shift:
                continue
            pts = prep.points(a, b)
            cand = _best_window(pts, prefix, g, min_shift, limit)
            if cand is not None and cand[0] > 0 and (best is None or cand[0] > best[0]):
                best = cand
        return best

    def run(self) -> None:
        """Pick the best block until none helps; only changed (person, day) pairs re-rank."""
        prep = self.prep
        staff_range = range(len(prep.staff))
        while True:
            choice: tuple[tuple[int, int, int, int, int], int, int, int, int] | None = None
            for i in staff_range:
                for day in range(DAYS):
                    key = (i, day)
                    if key not in self.best:
                        self.best[key] = self.evaluate(i, day)
                    found = self.best[key]
                    if found is None:
                        continue
                    gain, start, end = found
                    rank = (-gain, self.minutes[i], prep.staff[i].staff_id, day, start)
                    if choice is None or rank < choice[0]:
                        choice = (rank, i, day, start, end)
            if choice is None:
                return
            _, i, day, start, end = choice
            self.assign(i, day, start, end)

    def assign(self, i: int, day: int, start: int, end: int) -> None:
        """Book the block and invalidate exactly the cached rankings it can change."""
        prep = self.prep
        g = prep.g
        self.shifts.append(Shift(prep.staff[i].staff_id, day, start, end))
        self.minutes[i] += end - start
        self.days_used[i] += 1
        self.works[i][day] = True
        for k in prep.quals[i]:
            row = self.short.get((day, k))
            if row is None:
                continue
            for c in range(-(-start // g), end // g):
                if row[c] > 0:
                    row[c] -= 1
        # Demand changed on ``day`` (everyone's gain there) and person i's limits changed.
        for key in [key for key in self.prefix if key[0] == day]:
            del self.prefix[key]
        for j in range(len(prep.staff)):
            self.best.pop((j, day), None)
        for d in range(DAYS):
            self.best.pop((i, d), None)


def _best_window(
    pts: list[int], prefix: list[int], g: int, min_shift: int, limit: int
) -> tuple[int, int, int] | None:
    """Most useful block with edges in ``pts`` and length in [min_shift, limit].

    Gain never decreases as a block grows, so for each start only the longest block within
    ``limit`` matters (two pointers, linear). The earliest best block is then tightened:
    edge cells that reduce nothing are dropped while the block stays ≥ ``min_shift``, so
    nobody is paid to stand idle at the ends of a shift.
    """
    n = len(pts)
    best_gain, best_i, best_j = -1, -1, -1
    j = 1
    for i in range(n - 1):
        if j <= i:
            j = i + 1
        while j + 1 < n and pts[j + 1] - pts[i] <= limit:
            j += 1
        length = pts[j] - pts[i]
        if length > limit or length < min_shift:
            continue
        first, last = -(-pts[i] // g), pts[j] // g
        gain = prefix[last] - prefix[first] if last > first else 0
        if gain > best_gain:
            best_gain, best_i, best_j = gain, i, j
    if best_i < 0:
        return None
    i, j = best_i, best_j
    # Tighten the start, then the end.
    while i + 1 < j and pts[j] - pts[i + 1] >= min_shift:
        lo, hi = -(-pts[i] // g), -(-pts[i + 1] // g)
        if hi > lo and prefix[hi] - prefix[lo] > 0:
            break
        i += 1
    while j - 1 > i and pts[j - 1] - pts[i] >= min_shift:
        lo, hi = pts[j - 1] // g, pts[j] // g
        if hi > lo and prefix[hi] - prefix[lo] > 0:
            break
        j -= 1
    return best_gain, pts[i], pts[j]


# --------------------------------------------------------------------------- gap report


def _fits(prep: _Prepared, cand: Interval, cs: int, ce: int, budget: int) -> bool:
    """Could a block of this candidate cover cell [cs, ce) within ``budget`` minutes?"""
    a, b = cand
    if budget >= b - a:
        return True  # the whole candidate is a valid block (it is ≥ min_shift)
    if budget < prep.min_shift:
        return False
    g = prep.g
    for s in prep.points(a, b):
        if s > cs:
            break
        need = max(ce, s + prep.min_shift)
        if need > b:
            continue
        e = min(b, -(-need // g) * g)
        if e - s <= budget:
            return True
    return False


def _gaps(prep: _Prepared, shifts: Sequence[Shift]) -> list[Gap]:
    g = prep.g
    n = len(prep.staff)
    minutes = [0] * n
    by_day: list[list[list[Interval]]] = [[[] for _ in range(DAYS)] for _ in range(n)]
    count: dict[tuple[int, int | None], list[int]] = {
        key: [0] * prep.ncells for key in prep.demand
    }
    for sh in shifts:
        i = prep.index.get(sh.staff_id)
        if i is None:
            raise ValueError(f"shift for unknown staff_id {sh.staff_id}")
        _check_day("shift", sh.day)
        _check_interval("shift", sh.start, sh.end)
        minutes[i] += sh.end - sh.start
        by_day[i][sh.day].append((sh.start, sh.end))
        for k in prep.quals[i]:
            row = count.get((sh.day, k))
            if row is None:
                continue
            for c in range(-(-sh.start // g), sh.end // g):
                row[c] += 1
    days_used = [sum(1 for d in range(DAYS) if by_day[i][d]) for i in range(n)]
    qualified: dict[int | None, list[int]] = {
        k: [i for i in range(n) if k in prep.quals[i]] for k in prep.keys
    }

    def reasons(day: int, key: int | None, c: int) -> tuple[str, ...]:
        cs, ce = c * g, (c + 1) * g
        usable = False
        found: set[str] = set()
        for i in qualified[key]:
            cand = next((iv for iv in prep.candidates[i][day] if iv[0] <= cs and ce <= iv[1]),
                        None)
            if cand is None:
                continue
            usable = True
            own = by_day[i][day]
            if any(s <= cs and ce <= e for s, e in own):
                continue
            remaining = prep.staff[i].max_minutes - minutes[i]
            if own:
                same = [(s, e) for s, e in own if s < cand[1] and cand[0] < e]
                if not same:
                    continue  # working elsewhere that day: one shift per day
                s, e = same[0]
                extra = (max(e, ce) - min(s, cs)) - (e - s)
                found.add(MAX_HOURS if extra > remaining else AVAILABLE_UNSCHEDULED)
                continue
            blocked = False
            if days_used[i] >= prep.max_days[i]:
                found.add(REST_DAYS)
                blocked = True
            if not _fits(prep, cand, cs, ce, remaining):
                found.add(MAX_HOURS)
                blocked = True
            if not blocked:
                found.add(AVAILABLE_UNSCHEDULED)
        if not usable:
            return (NO_ONE_AVAILABLE,)
        if not found:
            return (NOT_ENOUGH_STAFF,)
        return tuple(code for code in REASON_CODES if code in found)

    gaps: list[Gap] = []
    for (day, key), need in prep.demand.items():
        have = count[(day, key)]
        run: tuple[int, int, tuple[str, ...]] | None = None
        run_start = 0
        for c in range(prep.ncells + 1):
            sig = None
            if c < prep.ncells and have[c] < need[c]:
                sig = (need[c], have[c], reasons(day, key, c))
            if sig != run:
                if run is not None:
                    gaps.append(Gap(day, run_start * g, c * g, run[0], run[1], key, run[2]))
                run, run_start = sig, c
    gaps.sort(key=lambda gp: (gp.day, gp.start, _skill_order(gp.skill)))
    return gaps


# --------------------------------------------------------------------------- public API


def generate_roster(data: RosterInput) -> RosterResult:
    """Propose a week of shifts covering ``data.rules``; see the module docstring.

    Deterministic: the same input (in any staff or rule order) gives the same roster, so a
    manager who regenerates without changing anything sees no churn.
    Raises ``ValueError`` on malformed input (bad day, interval, granularity, duplicate id).
    """
    prep = _Prepared(data)
    greedy = _Greedy(prep)
    greedy.run()
    shifts = sorted(greedy.shifts, key=lambda s: (s.day, s.start, s.staff_id))
    minutes = {s.staff_id: greedy.minutes[i] for i, s in enumerate(prep.staff)}
    return RosterResult(shifts=shifts, gaps=_gaps(prep, shifts), minutes_by_staff=minutes)


def coverage_gaps(data: RosterInput, shifts: list[Shift]) -> list[Gap]:
    """Uncovered periods of ``shifts`` against ``data.rules``, with reason codes.

    Exists so a roster a manager has edited by hand is judged by exactly the rules the
    generator used: ``coverage_gaps(data, generate_roster(data).shifts)`` equals the
    generated gaps. Shifts are counted as given, even outside availability or limits (the
    person is there); a shift of an unknown ``staff_id`` raises ``ValueError``.
    """
    return _gaps(_Prepared(data), shifts)
