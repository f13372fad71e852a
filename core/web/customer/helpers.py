"""What the customer pages compute but do not render: visibility through the API's own
rules, opening hours for people, and free days / slots from the availability engine.

Visibility is decided by the same functions the API answers with (active stores,
published services, public staff profiles), so a page never shows what
``GET /api/v1/...`` would refuse; refusals become a plain 404 page.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_skeleton, get_day_names
from flask import abort
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...api.resources.catalog import visible_service
from ...api.resources.fields import week_dict
from ...api.resources.stores import visible_store
from ...auth.policy import StaffVisibility
from ...db import utcnow
from ...errors import NotFound
from ...extensions import db
from ...models import Service, StaffProfile, Store, StoreHoliday, StoreServiceOffer
from ...scheduling.loader import StoreWindow, load_window
from ..session import page_user

#: parts of the day for grouping slots (local start hour below the bound)
DAY_PARTS = (("morning", _l("Morning"), 12), ("afternoon", _l("Afternoon"), 18),
             ("evening", _l("Evening"), 24))
MAX_CALENDAR_DAYS = 31  # the API's limit for one availability request


# --------------------------------------------------------------------- visibility


def store_or_404(store_id: int | None) -> Store:
    """An active store (or one the viewer manages), as ``GET /api/v1/stores/{id}``."""
    if store_id is None:
        abort(404)
    try:
        return visible_store(page_user(), store_id)
    except NotFound:
        abort(404)


def service_or_404(service_id: int | None) -> Service:
    """A published service (managers also see their unpublished ones), as the API."""
    if service_id is None:
        abort(404)
    try:
        return visible_service(page_user(), service_id)
    except NotFound:
        abort(404)


def staff_scope() -> StaffVisibility:
    return StaffVisibility(page_user())


def staff_or_404(staff_id: int | None) -> StaffProfile:
    """A public staff profile (active, at an active store), as ``GET /api/v1/staff/{id}``."""
    if staff_id is None:
        abort(404)
    staff = db.session.get(StaffProfile, staff_id)
    if staff is None or not staff_scope().visible(staff):
        abort(404)
    return staff


def public_staff(store_id: int | None = None, service_id: int | None = None
                 ) -> list[StaffProfile]:
    """Staff the viewer may see, optionally at one store and/or performing one service."""
    query = (select(StaffProfile).where(staff_scope().clause()).order_by(StaffProfile.id)
             .options(selectinload(StaffProfile.stores), selectinload(StaffProfile.services)))
    if store_id is not None:
        query = query.where(StaffProfile.stores.any(Store.id == store_id))
    if service_id is not None:
        query = query.where(StaffProfile.services.any(Service.id == service_id))
    return [s for s in db.session.scalars(query) if s.active]


def offered_services(store: Store) -> list[tuple[Service, int]]:
    """Published services offered at ``store`` with the store's price (override first)."""
    rows = db.session.execute(
        select(Service, StoreServiceOffer.price_override)
        .join(StoreServiceOffer, StoreServiceOffer.service_id == Service.id)
        .where(StoreServiceOffer.store_id == store.id, Service.published.is_(True))
        .options(selectinload(Service.category))
        .order_by(Service.category_id, Service.id)
    ).all()
    return [(svc, svc.price if override is None else override) for svc, override in rows]


def stores_offering(service: Service) -> list[tuple[Store, int]]:
    """Active stores offering ``service`` with their price."""
    rows = db.session.execute(
        select(Store, StoreServiceOffer.price_override)
        .join(StoreServiceOffer, StoreServiceOffer.store_id == Store.id)
        .where(StoreServiceOffer.service_id == service.id, Store.status == "active")
        .order_by(Store.id)
    ).all()
    return [(store, service.price if override is None else override) for store, override in rows]


def active_stores() -> list[Store]:
    return list(db.session.scalars(select(Store).where(Store.status == "active")
                                   .order_by(Store.id)))


# ------------------------------------------------------------------ presentation


def initials(name: str) -> str:
    """Avatar letters: the first character of a CJK name, else up to two initials."""
    words = [w for w in (name or "").split() if w]
    if not words:
        return "?"
    first = words[0]
    if not first.isascii():
        return first[0]
    return "".join(w[0] for w in words[:2]).upper()


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def opening_hours(store: Store) -> list[dict[str, Any]]:
    """Weekly hours as the API formats them (``week_dict``), grouped for people:
    consecutive days with equal hours share a row ("Mon – Fri 10:00–21:00")."""
    week = week_dict([(h.weekday, h.opens_min, h.closes_min) for h in store.opening_hours])
    by_day: dict[int, list[str]] = {d: [] for d in range(7)}
    for iv in week["intervals"]:
        by_day[iv["weekday"]].append(f"{_clock(iv['start'])}–{_clock(iv['end'])}")
    names = get_day_names("abbreviated", locale=get_locale())
    rows: list[dict[str, Any]] = []
    for day in range(7):
        text = ", ".join(by_day[day])
        if rows and rows[-1]["text"] == text and rows[-1]["last"] == day - 1:
            rows[-1]["last"] = day
        else:
            rows.append({"first": day, "last": day, "text": text})
    for row in rows:
        first, last = names[row["first"]], names[row["last"]]
        row["days"] = first if row["first"] == row["last"] else f"{first} – {last}"
        row["closed"] = not row["text"]
    return rows


