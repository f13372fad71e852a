"""Free slots of a store for a service, as customers and front desks see them.

The hottest public read: served from the per-process availability cache
(:mod:`core.scheduling.cache`) and serialised by hand (marshmallow took longer than
everything else for a month of a large store: one list entry per person and start), with
an ``ETag`` of the body so that a client or proxy asking again gets ``304``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Response, current_app
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select
from werkzeug.http import parse_etags

from .. import validation as v
from ..db import utcnow
from ..errors import ValidationFailed
from ..extensions import db
from ..models import Store
from ..scheduling import cache
from .common import PUBLIC, Id, not_found

blp = Blueprint("availability", __name__, url_prefix="/api/v1",
                description="Availability of stores, services and staff")
MAX_DAYS = 31


class AvailabilityQuery(ma.Schema):
    service_id = Id(strict=False, required=True)
    staff_id = Id(strict=False, load_default=None, allow_none=True,
                  metadata={"description": "omit for any staff member"})
    date_from = v.Day(load_default=None, metadata={"description": "store-local date"})
    date_to = v.Day(load_default=None,
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


CACHE_HEADERS = {
    "ETag": {"description": "Tag of this answer; send it as If-None-Match to get 304 "
                            "while nothing changed", "schema": {"type": "string"}},
    "Cache-Control": {"description": "no-cache: may be stored, but ask again (with "
                                     "If-None-Match) before using it",
                      "schema": {"type": "string"}},
}


class Revalidation(ma.Schema):
    if_none_match = ma.fields.String(
        data_key="If-None-Match", load_default=None, validate=v.length(2000),
        metadata={"description": "ETags of earlier answers"})


@blp.get("/stores/<id:store_id>/availability")
@blp.doc(**PUBLIC)
@blp.arguments(AvailabilityQuery, location="query")
@blp.arguments(Revalidation, location="headers")
@blp.response(200, AvailabilitySchema, headers=CACHE_HEADERS)
@blp.alt_response(304, description="Not modified: the If-None-Match tag is still current",
                  headers=CACHE_HEADERS)
def availability(query: dict[str, Any], headers: dict[str, Any], store_id: int) -> Response:
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
    window = cache.window(conn, store_id, query["service_id"], start, end,
                          staff_id=query["staff_id"])
    if not window.found:
        raise not_found(_l("Store"))
    body = _body(store_id, query["service_id"], window.tz, window.day_from, window.day_to,
                 window.slots(int(utcnow().timestamp())), window.duration_min * 60)
    etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
    reply = {"ETag": etag, "Cache-Control": "no-cache"}
    if parse_etags(headers["if_none_match"]).contains(etag.strip('"')):
        return Response(status=304, headers=reply)
    return current_app.response_class(body, mimetype="application/json", headers=reply)


def _body(store_id: int, service_id: int, tz: ZoneInfo, start: date, end: date,
          slots: list[tuple[int, tuple[int, ...]]], duration: int) -> bytes:
    """The JSON of :class:`AvailabilitySchema`, keys sorted and compact like ``jsonify``.

    Staff lists and local times repeat from request to request (the cache hands out the
    same days again), so both are memoised.
    """
    parts = [f'{{"end":"{_iso(ts + duration, tz)}","staff_ids":[{_ids(staff)}],'
             f'"start":"{_iso(ts, tz)}"}}' for ts, staff in slots]
    return (f'{{"date_from":"{start.isoformat()}","date_to":"{end.isoformat()}",'
            f'"service_id":{int(service_id)},"slots":[{",".join(parts)}],'
            f'"store_id":{int(store_id)},"timezone":{json.dumps(tz.key)}}}\n').encode()


@lru_cache(maxsize=8192)
def _ids(staff: tuple[int, ...]) -> str:
    return ",".join(map(str, staff))


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"date_to": [_l("Must not be before date_from.")]})
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"date_to": [_l("At most %(n)d days at once.",
                                                            n=MAX_DAYS)]})


@lru_cache(maxsize=65536)
def _iso(ts: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


def _store_today(store_id: int) -> date:
    tzname = db.session.execute(select(Store.timezone).where(Store.id == store_id)).scalar()
    if tzname is None:
        raise not_found(_l("Store"))
    return datetime.now(ZoneInfo(tzname)).date()
