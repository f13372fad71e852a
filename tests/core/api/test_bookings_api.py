"""Bookings over HTTP: who may create, see and move a booking, and what the caller gets back.

Requests run outside any pushed app context (each request gets its own, as in
production); the data is prepared in a separate app context first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.booking.service import create_booking
from core.catalog.services import add_service
from core.db import utcnow
from core.extensions import db
from core.models import Booking, Customer, Service, StaffProfile, Store
from core.org.stores import create_store, update_store
from tests.core.factories import (
    add_person,
    bearer,
    make_customer_user,
    make_shop,
    make_user,
    set_policy,
    token_for,
    with_password,
)

PROBLEM = "application/problem+json"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class World:
    app: Any
    client: Any
    store_id: int
    other_store_id: int
    service_id: int
    staff_id: int
    bea_id: int
    customer_id: int
    start: datetime  # tomorrow 11:00 Shanghai
    tokens: dict[str, str]
    users: dict[str, int]

    def h(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])

    def iso(self, when: datetime) -> str:
        return when.astimezone(SHANGHAI).isoformat()

    def count(self) -> int:
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(Booking)) or 0

    def booking(self, booking_id: int) -> Booking:
        with self.app.app_context():
            row = db.session.get(Booking, booking_id)
            assert row is not None
            assert row.history is not None  # loaded before the row leaves the session
            db.session.expunge(row)
            return row

    def make(self, start: datetime | None = None, *, source: str = "phone",
             staff: str = "ann") -> int:
        """A booking created through the service (not the API under test)."""
        with self.app.app_context():
            booking = create_booking(
                store=db.session.get(Store, self.store_id),
                service=db.session.get(Service, self.service_id),
                customer=db.session.get(Customer, self.customer_id),
                start_at=start or self.start, source=source,
                staff=db.session.get(StaffProfile, self.staff_id if staff == "ann"
                                     else self.bea_id))
            return booking.id


@pytest.fixture
def world(app: Any) -> World:
    with app.app_context():
        shop = make_shop()
        bea = add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])
        north = create_store({"code": "north", "name": "North", "timezone": "Asia/Shanghai"},
                             hours="mon-sun 09:00-21:00")
        add_service({"name": "North cut", "duration_min": 30, "price": 100}, stores=["north"])
        users = {
            "desk": make_user("desk@example.com", "front_desk", ["main"]),
            "manager": make_user("boss@example.com", "store_manager", ["main"]),
            "desk_north": make_user("desk@north.example.com", "front_desk", ["north"]),
            "ann": with_password("ann@example.com"),
            "customer": make_customer_user(shop.customer, "bo@example.com"),
            "stranger": make_user("stranger@example.com", "staff", ["north"]),
        }
        tokens = {name: token_for(user) for name, user in users.items()}
        return World(app=app, client=app.test_client(), store_id=shop.store.id,
                     other_store_id=north.id, service_id=shop.service.id,
                     staff_id=shop.staff.id, bea_id=bea.id, customer_id=shop.customer.id,
                     start=shop.start, tokens=tokens,
                     users={name: user.id for name, user in users.items()})


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["title"]
    return body


def _post(world: World, who: str, body: dict[str, Any]) -> Any:
    return world.client.post("/api/v1/bookings", json=body, headers=world.h(who))


def _front_desk_body(world: World, **extra: Any) -> dict[str, Any]:
    return {"store_id": world.store_id, "service_id": world.service_id,
            "staff_id": world.staff_id, "start_at": world.iso(world.start),
            "customer": {"phone": "13900000009", "name": "Walk In"}, **extra}


# --- create -----------------------------------------------------------------------------------


def test_front_desk_books_for_a_customer(world: World) -> None:
    response = _post(world, "desk", _front_desk_body(world))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["start_at"] == world.iso(world.start)
    assert body["start_at"].endswith("+08:00") and "T11:00:00" in body["start_at"]
    assert body["end_at"] == world.iso(world.start + timedelta(minutes=60))
    assert (body["status"], body["source"], body["staff_id"], body["store_id"]) == (
        "confirmed", "phone", world.staff_id, world.store_id)
    assert body["price"] == 12800 and body["currency"] == "CNY"
    assert [h["to_status"] for h in body["history"]] == ["confirmed"]
    assert body["history"][0]["at"].endswith("+08:00")
    with world.app.app_context():
        row = db.session.get(Booking, body["id"])
        customer = db.session.get(Customer, row.customer_id)
        assert (customer.phone, customer.name) == ("+8613900000009", "Walk In")
        assert row.start_at == world.start
    # The same time again is taken: 409, nothing more written.
    again = _post(world, "desk", _front_desk_body(world))
    _problem(again, 409)
    assert world.count() == 1
    # A walk-in may start at any minute; no staff given means any staff member.
    body = _front_desk_body(world, staff_id=None, source="walk_in",
                            start_at=world.iso(world.start + timedelta(minutes=7)))
    response = _post(world, "desk", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()
    assert data["source"] == "walk_in"
    assert data["staff_id"] == world.bea_id  # Ann is busy (and has more bookings that day)
    assert data["start_at"].endswith(":07:00+08:00")


def test_front_desk_of_another_store_cannot_book_here(world: World) -> None:
    response = _post(world, "desk_north", _front_desk_body(world))
    _problem(response, 403 if response.status_code == 403 else 404)
    assert world.count() == 0
    with world.app.app_context():
        assert db.session.scalars(select(Customer).where(Customer.phone == "+8613900000009")
                                  ).first() is None
    # Booking for someone needs the customer's phone.
    body = _front_desk_body(world)
    del body["customer"]
    problem = _problem(_post(world, "desk", body), 422)
    assert "customer" in problem["errors"]
    problem = _problem(_post(world, "desk", {**body, "customer": None}), 422)
    assert "customer" in problem["errors"]
    assert world.count() == 0
    # Malformed bodies are field errors, not crashes.
    cases = [
        ({"start_at": "2026-12-01T10:00:00"}, "start_at"),  # no offset
        ({"start_at": "tomorrow"}, "start_at"),
        ({"store_id": 2**40}, "store_id"),
        ({"service_id": 0}, "service_id"),
        ({"source": "carrier pigeon"}, "source"),
        ({"customer": {"phone": "1"}}, "customer"),
    ]
    for change, field in cases:
        problem = _problem(_post(world, "desk", _front_desk_body(world, **change)), 422)
        assert field in problem["errors"], (change, problem)
    assert world.count() == 0
    # Unknown store, service or staff member: 404.
    _problem(_post(world, "desk", _front_desk_body(world, store_id=999999)), 404)
    _problem(_post(world, "desk", _front_desk_body(world, service_id=999999)), 404)
    _problem(_post(world, "desk", _front_desk_body(world, staff_id=999999)), 404)


def test_customer_books_for_themselves_online(world: World) -> None:
    with world.app.app_context():
        set_policy(db.session.get(Store, world.store_id), acceptance_required=True)
    body = {"store_id": world.store_id, "service_id": world.service_id,
            "start_at": world.iso(world.start)}
    response = _post(world, "customer", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()
    assert (data["status"], data["source"], data["customer_id"]) == (
        "pending", "online", world.customer_id)
    # A customer cannot pose as the front desk: the source is always online, and
    # unaligned times are refused.
    odd = {**body, "start_at": world.iso(world.start + timedelta(hours=3, minutes=7)),
           "source": "walk_in"}
    _problem(_post(world, "customer", odd), 409)
    # Anonymous and unrelated callers cannot book.
    body = _front_desk_body(world)
    _problem(world.client.post("/api/v1/bookings", json=body), 401)
    _problem(_post(world, "stranger", body), 403)
    assert world.count() == 1


# --- read -------------------------------------------------------------------------------------


def test_read_is_for_the_store_the_staff_member_and_the_customer(world: World) -> None:
    booking_id = world.make()
    url = f"/api/v1/bookings/{booking_id}"
    for who in ("desk", "manager", "ann", "customer"):
        response = world.client.get(url, headers=world.h(who))
        assert response.status_code == 200, who
        assert response.get_json()["start_at"] == world.iso(world.start)
    for who in ("desk_north", "stranger"):
        _problem(world.client.get(url, headers=world.h(who)), 404)
    _problem(world.client.get(url), 401)
    # A booking that does not exist looks the same as one you may not see.
    missing = world.client.get("/api/v1/bookings/999999", headers=world.h("desk"))
    hidden = world.client.get(url, headers=world.h("stranger"))
    assert missing.get_json() == hidden.get_json()
    # Huge ids are 404 (or 422), never 500.
    for path in ("/api/v1/bookings/99999999999999999999",
                 "/api/v1/bookings/2147483648",
                 "/api/v1/bookings/2147483648/confirm"):
        response = (world.client.post(path, json={}, headers=world.h("desk"))
                    if path.endswith("confirm") else
                    world.client.get(path, headers=world.h("desk")))
        assert response.status_code in (404, 422), (path, response.status_code)


# --- actions ----------------------------------------------------------------------------------


def _act(world: World, who: str, booking_id: int, action: str, **body: Any) -> Any:
    return world.client.post(f"/api/v1/bookings/{booking_id}/{action}", json=body,
                             headers=world.h(who))


def _pending(world: World, start: datetime | None = None) -> int:
    with world.app.app_context():
        set_policy(db.session.get(Store, world.store_id), acceptance_required=True)
        booking_id = world.make(start, source="online")
        set_policy(db.session.get(Store, world.store_id), acceptance_required=False)
    assert world.booking(booking_id).status == "pending"
    return booking_id


def test_staff_member_confirms_and_declines_with_a_reason(world: World) -> None:
    first = _pending(world)
    response = _act(world, "ann", first, "confirm")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "confirmed"
    assert response.get_json()["history"][-1]["actor_user_id"] == world.users["ann"]
    second = _pending(world, world.start + timedelta(hours=2))
    problem = _problem(_act(world, "ann", second, "decline"), 422)
    assert "reason" in problem["errors"]
    problem = _problem(_act(world, "ann", second, "decline", reason="   "), 422)
    assert world.booking(second).status == "pending"
    response = _act(world, "ann", second, "decline", reason="fully booked")
    assert response.status_code == 200
    assert response.get_json()["status"] == "declined"
    assert response.get_json()["history"][-1]["reason"] == "fully booked"
    # Staff may not cancel or reschedule; another staff member may not touch it at all.
    third = _pending(world, world.start + timedelta(hours=4))
    _problem(_act(world, "ann", third, "cancel"), 403)
    _problem(_act(world, "stranger", third, "confirm"), 404)
    assert world.booking(third).status == "pending"


def test_staff_member_completes_a_booking_that_has_started(world: World) -> None:
    with world.app.app_context():
        update_store("main", {}, hours="mon-sun 00:00-24:00")
    now = utcnow().replace(second=0, microsecond=0)
    soon = world.make(now + timedelta(minutes=10), source="walk_in")
    response = _act(world, "ann", soon, "complete")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "completed"
    # Tomorrow's booking cannot be completed yet: 409 with the reason.
    later = world.make(now + timedelta(days=1))
    problem = _problem(_act(world, "ann", later, "complete"), 409)
    assert "30 minutes" in problem["detail"]


def test_customer_cancels_own_booking_within_policy_but_cannot_confirm(world: World) -> None:
    booking_id = _pending(world)
    problem = _problem(_act(world, "customer", booking_id, "confirm"), 403)
    assert problem["detail"]
    assert world.booking(booking_id).status == "pending"
    response = _act(world, "customer", booking_id, "cancel", reason="plans changed")
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["status"] == "cancelled"
    assert data["history"][-1]["actor_user_id"] == world.users["customer"]
    # Inside the cancellation window a customer must call the store.
    with world.app.app_context():
        update_store("main", {}, hours="mon-sun 00:00-24:00")
    start = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=90)
    booking_id = world.make(start, source="phone")  # window: 120 minutes
    problem = _problem(_act(world, "customer", booking_id, "cancel"), 409)
    assert "120" in problem["detail"]
    assert world.booking(booking_id).status == "confirmed"
    # The store still can.
    assert _act(world, "desk", booking_id, "cancel").status_code == 200


def test_manager_reschedules_to_a_free_time(world: World) -> None:
    booking_id = world.make()
    world.make(world.start + timedelta(hours=2), staff="bea")
    new_start = world.start + timedelta(hours=3)
    response = _act(world, "manager", booking_id, "reschedule",
                    start_at=world.iso(new_start), reason="customer called")
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["id"] == booking_id
    assert (data["start_at"], data["status"]) == (world.iso(new_start), "confirmed")
    last = data["history"][-1]
    assert last["actor_user_id"] == world.users["manager"]
    assert "customer called" in last["reason"]
    assert world.booking(booking_id).start_at == new_start
    # Onto Bea, who is busy then: 409; onto a missing time: 422.
    problem = _problem(_act(world, "manager", booking_id, "reschedule",
                            start_at=world.iso(world.start + timedelta(hours=2)),
                            staff_id=world.bea_id), 409)
    assert problem["detail"]
    _problem(_act(world, "manager", booking_id, "reschedule"), 422)
    assert world.booking(booking_id).start_at == new_start
    # Only the store moves a booking to another staff member.
    booking_id = world.make()
    problem = _problem(_act(world, "customer", booking_id, "reschedule",
                            start_at=world.iso(world.start + timedelta(hours=3)),
                            staff_id=world.bea_id), 403)
    assert problem["detail"]
    assert world.booking(booking_id).staff_id == world.staff_id


def test_illegal_transition_is_a_409_problem(world: World) -> None:
    booking_id = world.make()
    problem = _problem(_act(world, "manager", booking_id, "confirm"), 409)
    assert problem["detail"] == "A confirmed booking cannot be confirmed."
    response = world.client.post(f"/api/v1/bookings/{booking_id}/confirm", json={},
                                 headers={**world.h("manager"), "Accept-Language": "zh-CN"})
    assert _problem(response, 409)["detail"] == "已确认的预约不能被已确认。"
    assert _act(world, "manager", booking_id, "cancel").status_code == 200
    problem = _problem(_act(world, "manager", booking_id, "cancel"), 409)
    assert "cancelled" in problem["detail"]
    _problem(_act(world, "manager", booking_id, "reschedule",
                  start_at=world.iso(world.start + timedelta(hours=5))), 409)
    assert [h.to_status for h in world.booking(booking_id).history] == ["confirmed",
                                                                        "cancelled"]
    # An unknown action is not a route.
    booking_id = world.make()
    response = _act(world, "manager", booking_id, "teleport")
    assert response.status_code in (404, 405)
    assert response.mimetype == PROBLEM


# --- the write path ---------------------------------------------------------------------------


def _statements(world: World, who: str, body: dict[str, Any]) -> tuple[Any, list[str]]:
    """The response and the SQL statements the request ran."""
    from sqlalchemy import event

    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's transaction control, not work
            seen.append(" ".join(statement.split())[:90])

    with world.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = _post(world, who, body)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return response, seen


def test_a_booking_runs_at_most_eight_statements(world: World) -> None:
    """Token and roles, the booking's data (store, service, price, brand, staff, the
    customer), one person's time, the inserts (booking, first history entry, audit rows
    together) and the availability version: 7 for a known customer, 8 for a new one."""
    # warm: which plugins are enabled is read once every few seconds per process
    with world.app.app_context():
        world.app.extensions["fulian_plugins"].enabled()
    known = _front_desk_body(world, customer={"phone": "13800000001", "name": "Bo"})
    response, seen = _statements(world, "desk", known)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert len(seen) <= 7, "\n".join(seen)
    new = _front_desk_body(world, start_at=world.iso(world.start + timedelta(hours=2)))
    response, seen = _statements(world, "desk", new)
    assert response.status_code == 201, response.get_data(as_text=True)
    with world.app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    # (SQLite's driver writes the customer's and the booking's audit rows one by one)
    assert len(seen) <= (9 if sqlite else 8), "\n".join(seen)
    online = {"store_id": world.store_id, "service_id": world.service_id,
              "staff_id": world.staff_id,
              "start_at": world.iso(world.start + timedelta(hours=4))}
    response, seen = _statements(world, "customer", online)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert len(seen) <= 7, "\n".join(seen)


def test_a_refused_booking_leaves_no_customer_behind(world: World) -> None:
    """The customer is found or created inside the booking's transaction: a taken time
    (409) writes nothing, also for a number the store has never seen."""
    assert _post(world, "desk", _front_desk_body(world)).status_code == 201
    taken = _front_desk_body(world, customer={"phone": "13900000077", "name": "Late"})
    _problem(_post(world, "desk", taken), 409)
    with world.app.app_context():
        assert db.session.scalars(select(Customer).where(
            Customer.phone == "+8613900000077")).first() is None
    assert world.count() == 1
