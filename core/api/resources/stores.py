"""Stores: browse, configure (details, booking policy, opening hours, dated exceptions).

Active stores are public (customers browse them without logging in); closed stores are
seen only by those who manage them. Only the owner and brand admins open stores; a
store's managers change it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ... import validation as v
from ...auth import policy
from ...errors import ValidationFailed
from ...extensions import db
from ...models import STORE_STATUSES, Store, StoreHoliday, User
from ...org import stores as service
from ...org.hours import format_hours
from ..common import OPTIONAL_LOGIN, Forbidden, audited, current_user, not_found, require_user
from .access import in_scope, require_brand_admin
from .fields import WEEK_BODY, ClockTime, WeekIn, WeekOut, week_dict, week_rows
from .pagination import PageQuery, page_schema, paginate

blp = Blueprint("stores", __name__, url_prefix="/api/v1/stores",
                description="Stores: details, booking policy, opening hours, closures")

POLICY_FIELDS = ("acceptance_required", "acceptance_timeout_min", "acceptance_timeout_action",
                 "cancel_window_min", "reschedule_window_min", "slot_step_min",
                 "min_notice_min", "horizon_days", "deposit_percent", "late_cancel_window_min",
                 "late_cancel_fee_percent", "no_show_fee_percent")


class StoreOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    address = ma.fields.String()
    phone = ma.fields.String()
    timezone = ma.fields.String()
    status = ma.fields.String()
    hours = ma.fields.String(metadata={"description": 'opening hours, e.g. "mon-sun '
                                                      '09:00-21:00"'})
    acceptance_required = ma.fields.Boolean(
        metadata={"description": "new online bookings wait for the store to confirm"})
    acceptance_timeout_min = ma.fields.Integer()
    acceptance_timeout_action = ma.fields.String()
    cancel_window_min = ma.fields.Integer(
        metadata={"description": "customers may cancel until this many minutes before"})
    reschedule_window_min = ma.fields.Integer()
    slot_step_min = ma.fields.Integer()
    min_notice_min = ma.fields.Integer()
    horizon_days = ma.fields.Integer()
    deposit_percent = ma.fields.Integer(
        metadata={"description": "percent of the price asked up front"})
    late_cancel_window_min = ma.fields.Integer(
        metadata={"description": "a customer's cancellation this close to the start is late"})
    late_cancel_fee_percent = ma.fields.Integer()
    no_show_fee_percent = ma.fields.Integer()


class StoreQuery(PageQuery):
    status = ma.fields.String(validate=ma.validate.OneOf(STORE_STATUSES))
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                         metadata={"description": "part of the name, code or address"})


class StoreIn(service.StoreSchema):
    acceptance_required = v.Flag()
    hours = ma.fields.String(validate=ma.validate.Length(max=1000),
                             metadata={"description": 'e.g. "mon-fri 09:00-21:00; sat,sun '
                                                      '10:00-18:00"'})


class StoreUpdate(v.Change, StoreIn):
    hours = ma.fields.String(validate=[v.not_blank, v.length(1000)], metadata={
        "description": "the new opening hours (close the store with status instead)"})

    class Meta:
        exclude = ("code", "timezone")


class HoursOut(WeekOut):
    store_id = ma.fields.Integer()


class HolidayIn(ma.Schema):
    day = v.Day(required=True)
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=120))
    opens = ClockTime(load_default=None, allow_none=True,
                      metadata={"description": "special opening time; omit both times for a "
                                               "day closed all day"})
    closes = ClockTime(load_default=None, allow_none=True)


class HolidayOut(ma.Schema):
    id = ma.fields.Integer()
    day = ma.fields.Date()
    name = ma.fields.String()
    closed = ma.fields.Boolean()
    opens = ClockTime(allow_none=True)
    closes = ClockTime(allow_none=True)


class HolidayQuery(PageQuery):
    date_from = v.Day()
    date_to = v.Day()


def store_dict(store: Store) -> dict[str, Any]:
    out = {key: getattr(store, key) for key in
           ("id", "code", "name", "address", "phone", "timezone", "status", *POLICY_FIELDS)}
    out["hours"] = format_hours([(h.weekday, h.opens_min, h.closes_min)
                                 for h in store.opening_hours])
    return out


def holiday_dict(h: StoreHoliday) -> dict[str, Any]:
    return {"id": h.id, "day": h.day, "name": h.name, "closed": h.closed,
            "opens": h.opens_min, "closes": h.closes_min}


def visible_store(user: User | None, store_id: int) -> Store:
    """The store if the caller may see it (active, or one they manage), else 404."""
    store = db.session.get(Store, store_id)
    if store is None or (store.status != "active"
                         and (user is None or not policy.can_manage_store(user, store.id))):
        raise not_found(_l("Store"))
    return store


def administered_store(store_id: int) -> tuple[User, Store]:
    """The store for a change by its managers: 401 anonymous, 404 unseen, 403 otherwise."""
    user = require_user()
    store = visible_store(user, store_id)
    if not policy.administers(user, store.id):
        raise Forbidden(_l("Only the store's managers may change it."))
    return user, store


def visible_store_clause(user: User | None) -> Any:
    """SQL: the stores the caller may see."""
    managed = policy.managed_store_ids(user) if user is not None else set()
    return or_(Store.status == "active", in_scope(Store.id, managed))


@blp.get("")
@blp.doc(**OPTIONAL_LOGIN)
@blp.arguments(StoreQuery, location="query")
@blp.response(200, page_schema(StoreOut))
def list_stores(args: dict[str, Any]) -> dict[str, Any]:
    """Stores, by id. Anyone sees the active ones; managers also their closed stores."""
    user = current_user()
    query = (select(Store).where(visible_store_clause(user)).order_by(Store.id)
             .options(selectinload(Store.opening_hours)))
    if args.get("status"):
        query = query.where(Store.status == args.get("status"))
    if args.get("q"):
        q = args["q"].strip()
        query = query.where(or_(Store.name.icontains(q, autoescape=True),
                                Store.code.icontains(q, autoescape=True),
                                Store.address.icontains(q, autoescape=True)))
    return paginate(query, args, lambda rows: [store_dict(s) for s in rows])


@blp.post("")
@blp.arguments(StoreIn)
@blp.response(201, StoreOut)
@audited
def create_store(data: dict[str, Any]) -> dict[str, Any]:
    """Open a store (owner and brand admins). ``code`` is unique (409 if taken)."""
    user = require_user()
    require_brand_admin(user)
    hours = data.pop("hours", None)
    store = service.create_store(data, hours=hours or None)
    return store_dict(store)


@blp.get("/<id:store_id>")
@blp.doc(**OPTIONAL_LOGIN)
@blp.response(200, StoreOut)
def read_store(store_id: int) -> dict[str, Any]:
    """A store (closed ones only for those who manage it)."""
    return store_dict(visible_store(current_user(), store_id))


@blp.patch("/<id:store_id>")
@blp.arguments(StoreUpdate(partial=True))
@blp.response(200, StoreOut)
@audited
def update_store(data: dict[str, Any], store_id: int) -> dict[str, Any]:
    """Change a store's details, status, booking policy or hours (its managers)."""
    _, store = administered_store(store_id)
    return store_dict(service.update_store(store.id, data, hours=data.pop("hours", None)))


