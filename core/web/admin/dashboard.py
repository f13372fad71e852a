"""The back office's "Today" page: what the front desk and managers need at a glance.

Everything is counted per store-local day of the user's own stores: bookings by status,
per store and per staff member, the next bookings and how many wait for acceptance.
Plugins add widgets through ``fulian_dashboard_widgets`` (scoped to the same stores).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from flask import render_template
from markupsafe import Markup
from sqlalchemy import select

from ...db import utcnow
from ...extensions import db
from ...models import ACTIVE_STATUSES, Booking
from ...plugins import plugins
from ..session import back_office
from . import bp
from .ops_common import (
    current,
    in_local_days,
    rows_for,
    store_scope,
    today_in,
    visible_stores,
)

#: statuses that earn money (or will): the day's expected revenue
COUNTED = ("pending", "confirmed", "completed")
UPCOMING_LIMIT = 8


def _widgets(user: Any, store_ids: list[int]) -> list[dict[str, Any]]:
    """Plugin widgets, ordered; their HTML is the plugin's own (trusted like slots)."""
    found = plugins().call_flat("fulian_dashboard_widgets",
                                scope={"user": user, "store_ids": store_ids})
    widgets = []
    for w in found or []:
        if isinstance(w, dict) and w.get("html"):
            widgets.append({"key": w.get("key", ""), "title": w.get("title", ""),
                            "html": Markup(w["html"]), "order": w.get("order", 100)})
    return sorted(widgets, key=lambda w: w["order"])


@bp.get("/")
@back_office
def dashboard() -> Any:
    """Today in the user's stores."""
    user = current()
    stores = visible_stores(user)
    store_ids = [s.id for s in stores]
    today = {s.id: today_in(s) for s in stores}
    todays: list[Booking] = []
    for store in stores:  # each store's own local day
        todays.extend(db.session.scalars(
            select(Booking).where(in_local_days([store], today[store.id], today[store.id]))
            .order_by(Booking.start_at)))
    rows = rows_for(todays)
    by_status = Counter(r.status for r in rows)
    per_store: dict[int, Counter[str]] = defaultdict(Counter)
    revenue: Counter[int] = Counter()
    per_staff: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for r in rows:
        per_store[r.store.id][r.status] += 1
        per_staff[(r.booking.staff_id, r.staff_name)][r.status] += 1
        if r.status in COUNTED:
            revenue[r.store.id] += r.booking.price
    now = utcnow()
    upcoming = rows_for(list(db.session.scalars(
        select(Booking).where(store_scope(Booking.store_id, user),
                              Booking.status.in_(ACTIVE_STATUSES), Booking.end_at > now)
        .order_by(Booking.start_at, Booking.id).limit(UPCOMING_LIMIT))))
    earliest = min(today.values()) if today else now.date()
    pending = db.session.scalar(
        select(db.func.count()).select_from(Booking).where(
            store_scope(Booking.store_id, user), Booking.status == "pending",
            Booking.end_at > now)) or 0
    pending_args = {"status": "pending", "date_from": earliest.isoformat(),
                    "date_to": (earliest + timedelta(days=60)).isoformat()}
    staff_rows = sorted(per_staff.items(), key=lambda kv: (-sum(kv[1].values()), kv[0][1]))
    return render_template(
        "admin/dashboard.html", face="admin", stores=stores, today=today,
        total=len(rows), by_status=by_status, per_store=per_store, revenue=revenue,
        staff_rows=staff_rows, upcoming=upcoming, pending=pending, pending_args=pending_args,
        widgets=_widgets(user, store_ids), earliest=earliest)
