"""The booking flow: store → service → day and time (and who) → log in → confirm.

Every step before the last is a plain GET page, so the back button, bookmarks and
sharing a half-chosen booking all work. Days and slots come from the availability
engine behind ``GET /api/v1/stores/{id}/availability``; the final POST goes through
:func:`core.booking.service.create_booking` exactly like ``POST /api/v1/bookings``,
which re-checks the slot inside the writing transaction. A one-time token in the form
becomes the booking's idempotency key, so a double submit shows the first booking
instead of creating a second one.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...auth import policy
from ...booking import holds
from ...booking import service as booking_service
from ...catalog.services import price_at
from ...errors import FulianError
from ...extensions import db
from ...finance import orders, rates
from ...models import Booking, Service, StaffProfile, Store
from ..forms import Form, optional_int
from ..session import customer_only, page_user
from . import bp, helpers

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NOTE_MAX = 1000


def _choice() -> tuple[Store | None, Service | None, StaffProfile | None]:
    """The store, service and staff member named in the query string (404 if unseen)."""
    args = request.values
    store = helpers.store_or_404(optional_int(args.get("store"))) if args.get("store") else None
    svc = helpers.service_or_404(optional_int(args.get("service"))) \
        if args.get("service") else None
    person = helpers.staff_or_404(optional_int(args.get("staff"))) if args.get("staff") else None
    return store, svc, person


def _offered(store: Store, svc: Service) -> bool:
    return any(o.store_id == store.id for o in svc.offers)


def _performs(person: StaffProfile, store: Store, svc: Service) -> bool:
    return store in person.stores and svc in person.services


def _params(store: Store | None, svc: Service | None, person: StaffProfile | None,
            **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"store": store.id if store else None,
                              "service": svc.id if svc else None,
                              "staff": person.id if person else None}
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


@bp.get("/book")
def book() -> Any:
    """Choose what is missing (store, then service), then a day and a time."""
    store, svc, person = _choice()
    if store is None:
        stores = [s for s, _p in helpers.stores_offering(svc)] if svc else helpers.active_stores()
        if person is not None:
            stores = [s for s in stores if s in person.stores]
        if len(stores) == 1:
            store = stores[0]
        else:
            return render_template("customer/book.html", step="store", stores=stores,
                                   service=svc, person=person, params=_params)
    if svc is None:
        services = helpers.offered_services(store)
        if person is not None:
            services = [(s, p) for s, p in services if s in person.services]
        return render_template("customer/book.html", step="service", store=store,
                               services=services, person=person, params=_params)
    if not _offered(store, svc) or (person is not None and not _performs(person, store, svc)):
        abort(404)
    return time_step(store, svc, person)


def time_step(store: Store, svc: Service, person: StaffProfile | None,
              message: str | None = None, status: int = 200, day: str | None = None) -> Any:
    """The calendar of free days and the chosen day's slots (also after a refusal)."""
    month = helpers.month_availability(
        store, svc, staff_id=person.id if person else None,
        month=request.args.get("month"), day=day or request.args.get("day"))
    team = helpers.public_staff(store_id=store.id, service_id=svc.id)

    def day_url(day: Any) -> str:
        return url_for("customer.book", **_params(store, svc, person, day=day.isoformat()))

    def month_url(key: str) -> str:
        return url_for("customer.book", **_params(store, svc, person, month=key))

    def slot_url(start: datetime, _staff: Any) -> str:
        return url_for("customer.confirm", **_params(store, svc, person,
                                                     start=start.isoformat()))

    def staff_url(choice: StaffProfile | None) -> str:
        extra = {"day": month.chosen.isoformat()} if month.chosen else {}
        return url_for("customer.book", **_params(store, svc, choice, **extra))

    return render_template("customer/book.html", step="time", store=store, service=svc,
                           person=person, team=team, month=month, price=price_at(svc, store.id),
                           day_url=day_url, month_url=month_url, slot_url=slot_url,
                           staff_url=staff_url, message=message, params=_params), status


def _chosen_start(store: Store) -> datetime:
    start = helpers.parse_start(request.values.get("start"))
    if start is None:
        abort(404)
    return start.astimezone(ZoneInfo(store.timezone))


