"""The booking state machine: the table itself, and every move through the real service.

Legal moves change the status and append one history row (who, from, to, why); illegal
ones are a 409 :class:`IllegalTransition` with a readable, translatable message and leave
the booking exactly as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
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

ALL_STATUSES = ("awaiting_deposit", "pending", "confirmed", "completed", "cancelled",
                "declined", "no_show")
LEGAL = [
    ("awaiting_deposit", "deposit_paid", "confirmed"),  # released by its deposit
    ("awaiting_deposit", "confirm", "confirmed"),  # the store waives the deposit
    ("awaiting_deposit", "cancel", "cancelled"),
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


def test_a_deposit_releases_a_booking_as_the_store_books() -> None:
    """The target of deposit_paid is what a new booking becomes at this store."""
    assert next_status("awaiting_deposit", "deposit_paid",
                       acceptance_required=True) == "pending"
    assert next_status("awaiting_deposit", "deposit_paid",
                       acceptance_required=False) == "confirmed"


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
    with force_locale("zh_CN"):
        assert str(info.value) == "已完成的预约不能被已确认。"
    with pytest.raises(IllegalTransition) as info:
        next_status("cancelled", "no_show")
    with force_locale("en"):
        assert str(info.value) == "A cancelled booking cannot be marked as no-show."
    with force_locale("zh_CN"):
        assert str(info.value) == "已取消的预约不能被标记为爽约。"
    with pytest.raises(IllegalTransition) as info:
        next_status("pending", "teleport")
    with force_locale("en"):
        assert str(info.value) == "Unknown booking action teleport."
    with force_locale("zh_CN"):
        assert str(info.value) == "未知的预约操作 teleport。"


# --- through the service, on both databases -------------------------------------------------


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


def _booking_in(shop: Shop, status: str, start: datetime) -> Booking:
    """A real booking at ``start`` brought to ``status`` through legal moves."""
    if status == "awaiting_deposit":
        set_policy(shop.store, deposit_percent=30)
        booking = book(shop, start, source="online")
        set_policy(shop.store, deposit_percent=0)
        assert booking.status == "awaiting_deposit"
        return db.session.get(Booking, booking.id)
    if status in ("pending", "declined"):
        set_policy(shop.store, acceptance_required=True)
        booking = book(shop, start, source="online")
        set_policy(shop.store, acceptance_required=False)
        assert booking.status == "pending"
        if status == "declined":
            service.transition(booking.id, "decline", reason="busy")
        return db.session.get(Booking, booking.id)
    booking = book(shop, start)
    assert booking.status == "confirmed"
    later = start + timedelta(minutes=5)
    if status == "completed":
        service.transition(booking.id, "complete", now=later)
    elif status == "no_show":
        service.transition(booking.id, "no_show", now=later)
    elif status == "cancelled":
        service.transition(booking.id, "cancel")
    return db.session.get(Booking, booking.id)


def _starts(shop: Shop, count: int) -> list[datetime]:
    """Distinct, non-overlapping bookable starts: six a day from 11:00 local."""
    return [shop.start + timedelta(days=i // 6, minutes=90 * (i % 6)) for i in range(count)]


def _history(booking_id: int) -> list[tuple[str | None, str, int | None, str]]:
    db.session.expire_all()
    row = db.session.get(Booking, booking_id)
    return [(h.from_status, h.to_status, h.actor_user_id, h.reason) for h in row.history]


def test_service_applies_each_legal_move_with_history(shop: Shop) -> None:
    actor = make_user("desk@example.com", "front_desk", [shop.store.code])
    moves = [t for t in LEGAL if t[1] != "reschedule"]
    for (current, action, target), start in zip(moves, _starts(shop, len(moves)), strict=True):
        booking = _booking_in(shop, current, start)
        before = _history(booking.id)
        with acting_as(actor.id, f"user:{actor.id}"):
            moved = service.transition(booking.id, action, reason="why not",
                                       now=start + timedelta(minutes=1))
        assert moved.id == booking.id
        assert db.session.get(Booking, booking.id).status == target, (current, action)
        after = _history(booking.id)
        assert after[:-1] == before
        assert after[-1] == (current, target, actor.id, "why not")


REFUSED = [
    ("pending", "complete"), ("pending", "no_show"), ("confirmed", "confirm"),
    ("confirmed", "decline"), ("completed", "cancel"), ("completed", "reschedule"),
    ("cancelled", "confirm"), ("cancelled", "cancel"), ("declined", "confirm"),
    ("declined", "reschedule"), ("no_show", "complete"), ("no_show", "cancel"),
]


def test_service_refuses_illegal_moves_and_writes_nothing(shop: Shop) -> None:
    for (current, action), start in zip(REFUSED, _starts(shop, len(REFUSED)), strict=True):
        booking = _booking_in(shop, current, start)
        before = _history(booking.id)
        with pytest.raises(IllegalTransition) as info:
            service.transition(booking.id, action, reason="no",
                               new_start=start + timedelta(minutes=30),
                               now=start + timedelta(minutes=1))
        assert info.value.status == 409
        assert str(info.value)  # a readable message, not an empty error
        db.session.rollback()
        assert db.session.get(Booking, booking.id).status == current, (current, action)
        assert _history(booking.id) == before


def test_reschedule_keeps_id_and_status_and_records_actor_and_reason(shop: Shop) -> None:
    manager = make_user("boss@example.com", "store_manager", [shop.store.code])
    for current, start in zip(("pending", "confirmed"), _starts(shop, 2), strict=True):
        booking = _booking_in(shop, current, start)
        code = booking.code
        new_start = start + timedelta(days=2, minutes=15)
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
        history = _history(booking.id)
        assert len(history) == 2
        assert history[-1][:3] == (current, current, manager.id)
        assert "rescheduled from" in history[-1][3]
        assert history[-1][3].endswith("customer asked")
    assert db.session.query(Booking).count() == 2  # moved, not copied
    # Onto another booking's time: refused, nothing moves.
    one, two = _starts(shop, 4)[2:]
    _booking_in(shop, "confirmed", one)
    second = _booking_in(shop, "confirmed", two)
    with pytest.raises(service.SlotTaken):
        service.transition(second.id, "reschedule", new_start=one + timedelta(minutes=30))
    db.session.rollback()
    assert db.session.get(Booking, second.id).start_at == two
    assert len(_history(second.id)) == 1
    # Overlapping its own old time is fine: the booking does not collide with itself.
    service.transition(second.id, "reschedule", new_start=two + timedelta(minutes=30))
    db.session.rollback()
    assert db.session.get(Booking, second.id).start_at == two + timedelta(minutes=30)
