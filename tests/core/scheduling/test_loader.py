"""The availability loader on real databases: which working time wins (published roster >
dated override > weekly template > opening hours), what takes time away (holidays, time-off,
bookings with buffers), when nothing is bookable, and wall-clock behaviour across DST.

``make_shop``: store 09:00-21:00 daily (Asia/Shanghai), step 15 min, service 60 min + 15
min buffer after, so a day without constraints has starts 09:00 .. 19:45. "Now" is always
passed explicitly (a day before the window), so these tests do not depend on the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from core.booking.service import create_booking
from core.catalog.services import add_service
from core.db import write_transaction
from core.extensions import db
from core.models import Roster, RosterShift, Service
from core.org.stores import update_store
from core.scheduling.loader import load_window
from core.scheduling.schedules import add_time_off, set_override, set_weekly
from tests.core.factories import Shop, add_holiday, add_person, local, make_shop, set_policy

MONDAY = date(2027, 3, 1)
DAY = MONDAY + timedelta(days=2)  # a Wednesday


def _span(first: str, last: str, step: int = 15) -> list[str]:
    """Local "HH:MM" from ``first`` to ``last`` inclusive."""
    h, m = (int(p) for p in first.split(":"))
    end_h, end_m = (int(p) for p in last.split(":"))
    out, minute = [], h * 60 + m
    while minute <= end_h * 60 + end_m:
        out.append(f"{minute // 60:02d}:{minute % 60:02d}")
        minute += step
    return out


FULL_DAY = _span("09:00", "19:45")


def _window(shop: Shop, day_from: date, day_to: date | None = None,
            staff_id: int | None = None, service_id: int | None = None) -> Any:
    return load_window(db.session.connection(), shop.store.id, service_id or shop.service.id,
                       day_from, day_to or day_from, staff_id=staff_id)


def _now_before(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) - 86400


def slots(shop: Shop, day: date, staff_id: int | None = None,
          service_id: int | None = None) -> list[tuple[str, tuple[int, ...]]]:
    """(local HH:MM, staff ids) of one day."""
    window = _window(shop, day, staff_id=staff_id, service_id=service_id)
    return [(datetime.fromtimestamp(ts, window.tz).strftime("%H:%M"), staff)
            for ts, staff in window.slots(_now_before(day))]


def times(shop: Shop, day: date, staff_id: int | None = None) -> list[str]:
    return [t for t, _ in slots(shop, day, staff_id)]


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


@pytest.fixture
def bea(shop: Shop) -> Any:
    return add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])


# --- whose working time --------------------------------------------------------------------


def test_weekly_templates_and_opening_hours(shop: Shop) -> None:
    # Without a template a person works the store's opening hours.
    found = slots(shop, DAY)
    assert [t for t, _ in found] == FULL_DAY
    assert {staff for _, staff in found} == {(shop.staff.id,)}
    # A weekly template with a lunch break leaves a gap.
    set_weekly(shop.staff.id, shop.store.code, "mon-sun 10:00-12:00,13:00-18:00")
    # 75 minutes blocked per booking: the morning fits 10:00-10:45, the afternoon to 16:45.
    assert times(shop, DAY) == _span("10:00", "10:45") + _span("13:00", "16:45")
    # Templates are clipped to opening hours; weekdays missing from them are off.
    set_weekly(shop.staff.id, shop.store.code, "mon-fri 07:00-12:00")
    assert times(shop, DAY) == _span("09:00", "10:45")
    assert times(shop, MONDAY + timedelta(days=5)) == []  # Saturday: not in the template


def test_dated_override_replaces_the_weekly_template(shop: Shop) -> None:
    set_weekly(shop.staff.id, shop.store.code, "mon-sun 10:00-18:00")
    set_override(shop.staff.id, shop.store.code, DAY, [(14 * 60, 16 * 60)])
    assert times(shop, DAY) == _span("14:00", "14:45")
    assert times(shop, DAY + timedelta(days=1)) == _span("10:00", "16:45")  # template again
    set_override(shop.staff.id, shop.store.code, DAY, None)  # not available that day
    assert times(shop, DAY) == []
    # An override also applies to someone without a template.
    bea = add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])
    set_override(bea.id, shop.store.code, DAY, [(9 * 60, 11 * 60)])
    assert times(shop, DAY) == _span("09:00", "09:45")


def test_published_roster_for_the_week_overrides_templates(shop: Shop, bea: Any) -> None:
    set_weekly(shop.staff.id, shop.store.code, "mon-sun 09:00-21:00")
    set_override(bea.id, shop.store.code, DAY, [(9 * 60, 21 * 60)])
    with write_transaction() as session:
        roster = Roster(store_id=shop.store.id, week_start=MONDAY, status="draft")
        roster.shifts.append(RosterShift(staff_id=shop.staff.id, day=DAY, start_min=12 * 60,
                                         end_min=15 * 60))
        session.add(roster)
    # A draft changes nothing.
    assert {staff for _, staff in slots(shop, DAY)} == {(shop.staff.id, bea.id)}
    with write_transaction() as session:
        session.get(Roster, roster.id).status = "published"
    assert times(shop, DAY, shop.staff.id) == _span("12:00", "13:45")
    assert times(shop, DAY, bea.id) == []  # no shift that week: no slots, override or not
    assert times(shop, DAY + timedelta(days=1)) == []  # nobody has a shift on Thursday
    assert [staff for _, staff in slots(shop, DAY)] == [(shop.staff.id,)] * 8
    # The week after has no roster: templates and opening hours again.
    next_week = DAY + timedelta(days=7)
    assert {staff for _, staff in slots(shop, next_week)} == {(shop.staff.id, bea.id)}
    # A window that spans both weeks applies the roster only to its own week.
    window = _window(shop, MONDAY + timedelta(days=6), MONDAY + timedelta(days=7),
                     staff_id=shop.staff.id)
    days = {datetime.fromtimestamp(ts, window.tz).date()
            for ts, _ in window.slots(_now_before(MONDAY))}
    assert days == {MONDAY + timedelta(days=7)}


# --- what takes time away --------------------------------------------------------------------


def test_holidays_close_the_store_or_replace_its_hours(shop: Shop) -> None:
    add_holiday(shop.store, DAY)
    assert slots(shop, DAY) == []
    assert times(shop, DAY + timedelta(days=2)) == FULL_DAY
    # Special hours on a holiday replace the opening hours.
    special = DAY + timedelta(days=1)
    add_holiday(shop.store, special, opens="12:00", closes="15:00")
    assert times(shop, special) == _span("12:00", "13:45")
    set_weekly(shop.staff.id, shop.store.code, "mon-sun 09:00-13:30")
    assert times(shop, special) == _span("12:00", "12:15")  # template ∩ special hours


def test_time_off_and_bookings_take_time_away(shop: Shop, bea: Any) -> None:
    add_time_off(shop.staff.id, local(shop.store, DAY, "12:00"), local(shop.store, DAY, "14:00"))
    assert times(shop, DAY, shop.staff.id) == _span("09:00", "10:45") + _span("14:00", "19:45")
    assert times(shop, DAY, bea.id) == FULL_DAY
    # Over several days, in UTC instants, whatever the local midnight.
    add_time_off(bea.id, local(shop.store, DAY, "18:00"),
                 local(shop.store, DAY + timedelta(days=1), "10:00"))
    assert times(shop, DAY, bea.id) == _span("09:00", "16:45")
    assert times(shop, DAY + timedelta(days=1), bea.id) == _span("10:00", "19:45")
    # Bookings block their range including buffers; "any staff" slots list who is free.
    set_policy(shop.store, horizon_days=365)  # the day is months away
    later = DAY + timedelta(days=7)
    create_booking(store=shop.store, service=shop.service, customer=shop.customer,
                   start_at=local(shop.store, later, "12:00"), staff=bea, source="phone")
    found = dict(slots(shop, later))
    both, ann = (shop.staff.id, bea.id), (shop.staff.id,)
    assert found["10:45"] == both  # ends 12:00 incl. buffer
    for hhmm in ("11:00", "12:00", "13:00"):
        assert found[hhmm] == ann, hhmm
    assert found["13:15"] == both  # the booking's buffer ends 13:15
    assert list(found) == FULL_DAY
    assert times(shop, later, bea.id) == _span("09:00", "10:45") + _span("13:15", "19:45")


# --- when nothing is bookable ----------------------------------------------------------------


def test_nothing_is_bookable_when_store_service_or_staff_are_missing(shop: Shop) -> None:
    window = load_window(db.session.connection(), 999999, shop.service.id, DAY, DAY)
    assert not window.found and not window.bookable
    assert window.slots(0) == []
    # Nobody performs the service.
    nails = add_service({"name": "Nails", "duration_min": 30, "price": 100},
                        stores=[shop.store.code])
    window = _window(shop, DAY, service_id=nails.id)
    assert window.bookable and window.staff_names == {}
    assert window.slots(_now_before(DAY)) == []
    # The store does not offer the service.
    other = add_service({"name": "Elsewhere", "duration_min": 30, "price": 100},
                        stores=[shop.store.code])
    with write_transaction() as session:
        session.get(Service, other.id).offers.clear()
    assert not _window(shop, DAY, service_id=other.id).bookable
    assert slots(shop, DAY, service_id=other.id) == []
    # The service is unpublished.
    assert slots(shop, DAY)
    with write_transaction() as session:
        session.get(Service, shop.service.id).published = False
    assert not _window(shop, DAY).bookable
    assert slots(shop, DAY) == []
    with write_transaction() as session:
        session.get(Service, shop.service.id).published = True
    assert slots(shop, DAY)
    # The store is closed.
    set_policy(shop.store, status="closed")
    window = _window(shop, DAY)
    assert window.found and not window.bookable
    assert window.slots(_now_before(DAY)) == []


def test_notice_horizon_and_the_two_statements(shop: Shop) -> None:
    window = _window(shop, DAY)
    now = int(local(shop.store, DAY, "12:05").timestamp())
    starts = [datetime.fromtimestamp(ts, window.tz).strftime("%H:%M")
              for ts, _ in window.slots(now)]
    assert starts == _span("13:15", "19:45")  # 60 minutes notice from 12:05
    quarter_past = int(local(shop.store, DAY, "12:15").timestamp())
    assert quarter_past in [ts for ts, _ in window.slots(now, notice=False)]
    far = int(local(shop.store, DAY - timedelta(days=61), "12:00").timestamp())
    assert window.slots(far) == []  # beyond the 60-day horizon
    # However many staff and days: two statements (store + service, then one union).
    add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])
    statements: list[str] = []
    store_id, service_id = shop.store.id, shop.service.id
    conn = db.session.connection()

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(conn, "before_cursor_execute", count)
    try:
        load_window(conn, store_id, service_id, DAY, DAY + timedelta(days=30))
    finally:
        event.remove(conn, "before_cursor_execute", count)
    assert len(statements) == 2


# --- daylight saving time (Europe/London) ----------------------------------------------------


@pytest.fixture
def london(shop: Shop) -> Shop:
    update_store(shop.store.code, {"timezone": "Europe/London"},
                 hours="mon-sun 00:00-03:00,09:00-21:00")
    db.session.expire_all()
    return shop


def _dst_slots(shop: Shop, day_from: date, day_to: date) -> list[datetime]:
    window = _window(shop, day_from, day_to)
    found = window.slots(_now_before(day_from))
    stamps = [ts for ts, _ in found]
    assert len(stamps) == len(set(stamps)), "duplicate instant"
    assert stamps == sorted(stamps)
    return [datetime.fromtimestamp(ts, ZoneInfo("Europe/London")) for ts in stamps]


def _first_after(found: list[datetime], day: date, hour: int) -> datetime:
    return next(s for s in found if s.date() == day and s.hour >= hour)


def test_dst_days_keep_wall_clock_opening_no_missing_or_duplicate_slots(
        london: Shop) -> None:
    # Spring.
    change = date(2026, 3, 29)  # 01:00 GMT -> 02:00 BST
    found = _dst_slots(london, change - timedelta(days=1), change + timedelta(days=1))
    on_day = [s for s in found if s.date() == change]
    assert not [s for s in on_day if s.hour == 1]  # 01:00-01:59 does not exist
    # 00:00-03:00 local is two real hours: 75-minute blocks start 00:00 .. 00:45 only.
    night = [s.strftime("%H:%M%z") for s in on_day if s.hour < 9]
    assert night == ["00:00+0000", "00:15+0000", "00:30+0000", "00:45+0000"]
    for day, offset in ((change - timedelta(days=1), "+0000"), (change, "+0100"),
                        (change + timedelta(days=1), "+0100")):
        opening = _first_after(found, day, 9)
        assert opening.strftime("%H:%M%z") == f"09:00{offset}"
        assert max(s for s in found if s.date() == day).strftime("%H:%M") == "19:45"
        assert len([s for s in found if s.date() == day and s.hour >= 9]) == len(FULL_DAY)

    # Autumn.
    change = date(2026, 10, 25)  # 02:00 BST -> 01:00 GMT: 01:00-01:59 happens twice
    found = _dst_slots(london, change - timedelta(days=1), change + timedelta(days=1))
    night = [s for s in found if s.date() == change and s.hour < 9]
    # 00:00-03:00 local is four real hours: every quarter hour once, both 01:xx runs.
    stamps = [int(s.timestamp()) for s in night]
    assert all(b - a == 900 for a, b in zip(stamps, stamps[1:], strict=False))
    assert len(night) == 12
    assert [s.strftime("%H:%M") for s in night].count("01:00") == 2
    assert {s.strftime("%z") for s in night if s.hour == 1} == {"+0100", "+0000"}
    for day, offset in ((change - timedelta(days=1), "+0100"), (change, "+0000"),
                        (change + timedelta(days=1), "+0000")):
        opening = _first_after(found, day, 9)
        assert opening.strftime("%H:%M%z") == f"09:00{offset}"
        assert len([s for s in found if s.date() == day and s.hour >= 9]) == len(FULL_DAY)
