"""The booking service against real databases: status on creation, store policies, the
"any staff" fair pick, every reason a slot is not free, and the acceptance timeout job.

Times: ``make_shop`` opens the Asia/Shanghai store 09:00-21:00 daily; its service takes
60 minutes plus a 15-minute buffer after; ``shop.start`` is tomorrow 11:00 local.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core import jobs
from core.booking import service
from core.booking import service as booking_service
from core.booking.service import SlotTaken, acceptance_timeout, create_booking, transition
from core.catalog.services import add_service
from core.db import utcnow, write_transaction
from core.errors import Conflict, FulianError, NotFound, ValidationFailed
from core.extensions import db
from core.models import Booking, Service, StaffProfile
from core.models.system import JobRecord
from core.org.stores import create_store
from core.scheduling.schedules import add_time_off, set_weekly
from tests.core.factories import Shop, add_holiday, add_person, book, local, make_shop, set_policy

JOB = "core.booking.service:acceptance_timeout"


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


@pytest.fixture
def bea(shop: Shop) -> Any:
    """A second stylist at the same store, performing the same service (higher id)."""
    person = add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])
    assert person.id > shop.staff.id
    return person


def _at(shop: Shop, hhmm: str, days: int = 0) -> datetime:
    day = shop.start.astimezone(ZoneInfo(shop.store.timezone)).date()
    return local(shop.store, day + timedelta(days=days), hhmm)


def _fresh(booking_id: int) -> Booking:
    db.session.rollback()  # end any read snapshot; the job wrote on its own session
    row = db.session.get(Booking, booking_id)
    assert row is not None
    return row


def _freeze(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    monkeypatch.setattr(service, "utcnow", lambda: now)


def _count() -> int:
    return db.session.scalar(select(db.func.count()).select_from(Booking)) or 0


# --- status on creation -----------------------------------------------------------------------


def test_status_on_creation_follows_the_acceptance_policy(shop: Shop) -> None:
    # No acceptance step: online bookings are confirmed at once, no timeout job.
    booking = create_booking(store=shop.store, service=shop.service, customer=shop.customer,
                             start_at=shop.start, note="window seat")
    assert (booking.status, booking.source, booking.note) == ("confirmed", "online",
                                                              "window seat")
    assert booking.staff_id == shop.staff.id  # "any staff" by default
    assert booking.price == 12800 and booking.currency == "CNY"
    assert booking.end_at - booking.start_at == timedelta(minutes=60)
    assert booking.block_end - booking.end_at == timedelta(minutes=15)
    assert db.session.scalars(select(JobRecord).where(JobRecord.func == JOB)).all() == []
    # The store requires acceptance: online bookings wait, a timeout job is queued.
    set_policy(shop.store, acceptance_required=True)
    online = book(shop, _at(shop, "13:00"), source="online")
    assert online.status == "pending"
    assert [(h.from_status, h.to_status, h.reason) for h in online.history] == [
        (None, "pending", "online")]
    queued = db.session.scalars(select(JobRecord).where(JobRecord.func == JOB)).all()
    assert [j.args for j in queued] == [[online.id]]
    assert queued[0].run_at >= utcnow() + timedelta(minutes=59)
    # The front desk books for someone in front of them: no acceptance step.
    phone = book(shop, _at(shop, "15:00"), source="phone")
    walk_in = book(shop, _at(shop, "17:00"), source="walk_in")
    assert (phone.status, walk_in.status) == ("confirmed", "confirmed")
    assert len(db.session.scalars(select(JobRecord).where(JobRecord.func == JOB)).all()) == 1
    # Bad input is refused before anything is written.
    with pytest.raises(ValidationFailed) as info:
        book(shop, _at(shop, "19:00").replace(tzinfo=None))
    assert "start_at" in info.value.field_errors
    with pytest.raises(ValidationFailed) as info:
        book(shop, _at(shop, "19:00"), source="carrier pigeon")
    assert "source" in info.value.field_errors
    assert _count() == 4


# --- store policies on transitions ------------------------------------------------------------


def test_customer_self_service_windows(shop: Shop) -> None:
    set_policy(shop.store, cancel_window_min=120, reschedule_window_min=240)
    booking = book(shop)
    with pytest.raises(Conflict) as info:
        transition(booking.id, "cancel", by_customer=True,
                   now=shop.start - timedelta(minutes=119))
    assert "120 minutes" in str(info.value)
    assert _fresh(booking.id).status == "confirmed"
    # Rescheduling has its own, longer window.
    with pytest.raises(Conflict) as info:
        transition(booking.id, "reschedule", by_customer=True,
                   new_start=_at(shop, "15:00"), now=shop.start - timedelta(hours=3))
    assert "240 minutes" in str(info.value)
    assert _fresh(booking.id).start_at == shop.start
    # The store itself may still cancel late.
    other = book(shop, _at(shop, "15:00"))
    transition(other.id, "cancel", now=_at(shop, "14:59"))
    assert _fresh(other.id).status == "cancelled"
    # Outside the window the customer may cancel online.
    transition(booking.id, "cancel", by_customer=True, now=shop.start - timedelta(minutes=120))
    assert _fresh(booking.id).status == "cancelled"


def test_complete_and_no_show_are_refused_too_early(shop: Shop) -> None:
    first = book(shop)
    with pytest.raises(Conflict):
        transition(first.id, "complete", now=shop.start - timedelta(minutes=31))
    assert _fresh(first.id).status == "confirmed"
    transition(first.id, "complete", now=shop.start - timedelta(minutes=30))
    assert _fresh(first.id).status == "completed"
    second = book(shop, _at(shop, "14:00"))
    with pytest.raises(Conflict):
        transition(second.id, "no_show", now=_at(shop, "14:00") - timedelta(seconds=1))
    assert _fresh(second.id).status == "confirmed"
    transition(second.id, "no_show", now=_at(shop, "14:00"))
    assert _fresh(second.id).status == "no_show"
    with pytest.raises(NotFound):
        transition(424242, "confirm")


# --- "any staff" ------------------------------------------------------------------------------


def test_any_staff_picks_the_least_booked_person_that_day_then_the_lowest_id(
        shop: Shop, bea: Any) -> None:
    ann = shop.staff
    # A tie (nobody booked yet): the lowest id.
    first = book(shop, _at(shop, "09:00"), staff=None)
    assert first.staff_id == ann.id
    # Ann has one booking that day, Bea none: Bea, even though Ann is free too.
    second = book(shop, _at(shop, "13:00"), staff=None)
    assert second.staff_id == bea.id
    # One each again: the lowest id.
    third = book(shop, _at(shop, "15:00"), staff=None)
    assert third.staff_id == ann.id
    # Bea's bookings on another day do not count towards this day (else Ann: 3 vs 2).
    book(shop, _at(shop, "09:00", days=1), staff=bea)
    book(shop, _at(shop, "11:00", days=1), staff=bea)
    fourth = book(shop, _at(shop, "17:00"), staff=None)
    assert fourth.staff_id == bea.id
    # Cancelled bookings do not count either: Ann 0 active, Bea 2.
    transition(first.id, "cancel")
    transition(third.id, "cancel")
    fifth = book(shop, _at(shop, "19:00"), staff=None)
    assert fifth.staff_id == ann.id
    # Only someone free at that time: Ann is busy at 19:30, so Bea despite her count.
    assert book(shop, _at(shop, "19:30", days=1), staff=ann).staff_id == ann.id
    assert book(shop, _at(shop, "19:45", days=1), staff=None).staff_id == bea.id
    # Both busy: taken.
    with pytest.raises(SlotTaken):
        book(shop, _at(shop, "19:40", days=1), staff=None)


# --- who may be booked ------------------------------------------------------------------------


def _refused(error: FulianError, field: str) -> None:
    """A refusal that names the field (422 or 409 by the store's rules), not a taken slot."""
    assert not isinstance(error, SlotTaken)
    assert error.status in (409, 422)
    assert field in error.field_errors
    assert str(error.message)


def test_staff_and_services_that_do_not_fit_the_store_are_refused(shop: Shop) -> None:
    cleaner = add_person("Dee", "dee@example.com", [shop.store.code], [])
    with pytest.raises(FulianError) as info:
        book(shop, staff=cleaner)
    _refused(info.value, "staff_id")
    create_store({"code": "north", "name": "North", "timezone": "Asia/Shanghai"},
                 hours="mon-sun 09:00-21:00")
    elsewhere = add_person("Cy", "cy@example.com", ["north"], [shop.service])
    with pytest.raises(FulianError) as info:
        book(shop, staff=elsewhere)
    _refused(info.value, "staff_id")
    massage = add_service({"name": "Massage", "duration_min": 30, "price": 100},
                          stores=["north"])
    with pytest.raises(FulianError) as info:
        book(shop, service=massage, staff=None)
    _refused(info.value, "service_id")
    assert _count() == 0


# --- slots that are not free ------------------------------------------------------------------


def test_outside_working_time_is_taken_the_edges_are_not(shop: Shop) -> None:
    # 19:45 is the last start: 60 minutes + 15 buffer must end by 21:00.
    for hhmm in ("08:00", "08:45", "19:46", "20:30", "22:00"):
        with pytest.raises(SlotTaken):
            book(shop, _at(shop, hhmm))
        with pytest.raises(SlotTaken):
            book(shop, _at(shop, hhmm), staff=None)
    assert _count() == 0
    assert book(shop, _at(shop, "09:00")).status == "confirmed"
    assert book(shop, _at(shop, "19:45")).status == "confirmed"
    # A weekly template narrows the working time (next day, nothing booked yet).
    set_weekly(shop.staff.id, shop.store.code, "mon-sun 12:00-18:00")
    with pytest.raises(SlotTaken):
        book(shop, _at(shop, "11:00", days=1))
    with pytest.raises(SlotTaken):
        book(shop, _at(shop, "17:00", days=1))  # the buffer would run past 18:00
    assert book(shop, _at(shop, "12:00", days=1)).staff_id == shop.staff.id


def test_time_off_and_holidays_are_taken(shop: Shop) -> None:
    add_time_off(shop.staff.id, shop.start + timedelta(minutes=30),
                 shop.start + timedelta(hours=2), reason="dentist")
    for start in (shop.start, shop.start + timedelta(hours=1), shop.start - timedelta(minutes=30)):
        with pytest.raises(SlotTaken):
            book(shop, start)
    # A request that was not approved does not block.
    add_time_off(shop.staff.id, _at(shop, "15:00"), _at(shop, "17:00"), status="requested")
    assert book(shop, _at(shop, "15:00")).status == "confirmed"
    # A holiday closes the store all day.
    add_holiday(shop.store, _at(shop, "00:00", days=1).date())
    for staff in (shop.staff, None):
        with pytest.raises(SlotTaken):
            book(shop, _at(shop, "11:00", days=1), staff=staff)
    # Special hours on a holiday allow only those hours.
    add_holiday(shop.store, _at(shop, "00:00", days=2).date(), opens="13:00", closes="16:00")
    with pytest.raises(SlotTaken):
        book(shop, _at(shop, "11:00", days=2))
    with pytest.raises(SlotTaken):
        book(shop, _at(shop, "15:00", days=2))
    assert book(shop, _at(shop, "13:00", days=2)).status == "confirmed"
    assert book(shop, _at(shop, "11:00", days=3)).status == "confirmed"  # an ordinary day


def test_overlap_with_another_booking_including_buffers_is_taken(shop: Shop) -> None:
    first = book(shop)  # 11:00-12:00, blocked until 12:15
    for hhmm in ("11:00", "11:30", "10:00", "12:00", "12:14"):
        with pytest.raises(SlotTaken):
            book(shop, _at(shop, hhmm))
    assert book(shop, _at(shop, "12:15")).status == "confirmed"  # half-open ranges touch
    assert book(shop, _at(shop, "09:45")).status == "confirmed"  # ends 10:45, free by 11:00
    assert _count() == 3
    # The new service's buffer before counts too.
    colour = add_service({"name": "Colour", "duration_min": 30, "price": 100,
                          "buffer_before_min": 30}, stores=[shop.store.code])
    with write_transaction() as session:
        session.get(StaffProfile, shop.staff.id).services.append(session.get(Service, colour.id))
    with pytest.raises(SlotTaken):  # blocked until 13:30; its set-up would start at 13:15
        book(shop, _at(shop, "13:45"), service=colour)
    booking = book(shop, _at(shop, "14:00"), service=colour)
    assert booking.block_start == _at(shop, "13:30")
    # A cancelled booking frees its time.
    transition(first.id, "cancel")
    assert book(shop).status == "confirmed"


def test_online_needs_alignment_notice_and_horizon_front_desk_does_not(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SlotTaken):
        book(shop, _at(shop, "11:07"), source="online")
    set_policy(shop.store, slot_step_min=30)
    with pytest.raises(SlotTaken):
        book(shop, _at(shop, "11:15"), source="online")
    assert book(shop, _at(shop, "11:30"), source="online").status == "confirmed"
    assert book(shop, _at(shop, "13:07"), source="phone").start_at == _at(shop, "13:07")
    assert book(shop, _at(shop, "15:53"), source="walk_in").start_at == _at(shop, "15:53")
    # Minimum notice (60 minutes): online no, front desk yes.
    set_policy(shop.store, min_notice_min=60)
    start = _at(shop, "11:00", days=1)
    _freeze(monkeypatch, start - timedelta(minutes=59))
    with pytest.raises(SlotTaken):
        book(shop, start, source="online")
    assert book(shop, start, source="walk_in").status == "confirmed"
    _freeze(monkeypatch, _at(shop, "12:30", days=1) - timedelta(minutes=60))
    assert book(shop, _at(shop, "12:30", days=1), source="online").status == "confirmed"
    # Horizon: 3 days ahead at most.
    monkeypatch.undo()
    set_policy(shop.store, horizon_days=3)
    with pytest.raises(SlotTaken):  # at least 20 + 72 hours from now
        book(shop, _at(shop, "11:00", days=3), source="online")
    assert book(shop, _at(shop, "15:00", days=1), source="online").status == "confirmed"


# --- acceptance timeout -----------------------------------------------------------------------


def _run_jobs_at(app: Any, monkeypatch: pytest.MonkeyPatch, at: datetime) -> int:
    """Run due jobs pretending it is ``at`` (jobs enqueued meanwhile are dated from it)."""
    monkeypatch.setattr(jobs, "utcnow", lambda: at)
    monkeypatch.setattr(booking_service, "utcnow", lambda: at)  # the job checks the time
    return jobs.run_pending(app, now=at)


def test_timeout_declines_with_history(ctx: Any, shop: Shop,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    acceptance_timeout(999999)  # a missing booking: nothing to do, no error
    set_policy(shop.store, acceptance_required=True, acceptance_timeout_min=30)
    booking = book(shop, source="online")
    accepted = book(shop, _at(shop, "15:00"), source="online")
    transition(accepted.id, "confirm")
    created = utcnow()
    assert _run_jobs_at(ctx, monkeypatch, created + timedelta(minutes=29)) == 0
    assert _fresh(booking.id).status == "pending"
    assert _run_jobs_at(ctx, monkeypatch, created + timedelta(minutes=31)) == 2
    row = _fresh(booking.id)
    assert row.status == "declined"
    assert row.staff_id == shop.staff.id
    last = row.history[-1]
    assert (last.from_status, last.to_status, last.reason) == (
        "pending", "declined", "not accepted in time")
    done = db.session.scalars(select(JobRecord).where(JobRecord.func == JOB)).all()
    assert {j.status for j in done} == {"done"}
    # An accepted booking is left alone.
    row = _fresh(accepted.id)
    assert row.status == "confirmed"
    assert [h.to_status for h in row.history] == ["pending", "confirmed"]


def test_timeout_reassigns_to_another_free_person(ctx: Any, shop: Shop, bea: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(shop.store, acceptance_required=True, acceptance_timeout_action="reassign")
    booking = book(shop, source="online", staff=None)
    assert booking.staff_id == shop.staff.id
    later = utcnow() + timedelta(minutes=61)
    assert _run_jobs_at(ctx, monkeypatch, later) == 1
    row = _fresh(booking.id)
    assert (row.status, row.staff_id) == ("pending", bea.id)
    last = row.history[-1]
    assert (last.from_status, last.to_status) == ("pending", "pending")
    assert "reassigned" in last.reason
    # Bea gets her own acceptance window.
    queued = db.session.scalars(select(JobRecord).where(JobRecord.func == JOB,
                                                        JobRecord.status == "queued")).all()
    assert [(j.args, j.run_at) for j in queued] == [([booking.id], later + timedelta(hours=1))]


def test_timeout_with_reassign_declines_when_nobody_else_is_free(
        ctx: Any, shop: Shop, bea: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(shop.store, acceptance_required=True, acceptance_timeout_action="reassign")
    book(shop, shop.start + timedelta(minutes=30), staff=bea, source="phone")
    booking = book(shop, source="online", staff=shop.staff)
    assert booking.status == "pending"
    assert _run_jobs_at(ctx, monkeypatch, utcnow() + timedelta(minutes=61)) == 1
    row = _fresh(booking.id)
    assert (row.status, row.staff_id) == ("declined", shop.staff.id)
    assert row.history[-1].reason == "not accepted in time"


def test_a_timeout_run_twice_or_too_early_changes_nothing(ctx: Any, shop: Shop,
                                                           bea: Any) -> None:
    """The jobs outbox may run a job again when its "done" mark was lost: the second
    run finds Bea's fresh window still open and leaves the booking to her."""
    set_policy(shop.store, acceptance_required=True, acceptance_timeout_action="reassign")
    booking = book(shop, source="online", staff=shop.staff)
    acceptance_timeout(booking.id, now=utcnow() + timedelta(minutes=5))  # too early
    assert _fresh(booking.id).staff_id == shop.staff.id
    later = utcnow() + timedelta(minutes=61)
    acceptance_timeout(booking.id, now=later)
    acceptance_timeout(booking.id, now=later + timedelta(seconds=1))  # run again
    row = _fresh(booking.id)
    assert (row.status, row.staff_id) == ("pending", bea.id)
    assert [h.reason for h in row.history].count("reassigned after acceptance timeout") == 1
