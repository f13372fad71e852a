"""The availability endpoint's SQL budget: two statements when the store's days are not
cached yet (store + versions, then one union of everything the days need), one when they
are, and the same numbers for 5 staff as for 40 (no per-person queries, NOTES trap 9).

Counted with a ``before_cursor_execute`` listener on the engine, switched on only around
one test-client request. Transaction control (``BEGIN``/``COMMIT``/``ROLLBACK``) is not
counted: SQLite's recipe emits ``BEGIN`` as a statement while psycopg sends it implicitly,
so counting it would make the two backends incomparable; it is reported separately.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event

from core.audit import acting_as
from core.booking.service import create_booking
from core.catalog.services import add_service
from core.crm.customers import find_or_create
from core.db import write_transaction
from core.extensions import db
from core.org.staff import add_staff
from core.org.stores import create_store
from core.scheduling import rostering
from core.scheduling.schedules import add_time_off, set_override, set_weekly

TZ = "Asia/Shanghai"
BUDGET = 2  # days not cached yet
CACHED = 1  # every day cached: the store, the service and the versions
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _next_monday() -> date:
    today = datetime.now(ZoneInfo(TZ)).date()
    return today + timedelta(days=7 - today.weekday())


def build_store(code: str, n_staff: int, monday: date) -> dict[str, Any]:
    """A store with ``n_staff`` people and every kind of row the loader reads."""
    tz = ZoneInfo(TZ)
    store = create_store({"code": code, "name": f"Store {code}", "timezone": TZ},
                         hours="mon-sun 09:00-21:00")
    service = add_service({"name": f"Cut {code}", "duration_min": 60, "price": 9900,
                           "buffer_before_min": 5, "buffer_after_min": 10},
                          category="Hair", stores=[code])
    with write_transaction():
        customer = find_or_create("13900000000", "Queries")
    staff = []
    for i in range(n_staff):
        person = add_staff({"name": f"{code} staff {i}", "email": f"{code}{i}@example.com"},
                           {"title": "Stylist"}, stores=[code], services=[str(service.id)])
        staff.append(person)
        if i % 2 == 0:  # half with a weekly template (with a lunch break), half without
            set_weekly(person.id, code, "mon-sat 09:00-13:00,14:00-20:00")
        # one booking in the (template) second week, one in the rostered first week
        start = datetime(monday.year, monday.month, monday.day, 10, tzinfo=tz) \
            + timedelta(days=8)
        create_booking(store=store, service=service, customer=customer, start_at=start,
                       staff=person, source="phone")
        if i % 5 == 0:
            add_time_off(person.id, start + timedelta(days=2), start + timedelta(days=2, hours=3),
                         reason="dentist")
        if i % 7 == 0:
            set_override(person.id, code, monday + timedelta(days=10), [(12 * 60, 18 * 60)])
    week = f"{monday.isocalendar()[0]}-W{monday.isocalendar()[1]:02d}"
    rostering.generate(code, week, publish=True)
    return {"store": store.id, "service": service.id, "staff": [s.id for s in staff]}


@contextmanager
def counting(engine: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _queries(shop: dict[str, Any], monday: date) -> dict[str, str]:
    base = f"/api/v1/stores/{shop['store']}/availability?service_id={shop['service']}"
    window = f"&date_from={monday}&date_to={monday + timedelta(days=13)}"
    return {
        "two weeks, any staff": base + window,
        "default week (no dates)": base,
        "one staff member": base + window + f"&staff_id={shop['staff'][0]}",
    }


def test_availability_statement_count_is_small_and_independent_of_staff(app: Any) -> None:
    monday = _next_monday()
    with app.app_context(), acting_as(None, "test"):
        small = build_store("small", 5, monday)
        large = build_store("large", 40, monday)
        engine = db.engine
    client = app.test_client()
    counts: dict[str, dict[str, int]] = {}
    for label, shop in (("5 staff", small), ("40 staff", large)):
        for name, url in _queries(shop, monday).items():
            with counting(engine) as seen:
                resp = client.get(url)
            with counting(engine) as again:
                assert client.get(url).data == resp.data
            assert resp.status_code == 200, resp.get_data(as_text=True)
            assert resp.json["slots"], f"{label} / {name}: no slots at all"
            work = [s for s in seen if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)]
            hit = [s for s in again if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)]
            assert all(s.lstrip().upper().startswith("SELECT") for s in work + hit), work
            assert len(work) <= BUDGET, (label, name, work)
            assert len(hit) == CACHED, (label, name, hit)
            assert len(seen) - len(work) <= 1, (label, name, seen)  # at most one BEGIN
            counts.setdefault(name, {})[label] = len(work)
    for name, by_size in counts.items():
        assert by_size["5 staff"] == by_size["40 staff"], (name, by_size)


def test_the_large_store_really_is_large(app: Any) -> None:
    """Guard the fixture: 40 bookable people, a published roster and busy time."""
    monday = _next_monday()
    with app.app_context(), acting_as(None, "test"):
        shop = build_store("big", 40, monday)
    resp = app.test_client().get(
        f"/api/v1/stores/{shop['store']}/availability?service_id={shop['service']}"
        f"&date_from={monday + timedelta(days=8)}&date_to={monday + timedelta(days=8)}")
    assert resp.status_code == 200
    people = {sid for slot in resp.json["slots"] for sid in slot["staff_ids"]}
    assert len(people) == 40
    ten = datetime(monday.year, monday.month, monday.day, 10, tzinfo=ZoneInfo(TZ)) \
        + timedelta(days=8)
    booked = [s for s in resp.json["slots"]
              if datetime.fromisoformat(s["start"]).astimezone(UTC) == ten.astimezone(UTC)]
    assert not booked, "everybody is booked at 10:00 that day"
