"""Availability engine cost for one store over a 30-day window that crosses a DST change.

Usage: python benchmarks/bench_engine.py

Scenario (from the availability issue): Europe/London, 2026-10-11 .. 2026-11-09 (clocks go back
on 2026-10-25); 50 and then 200 staff, each working 09:00-21:00 local with a one-hour lunch;
about 8 bookings per staff member per day (blocked ranges including buffers, random but
non-overlapping, fixed seed); a few half- or whole-day time-off blocks each; a 60-minute
service with 10 minutes of buffer before and 15 after, offered on a 15-minute local grid.

Inputs (instants, candidates) are prepared outside the timed part, as the loader would hand
them over. Timed: per staff ``free_time`` plus one ``any_staff_slots`` over all staff for the
whole window. Prints median and p95 in milliseconds and the number of slots found.
Targets: median <= 25 ms for 50 staff, <= 100 ms for 200 staff.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.scheduling import localtime  # noqa: E402
from core.scheduling.engine import Interval, SlotRule, any_staff_slots, free_time  # noqa: E402

TZ = ZoneInfo("Europe/London")
DAY_FROM = date(2026, 10, 11)
DAYS = 30
STEP_MIN = 15
RUNS = 30
SEED = 20261025

WORK = [(540, 780), (840, 1260)]  # 09:00-13:00, 14:00-21:00 (lunch 13:00-14:00)
BOOKINGS_PER_DAY = 8
BOOKED_SERVICE_MIN = [20, 30, 45, 60]  # the store's service mix
BEFORE_MIN, AFTER_MIN = 10, 15


def _days() -> list[date]:
    return [DAY_FROM + timedelta(days=i) for i in range(DAYS)]


def _place_bookings(rng: random.Random, count: int) -> list[tuple[int, int]]:
    """Random non-overlapping blocked ranges (minutes of day) inside the working intervals.

    Bookings start on the same 15-minute grid customers are offered; the blocked range adds
    the buffers, as the loader would pass it to the engine.
    """
    placed: list[tuple[int, int]] = []
    attempts = 0
    while len(placed) < count and attempts < 500:
        attempts += 1
        duration = rng.choice(BOOKED_SERVICE_MIN)
        w_start, w_end = rng.choice(WORK)
        first = w_start + BEFORE_MIN
        last = w_end - duration - AFTER_MIN
        if last < first:
            continue
        grid = range(-(-first // STEP_MIN) * STEP_MIN, last + 1, STEP_MIN)
        if not grid:
            continue
        start = rng.choice(grid)
        blocked = (start - BEFORE_MIN, start + duration + AFTER_MIN)
        if all(blocked[1] <= s or blocked[0] >= e for s, e in placed):
            placed.append(blocked)
    return sorted(placed)


def build_store(
    n_staff: int, seed: int, bookings_per_day: int = BOOKINGS_PER_DAY
) -> tuple[dict[int, list[Interval]], dict[int, list[Interval]], int]:
    """Work and busy instants per staff member, as the loader would produce them."""
    rng = random.Random(seed)
    days = _days()
    work: dict[int, list[Interval]] = {}
    busy: dict[int, list[Interval]] = {}
    n_bookings = 0
    for staff_id in range(1, n_staff + 1):
        w: list[Interval] = []
        b: list[Interval] = []
        for day in days:
            w.extend(localtime.wall_intervals_to_instants(day, WORK, TZ))
            day_bookings = _place_bookings(rng, bookings_per_day)
            n_bookings += len(day_bookings)
            b.extend(localtime.wall_intervals_to_instants(day, day_bookings, TZ))
        for _ in range(rng.randint(1, 3)):  # time off: a morning, an afternoon or a whole day
            day = rng.choice(days)
            part = rng.choice([(0, 840), (780, 1440), (0, 1440)])
            b.extend(localtime.wall_intervals_to_instants(day, [part], TZ))
        work[staff_id] = w
        busy[staff_id] = b
    return work, busy, n_bookings


def timed(fn: object, runs: int) -> tuple[float, float, object]:
    samples = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[max(0, int(round(len(samples) * 0.95)) - 1)]
    return statistics.median(samples), p95, result


def main() -> None:
    day_to = DAY_FROM + timedelta(days=DAYS - 1)
    t0 = time.perf_counter()
    candidates = localtime.aligned_candidates(DAY_FROM, day_to, TZ, STEP_MIN)
    cold = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    localtime.aligned_candidates(DAY_FROM, day_to, TZ, STEP_MIN)
    warm = (time.perf_counter() - t0) * 1000
    print(f"window {DAY_FROM}..{day_to} {TZ.key}, {len(candidates)} candidates "
          f"(aligned_candidates: {cold:.1f} ms cold, {warm:.2f} ms cached)")

    # Minimum notice of 2 hours from "now" = the first morning; horizon = end of the window.
    first_morning = localtime.local_to_instant(DAY_FROM, 8 * 60, TZ)
    assert first_morning is not None
    latest = localtime.local_to_instant(day_to, 1440, TZ)
    rule = SlotRule(duration=3600, buffer_before=600, buffer_after=900,
                    earliest=first_morning + 2 * 3600, latest=latest)

    # The scenario (with targets), then a quiet store for information: few bookings
    # mean many (start, staff) pairs, the worst case for the any-staff merge.
    scenarios = [(50, BOOKINGS_PER_DAY, 25.0), (200, BOOKINGS_PER_DAY, 100.0), (200, 2, None)]
    for n_staff, per_day, target in scenarios:
        work, busy, n_bookings = build_store(n_staff, SEED + n_staff, per_day)

        def run(work: dict[int, list[Interval]] = work,
                busy: dict[int, list[Interval]] = busy) -> list[tuple[int, tuple[int, ...]]]:
            per_staff = {sid: free_time(work[sid], busy[sid]) for sid in work}
            return any_staff_slots(per_staff, candidates, rule)

        run()  # warm-up
        median, p95, result = timed(run, RUNS)
        slots: list[tuple[int, tuple[int, ...]]] = result  # type: ignore[assignment]
        pairs = sum(len(staff) for _, staff in slots)
        if target is None:
            verdict = "no target"
        else:
            verdict = f"target median <= {target:.0f} ms: "
            verdict += "OK" if median <= target else "MISSED"
        print(f"{n_staff:>4} staff, {n_bookings / (n_staff * DAYS):.1f} bookings/staff/day: "
              f"median {median:6.2f} ms, p95 {p95:6.2f} ms ({verdict}); "
              f"{len(slots)} bookable starts, {pairs} (start, staff) pairs")


if __name__ == "__main__":
    main()
