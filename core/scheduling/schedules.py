"""Writers of schedules: weekly availability templates, dated overrides, time-off and
coverage rules. Inputs use the same human syntax as opening hours."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import (
    AvailabilityOverride,
    CoverageRule,
    Service,
    StaffProfile,
    TimeOff,
    WeeklyAvailability,
)
from ..org.hours import parse_hours
from ..org.stores import get_store
from . import cache


def get_staff(ref: str | int) -> StaffProfile:
    staff = db.session.get(StaffProfile, int(ref)) if str(ref).isdigit() else None
    if staff is None:
        raise NotFound(_l("No staff member %(ref)s.", ref=ref))
    return staff


def _works_at(staff: StaffProfile, store_id: int) -> None:
    if store_id not in {s.id for s in staff.stores}:
        raise ValidationFailed(_l("%(staff)s does not work at this store.",
                                  staff=staff.display_name),
                               field_errors={"store": [_l("Invalid value.")]})


def set_weekly(staff_ref: str | int, store_ref: str | int, hours: str) -> int:
    """Replace a person's weekly template at a store; returns the number of intervals."""
    staff = get_staff(staff_ref)
    store = get_store(store_ref)
    _works_at(staff, store.id)
    rows = parse_hours(hours)
    with write_transaction() as session:
        session.execute(delete(WeeklyAvailability).where(
            WeeklyAvailability.staff_id == staff.id, WeeklyAvailability.store_id == store.id))
        for weekday, a, b in rows:
            session.add(WeeklyAvailability(staff_id=staff.id, store_id=store.id,
                                           weekday=weekday, start_min=a, end_min=b))
        cache.invalidate_store(store.id)
    return len(rows)


def set_override(staff_ref: str | int, store_ref: str | int, day: date,
                 intervals: list[tuple[int, int]] | None) -> None:
    """Replace one day's availability (``None`` or ``[]`` = not available that day)."""
    staff = get_staff(staff_ref)
    store = get_store(store_ref)
    _works_at(staff, store.id)
    for a, b in intervals or []:
        if not 0 <= a < b <= 1440:
            raise ValidationFailed(_l("A shift needs a start before its end, within the day."))
    with write_transaction() as session:
        session.execute(delete(AvailabilityOverride).where(
            AvailabilityOverride.staff_id == staff.id,
            AvailabilityOverride.store_id == store.id, AvailabilityOverride.day == day))
        if not intervals:
            session.add(AvailabilityOverride(staff_id=staff.id, store_id=store.id, day=day,
                                             available=False))
        for a, b in intervals or []:
            session.add(AvailabilityOverride(staff_id=staff.id, store_id=store.id, day=day,
                                             available=True, start_min=a, end_min=b))
        cache.invalidate(store.id, [day])


def add_time_off(staff_ref: str | int, start: datetime, end: datetime, reason: str = "",
                 status: str = "approved") -> TimeOff:
    staff = get_staff(staff_ref)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed(_l("Times need a time zone offset."))
    if end <= start:
        raise ValidationFailed(_l("The end must be after the start."),
                               field_errors={"end": [_l("Invalid value.")]})
    with write_transaction() as session:
        row = TimeOff(staff_id=staff.id, start_at=start, end_at=end, reason=reason[:200],
                      status=status)
        session.add(row)
    return row


def add_coverage(store_ref: str | int, hours: str, min_staff: int,
                 service_ref: str | None = None) -> int:
    """Add coverage rules ("mon-fri 10:00-20:00" needs ``min_staff`` people)."""
    store = get_store(store_ref)
    if not 1 <= min_staff <= 100:
        raise ValidationFailed(_l("Between 1 and 100 people."),
                               field_errors={"min_staff": [_l("Invalid value.")]})
    service_id = None
    if service_ref:
        svc = db.session.get(Service, int(service_ref)) if str(service_ref).isdigit() else \
            db.session.scalars(select(Service).where(Service.name == service_ref)).first()
        if svc is None:
            raise NotFound(_l("No service %(ref)s.", ref=service_ref))
        service_id = svc.id
    rows = parse_hours(hours)
    with write_transaction() as session:
        for weekday, a, b in rows:
            session.add(CoverageRule(store_id=store.id, weekday=weekday, start_min=a,
                                     end_min=b, min_staff=min_staff, service_id=service_id))
    return len(rows)


TIME_OFF_DECISIONS = ("approved", "rejected")


def decide_time_off(time_off_id: int, status: str) -> TimeOff:
    """Approve or reject requested time-off (Conflict if it was already decided)."""
    if status not in TIME_OFF_DECISIONS:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"status": [_l("Invalid value.")]})
    with write_transaction() as session:
        row = session.get(TimeOff, time_off_id)
        if row is None:
            raise NotFound(_l("No time-off %(ref)s.", ref=time_off_id))
        if row.status != "requested":
            raise Conflict(_l("This time-off was already decided."))
        row.status = status
    return row
