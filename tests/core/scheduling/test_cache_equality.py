"""The cached answer is the database's answer, through seeded random writes.

A London store open 00:00-02:00 and 07:00-24:00 (free time runs across midnight), four
people, a short service and a long one (ten hours with buffers: slots reach into the next
day), windows around the spring-forward night of 2027-03-28. After every random write
(bookings made, cancelled, moved; time-off; overrides; holidays; weekly templates) random
windows are asked of a second app's cache (another process) and of the database
(``load_window``), for anyone and for one person, and once through the API of an app
with the cache and one without: all must be equal.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.audit import acting_as
from core.booking.service import create_booking, transition
from core.catalog.services import add_service
from core.crm.customers import find_or_create
from core.db import write_transaction
from core.errors import FulianError
from core.extensions import db
from core.models import ACTIVE_STATUSES, Booking
from core.org.staff import add_staff
from core.org.stores import create_store, remove_holiday, set_holiday
from core.scheduling import cache
from core.scheduling.loader import load_window
from core.scheduling.schedules import add_time_off, set_override, set_weekly

LONDON = ZoneInfo("Europe/London")
FIRST = date(2027, 3, 24)
DAYS = 10  # to 2027-04-02, across 2027-03-28 (01:00 -> 02:00)
NOW = int(datetime(2027, 3, 20, tzinfo=UTC).timestamp())
WRITES = 30


def _at(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LONDON) + timedelta(minutes=minute)


def _setup() -> dict[str, Any]:
    store = create_store({"code": "ldn", "name": "London", "timezone": "Europe/London"},
                         hours="mon-sun 00:00-02:00,07:00-24:00")
    short = add_service({"name": "Trim", "duration_min": 45, "price": 100,
                         "buffer_before_min": 10, "buffer_after_min": 15}, stores=["ldn"])
    long = add_service({"name": "Day spa", "duration_min": 600, "price": 900,
                        "buffer_before_min": 240, "buffer_after_min": 60}, stores=["ldn"])
    staff = [add_staff({"name": f"P{i}", "email": f"p{i}@example.com"}, {}, stores=["ldn"],
                       services=[str(short.id), str(long.id)]).id for i in range(4)]
    set_weekly(staff[0], "ldn", "mon-sun 00:00-02:00,07:00-24:00")
    set_weekly(staff[1], "ldn", "mon-fri 08:00-12:00,13:00-20:00")
    with write_transaction():
        customer = find_or_create("+8613800000009", "Random")
    return {"store": store.id, "services": [short.id, long.id], "staff": staff,
            "customer": customer.id}


def _writes(world: dict[str, Any], rng: random.Random) -> list[Callable[[], Any]]:
    """One random write of each kind (some are refused: that must change nothing)."""
    day = FIRST + timedelta(days=rng.randrange(DAYS))
    person = rng.choice(world["staff"])
    minute = rng.randrange(0, 24 * 60, 15)

    def bookings() -> list[int]:
        return list(db.session.scalars(db.select(Booking.id).where(
            Booking.status.in_(ACTIVE_STATUSES)).order_by(Booking.id)))

    def book() -> Any:
        return create_booking(store=world["store"], service=rng.choice(world["services"]),
                              customer=world["customer"], start_at=_at(day, minute),
                              staff=person, source="phone")

    def cancel() -> Any:
        ids = bookings()
        return transition(rng.choice(ids), "cancel") if ids else None

    def move() -> Any:
        ids = bookings()
        return transition(rng.choice(ids), "reschedule", new_start=_at(day, minute),
                          new_staff_id=person) if ids else None

    def time_off() -> Any:
        return add_time_off(person, _at(day, minute), _at(day, minute + rng.randrange(60, 600)))

    def override() -> Any:
        start = rng.randrange(0, 20) * 60
        return set_override(person, "ldn", day, rng.choice([None, [(start, start + 240)]]))

    def holiday() -> Any:
        if rng.random() < 0.5:
            return set_holiday("ldn", {"day": day, "opens_min": 600, "closes_min": 1080})
        try:
            return remove_holiday("ldn", day)
        except FulianError:
            return None

    def weekly() -> Any:
        return set_weekly(person, "ldn", rng.choice(["mon-sun 06:00-24:00",
                                                     "mon-sun 00:00-03:00,12:00-22:00"]))

    return [book, book, book, cancel, move, time_off, override, holiday, weekly]


def _windows(world: dict[str, Any], rng: random.Random) -> list[tuple[Any, ...]]:
    out = []
    for _ in range(3):
        first = FIRST + timedelta(days=rng.randrange(DAYS))
        last = first + timedelta(days=rng.randrange(0, 9))
        service = rng.choice(world["services"])
        out.append((service, first, last, None))
        out.append((service, first, last, rng.choice(world["staff"])))
    return out


def _answer(window: Any) -> tuple[Any, ...]:
    return (window.found, window.bookable, window.slots(NOW),
            window.slots(NOW, notice=False, horizon=False))


@pytest.mark.parametrize("seed", [12, 20270328])
def test_cached_answers_equal_the_database_through_random_writes(make_app: Any,
                                                                 seed: int) -> None:
    rng = random.Random(seed)
    writer = make_app()
    reader = make_app(migrate=False)
    oracle = make_app(migrate=False, FULIAN_AVAILABILITY_CACHE=False).test_client()
    with writer.app_context(), acting_as(None, "test"):
        world = _setup()
    compared = 0
    for step in range(WRITES):
        with writer.app_context(), acting_as(None, "test"):
            write = rng.choice(_writes(world, rng))
            try:
                write()
            except FulianError:
                db.session.rollback()  # refused (slot taken, outside working time, ...)
            for service, first, last, staff_id in _windows(world, rng):
                args = (world["store"], service, first, last)
                expected = _answer(load_window(db.session.connection(), *args,
                                               staff_id=staff_id))
                db.session.commit()
                with reader.app_context():
                    got = _answer(cache.window(db.session.connection(), *args,
                                               staff_id=staff_id))
                    db.session.remove()
                assert got == expected, (seed, step, write.__name__, args, staff_id)
                compared += bool(expected[2])
        service, first, last, _ = _windows(world, rng)[0]
        query = (f"/api/v1/stores/{world['store']}/availability?service_id={service}"
                 f"&date_from={first}&date_to={last}")
        assert reader.test_client().get(query).data == oracle.get(query).data, (seed, step)
    assert compared > WRITES  # the windows were not all empty