def _ready() -> tuple[Store, Service, StaffProfile | None, datetime]:
    store, svc, person = _choice()
    if store is None or svc is None or not _offered(store, svc) \
            or (person is not None and not _performs(person, store, svc)):
        abort(404)
    return store, svc, person, _chosen_start(store)


def _still_free(store: Store, svc: Service, person: StaffProfile | None,
                start: datetime) -> bool:
    month = helpers.month_availability(store, svc, staff_id=person.id if person else None,
                                       month=None, day=start.date().isoformat())
    return any(s == start for s, _staff in month.slots) and month.chosen == start.date()


def _confirm_page(store: Store, svc: Service, person: StaffProfile | None, start: datetime,
                  form: Form, status: int = 200) -> Any:
    quote = orders.quote_for_service(store, svc, policy.customer_of(page_user()))
    return render_template("customer/confirm.html", store=store, service=svc, person=person,
                           start=start, end=start + timedelta(minutes=svc.duration_min),
                           price=price_at(svc, store.id), form=form, quote=quote,
                           deposit=rates.deposit_for(svc, store, quote.total),
                           hold_min=int(holds.hold_time().total_seconds() // 60),
                           back_url=url_for("customer.book", **_params(
                               store, svc, person, day=start.date().isoformat())),
                           note_max=NOTE_MAX), status


@bp.get("/book/confirm")
@customer_only
def confirm() -> Any:
    """Summary of the chosen booking, an optional note, and the button that books."""
    store, svc, person, start = _ready()
    if not _still_free(store, svc, person, start):
        return time_step(store, svc, person, status=409, day=start.date().isoformat(),
                         message=_("Sorry, that time has just been taken. Please choose "
                                   "another one."))
    form = Form({"token": secrets.token_urlsafe(18), "note": ""})
    return _confirm_page(store, svc, person, start, form)


def _existing(key: str) -> Booking | None:
    return db.session.scalars(select(Booking).where(Booking.idempotency_key == key)).first()


@bp.post("/book/confirm")
@customer_only
def confirm_post() -> Any:
    """Create the booking (same service call as the API); a resent form shows the first."""
    store, svc, person, start = _ready()
    user = page_user()
    customer = policy.customer_of(user)
    if customer is None:
        abort(403)
    form = Form.submitted()
    token = form.get("token")
    if not _TOKEN.match(token):
        form.values["token"] = secrets.token_urlsafe(18)
        form.message = _("The form expired. Please confirm again.")
        return _confirm_page(store, svc, person, start, form, 422)
    note = form.get("note")
    if len(note) > NOTE_MAX:
        form.errors["note"] = [_("At most %(n)d characters.", n=NOTE_MAX)]
        return _confirm_page(store, svc, person, start, form, 422)
    key = f"{user.id}:web-{token}"
    booking = _existing(key)
    if booking is not None:  # the same form sent twice (double tap, reload, back+resend)
        if booking.customer_id != customer.id:
            abort(404)
        flash(_("You have already booked this; here it is."), "info")
        return redirect(url_for("customer.booking", code=booking.code))
    try:
        booking = booking_service.create_booking(
            store=store, service=svc, customer=customer, start_at=start, staff=person,
            source="online", note=note, idempotency_key=key)
    except (booking_service.SlotTaken, IntegrityError):
        db.session.rollback()
        booking = _existing(key)
        if booking is not None:  # a concurrent resend won the race
            return redirect(url_for("customer.booking", code=booking.code))
        return time_step(store, svc, person, status=409, day=start.date().isoformat(),
                         message=_("Sorry, that time has just been taken. Please choose "
                                   "another one."))
    except FulianError as exc:
        db.session.rollback()
        return time_step(store, svc, person, status=exc.status, day=start.date().isoformat(),
                         message=str(exc.message))
    if booking.status == holds.HOLD_STATUS:
        return redirect(url_for("customer.checkout", code=booking.code))
    if booking.status == "pending":
        flash(_("Booking received. The store will confirm it shortly."), "success")
    else:
        flash(_("You are booked. See you soon!"), "success")
    return redirect(url_for("customer.booking", code=booking.code))
