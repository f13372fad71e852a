"""How long the smart roster generator takes for a busy store's week.

Usage: python benchmarks/bench_roster.py
Prints the median (and p95) time in milliseconds to generate a roster for 7 days x 30 staff
x 14 opening hours on 30-minute cells with 3 coverage rules (one skill-specific), from
fixed-seed random availability, then the size of the result. The target is < 1 s, because
a manager regenerates interactively after every availability change.
"""

from __future__ import annotations

import random
import statistics
import time

from core.scheduling.roster import (
    CoverageRule,
    RosterInput,
    StaffInput,
    coverage_gaps,
    generate_roster,
)

SEED = 20240601
COLOUR = 1  # service id of the skill-specific rule
OPEN, CLOSE = 8 * 60, 22 * 60  # 14 h


def store_week(seed: int = SEED, staff_count: int = 30) -> RosterInput:
    """A plausible week: most people available most days, shifts of 4-12 h at random times."""
    rng = random.Random(seed)
    staff = []
    for staff_id in range(1, staff_count + 1):
        available: dict[int, list[tuple[int, int]]] = {}
        for day in range(7):
            if rng.random() < 0.8:
                start = rng.randrange(OPEN - 60, CLOSE - 4 * 60, 30)
                length = rng.randrange(4 * 60, 12 * 60 + 1, 30)
                available[day] = [(start, min(CLOSE + 60, start + length))]
        staff.append(StaffInput(
            staff_id=staff_id,
            name=f"staff {staff_id}",
            available=available,
            skills=frozenset({COLOUR}) if rng.random() < 0.3 else frozenset(),
            max_minutes=rng.choice([20, 30, 40, 40, 40]) * 60,
            min_rest_days=rng.choice([1, 1, 2]),
        ))
    return RosterInput(
        open_hours={day: [(OPEN, CLOSE)] for day in range(7)},
        staff=staff,
        rules=[
            CoverageRule(day=None, start=OPEN, end=CLOSE, min_staff=6),
            CoverageRule(day=None, start=17 * 60, end=21 * 60, min_staff=12),
            CoverageRule(day=None, start=10 * 60, end=20 * 60, min_staff=2, skill=COLOUR),
        ],
    )


def main(runs: int = 30) -> None:
    data = store_week()
    samples = []
    result = generate_roster(data)
    for _ in range(runs):
        start = time.perf_counter()
        result = generate_roster(data)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    print(f"generate_roster 7 days x 30 staff x 14 h, 30-min cells, 3 rules: "
          f"median {statistics.median(samples):.1f} ms, p95 {p95:.1f} ms ({runs} runs)")

    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        coverage_gaps(data, result.shifts)
        samples.append((time.perf_counter() - start) * 1000)
    print(f"coverage_gaps on that roster: median {statistics.median(samples):.1f} ms")

    hours = sum(result.minutes_by_staff.values()) / 60
    uncovered = sum((g.end - g.start) // data.granularity * (g.required - g.scheduled)
                    for g in result.gaps)
    print(f"shifts {len(result.shifts)}, scheduled hours {hours:.0f}, gaps {len(result.gaps)} "
          f"({uncovered} uncovered cell-units)")


if __name__ == "__main__":
    main()
