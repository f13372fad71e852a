"""The back office calendar of one store: a day (a column per staff member, rows of half
an hour from opening to closing, bookings as blocks) or a week (a column per day).

Rows are laid out on a CSS grid of 5-minute tracks so that a booking's block starts and
ends where it really does; all times are the store's wall clock.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from flask import abort, render_template, request
from sqlalchemy import select

from ...extensions import db
from ...models import Booking, StaffProfile, Store
from ..session import back_office
from . import bp
from .ops_common import (
    Row,
    arg_int,
    current,
    in_local_days,
    parse_date,
    rows_for,
    staff_of_stores,
    store_or_404,
    today_in,
    visible_stores,
)

TRACK_MIN = 5  # one grid row
LABEL_EVERY = 30  # one labelled band
HIDDEN = ("cancelled", "declined")  # freed time: not drawn as blocks
DEFAULT_HOURS = (9 * 60, 21 * 60)


def _hours(store: Store, day: date) -> list[tuple[int, int]]:
    """Opening intervals (local minutes) of the store on ``day``; [] when closed."""
    for holiday in store.holidays:
        if holiday.day == day:
            if holiday.closed or holiday.opens_min is None or holiday.closes_min is None:
                return []
            return [(holiday.opens_min, holiday.closes_min)]
    return [(h.opens_min, h.closes_min) for h in store.opening_hours
            if h.weekday == day.weekday()]


def _bookings(store: Store, day_from: date, day_to: date) -> list[Row]:
    found = db.session.scalars(
        select(Booking).where(in_local_days([store], day_from, day_to),
                              Booking.status.not_in(HIDDEN))
        .order_by(Booking.start_at, Booking.id))
    return rows_for(list(found))


def _minutes(row: Row, attr: str) -> int:
    value = row.start_local if attr == "start" else row.end_local
    return value.hour * 60 + value.minute


def _day(store: Store, day: date) -> dict[str, Any]:
    hours = _hours(store, day)
    rows = _bookings(store, day, day)
    staff = staff_of_stores([store.id])
    known = {s.id for s in staff}
    extra = {r.booking.staff_id for r in rows} - known  # e.g. someone who left the store
    if extra:
        staff += list(db.session.scalars(select(StaffProfile).where(StaffProfile.id.in_(extra))
                                         .order_by(StaffProfile.id)))
    start, end = (min(a for a, _ in hours), max(b for _, b in hours)) if hours \
        else DEFAULT_HOURS
    for r in rows:  # never cut a booking off, even outside opening hours
        start = min(start, _minutes(r, "start"))
        end = max(end, _minutes(r, "end") if r.end_local.date() == day else 24 * 60)
    start = start // LABEL_EVERY * LABEL_EVERY
    end = -(-end // LABEL_EVERY) * LABEL_EVERY
    column = {s.id: i + 2 for i, s in enumerate(staff)}
    blocks = []
    for r in rows:
        a = _minutes(r, "start")
        b = _minutes(r, "end") if r.end_local.date() == day else 24 * 60
        blocks.append({"row": r, "col": column[r.booking.staff_id],
                       "from": (a - start) // TRACK_MIN + 2,
                       "to": max((b - start) // TRACK_MIN + 2, (a - start) // TRACK_MIN + 3),
                       "short": b - a <= 30})
    bands = [{"minute": m, "label": f"{m // 60:02d}:{m % 60:02d}",
              "row": (m - start) // TRACK_MIN + 2,
              "open": any(a <= m < b for a, b in hours)}
             for m in range(start, end, LABEL_EVERY)]
    return {"staff": staff, "blocks": blocks, "bands": bands,
            "tracks": (end - start) // TRACK_MIN, "per_band": LABEL_EVERY // TRACK_MIN,
            "closed": not hours, "count": len(rows)}


def _week(store: Store, day: date) -> dict[str, Any]:
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=i) for i in range(7)]
    rows = _bookings(store, days[0], days[-1])
    grouped: dict[date, dict[str, list[Row]]] = {d: defaultdict(list) for d in days}
    for r in rows:
        grouped[r.start_local.date()][r.staff_name].append(r)
    return {"days": [{"day": d, "closed": not _hours(store, d),
                      "staff": sorted(grouped[d].items()),
                      "count": sum(len(v) for v in grouped[d].values())} for d in days],
            "count": len(rows)}


@bp.get("/calendar")
@back_office
def calendar() -> Any:
    """Day or week calendar of one of the user's stores."""
    user = current()
    stores = visible_stores(user)
    if not stores:
        return render_template("admin/calendar.html", face="admin", stores=[], store=None)
    store_id = arg_int("store")
    if request.args.get("store") and store_id is None:
        abort(404)
    store = store_or_404(user, store_id) if store_id else stores[0]
    today = today_in(store)
    day = parse_date(request.args.get("date")) or today
    view = request.args.get("view", "day")
    if view not in ("day", "week"):
        view = "day"
    step = timedelta(days=7 if view == "week" else 1)
    data = _day(store, day) if view == "day" else _week(store, day)
    return render_template(
        "admin/calendar.html", face="admin", stores=stores, store=store, day=day,
        today=today, view=view, prev=day - step, next=day + step, data=data,
        week_start=day - timedelta(days=day.weekday()))