@blp.get("/<id:store_id>/hours")
@blp.doc(**OPTIONAL_LOGIN)
@blp.response(200, HoursOut)
def read_hours(store_id: int) -> dict[str, Any]:
    """Weekly opening hours as text and as intervals (local wall-clock times)."""
    store = visible_store(current_user(), store_id)
    rows = [(h.weekday, h.opens_min, h.closes_min) for h in store.opening_hours]
    return {"store_id": store.id, **week_dict(rows)}


@blp.put("/<id:store_id>/hours")
@blp.arguments(WeekIn)
@blp.doc(**WEEK_BODY)
@blp.response(200, HoursOut)
@audited
def replace_hours(data: dict[str, Any], store_id: int) -> dict[str, Any]:
    """Replace the weekly opening hours. Send ``{"text": "mon-fri 09:00-21:00"}`` or
    ``{"intervals": [{"weekday": 0, "start": "09:00", "end": "21:00"}, ...]}``; several
    intervals on one day make a break. At least one interval; 422 when the text does not
    parse or an interval ends before it starts."""
    _, store = administered_store(store_id)
    text, rows = week_rows(data)
    if not rows:
        field = "text" if "text" in data else "intervals"
        raise ValidationFailed(_l("The input is not valid."), field_errors={field: [
            _l("Give at least one opening interval; close the store with status instead.")]})
    store = service.update_store(store.id, {}, hours=text)
    return {"store_id": store.id,
            **week_dict([(h.weekday, h.opens_min, h.closes_min) for h in store.opening_hours])}


@blp.get("/<id:store_id>/holidays")
@blp.doc(**OPTIONAL_LOGIN)
@blp.arguments(HolidayQuery, location="query")
@blp.response(200, page_schema(HolidayOut))
def list_holidays(args: dict[str, Any], store_id: int) -> dict[str, Any]:
    """Dated exceptions (closed days, special hours), by day."""
    store = visible_store(current_user(), store_id)
    query = (select(StoreHoliday).where(StoreHoliday.store_id == store.id)
             .order_by(StoreHoliday.day, StoreHoliday.id))
    if args.get("date_from"):
        query = query.where(StoreHoliday.day >= args.get("date_from"))
    if args.get("date_to"):
        query = query.where(StoreHoliday.day <= args.get("date_to"))
    return paginate(query, args, lambda rows: [holiday_dict(h) for h in rows])


@blp.post("/<id:store_id>/holidays")
@blp.arguments(HolidayIn)
@blp.response(201, HolidayOut)
@audited
def set_holiday(data: dict[str, Any], store_id: int) -> dict[str, Any]:
    """Close the store on a day, or give it special hours (``opens``/``closes``). Replaces
    an existing exception on that day. 422 when only one of the times is given or the
    store would close before it opens."""
    _, store = administered_store(store_id)
    try:
        holiday = service.set_holiday(store.id, {
            "day": data["day"].isoformat(), "name": data["name"],
            "opens_min": data["opens"], "closes_min": data["closes"]})
    except ValidationFailed as exc:
        names = {"opens_min": "opens", "closes_min": "closes"}
        raise ValidationFailed(exc.message, field_errors={
            names.get(k, k): m for k, m in exc.field_errors.items()}) from exc
    return holiday_dict(holiday)


@blp.delete("/<id:store_id>/holidays/<day:day>")
@blp.response(204)
@audited
def delete_holiday(store_id: int, day: date) -> None:
    """Remove the exception on ``day`` (YYYY-MM-DD); 404 if there is none."""
    _, store = administered_store(store_id)
    service.remove_holiday(store.id, day)
