"""The availability cache (core.scheduling.cache) on real databases: every writer that
changes working or busy time invalidates what it touched, a cached answer always equals
the database's (``load_window``), also in a second app on the same database (another
process's cache), and a rolled-back write invalidates nothing.

``now`` is passed explicitly (a day before the window), so these tests do not depend on
the clock; the shop is ``make_shop``'s: Asia/Shanghai, 09:00-21:00, a 60-minute service
with a 15-minute buffer after, Ann bookable, a booking tomorrow at 11:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from core.booking.service import transition
from core.catalog.services import remove_store_offer, set_published, update_service
from core.db import write_transaction
from core.extensions import db
from core.models import AvailabilityVersion, Booking, Roster, TimeOff
from core.org.staff import set_staff_services, update_staff
from core.org.stores import remove_holiday, set_holiday, update_store
from core.scheduling import cache, rostering
from core.scheduling.cache import DayCache
from core.scheduling.loader import load_window
from core.scheduling.schedules import add_time_off, decide_time_off, set_override, set_weekly
from tests.core.factories import (
    Shop,
    add_holiday,
    add_person,
    book,
    iso_week,
    local,
    make_shop,
    next_monday,
    set_policy,
    store_day,
)


def _now_before(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) - 86400


def both(shop: Shop, day_from: date, day_to: date | None = None,
         staff_id: int | None = None) -> list[tuple[int, tuple[int, ...]]]:
    """The cached answer, asserted equal to the database's (also for a front-desk rule
    and for one person), and returned."""
    day_to = day_to or day_from
    now = _now_before(day_from)
    conn = db.session.connection()
    args = (conn, shop.store.id, shop.service.id, day_from, day_to)
    hot, cold = cache.window(*args, staff_id=staff_id), load_window(*args, staff_id=staff_id)
    assert hot.slots(now) == cold.slots(now)
    assert hot.slots(now, notice=False, horizon=False) == cold.slots(now, notice=False,
                                                                     horizon=False)
    assert hot.bookable == cold.bookable
    if hot.bookable:  # (closed: nobody is looked at, slots are none either way)
        assert hot.free() == cold.free() and hot.staff_names == cold.staff_names
    db.session.commit()  # end the read, as a request does
    return hot.slots(now)


def starts(shop: Shop, day: date, staff_id: int | None = None) -> list[str]:
    return [datetime.fromtimestamp(ts, local(shop.store, day, "00:00").tzinfo)
            .strftime("%H:%M") for ts, _ in both(shop, day, staff_id=staff_id)]


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


# --- the cache itself -----------------------------------------------------------------------


def test_day_cache_keeps_an_entry_for_its_token_ttl_and_capacity(monkeypatch: Any) -> None:
    clock = [1000.0]
    monkeypatch.setattr("core.scheduling.cache.time.monotonic", lambda: clock[0])
    days = DayCache(ttl=60, capacity=10)
    days.put(("a",), 1, "A", 4)
    assert days.get(("a",), 1) == "A"
    assert days.get(("a",), 2) is None  # another version: dropped
    assert days.get(("a",), 1) is None
    days.put(("a",), 1, "A", 4)
    days.put(("b",), 1, "B", 4)
    assert days.get(("a",), 1) == "A"  # a is now the most recently used
    days.put(("c",), 1, "C", 4)  # 12 > 10: the least recently used (b) goes
    assert days.get(("b",), 1) is None and days.get(("a",), 1) == "A"
    clock[0] += 61
    assert days.get(("a",), 1) is None and days.get(("c",), 1) is None  # too old
    assert len(days) == 0


def test_a_hit_is_one_statement_and_only_a_miss_reads_the_day(shop: Shop) -> None:
    day = store_day(shop.store, 1)
    seen: list[str] = []
    store_id, service_id = shop.store.id, shop.service.id
    conn = db.session.connection()

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn.engine, "before_cursor_execute", count)
    try:
        cache.window(conn, store_id, service_id, day, day + timedelta(days=6))
        cold = len(seen)
        cache.window(conn, store_id, service_id, day, day + timedelta(days=6))
        warm = len(seen) - cold
        cache.window(conn, store_id, service_id, day, day + timedelta(days=7))
        one_more_day = len(seen) - cold - warm
    finally:
        event.remove(conn.engine, "before_cursor_execute", count)
    assert (cold, warm, one_more_day) == (2, 1, 2), seen


def test_switched_off_it_reads_the_database(make_app: Any) -> None:
    app = make_app(FULIAN_AVAILABILITY_CACHE=False)
    with app.app_context():
        shop = make_shop()
        day = store_day(shop.store, 1)
        window = cache.window(db.session.connection(), shop.store.id, shop.service.id, day,
                              day)
        assert type(window).__name__ == "StoreWindow" and window.work
        assert cache._cache() is None


def test_a_write_behind_the_services_back_shows_after_the_ttl(shop: Shop,
                                                             monkeypatch: Any) -> None:
    day = store_day(shop.store, 1)
    booking = book(shop)
    assert "11:00" not in starts(shop, day)
    with write_transaction() as session:  # SQL typed by hand: nobody bumps a version
        session.execute(update(Booking).where(Booking.id == booking.id)
                        .values(status="cancelled"))
    args = (db.session.connection(), shop.store.id, shop.service.id, day, day)
    now = _now_before(day)
    assert cache.window(*args).slots(now) != load_window(*args).slots(now)  # stale
    later = cache.time.monotonic() + 301  # FULIAN_AVAILABILITY_CACHE_TTL is 300 s
    monkeypatch.setattr("core.scheduling.cache.time.monotonic", lambda: later)
    assert "11:00" in starts(shop, day)


# --- every writer invalidates what it touched ----------------------------------------------


def test_bookings_through_the_service(shop: Shop) -> None:
    day = store_day(shop.store, 1)
    assert "11:00" in starts(shop, day)
    booking = book(shop)
    assert "11:00" not in starts(shop, day)  # created
    transition(booking.id, "cancel")
    assert "11:00" in starts(shop, day)  # cancelled
    booking = book(shop)
    assert "11:00" not in starts(shop, day)
    later = local(shop.store, day + timedelta(days=1), "15:00")
    transition(booking.id, "reschedule", new_start=later)
    assert "11:00" in starts(shop, day)  # moved away ...
    assert "15:00" not in starts(shop, day + timedelta(days=1))  # ... to here
    transition(booking.id, "complete", now=later)
    assert "15:00" in starts(shop, day + timedelta(days=1))  # completed: no longer busy
    booking = book(shop)
    assert "11:00" not in starts(shop, day)
    transition(booking.id, "no_show", now=shop.start + timedelta(minutes=5))
    assert "11:00" in starts(shop, day)
    set_policy(shop.store, acceptance_required=True)
    booking = book(shop, source="online")
    assert booking.status == "pending" and "11:00" not in starts(shop, day)
    transition(booking.id, "decline")
    assert "11:00" in starts(shop, day)


def test_bookings_reassigned_and_written_with_core_statements(shop: Shop) -> None:
    day = store_day(shop.store, 1)
    bea = add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])
    booking = book(shop)
    assert both(shop, day, staff_id=bea.id) and "11:00" not in starts(shop, day, shop.staff.id)
    with write_transaction() as session:  # an ORM move to another person (a reassignment)
        session.get(Booking, booking.id).staff_id = bea.id
    assert "11:00" in starts(shop, day, shop.staff.id)
    assert "11:00" not in starts(shop, day, bea.id)
    with write_transaction():  # a status set on an expired instance (nothing loaded)
        assert "block_start" not in db.inspect(booking).dict
        booking.status = "cancelled"
    assert "11:00" in starts(shop, day, bea.id)
    with write_transaction():
        booking.status = "confirmed"
    assert "11:00" not in starts(shop, day, bea.id)
    # A writer that bypasses the ORM says what it changed.
    start = local(shop.store, day, "15:00")
    with write_transaction() as session:
        session.execute(update(Booking).where(Booking.id == booking.id).values(
            staff_id=shop.staff.id, start_at=start, end_at=start + timedelta(hours=1),
            block_start=start, block_end=start + timedelta(minutes=75)))
        cache.invalidate_busy(bea.id, shop.start, shop.start + timedelta(minutes=75))
        cache.invalidate_busy(shop.staff.id, start, start + timedelta(minutes=75))
    assert "11:00" in starts(shop, day, bea.id)
    assert "15:00" not in starts(shop, day, shop.staff.id)


def test_time_off_overrides_and_weekly_templates(shop: Shop) -> None:
    day = store_day(shop.store, 2)
    assert "10:00" in starts(shop, day)
    add_time_off(shop.staff.id, local(shop.store, day, "10:00"), local(shop.store, day, "12:00"))
    assert "10:00" not in starts(shop, day)
    asked = add_time_off(shop.staff.id, local(shop.store, day, "14:00"),
                         local(shop.store, day, "16:00"), status="requested")
    assert "14:00" in starts(shop, day)  # only asked for
    decide_time_off(asked.id, "approved")
    assert "14:00" not in starts(shop, day)
    set_override(shop.staff.id, shop.store.code, day, [(18 * 60, 21 * 60)])
    assert starts(shop, day) == ["18:00", "18:15", "18:30", "18:45", "19:00", "19:15",
                                 "19:30", "19:45"]
    set_override(shop.staff.id, shop.store.code, day, None)
    assert starts(shop, day) == []
    other = day + timedelta(days=1)
    assert "09:00" in starts(shop, other)
    set_weekly(shop.staff.id, shop.store.code, "mon-sun 13:00-15:00")
    assert starts(shop, other)[0] == "13:00"


def test_rosters(shop: Shop) -> None:
    monday = next_monday(shop.store, 2)
    wednesday = monday + timedelta(days=2)
    assert starts(shop, wednesday)[0] == "09:00"
    roster = rostering.generate(shop.store.code, iso_week(monday))  # a draft: no change
    assert starts(shop, wednesday)[0] == "09:00"
    rostering.set_shift(roster, shop.staff.id, wednesday, 12 * 60, 16 * 60)
    assert starts(shop, wednesday)[0] == "09:00"
    rostering.publish(roster)
    assert starts(shop, wednesday) == [f"{h}:{m:02d}" for h in (12, 13, 14)
                                       for m in (0, 15, 30, 45)]
    rostering.set_shift(db.session.get(Roster, roster.id), shop.staff.id, wednesday,
                        None, None)
    assert starts(shop, wednesday) == []
    rostering.generate(shop.store.code, iso_week(monday), publish=False)  # back to a draft
    assert starts(shop, wednesday)[0] == "09:00"


def test_store_hours_holidays_time_zone_and_policy(shop: Shop) -> None:
    day = store_day(shop.store, 3)
    assert starts(shop, day)[-1] == "19:45"
    update_store(shop.store.code, {}, hours="mon-sun 09:00-18:00")
    assert starts(shop, day)[-1] == "16:45"
    set_holiday(shop.store.code, {"day": day, "opens_min": 600, "closes_min": 720})
    assert starts(shop, day) == ["10:00", "10:15", "10:30", "10:45"]
    remove_holiday(shop.store.code, day)
    assert starts(shop, day)[-1] == "16:45"
    update_store(shop.store.code, {}, holidays=[(day, "Closed")])
    assert starts(shop, day) == []
    add_holiday(shop.store, day + timedelta(days=1))  # a plain ORM insert (the factory)
    assert starts(shop, day + timedelta(days=1)) == []
    before = both(shop, day + timedelta(days=2))
    update_store(shop.store.code, {"timezone": "Europe/London"})
    db.session.expire_all()
    assert both(shop, day + timedelta(days=2)) != before  # 09:00 is now London's
    set_policy(shop.store, status="closed")
    assert both(shop, day + timedelta(days=2)) == []


def test_staff_and_services(shop: Shop) -> None:
    day = store_day(shop.store, 1)
    assert {who for _, who in both(shop, day)} == {(shop.staff.id,)}
    bea = add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])
    assert (shop.staff.id, bea.id) in {who for _, who in both(shop, day)}
    update_staff(bea.id, {"active": False})
    assert {who for _, who in both(shop, day)} == {(shop.staff.id,)}
    set_staff_services(shop.staff.id, [])
    assert both(shop, day) == []
    set_staff_services(shop.staff.id, [str(shop.service.id)])
    assert both(shop, day)
    # Services and offers are read on every request: nothing to invalidate.
    update_service(shop.service.id, {"duration_min": 120})
    assert starts(shop, day)[-1] == "18:45"
    set_published(shop.service.id, False)
    assert both(shop, day) == []
    set_published(shop.service.id, True)
    remove_store_offer(shop.service.id, shop.store.code)
    assert both(shop, day) == []


def test_a_rolled_back_write_bumps_nothing(shop: Shop) -> None:
    day = store_day(shop.store, 1)
    both(shop, day)

    def versions() -> list[Any]:
        rows = db.session.execute(select(AvailabilityVersion.day, AvailabilityVersion.version)
                                  .order_by(AvailabilityVersion.day)).all()
        db.session.commit()
        return rows

    before = versions()
    with pytest.raises(RuntimeError), write_transaction() as session:
        session.execute(update(Booking).where(Booking.staff_id == shop.staff.id)
                        .values(status="cancelled"))
        cache.invalidate_busy(shop.staff.id, shop.start, shop.start + timedelta(hours=1))
        session.add(TimeOff(staff_id=shop.staff.id, start_at=shop.start,
                            end_at=shop.start + timedelta(hours=1)))
        session.flush()
        raise RuntimeError("changed my mind")
    with write_transaction():  # a later transaction does not write the forgotten bumps
        pass
    assert versions() == before
    assert "11:00" in starts(shop, day)


# --- another process ------------------------------------------------------------------------


def test_a_write_in_one_process_reaches_the_others_cache(make_app: Any) -> None:
    """Two apps on one database keep two caches, as two gunicorn workers do."""
    app = make_app()
    reader = make_app(migrate=False).test_client()
    with app.app_context():
        shop = make_shop()
        day = store_day(shop.store, 2)
        query = (f"/api/v1/stores/{shop.store.id}/availability?service_id={shop.service.id}"
                 f"&date_from={day}&date_to={day + timedelta(days=6)}")
        first = reader.get(query)
        assert first.status_code == 200 and reader.get(query).data == first.data
        shop.start = local(shop.store, day, "11:00")
        book(shop)
    second = reader.get(query)
    taken = [s for s in first.json["slots"] if s["start"].startswith(f"{day}T11:00")]
    assert taken and taken[0] not in second.json["slots"]
    # the answer says so in its tag; the old tag gets the new answer, the new one a 304
    assert second.headers["ETag"] != first.headers["ETag"]
    assert second.headers["Cache-Control"] == "no-cache"
    assert reader.get(query, headers={"If-None-Match": first.headers["ETag"]}).data \
        == second.data
    again = reader.get(query, headers={"If-None-Match": second.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    assert again.headers["ETag"] == second.headers["ETag"]