def upcoming_holidays(store: Store, limit: int = 6) -> list[dict[str, Any]]:
    today = datetime.now(ZoneInfo(store.timezone)).date()
    rows = db.session.scalars(
        select(StoreHoliday).where(StoreHoliday.store_id == store.id, StoreHoliday.day >= today)
        .order_by(StoreHoliday.day).limit(limit))
    out = []
    for h in rows:
        hours = ""
        if not h.closed and h.opens_min is not None and h.closes_min is not None:
            hours = f"{_clock(h.opens_min)}–{_clock(h.closes_min)}"
        out.append({"day": h.day, "name": h.name, "hours": hours})
    return out


def local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz)


# ------------------------------------------------------------------- availability


@dataclass
class Month:
    """A month calendar of free days and, for one chosen day, its slots by day part."""

    tz: ZoneInfo
    year: int
    month: int
    today: date
    free_days: set[date] = field(default_factory=set)
    chosen: date | None = None
    slots: list[tuple[datetime, tuple[int, ...]]] = field(default_factory=list)
    staff_names: dict[int, str] = field(default_factory=dict)
    prev_month: str | None = None
    next_month: str | None = None

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def weeks(self) -> list[list[date | None]]:
        """Monday-first weeks; ``None`` pads days of other months."""
        weeks: list[list[date | None]] = []
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(self.year, self.month):
            weeks.append([d if d.month == self.month else None for d in week])
        return weeks

    def weekday_names(self) -> list[str]:
        names = get_day_names("narrow" if str(get_locale()).startswith("zh") else "abbreviated",
                              locale=get_locale())
        return [names[i] for i in range(7)]

    def title(self) -> str:
        return format_skeleton("yMMMM", date(self.year, self.month, 1), locale=get_locale())

    def parts(self) -> list[dict[str, Any]]:
        """Slots of the chosen day grouped into morning, afternoon and evening."""
        groups = []
        for key, label, bound in DAY_PARTS:
            lower = {"morning": 0, "afternoon": 12, "evening": 18}[key]
            items = [(start, staff) for start, staff in self.slots
                     if lower <= start.hour < bound]
            if items:
                groups.append({"key": key, "label": label, "slots": items})
        return groups


def parse_month(value: str | None, today: date) -> tuple[int, int]:
    try:
        year, month = (int(p) for p in (value or "").split("-"))
        date(year, month, 1)
    except (TypeError, ValueError):
        return today.year, today.month
    return year, month


def parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def _window(store: Store, service: Service, first: date, last: date, staff_id: int | None,
            exclude: int | None) -> StoreWindow:
    # The very loader behind GET /api/v1/stores/{id}/availability.
    return load_window(db.session.connection(), store.id, service.id, first, last,
                       staff_id=staff_id, exclude_booking_id=exclude)


def month_availability(store: Store, service: Service, *, staff_id: int | None,
                       month: str | None, day: str | None,
                       exclude_booking_id: int | None = None) -> Month:
    """Free days of a month and the slots of the chosen (or first free) day.

    Same engine, rules and policies as the availability API: the store's slot step,
    minimum notice, booking horizon, closures, rosters, time-off and bookings.
    """
    tz = ZoneInfo(store.timezone)
    today = datetime.now(tz).date()
    last_bookable = today + timedelta(days=store.horizon_days)
    chosen_day = parse_day(day)
    if chosen_day is not None and month is None:
        year, mon = chosen_day.year, chosen_day.month
    else:
        year, mon = parse_month(month, today)
    if (year, mon) < (today.year, today.month):
        year, mon = today.year, today.month
    if (year, mon) > (last_bookable.year, last_bookable.month):
        year, mon = last_bookable.year, last_bookable.month
    result = Month(tz=tz, year=year, month=mon, today=today)
    first = max(date(year, mon, 1), today)
    last = min(date(year, mon, calendar.monthrange(year, mon)[1]), last_bookable)
    if (year, mon) > (today.year, today.month):
        prev = date(year, mon, 1) - timedelta(days=1)
        result.prev_month = f"{prev.year:04d}-{prev.month:02d}"
    if (year, mon) < (last_bookable.year, last_bookable.month):
        nxt = date(year, mon, 28) + timedelta(days=4)
        result.next_month = f"{nxt.year:04d}-{nxt.month:02d}"
    if first > last:
        return result
    window = _window(store, service, first, last, staff_id, exclude_booking_id)
    result.staff_names = dict(window.staff_names)
    now = int(utcnow().timestamp())
    by_day: dict[date, list[tuple[datetime, tuple[int, ...]]]] = {}
    for ts, staff in window.slots(now):
        start = datetime.fromtimestamp(ts, tz)
        by_day.setdefault(start.date(), []).append((start, tuple(staff)))
    result.free_days = set(by_day)
    if chosen_day is None or chosen_day not in by_day:
        if chosen_day is not None and first <= chosen_day <= last:
            result.chosen = chosen_day  # shown as chosen, with "no free time" below
        elif by_day:
            result.chosen = min(by_day)
    else:
        result.chosen = chosen_day
    if result.chosen is not None:
        result.slots = by_day.get(result.chosen, [])
    return result


def day_label(day: date, skeleton: str = "MMMEd") -> str:
    """A short local date ("5月3日周日", "Sun, May 3"); dates carry no zone to convert."""
    return format_skeleton(skeleton, day, locale=get_locale())


def full_day(day: date) -> str:
    return babel_format_date(day, "full", locale=get_locale())


def clock(moment: datetime) -> str:
    """Wall-clock time of an aware datetime already in the store's zone (never rebased)."""
    return moment.strftime("%H:%M")


def parse_start(value: str | None) -> datetime | None:
    """A slot start from the URL (ISO 8601 with offset); naive or bad values are None."""
    try:
        start = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return start if start.tzinfo is not None else None
