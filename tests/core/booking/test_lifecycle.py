"""The booking state machine: the table itself, and every move through the real service.

Legal moves change the status and append one history row (who, from, to, why); illegal
ones are a 409 :class:`IllegalTransition` with a readable, translatable message and leave
the booking exactly as it was.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask_babel import force_locale
from flask_babel.speaklater import LazyString

from core.audit import acting_as
from core.booking import service
from core.booking.lifecycle import TRANSITIONS, IllegalTransition, next_status
from core.errors import Conflict
from core.extensions import db
from core.models import Booking
from tests.core.factories import Shop, book, make_shop, make_user, set_policy

ALL_STATUSES = ("pending", "confirmed", "completed", "cancelled", "declined", "no_show")
LEGAL = [
    ("pending", "confirm", "confirmed"),
    ("pending", "decline", "declined"),
    ("pending", "cancel", "cancelled"),
    ("confirmed", "cancel", "cancelled"),
    ("confirmed", "complete", "completed"),
    ("confirmed", "no_show", "no_show"),
    ("pending", "reschedule", "pending"),
    ("confirmed", "reschedule", "confirmed"),
]
ILLEGAL = [(status, action) for status in ALL_STATUSES for action in TRANSITIONS
           if (status, action) not in {(s, a) for s, a, _ in LEGAL}]


# --- the table -----------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "action", "target"), LEGAL)
def test_every_legal_transition(current: str, action: str, target: str) -> None:
    assert next_status(current, action) == target


def test_the_legal_list_is_the_whole_table() -> None:
    table = {(s, a) for a, (sources, _) in TRANSITIONS.items() for s in sources}
    assert table == {(s, a) for s, a, _ in LEGAL}


@pytest.mark.parametrize(("current", "action"), ILLEGAL)
def test_every_other_move_is_illegal(current: str, action: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status(current, action)
    assert info.value.status == 409
    assert isinstance(info.value, Conflict)


def test_unknown_action_is_illegal() -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status("pending", "teleport")
    assert info.value.status == 409


def test_illegal_message_is_translatable_and_names_status_and_action(ctx: Any) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status("completed", "confirm")
    assert isinstance(info.value.message, LazyString)  # rendered in the reader's language
    with force_locale("en"):
        assert str(info.value) == "A completed booking cannot be confirmed."
    with pytest.raises(IllegalTransition) as info:
        next_status("cancelled", "no_show")
    with force_locale("en"):
        assert str(info.value) == "A cancelled booking cannot be marked as no-show."
    with pytest.raises(IllegalTransition) as info:
        next_status("pending", "teleport")
    with force_locale("en"):
        assert str(info.value) == "Unknown booking action teleport."


# --- through the service, on both databases -------------------------------------------------


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


def _booking_in(shop: Shop, status: str) -> Booking:
    """A real booking brought to ``status`` through legal moves."""
    if status == "pending":
        set_policy(shop.store, acceptance_required=True)
        booking = book(shop, source="online")
        set_policy(shop.store, acceptance_required=False)
        assert booking.status == "pending"
        return booking
    if status == "declined":
        booking = _booking_in(shop, "pending")
        service.transition(booking.id, "decline", reason="busy")
        return db.session.get(Booking, booking.id)
    booking = book(shop)
    assert booking.status == "confirmed"
    later = shop.start + timedelta(minutes=5)
    if status == "completed":
        service.transition(booking.id, "complete", now=later)
    elif status == "no_show":
        service.transition(booking.id, "no_show", now=later)
    elif status == "cancelled":
        service.transition(booking.id, "cancel")
    return db.session.get(Booking, booking.id)


def _history(booking_id: int) -> list[tuple[str | None, str, int | None, str]]:
    db.session.expire_all()
    row = db.session.get(Booking, booking_id)
    return [(h.from_status, h.to_status, h.actor_user_id, h.reason) for h in row.history]


@pytest.mark.parametrize(("current", "action", "target"),
                         [t for t in LEGAL if t[1] != "reschedule"])
def test_service_applies_each_legal_move_with_history(shop: Shop, current: str, action: str,
                                                      target: str) -> None:
    booking = _booking_in(shop, current)
    actor = make_user("desk@example.com", "front_desk", [shop.store.code])
    before = _history(booking.id)
    with acting_as(actor.id, f"user:{actor.id}"):
        moved = service.transition(booking.id, action, reason="why not",
                                   now=shop.start + timedelta(minutes=1))
    assert moved.id == booking.id
    assert db.session.get(Booking, booking.id).status == target
    after = _history(booking.id)
    assert after[:-1] == before
    assert after[-1] == (current, target, actor.id, "why not")


@pytest.mark.parametrize(("current", "action"), [
    ("pending", "complete"), ("pending", "no_show"), ("confirmed", "confirm"),
    ("confirmed", "decline"), ("completed", "cancel"), ("completed", "reschedule"),
    ("cancelled", "confirm"), ("cancelled", "cancel"), ("declined", "confirm"),
    ("no_show", "complete"),
])
def test_service_refuses_illegal_moves_and_writes_nothing(shop: Shop, current: str,
                                                          action: str) -> None:
    booking = _booking_in(shop, current)
    before = _history(booking.id)
    with pytest.raises(IllegalTransition) as info:
        service.transition(booking.id, action, reason="no",
                           new_start=shop.start + timedelta(hours=2),
                           now=shop.start + timedelta(minutes=1))
    assert info.value.status == 409
    assert str(info.value)  # a readable message, not an empty error
    assert db.session.get(Booking, booking.id).status == current
    assert _history(booking.id) == before


@pytest.mark.parametrize("current", ["pending", "confirmed"])
def test_reschedule_keeps_id_and_status_and_records_actor_and_reason(shop: Shop,
                                                                    current: str) -> None:
    booking = _booking_in(shop, current)
    code = booking.code
    manager = make_user("boss@example.com", "store_manager", [shop.store.code])
    new_start = shop.start + timedelta(hours=3)
    with acting_as(manager.id, f"user:{manager.id}"):
        moved = service.transition(booking.id, "reschedule", reason="customer asked",
                                   new_start=new_start)
    assert moved.id == booking.id
    row = db.session.get(Booking, booking.id)
    assert row.code == code
    assert row.status == current
    assert row.start_at == new_start
    assert row.end_at == new_start + timedelta(minutes=60)
    assert row.block_end == new_start + timedelta(minutes=75)
    last = _history(booking.id)[-1]
    assert last[:3] == (current, current, manager.id)
    assert "rescheduled from" in last[3] and last[3].endswith("customer asked")
    assert len(_history(booking.id)) == 2
    assert db.session.query(Booking).count() == 1  # moved, not copied
