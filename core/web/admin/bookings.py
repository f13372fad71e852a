"""Bookings in the back office: the filtered list, one booking with its history and
lifecycle actions, and booking on a customer's behalf (walk-in, phone).

The actions call the same lifecycle service as ``POST /api/v1/bookings/{id}/{action}``
and creation the same ``create_booking`` as ``POST /api/v1/bookings``; refusals from the
services are shown as translated messages on the page (status 422), nothing typed lost.
The calendar lives in :mod:`.ops_calendar`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ...auth import policy
from ...booking import service as booking_service
from ...booking.lifecycle import PEOPLE_ACTIONS, TRANSITIONS
from ...db import utcnow
from ...errors import FulianError, ValidationFailed
from ...extensions import db
from ...models import BOOKING_STATUSES, Booking, Service, StaffProfile, Store, User
from ..forms import Form, optional_int
from ..session import back_office
from . import bp, money_panel, ops_calendar  # noqa: F401 - ops_calendar's view registers on bp
from .ops_common import (
    PER_PAGE,
    arg_int,
    booking_or_404,
    current,
    in_local_days,
    page_number,
    parse_date,
    rows_for,
    staff_of_stores,
    store_or_404,
    tz_of,
    visible_stores,
)
from .ops_slots import slot_choices

MAX_RANGE_DAYS = 366
DONE = {"confirm": _l("The booking is confirmed."), "decline": _l("The booking is declined."),
        "cancel": _l("The booking is cancelled."), "complete": _l("The booking is completed."),
        "no_show": _l("The booking is marked as a no-show."),
        "reschedule": _l("The booking is moved.")}


# ------------------------------------------------------------------------ list


def _filters(user: User) -> tuple[Form, dict[str, Any]]:
    """The list's GET form: values as typed, and what the query uses."""
    stores = visible_stores(user)
    today = datetime.now(tz_of(stores[0])).date() if stores else utcnow().date()
    form = Form({k: request.args.get(k, "").strip()
                 for k in ("store", "staff", "status", "date_from", "date_to")})
    if not form.get("date_from"):
        form.values["date_from"] = today.isoformat()
    if not form.get("date_to"):
        form.values["date_to"] = (today + timedelta(days=7)).isoformat()
    day_from, day_to = parse_date(form.get("date_from")), parse_date(form.get("date_to"))
    if day_from is None:
        form.errors["date_from"] = [_("Enter a date like 2026-12-01.")]
    if day_to is None:
        form.errors["date_to"] = [_("Enter a date like 2026-12-01.")]
    if day_from and day_to:
        if day_to < day_from:
            form.errors["date_to"] = [_("Must not be before the start date.")]
        elif (day_to - day_from).days >= MAX_RANGE_DAYS:
            form.errors["date_to"] = [_("At most %(n)d days at once.", n=MAX_RANGE_DAYS)]
    store_id = arg_int("store")
    if form.get("store") and store_id is None:
        abort(404)
    if store_id is not None:
        stores = [store_or_404(user, store_id)]
    status = form.get("status")
    if status and status not in BOOKING_STATUSES:
        form.errors["status"] = [_("Choose a status from the list.")]
    if form.errors:
        form.message = _("Some filters are not valid; showing today's bookings instead.")
        day_from = day_to = today
        status = ""
    return form, {"stores": stores, "staff_id": arg_int("staff"), "status": status,
                  "day_from": day_from, "day_to": day_to}


