"""The staff app's own figures and schedule: performance per month, the weekly
availability template per store, published shifts, and time-off requests.

Time-off goes through the same validation schema and the same service call as
``POST /api/v1/staff/{id}/time-off``; the person's request is ``requested`` until a
manager of their store decides (a manager recording their own time-off gets it
approved, as in the API).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from ...api.resources.fields import week_dict
from ...api.resources.staff import TimeOffIn
from ...auth import policy
from ...errors import FulianError
from ...extensions import db
from ...models import Booking, OpeningHours, Roster, RosterShift, Service, Store, TimeOff
from ...models import WeeklyAvailability as Weekly
from ...org.hours import format_hours
from ...plugins import plugins
from ...scheduling import schedules
from ...scheduling.localtime import day_bounds
from ..forms import Form
from ..session import staff_only
from . import bp
from .common import Me, local_now, me

TIME_OFF_LABELS = {"requested": _l("requested"), "approved": _l("approved"),
                   "rejected": _l("rejected")}


@dataclass
class Month:
    """One month of the person's work: done, no-shows, revenue, per service."""

    first: date
    completed: int = 0
    no_shows: int = 0
    revenue: int = 0
    services: list[dict[str, Any]] = field(default_factory=list)


def _month_start(day: date, back: int = 0) -> date:
    year, month = day.year, day.month - back
    while month < 1:
        month += 12
        year -= 1
    return date(year, month, 1)


def _next_month(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def _month(who: Me, first: date) -> Month:
    start, _ = day_bounds(first, who.tz)
    end, _ = day_bounds(_next_month(first), who.tz)
    rows = db.session.execute(
        select(Booking.service_id, Booking.status, func.count(), func.sum(Booking.price))
        .where(Booking.staff_id == who.staff.id, Booking.start_at >= start,
               Booking.start_at < end, Booking.status.in_(("completed", "no_show")))
        .group_by(Booking.service_id, Booking.status)).all()
    month = Month(first)
    per: dict[int, dict[str, Any]] = {}
    for service_id, status, count, total in rows:
        entry = per.setdefault(service_id, {"completed": 0, "no_shows": 0, "revenue": 0})
        if status == "completed":
            month.completed += count
            month.revenue += int(total or 0)
            entry["completed"] += count
            entry["revenue"] += int(total or 0)
        else:
            month.no_shows += count
            entry["no_shows"] += count
    names = dict(db.session.execute(select(Service.id, Service.name).where(
        Service.id.in_(per))).all()) if per else {}
    month.services = sorted(({"name": names.get(sid, "?"), **v} for sid, v in per.items()),
                            key=lambda e: (-e["revenue"], -e["completed"], e["name"]))
    return month


@bp.get("/performance")
@staff_only
def performance() -> str:
    """This month and last month; ratings and commission only where a plugin has them."""
    who = me()
    today = local_now(who.tz).date()
    months = [_month(who, _month_start(today)), _month(who, _month_start(today, 1))]
    extra = plugins().slot("staff_performance", staff=who.staff, months=months)
    return render_template("staff/performance.html", face="staff", who=who, months=months,
                           extra=extra, today=today)


# ------------------------------------------------------------------------ schedule


def _weekly_text(staff_id: int, store: Store) -> str:
    """The template as the API shows it (GET /api/v1/staff/{id}/availability)."""
    rows = db.session.execute(select(Weekly.weekday, Weekly.start_min, Weekly.end_min).where(
        Weekly.staff_id == staff_id, Weekly.store_id == store.id)).all()
    return str(week_dict([tuple(r) for r in rows])["text"])


def _opening_text(store: Store) -> str:
    rows = db.session.execute(select(OpeningHours.weekday, OpeningHours.opens_min,
                                     OpeningHours.closes_min).where(
        OpeningHours.store_id == store.id)).all()
    return format_hours([tuple(r) for r in rows])


def _shifts(who: Me) -> list[dict[str, Any]]:
    """Upcoming shifts of published rosters (what availability uses for their weeks)."""
    today = local_now(who.tz).date()
    rows = db.session.execute(
        select(RosterShift.day, RosterShift.start_min, RosterShift.end_min, Store)
        .join(Roster, Roster.id == RosterShift.roster_id).join(Store, Store.id == Roster.store_id)
        .where(RosterShift.staff_id == who.staff.id, Roster.status == "published",
               RosterShift.day >= today, RosterShift.day <= today + timedelta(days=28))
        .order_by(RosterShift.day, RosterShift.start_min)).all()
    return [{"day": d, "start": f"{a // 60:02d}:{a % 60:02d}",
             "end": f"{b // 60:02d}:{b % 60:02d}", "store": s} for d, a, b, s in rows]


def _schedule_page(who: Me, form: Form, status: int = 200) -> Any:
    stores = [{"store": s, "text": _weekly_text(who.staff.id, s), "hours": _opening_text(s)}
              for s in who.staff.stores]
    time_off = db.session.scalars(select(TimeOff).where(TimeOff.staff_id == who.staff.id)
                                  .order_by(TimeOff.start_at.desc(), TimeOff.id.desc())
                                  .limit(30)).all()
    try:
        feed = url_for("calendar.staff_feed", token=who.staff.calendar_token, _external=True)
    except BuildError:  # the API is not mounted (pages-only tests)
        feed = ""
    return render_template("staff/schedule.html", face="staff", who=who, stores=stores,
                           shifts=_shifts(who), time_off=time_off, form=form,
                           zone=who.tz.key, labels=TIME_OFF_LABELS, feed=feed,
                           local=lambda dt: dt.astimezone(who.tz)), status


@bp.get("/schedule")
@staff_only
def schedule() -> Any:
    """My availability: weekly template per store, published shifts, time-off."""
    return _schedule_page(me(), Form())


def _local(value: str, tz: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` value (YYYY-MM-DDTHH:MM) as a wall-clock time in ``tz``."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return None
    return naive.replace(tzinfo=tz)


@bp.post("/schedule")
@staff_only
def request_time_off() -> Any:
    """Request time-off; the same schema and service as the API, errors per field."""
    who = me()
    form = Form.submitted()
    payload: dict[str, Any] = {"reason": form.get("reason")}
    for name in ("start_at", "end_at"):
        text = str(form.get(name))
        value = _local(text, who.tz) if text else None
        if not text:
            form.errors[name] = [_("Enter a date and time.")]
        elif value is None:
            form.errors[name] = [_("Not a valid date and time.")]
        else:
            payload[name] = value.isoformat()
    if not form.errors:
        try:
            data = TimeOffIn().load(payload)
        except ma.ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {}
            for key, msgs in messages.items():
                items = msgs if isinstance(msgs, list) else [msgs]
                form.errors[key if key in ("start_at", "end_at", "reason") else "end_at"] = \
                    [str(m) for m in items]
    if form.errors:
        form.message = _("Check the marked fields.")
        return _schedule_page(who, form, 422)
    status = "approved" if any(policy.administers(who.user, s.id) for s in who.staff.stores) \
        else "requested"
    try:
        schedules.add_time_off(who.staff.id, data["start_at"], data["end_at"],
                               reason=data["reason"].strip(), status=status)
    except FulianError as exc:
        db.session.rollback()
        form.fail(exc)
        if "end" in form.errors:
            form.errors["end_at"] = form.errors.pop("end")
        return _schedule_page(who, form, 422)
    flash(_("Time-off requested: a manager of your store will decide.") if status == "requested"
          else _("Time-off recorded."), "success")
    return redirect(url_for("staff_app.schedule"))


