"""Shared pieces of the back office's operations pages (dashboard, bookings, calendar,
customers): the user's store scope, store-local times, and bookings joined with the
names a table needs.

Scope comes from the policy layer only (``policy.managed_store_ids``): a store manager
or front desk sees their stores, brand roles every store. Times are stored in UTC and
always shown in the booking's store time zone, formatted for the page's locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from flask import abort, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, false, or_, select

from ... import phones
from ...auth import policy
from ...booking.lifecycle import STATUS_LABELS
from ...extensions import db
from ...models import (
    BOOKING_STATUSES,
    Booking,
    Customer,
    Service,
    StaffProfile,
    Store,
    User,
    staff_stores,
)
from ...scheduling.localtime import day_bounds
from .. import session as web_session
from . import bp

PER_PAGE = 25
SOURCE_LABELS = {"online": _l("Online"), "walk_in": _l("Walk-in"), "phone": _l("Phone")}


def current() -> User:
    """The logged-in back-office user (the view is guarded by ``@back_office``)."""
    user = web_session.page_user()
    if user is None:  # pragma: no cover - the guard redirects first
        abort(401)
    return user


def visible_stores(user: User) -> list[Store]:
    """Stores the user works with, in a stable order (all of them for brand roles)."""
    return policy.stores_of(user)


def store_scope(column: Any, user: User) -> ColumnElement[bool]:
    """SQL: ``column`` is one of the user's stores."""
    return policy.in_scope(column, policy.managed_store_ids(user))


def store_or_404(user: User, store_id: int | None) -> Store:
    store = db.session.get(Store, store_id) if store_id else None
    if store is None or not policy.can_manage_store(user, store.id):
        abort(404)
    return store


def booking_or_404(user: User, booking_id: int) -> Booking:
    """A booking of one of the user's stores; anything else is 404 (existence hidden)."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or not policy.can_manage_store(user, booking.store_id):
        abort(404)
    return booking


def tz_of(store: Store) -> ZoneInfo:
    return ZoneInfo(store.timezone)


def today_in(store: Store) -> date:
    return datetime.now(tz_of(store)).date()


def in_local_days(stores: list[Store], day_from: date, day_to: date) -> ColumnElement[bool]:
    """SQL: the booking starts within [day_from, day_to] in its own store's time zone."""
    parts = []
    for store in stores:
        tz = tz_of(store)
        start, _ = day_bounds(day_from, tz)
        _, end = day_bounds(day_to, tz)
        parts.append(and_(Booking.store_id == store.id, Booking.start_at >= start,
                          Booking.start_at < end))
    return or_(*parts) if parts else false()


def parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def arg_int(name: str) -> int | None:
    """A positive id from the query string, or None (bad values are ignored)."""
    from ..forms import optional_int

    return optional_int(request.args.get(name))


# --------------------------------------------------------------------- formatting


def _locale() -> Any:
    return get_locale() or "zh_CN"


def fmt_time(value: datetime, tz: ZoneInfo) -> str:
    return babel_dates.format_time(value.astimezone(tz), "short", tzinfo=tz, locale=_locale())


def fmt_date(value: date | datetime, tz: ZoneInfo | None = None, fmt: str = "medium") -> str:
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(tz).date()
    return babel_dates.format_date(value, fmt, locale=_locale())


def fmt_datetime(value: datetime, tz: ZoneInfo) -> str:
    return babel_dates.format_datetime(value.astimezone(tz), "medium", tzinfo=tz,
                                       locale=_locale())


def fmt_weekday(value: date, width: str = "abbreviated") -> str:
    return babel_dates.format_date(value, "EEE" if width == "abbreviated" else "EEEE",
                                   locale=_locale())


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def source_label(source: str) -> str:
    return str(SOURCE_LABELS.get(source, source))


@bp.context_processor
def _ops_context() -> dict[str, Any]:
    """Formatting helpers for the operations templates (admin blueprint only)."""
    return {"ops_status": status_label, "ops_source": source_label,
            "ops_statuses": BOOKING_STATUSES, "ops_date": fmt_date, "ops_time": fmt_time,
            "ops_datetime": fmt_datetime, "ops_weekday": fmt_weekday}


# ------------------------------------------------------------------- booking rows


@dataclass
class Row:
    """A booking with the names and local times a table or calendar shows."""

    booking: Booking
    store: Store
    staff_name: str
    service_name: str
    customer: Customer
    tz: ZoneInfo

    @property
    def id(self) -> int:
        return self.booking.id

    @property
    def status(self) -> str:
        return self.booking.status

    @property
    def start_local(self) -> datetime:
        return self.booking.start_at.astimezone(self.tz)

    @property
    def end_local(self) -> datetime:
        return self.booking.end_at.astimezone(self.tz)

    @property
    def date_text(self) -> str:
        return fmt_date(self.start_local, fmt="medium")

    @property
    def time_text(self) -> str:
        start, end = fmt_time(self.booking.start_at, self.tz), fmt_time(self.booking.end_at,
                                                                         self.tz)
        return f"{start}–{end}"

    @property
    def customer_name(self) -> str:
        return self.customer.name or phones.display(self.customer.phone)


def rows_for(bookings: list[Booking]) -> list[Row]:
    """Hydrate bookings with store, staff, service and customer in four queries."""
    if not bookings:
        return []

    def by_id(model: Any, ids: set[int]) -> dict[int, Any]:
        return {o.id: o for o in db.session.scalars(select(model).where(model.id.in_(ids)))}

    stores = by_id(Store, {b.store_id for b in bookings})
    staff = by_id(StaffProfile, {b.staff_id for b in bookings})
    services = by_id(Service, {b.service_id for b in bookings})
    customers = by_id(Customer, {b.customer_id for b in bookings})
    out = []
    for b in bookings:
        store = stores[b.store_id]
        out.append(Row(booking=b, store=store,
                       staff_name=staff[b.staff_id].display_name if b.staff_id in staff else "",
                       service_name=services[b.service_id].name
                       if b.service_id in services else "",
                       customer=customers[b.customer_id], tz=tz_of(store)))
    return out


def staff_of_stores(store_ids: list[int], active_only: bool = True) -> list[StaffProfile]:
    """Staff members who work at any of these stores (a subquery, not DISTINCT: the
    profile has JSON columns, which PostgreSQL cannot compare)."""
    if not store_ids:
        return []
    query = (select(StaffProfile).where(StaffProfile.id.in_(
        select(staff_stores.c.staff_id).where(staff_stores.c.store_id.in_(store_ids))))
        .order_by(StaffProfile.id))
    if active_only:
        query = query.where(StaffProfile.active.is_(True))
    return list(db.session.scalars(query))


def page_number() -> int:
    from ..forms import optional_int

    return optional_int(request.args.get("page")) or 1
