"""The staff app's booking pages: today, this week, one booking, and completing a
booking by the code the customer shows.

Every action goes through the same lifecycle call and the same policy table as
``POST /api/v1/bookings/{id}/{action}`` (:func:`core.booking.service.transition`,
:data:`core.api.bookings.ALLOWED`), attributed to the person in the audit log. Only the
person's own bookings are reachable; another one is a 404.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ...api.bookings import ALLOWED
from ...auth import policy
from ...booking import service
from ...booking.lifecycle import STATUS_LABELS
from ...errors import FulianError, ValidationFailed
from ...extensions import db
from ...models import Booking, User
from ...scheduling.localtime import day_bounds
from ..forms import Form
from ..session import safe_next, staff_only
from . import bp
from .common import (
    Me,
    Row,
    day_name,
    hm,
    local_now,
    long_day,
    me,
    own_booking,
    own_bookings,
    rows_for,
    when,
)

#: what the staff app offers; the policy (ALLOWED) has the last word
STAFF_ACTIONS = ("confirm", "decline", "complete", "no_show")
DONE = {
    "confirm": _l("Booking accepted."), "decline": _l("Booking declined."),
    "complete": _l("Booking completed."), "no_show": _l("Marked as no-show."),
}

SOURCE_LABELS = {"online": _l("booked online"), "phone": _l("booked by phone"),
                 "walk_in": _l("walk-in")}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"hm": hm, "when": when, "day_name": day_name, "long_day": long_day,
            "status_label": lambda s: str(STATUS_LABELS.get(s, s)),
            "source_label": lambda s: str(SOURCE_LABELS.get(s, s))}


def _pending(who: Me) -> list[Row]:
    return rows_for(own_bookings(who.staff).where(Booking.status == "pending"))


@bp.get("/")
@staff_only
def today() -> str:
    """Today's timeline, with bookings waiting for acceptance on top."""
    who = me()
    now = local_now(who.tz)
    start, end = day_bounds(now.date(), who.tz)
    rows = rows_for(own_bookings(who.staff).where(Booking.start_at >= start,
                                                  Booking.start_at < end))
    active = [r for r in rows if r.booking.status in ("pending", "confirmed")]
    upcoming = next((r for r in active if r.end > now), None)
    return render_template("staff/today.html", face="staff", who=who, rows=rows,
                           pending=_pending(who), day=now.date(), now=now,
                           next_row=upcoming, forms={})


def _week_start(value: str | None, fallback: date) -> date:
    try:
        day = date.fromisoformat(value) if value else fallback
    except ValueError:
        day = fallback
    return day - timedelta(days=day.weekday())


@bp.get("/week")
@staff_only
def week() -> str:
    """Seven days from Monday, each with its bookings; ?start=YYYY-MM-DD moves weeks."""
    who = me()
    today_ = local_now(who.tz).date()
    monday = _week_start(request.args.get("start"), today_)
    start, _ = day_bounds(monday, who.tz)
    _, end = day_bounds(monday + timedelta(days=6), who.tz)
    rows = rows_for(own_bookings(who.staff).where(Booking.start_at >= start,
                                                  Booking.start_at < end))
    days: list[tuple[date, list[Row]]] = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        days.append((day, [r for r in rows if r.booking.start_at.astimezone(who.tz).date()
                           == day]))
    counted = [r for r in rows if r.booking.status in ("pending", "confirmed", "completed")]
    return render_template("staff/week.html", face="staff", who=who, days=days,
                           monday=monday, today=today_, total=len(counted),
                           prev=monday - timedelta(days=7), next=monday + timedelta(days=7))


def _actions(who: Me, row: Row) -> list[str]:
    """Actions the person may take on this booking now (policy ∩ state ∩ staff app)."""
    relation = policy.booking_relation(who.user, row.booking)
    allowed = ALLOWED.get(relation or "", set())
    by_state = {"pending": ("confirm", "decline"), "confirmed": ("complete", "no_show")}
    return [a for a in by_state.get(row.booking.status, ()) if a in allowed
            and a in STAFF_ACTIONS]


def _detail(who: Me, row: Row, form: Form | None = None, status: int = 200) -> Any:
    actors = {h.actor_user_id for h in row.booking.history if h.actor_user_id}
    names = {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(actors)))
             } if actors else {}
    return render_template("staff/booking.html", face="staff", who=who, row=row,
                           actions=_actions(who, row), form=form or Form(), names=names), status


@bp.get("/bookings/<id:booking_id>")
@staff_only
def booking(booking_id: int) -> Any:
    """One of the person's bookings: who to call, what, when, its history, what to do."""
    who = me()
    return _detail(who, own_booking(who.staff, booking_id))


def _transition(who: Me, row: Row, action: str, reason: str = "") -> Booking:
    """The API's action (same policy table, same service call), attributed to the
    person in the audit log."""
    if action not in _allowed_for(who, row):
        raise FulianError(_l("You may not do this to this booking."))
    if action == "decline" and not reason:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"reason": [_l("Say why the booking is "
                                                           "declined.")]})
    return service.transition(row.booking.id, action, reason=reason)


def _allowed_for(who: Me, row: Row) -> set[str]:
    relation = policy.booking_relation(who.user, row.booking)
    return set(ALLOWED.get(relation or "", set())) & set(STAFF_ACTIONS)


@bp.post("/bookings/<id:booking_id>/<any(confirm,decline,complete,no_show):action>")
@staff_only
def act(booking_id: int, action: str) -> Any:
    """Accept, decline, complete or mark a no-show; a refusal re-renders the booking with
    the translated reason (422) and nothing changes."""
    who = me()
    row = own_booking(who.staff, booking_id)
    form = Form.submitted()
    reason = str(form.get("reason"))[:500]
    try:
        _transition(who, row, action, reason)
    except FulianError as exc:
        db.session.rollback()
        form.values["action"] = action
        return _detail(who, own_booking(who.staff, booking_id), form.fail(exc), 422)
    flash(str(DONE[action]), "success")
    return redirect(safe_next(url_for("staff_app.booking", booking_id=booking_id)))


def normalise_code(text: str) -> str:
    """Codes are read aloud or scanned: ignore case, spaces and dashes around them."""
    return "".join(ch for ch in (text or "").strip().upper() if ch not in " -")


@bp.route("/complete", methods=["GET", "POST"])
@staff_only
def complete() -> Any:
    """Complete a booking by its code: scanned from the customer's QR code (the browser's
    BarcodeDetector, where there is one) or typed. Only the person's own bookings."""
    who = me()
    if request.method == "GET":
        return render_template("staff/complete.html", face="staff", who=who, form=Form())
    form = Form.submitted()
    code = normalise_code(str(form.get("code")))
    form.values["code"] = code
    booking_id = db.session.scalars(select(Booking.id).where(
        func.upper(Booking.code) == code, Booking.staff_id == who.staff.id)).first() \
        if code else None
    if booking_id is None:
        form.errors["code"] = [_("No booking of yours has this code.")] if code else \
            [_("Type the code the customer shows.")]
        return render_template("staff/complete.html", face="staff", who=who, form=form), 422
    row = own_booking(who.staff, booking_id)
    try:
        _transition(who, row, "complete")
    except FulianError as exc:
        db.session.rollback()
        form.fail(exc)
        return render_template("staff/complete.html", face="staff", who=who, form=form,
                               row=row), 422
    return render_template("staff/complete_done.html", face="staff", who=who,
                           row=own_booking(who.staff, booking_id))


from . import insights  # noqa: E402,F401 - performance and schedule register on bp