@bp.get("/bookings")
@back_office
def bookings() -> Any:
    """All bookings of the user's stores in a date range, filtered and paged."""
    user = current()
    form, f = _filters(user)
    query = select(Booking).where(in_local_days(f["stores"], f["day_from"], f["day_to"]))
    if f["staff_id"]:
        query = query.where(Booking.staff_id == f["staff_id"])
    if f["status"]:
        query = query.where(Booking.status == f["status"])
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, ceil(total / PER_PAGE))
    page = min(page_number(), pages)
    found = list(db.session.scalars(query.order_by(Booking.start_at, Booking.id)
                                    .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    all_stores = visible_stores(user)
    staff = staff_of_stores([s.id for s in all_stores], active_only=False)
    args = {k: v for k, v in form.values.items() if v}
    return render_template(
        "admin/bookings.html", face="admin", form=form, rows=rows_for(found), total=total,
        page=page, pages=pages, args=args, stores=all_stores, staff=staff,
        multi_store=len(all_stores) > 1), 422 if form.errors else 200


# ---------------------------------------------------------------------- detail


def _actor_names(booking: Booking) -> dict[int, str]:
    ids = {h.actor_user_id for h in booking.history if h.actor_user_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def _detail(booking: Booking, form: Form | None = None, action: str | None = None,
            status: int = 200) -> Any:
    row = rows_for([booking])[0]
    staff = [s for s in staff_of_stores([booking.store_id])
             if any(sv.id == booking.service_id for sv in s.services)]
    form = form or Form()
    form.values.setdefault("start_at", row.start_local.strftime("%Y-%m-%dT%H:%M"))
    form.values.setdefault("staff_id", "")
    allowed = {a for a, (sources, _target) in TRANSITIONS.items()
               if booking.status in sources and a in PEOPLE_ACTIONS}
    now = utcnow()
    # The service refuses these before their time; offer them only when they can work.
    if now < booking.start_at - timedelta(minutes=30):
        allowed.discard("complete")
    if now < booking.start_at:
        allowed.discard("no_show")
    money = money_panel.context(booking, current())
    form.values.setdefault("amount", money.get("due_text", ""))
    return render_template(
        "admin/bookings_detail.html", face="admin", r=row, booking=booking, form=form,
        failed_action=action, allowed=allowed, actors=_actor_names(booking),
        staff=staff, **money), status


@bp.get("/bookings/<id:booking_id>")
@back_office
def booking_detail(booking_id: int) -> Any:
    """One booking of the user's stores with its status history and actions."""
    return _detail(booking_or_404(current(), booking_id))


def _local_start(value: str, booking: Booking) -> datetime | None:
    """``YYYY-MM-DDTHH:MM`` typed in the store's local time, as an aware datetime."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return naive
    store = db.session.get(Store, booking.store_id)
    assert store is not None
    return naive.replace(tzinfo=tz_of(store))


@bp.post("/bookings/<id:booking_id>/<any(confirm,decline,cancel,complete,no_show,reschedule):action>")
@back_office
def booking_action(booking_id: int, action: str) -> Any:
    """Move the booking through its life cycle, exactly as the API's ``act`` does."""
    user = current()
    booking = booking_or_404(user, booking_id)
    form = Form.submitted()
    reason = form.get(f"{action}_reason") if action in ("decline", "cancel") \
        else form.get("reason")
    new_start = None
    new_staff = optional_int(form.get("staff_id"))
    try:
        if len(reason) > 500:
            raise ValidationFailed(_l("The input is not valid."),
                                   field_errors={"reason": [_l("At most %(n)d characters.",
                                                               n=500)]})
        if action == "decline" and not reason:
            raise ValidationFailed(_l("The input is not valid."),
                                   field_errors={"reason": [_l("Say why the booking is "
                                                               "declined.")]})
        if action == "reschedule":
            new_start = _local_start(form.get("start_at"), booking)
            if new_start is None:
                raise ValidationFailed(_l("The input is not valid."),
                                       field_errors={"start_at": [_l("Choose the new date "
                                                                     "and time.")]})
            if new_staff is not None:
                staff = db.session.get(StaffProfile, new_staff)
                if staff is None or booking.store_id not in {s.id for s in staff.stores}:
                    raise ValidationFailed(_l("The input is not valid."),
                                           field_errors={"staff_id": [_l("Choose a staff "
                                                                         "member of this "
                                                                         "store.")]})
        booking_service.transition(booking.id, action, reason=reason, by_customer=False,
                                   new_start=new_start,
                                   new_staff_id=new_staff if action == "reschedule"
                                   else None)
    except FulianError as exc:
        db.session.rollback()
        form.fail(exc)
        if action in ("decline", "cancel") and "reason" in form.errors:
            form.errors[f"{action}_reason"] = form.errors.pop("reason")
        return _detail(booking_or_404(user, booking_id), form, action, 422)
    flash(str(DONE[action]), "success")
    return redirect(url_for("admin.booking_detail", booking_id=booking_id))


# ------------------------------------------------------------------ new booking


def _new_context(user: User, form: Form) -> dict[str, Any]:
    """Options of the form for the chosen store/service/date/staff, and the free slots."""
    stores = [s for s in visible_stores(user) if s.status == "active"]
    store = None
    store_id = optional_int(form.get("store"))
    if store_id is not None:
        store = next((s for s in stores if s.id == store_id), None)
        if store is None:
            abort(404)
    elif len(stores) == 1:
        store = stores[0]
        form.values["store"] = str(store.id)
    services: list[Service] = []
    staff: list[StaffProfile] = []
    svc = None
    day = None
    if store is not None:
        services = [sv for sv in db.session.scalars(select(Service).order_by(Service.id))
                    if sv.published and any(o.store_id == store.id for o in sv.offers)]
        svc = next((sv for sv in services if str(sv.id) == str(form.get("service"))), None)
        day = parse_date(form.get("date")) or datetime.now(tz_of(store)).date()
        form.values["date"] = day.isoformat()
        if svc is not None:
            staff = [s for s in staff_of_stores([store.id])
                     if any(x.id == svc.id for x in s.services)]
    staff_id = optional_int(form.get("staff"))
    if staff_id is not None and all(s.id != staff_id for s in staff):
        staff_id = None
        form.values["staff"] = ""
    slots = slot_choices(store, svc, day, staff_id) if store and svc and day else []
    return {"stores": stores, "store": store, "services": services, "service": svc,
            "staff": staff, "day": day, "slots": slots, "staff_id": staff_id,
            "next_day": day + timedelta(days=1) if day else None}


@bp.route("/bookings/new", methods=["GET", "POST"])
@back_office
def new_booking() -> Any:
    """Book for a customer at the desk or on the phone: choose, see free times, book."""
    user = current()
    if request.method == "GET":
        form = Form({k: request.args.get(k, "").strip()
                     for k in ("store", "service", "date", "staff", "phone", "name")})
        form.values.setdefault("source", request.args.get("source", "walk_in"))
        ctx = _new_context(user, form)
        return render_template("admin/bookings_new.html", face="admin", form=form, **ctx)
    form = Form.submitted()
    ctx = _new_context(user, form)
    store, svc = ctx["store"], ctx["service"]
    try:
        booking = _create(user, form, ctx)
    except FulianError as exc:
        db.session.rollback()
        form.fail(exc)
        if isinstance(exc, booking_service.SlotTaken):
            form.message = _("Sorry, that time was just taken. Please choose another time.")
        ctx = _new_context(user, form) if store and svc else ctx
        return render_template("admin/bookings_new.html", face="admin", form=form,
                               **ctx), 422
    flash(_("Booked: %(code)s.", code=booking.code), "success")
    return redirect(url_for("admin.booking_detail", booking_id=booking.id))


def _create(user: User, form: Form, ctx: dict[str, Any]) -> Booking:
    """Validate the form, find or create the customer and book, as the API's create."""
    errors: dict[str, list[Any]] = {}
    store, svc = ctx["store"], ctx["service"]
    if store is None:
        errors["store"] = [_l("Choose a store.")]
    if svc is None:
        errors["service"] = [_l("Choose a service.")]
    if not form.get("phone"):
        errors["phone"] = [_l("Give the customer's phone when booking for them.")]
    source = form.get("source") or "walk_in"
    if source not in ("walk_in", "phone"):
        errors["source"] = [_l("Choose walk-in or phone.")]
    if len(form.get("note")) > 1000:
        errors["note"] = [_l("At most %(n)d characters.", n=1000)]
    if len(form.get("name")) > 120:
        errors["name"] = [_l("At most %(n)d characters.", n=120)]
    start = None
    try:
        start = datetime.fromisoformat(form.get("start_at"))
    except ValueError:
        pass
    if start is None or start.tzinfo is None:
        errors["start_at"] = [_l("Choose one of the free times.")]
    if errors:
        raise ValidationFailed(_l("The input is not valid."), field_errors=errors)
    assert store is not None and svc is not None and start is not None
    if not policy.can_manage_store(user, store.id):  # pragma: no cover - _new_context 404s
        abort(404)
    # the customer is found or created inside the booking's transaction: a time taken
    # meanwhile leaves no customer record behind
    return booking_service.create_booking(
        store=store, service=svc, start_at=start, staff=ctx["staff_id"],
        customer=booking_service.CustomerByPhone(form.get("phone"), form.get("name"), source),
        source=source, note=form.get("note"))
