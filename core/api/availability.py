"""Free slots of a store for a service, as customers and front desks see them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from ..db import utcnow
from ..errors import ValidationFailed
from ..extensions import db
from ..scheduling.loader import load_window
from .common import Id, not_found

blp = Blueprint("availability", __name__, url_prefix="/api/v1",
                description="Availability of stores, services and staff")
MAX_DAYS = 31


class AvailabilityQuery(ma.Schema):
    service_id = Id(strict=False, required=True)
    staff_id = Id(strict=False, load_default=None, allow_none=True,
                  metadata={"description": "omit for any staff member"})
    date_from = ma.fields.Date(load_default=None, metadata={"description": "store-local date"})
    date_to = ma.fields.Date(load_default=None,
                             metadata={"description": f"inclusive; at most {MAX_DAYS} days"})


class SlotSchema(ma.Schema):
    start = ma.fields.String(metadata={"description": "ISO 8601 with the store's offset"})
    end = ma.fields.String()
    staff_ids = ma.fields.List(ma.fields.Integer())


class AvailabilitySchema(ma.Schema):
    store_id = ma.fields.Integer()
    service_id = ma.fields.Integer()
    timezone = ma.fields.String()
    date_from = ma.fields.Date()
    date_to = ma.fields.Date()
    slots = ma.fields.List(ma.fields.Nested(SlotSchema))


@blp.get("/stores/<id:store_id>/availability")
@blp.arguments(AvailabilityQuery, location="query")
@blp.response(200, AvailabilitySchema)
def availability(query: dict[str, Any], store_id: int) -> dict[str, Any]:
    """Bookable start times in the store's time zone, each with who can take it.

    422 when ``date_to`` is before ``date_from`` (today when omitted).

    Times honour the service duration and buffers, the store's slot step (aligned to
    local wall-clock time), minimum notice, booking horizon, closures, rosters, time-off
    and existing bookings. Daylight-saving changes are handled in the store's zone.
    """
    conn = db.session.connection()
    start = query["date_from"]
    end = query["date_to"]
    if start is None and end is not None:
        # "Today" needs the store's zone before the range can be checked: one extra read.
        start = _store_today(store_id)
    elif start is not None and end is None:
        end = start + timedelta(days=6)
    if start is not None and end is not None:
        _check_range(start, end)
    # With neither date given the loader resolves this week in the store's zone from its
    # first query (no extra read for the common customer request).
    window = load_window(conn, store_id, query["service_id"], start, end,
                         staff_id=query["staff_id"])
    if not window.found:
        raise not_found(_l("Store"))
    start, end = window.day_from, window.day_to
    now = int(utcnow().timestamp())
    duration = window.duration_min * 60
    tz = window.tz
    slots = [
        {"start": _iso(ts, tz), "end": _iso(ts + duration, tz), "staff_ids": list(staff)}
        for ts, staff in window.slots(now)
    ]
    return {"store_id": store_id, "service_id": query["service_id"], "timezone": str(tz.key),
            "date_from": start, "date_to": end, "slots": slots}


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"date_to": [_l("Must not be before date_from.")]})
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"date_to": [_l("At most %(n)d days at once.",
                                                            n=MAX_DAYS)]})


def _iso(ts: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


def _store_today(store_id: int) -> date:
    from ..models import Store

    tzname = db.session.get(Store, store_id)
    if tzname is None:
        raise not_found(_l("Store"))
    return datetime.now(ZoneInfo(tzname.timezone)).date()
