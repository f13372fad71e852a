"""Rosters as a service on real databases: generate a week from availability and coverage
rules, explain the gaps in words, let a manager adjust shifts (gaps re-explained), publish
(availability then follows the roster). The pure generator has its own tests
(``test_roster.py``); these check the database side around it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask_babel import force_locale

from core.catalog.services import add_service
from core.errors import NotFound, ValidationFailed
from core.extensions import db
from core.models import Roster
from core.org.stores import create_store
from core.scheduling import rostering
from core.scheduling.loader import load_window
from core.scheduling.schedules import add_coverage, add_time_off, set_weekly
from tests.core.factories import Shop, add_holiday, add_person, local, make_shop

MONDAY = date(2027, 3, 1)
WEEK = "2027-W09"
H = 60


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


@pytest.fixture
def bea(shop: Shop) -> Any:
    return add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])


def _shifts(roster: Roster) -> list[tuple[int, int, int, int]]:
    """(staff id, weekday, start, end) of a roster, sorted."""
    return sorted((s.staff_id, (s.day - MONDAY).days, s.start_min, s.end_min)
                  for s in roster.shifts)


def _covered(shifts: list[tuple[int, int, int, int]], day: int, start: int, end: int) -> bool:
    return all(any(d == day and a <= minute and minute + 15 <= b for _, d, a, b in shifts)
               for minute in range(start, end, 15))


def _reload(roster: Roster) -> Roster:
    db.session.rollback()
    return db.session.get(Roster, roster.id)


def _slot_times(shop: Shop, day: date, staff_id: int | None = None) -> list[str]:
    window = load_window(db.session.connection(), shop.store.id, shop.service.id, day, day,
                         staff_id=staff_id)
    now = int(datetime(2027, 2, 27, tzinfo=UTC).timestamp())
    return [datetime.fromtimestamp(ts, window.tz).strftime("%H:%M") for ts, _ in
            window.slots(now)]


# --- parse_week -------------------------------------------------------------------------------


def test_parse_week_gives_the_iso_monday() -> None:
    assert rostering.parse_week("2027-W09") == MONDAY
    assert rostering.parse_week(" 2026-W53 ") == date(2026, 12, 28)  # 2026 has 53 weeks
    assert rostering.parse_week("2026-W01") == date(2025, 12, 29)


@pytest.mark.parametrize("text", ["", "2026-49", "2026W49", "W49", "2026-W00", "2026-W54",
                                  "2027-W53", "2026-w10", "2026-W1", "26-W10", "2026-W10x",
                                  ])
def test_parse_week_refuses_bad_input(text: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        rostering.parse_week(text)
    assert "week" in info.value.field_errors


# --- generate ---------------------------------------------------------------------------------


def test_generate_covers_the_rules_without_gaps(shop: Shop, bea: Any) -> None:
    with pytest.raises(NotFound):
        rostering.get_roster(shop.store.code, WEEK)
    with pytest.raises(ValidationFailed):
        rostering.generate(shop.store.code, "next week")
    add_coverage(shop.store.code, "mon-fri 10:00-18:00", 1)
    roster = rostering.generate(shop.store.code, WEEK)
    assert (roster.status, roster.week_start, roster.store_id) == ("draft", MONDAY,
                                                                   shop.store.id)
    assert roster.gaps == []
    shifts = _shifts(_reload(roster))
    for day in range(5):
        assert _covered(shifts, day, 10 * H, 18 * H), day
    assert all(d < 5 for _, d, _, _ in shifts)  # no demand at the weekend: nobody scheduled
    assert all(10 * H <= a < b <= 18 * H for _, _, a, b in shifts)  # nobody idles at edges
    assert {sid for sid, *_ in shifts} <= {shop.staff.id, bea.id}
    # Both people share the week (fairness), nobody over their limits.
    for sid in (shop.staff.id, bea.id):
        mine = [s for s in shifts if s[0] == sid]
        assert sum(b - a for _, _, a, b in mine) <= 40 * H
        assert len({d for _, d, _, _ in mine}) == len(mine)  # one shift a day
    # Generating again replaces the week's shifts in the same roster.
    again = rostering.generate(shop.store.code, WEEK)
    assert again.id == roster.id
    assert _shifts(_reload(again)) == shifts
    assert db.session.query(Roster).count() == 1
    assert rostering.get_roster(shop.store.code, WEEK).id == roster.id


def test_generate_respects_availability_time_off_and_holidays(shop: Shop, bea: Any) -> None:
    add_coverage(shop.store.code, "mon-sun 09:00-21:00", 1)
    set_weekly(shop.staff.id, shop.store.code, "mon-sun 09:00-15:00")
    add_time_off(bea.id, local(shop.store, MONDAY + timedelta(days=1), "00:00"),
                 local(shop.store, MONDAY + timedelta(days=2), "00:00"))
    add_holiday(shop.store, MONDAY + timedelta(days=2))
    roster = rostering.generate(shop.store.code, WEEK)
    shifts = _shifts(_reload(roster))
    assert all(b <= 15 * H for sid, _, _, b in shifts if sid == shop.staff.id)
    assert not [s for s in shifts if s[0] == bea.id and s[1] == 1]  # Bea's day off
    assert not [s for s in shifts if s[1] == 2]  # the store is closed on Wednesday
    assert not [g for g in roster.gaps if g["day"] == 2]  # a closed day needs nobody
    # A store that never set rules still gets a roster: one person per opening hour.
    create_store({"code": "north", "name": "North", "timezone": "Asia/Shanghai"},
                 hours="mon-sat 10:00-19:00")
    cy = add_person("Cy", "cy@example.com", ["north"], [shop.service])
    north = _shifts(_reload(rostering.generate("north", WEEK)))
    assert north
    assert all(sid == cy.id and 10 * H <= a < b <= 19 * H and d < 6 for sid, d, a, b in north)


def test_gaps_are_explained_in_words(shop: Shop) -> None:
    add_coverage(shop.store.code, "mon-sun 10:00-18:00", 2)
    nails = add_service({"name": "Nails", "duration_min": 30, "price": 100},
                        stores=[shop.store.code])
    add_coverage(shop.store.code, "mon 10:00-12:00", 1, service_ref=str(nails.id))
    roster = rostering.generate(shop.store.code, WEEK)
    gaps = roster.gaps
    assert gaps, "one person cannot cover a rule that needs two"
    assert all(g["required"] == 2 and g["scheduled"] < 2 for g in gaps
               if g["skill"] is None)
    assert {r for g in gaps for r in g["reasons"]} <= set(rostering.REASONS)
    nail_gap = next(g for g in gaps if g["skill"] == nails.id)
    assert (nail_gap["day"], nail_gap["start"], nail_gap["end"]) == (0, 10 * H, 12 * H)
    assert nail_gap["reasons"] == ["no_one_available"]
    with force_locale("en"):
        text = rostering.explain_gap(nail_gap)
        assert text == ("Mon 10:00-12:00 needs 1, 0 scheduled: nobody with the needed skill "
                        "is available then")
        for gap in gaps:
            explained = rostering.explain_gap(gap)
            assert explained.strip()
            assert f"needs {gap['required']}, {gap['scheduled']} scheduled" in explained
    with force_locale("zh_CN"):
        text = rostering.explain_gap(nail_gap)
        assert text == "周一 10:00-12:00 需要 1 人，已排 0 人：该时段没有具备所需技能的员工可排"
        assert all("需要" in rostering.explain_gap(g) for g in gaps)


# --- adjust and publish ------------------------------------------------------------------------


def test_set_shift_adjust_and_remove_re_explain_gaps(shop: Shop, bea: Any) -> None:
    add_coverage(shop.store.code, "mon-fri 10:00-18:00", 1)
    roster = rostering.generate(shop.store.code, WEEK)
    assert roster.gaps == []
    monday = [s for s in _shifts(_reload(roster)) if s[1] == 0]
    assert monday
    for sid, *_ in monday:
        roster = rostering.set_shift(roster, sid, MONDAY, None, None)
    assert not [s for s in _shifts(_reload(roster)) if s[1] == 0]
    (gap,) = _reload(roster).gaps
    assert (gap["day"], gap["start"], gap["end"], gap["required"], gap["scheduled"]) == (
        0, 10 * H, 18 * H, 1, 0)
    assert "available_unscheduled" in gap["reasons"]  # someone could have worked it
    with force_locale("en"):
        assert "someone available is not scheduled" in rostering.explain_gap(gap)
    # Half a day back: the gap shrinks to the afternoon.
    roster = rostering.set_shift(roster, shop.staff.id, MONDAY, 10 * H, 14 * H)
    (gap,) = _reload(roster).gaps
    assert (gap["day"], gap["start"], gap["end"]) == (0, 14 * H, 18 * H)
    # Adjusting the same person's shift replaces it (one shift a day).
    roster = rostering.set_shift(roster, shop.staff.id, MONDAY, 10 * H, 18 * H)
    assert _reload(roster).gaps == []
    assert [s for s in _shifts(_reload(roster)) if s[1] == 0] == [
        (shop.staff.id, 0, 10 * H, 18 * H)]
    # Bad adjustments are refused and change nothing.
    create_store({"code": "north", "name": "North", "timezone": "Asia/Shanghai"},
                 hours="mon-sun 09:00-21:00")
    stranger = add_person("Cy", "cy@example.com", ["north"], [shop.service])
    before = _shifts(_reload(roster))
    cases = [
        (shop.staff.id, MONDAY + timedelta(days=7), 600, 700, "day"),
        (shop.staff.id, MONDAY - timedelta(days=1), 600, 700, "day"),
        (shop.staff.id, MONDAY, 700, 600, "end_min"),
        (shop.staff.id, MONDAY, 600, None, "end_min"),
        (shop.staff.id, MONDAY, 600, 1441, "end_min"),
        (stranger.id, MONDAY, 600, 700, "staff_id"),
    ]
    for staff_id, day, start, end, field in cases:
        with pytest.raises(ValidationFailed) as info:
            rostering.set_shift(_reload(roster), staff_id, day, start, end)
        assert field in info.value.field_errors, (staff_id, day, start, end)
    assert _shifts(_reload(roster)) == before


def test_publish_makes_availability_follow_the_roster(shop: Shop, bea: Any) -> None:
    add_coverage(shop.store.code, "mon-fri 10:00-18:00", 1)
    roster = rostering.generate(shop.store.code, WEEK)
    for sid, day, *_ in _shifts(_reload(roster)):
        if day == 0:
            roster = rostering.set_shift(roster, sid, MONDAY, None, None)
    roster = rostering.set_shift(roster, shop.staff.id, MONDAY, 12 * H, 16 * H)
    # A draft does not change availability: both work the opening hours.
    assert _slot_times(shop, MONDAY)[0] == "09:00"
    assert _slot_times(shop, MONDAY + timedelta(days=5), bea.id)[0] == "09:00"
    published = rostering.publish(roster)
    assert published.status == "published" and published.published_at is not None
    assert _slot_times(shop, MONDAY) == ["12:00", "12:15", "12:30", "12:45", "13:00", "13:15",
                                         "13:30", "13:45", "14:00", "14:15", "14:30", "14:45"]
    assert _slot_times(shop, MONDAY, bea.id) == []
    assert _slot_times(shop, MONDAY + timedelta(days=5)) == []  # nobody rostered Saturday
    # Later edits of a published roster apply at once.
    rostering.set_shift(_reload(roster), bea.id, MONDAY, 9 * H, 11 * H)
    assert _slot_times(shop, MONDAY, bea.id) == ["09:00", "09:15", "09:30", "09:45"]
    # The next week has no roster: back to templates / opening hours.
    assert _slot_times(shop, MONDAY + timedelta(days=7))[0] == "09:00"
    # Generate and publish in one step.
    nxt = rostering.generate(shop.store.code, "2027-W10", publish=True)
    assert nxt.status == "published" and nxt.published_at is not None
    tuesday = MONDAY + timedelta(days=8)
    (cover,) = [s for s in nxt.shifts if s.day == tuesday]
    assert _slot_times(shop, tuesday, cover.staff_id)[0] == "10:00"
    assert _slot_times(shop, MONDAY + timedelta(days=12)) == []  # Saturday: no shifts
