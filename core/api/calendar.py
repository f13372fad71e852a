"""Calendar downloads: a booking's .ics and each staff member's secret feed."""

from __future__ import annotations

from flask import Response
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select

from ..booking import ics
from ..extensions import db
from ..models import StaffProfile
from .bookings import _visible
from .common import PUBLIC, not_found

blp = Blueprint("calendar", __name__, url_prefix="/api/v1", description="iCalendar")
ICS = "text/calendar; charset=utf-8"


@blp.get("/bookings/<id:booking_id>/ics")
@blp.response(200, content_type="text/calendar")
def booking_ics(booking_id: int) -> Response:
    """The booking as an iCalendar file (for its customer, staff member or store)."""
    booking, _ = _visible(booking_id)
    return Response(ics.booking_ics(booking), content_type=ICS, headers={
        "Content-Disposition": f'attachment; filename="booking-{booking.code}.ics"'})


@blp.get("/calendar/staff/<string:token>.ics")
@blp.doc(**PUBLIC)
@blp.response(200, content_type="text/calendar")
def staff_feed(token: str) -> Response:
    """A staff member's subscription URL (secret token; rotate it to revoke)."""
    if len(token) > 64:
        raise not_found(_l("Calendar"))
    staff = db.session.scalars(select(StaffProfile).where(StaffProfile.calendar_token == token)
                               ).first()
    if staff is None:
        raise not_found(_l("Calendar"))
    return Response(ics.staff_feed(staff), content_type=ICS)
