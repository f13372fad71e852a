"""Double booking under real concurrency: gunicorn workers, client processes, a real DB.

The database is prepared in-process; the app then runs under gunicorn with three sync
workers (separate processes, separate connections) and six client processes POST
overlapping bookings at once: three staff plus "any staff", starts at 10:00, 10:15 and
10:30 of one day with a 60-minute service, so at most one booking per person can win.
Afterwards the database must hold no two active bookings of one person whose blocked
ranges intersect, every loser must have had a 409 problem, and nothing may have failed
with a 5xx.

Negative controls (``test_negative_control_*``) prove that this test can fail:

* the same harness with the guard removed (the in-transaction re-check off, and on
  PostgreSQL the exclusion constraint dropped) must produce overlapping bookings;
* on PostgreSQL, with the re-check on but the exclusion constraint dropped, the
  concurrent requests must still slip an overlap past the re-check (READ COMMITTED
  snapshots cannot see each other's uncommitted inserts, NOTES trap 7), which shows that
  the requests really run concurrently, not one after the other.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from .live_server import (
    PROBLEM,
    Reply,
    Shop,
    active_bookings,
    booking_body,
    fire,
    gunicorn,
    overlapping_pairs,
    prepare_shop,
    run_sql,
)

PROCESSES = 6
PER_PROCESS = 15
STARTS = [(10, 0), (10, 15), (10, 30)]
ROUNDS = 5


def _plan(shop: Shop) -> list[list[tuple[dict[str, Any], None, Any]]]:
    targets: list[int | None] = [*shop.staff_ids, None]
    plan = []
    for p in range(PROCESSES):
        rnd = random.Random(p)
        jobs = []
        for i in range(PER_PROCESS):
            staff_id = rnd.choice(targets)
            hour, minute = rnd.choice(STARTS)
            body = booking_body(shop, staff_id, shop.at(hour, minute), f"139{p:02d}{i:06d}")
            jobs.append((body, None, staff_id))
        plan.append(jobs)
    return plan


def _race(make_app: Any, db_url: str, tmp_path: Path, *, guard: bool
          ) -> tuple[Shop, list[Reply], list[Any]]:
    app = make_app()
    shop = prepare_shop(app)
    if not guard and db_url.startswith("postgresql"):
        run_sql(app, "ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap")
    with gunicorn(db_url, tmp_path / "instance", workers=3, guard=guard) as server:
        replies = fire(server, shop.token, _plan(shop))
    return shop, replies, active_bookings(app)


def test_no_double_booking_through_the_http_stack(make_app: Any, db_url: str,
                                                  tmp_path: Path) -> None:
    shop, replies, rows = _race(make_app, db_url, tmp_path, guard=True)
    assert len(replies) == PROCESSES * PER_PROCESS
    statuses = Counter(r.status for r in replies)
    assert not [r for r in replies if r.status >= 500], (statuses, replies[:3])
    assert set(statuses) <= {201, 409}, [(r.status, r.body[:300]) for r in replies
                                         if r.status not in (201, 409)]
    assert all(r.content_type.startswith(PROBLEM) for r in replies if r.status == 409)
    assert statuses[409] >= 1, "nothing was refused: the requests did not race"
    # Every loser was told so (409); every 201 is a booking in the database.
    assert statuses[201] == len(rows)
    assert overlapping_pairs(rows) == []
    per_staff = Counter(row.staff_id for row in rows)
    assert set(per_staff) == set(shop.staff_ids), per_staff  # a 201 for every person
    assert all(n == 1 for n in per_staff.values()), per_staff  # all three starts overlap


def test_negative_control_without_the_guard_double_bookings_appear(
        make_app: Any, db_url: str, tmp_path: Path) -> None:
    """NEGATIVE CONTROL: the same race with the guard removed must double-book, so the
    assertions above are able to fail."""
    _shop, replies, rows = _race(make_app, db_url, tmp_path, guard=False)
    assert not [r for r in replies if r.status >= 500]
    assert overlapping_pairs(rows), "no overlap without the guard: the harness is blind"


def test_negative_control_postgresql_recheck_alone_lets_a_race_through(
        make_app: Any, db_url: str, tmp_path: Path) -> None:
    """NEGATIVE CONTROL (PostgreSQL): without the exclusion constraint the re-check alone
    is racy; the harness must be concurrent enough to show it (a few rounds at most)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE: there is no race")
    app = make_app()
    shop = prepare_shop(app)
    run_sql(app, "ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap")
    rounds = []
    # Several rounds from one address would exceed the booking rate limit: off here.
    with gunicorn(db_url, tmp_path / "instance", workers=3, limits=False) as server:
        for k in range(ROUNDS):
            replies = fire(server, shop.token, _plan(replace(shop, day=shop.day
                                                             + timedelta(days=k))))
            assert not [r for r in replies if r.status >= 500]
            rounds.append(Counter(r.status for r in replies))
            if overlapping_pairs(active_bookings(app)):
                return
    pytest.fail(f"no overlap in {ROUNDS} rounds without the constraint: {rounds}")
