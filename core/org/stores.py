"""Stores: create, update, list. The only writer of store rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import validation as v
from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import STORE_STATUSES, OpeningHours, Store, StoreHoliday
from .hours import parse_hours

#: Allowed values of the booking-policy columns (see the checks on ``stores``).
SLOT_STEPS = (5, 10, 15, 20, 30, 60)
TIMEOUT_ACTIONS = ("decline", "reassign")


class StoreSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=v.valid_code)
    name = ma.fields.String(required=True, validate=[v.not_blank, v.length(120)])
    timezone = ma.fields.String(required=True, validate=v.valid_timezone)
    address = ma.fields.String(validate=v.length(300))
    phone = ma.fields.String(validate=v.valid_phone)
    status = ma.fields.String(validate=ma.validate.OneOf(STORE_STATUSES))
    # Booking policy (minutes unless named otherwise); bounds match the table's checks.
    acceptance_required = ma.fields.Boolean()
    acceptance_timeout_min = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=5, max=10080, error=str(_l("Between 5 and 10080 minutes."))))
    acceptance_timeout_action = ma.fields.String(validate=ma.validate.OneOf(TIMEOUT_ACTIONS))
    cancel_window_min = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=0, max=43200, error=str(_l("Between 0 and 43200 minutes."))))
    reschedule_window_min = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=0, max=43200, error=str(_l("Between 0 and 43200 minutes."))))
    slot_step_min = ma.fields.Integer(strict=True, validate=ma.validate.OneOf(SLOT_STEPS))
    min_notice_min = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=0, max=43200, error=str(_l("Between 0 and 43200 minutes."))))
    horizon_days = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=1, max=365, error=str(_l("Between 1 and 365 days."))))
    # Money policy: percents of the order's total.
    deposit_percent = ma.fields.Integer(strict=True, validate=v.percent())
    late_cancel_window_min = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=0, max=43200, error=str(_l("Between 0 and 43200 minutes."))))
    late_cancel_fee_percent = ma.fields.Integer(strict=True, validate=v.percent())
    no_show_fee_percent = ma.fields.Integer(strict=True, validate=v.percent())


def get_store(ref: str | int) -> Store:
    """Find a store by id or code."""
    store = None
    if isinstance(ref, int) or str(ref).isdigit():
        store = db.session.get(Store, int(ref))
    if store is None:
        store = db.session.scalars(select(Store).where(Store.code == str(ref))).first()
    if store is None:
        raise NotFound(_l("No store %(ref)s.", ref=ref))
    return store


def list_stores(status: str | None = None) -> list[Store]:
    query = select(Store).order_by(Store.id)
    if status:
        query = query.where(Store.status == status)
    return list(db.session.scalars(query))


def _apply_hours(store: Store, hours: str) -> None:
    rows = parse_hours(hours)
    store.opening_hours.clear()
    db.session.flush()
    for weekday, opens, closes in rows:
        store.opening_hours.append(OpeningHours(weekday=weekday, opens_min=opens,
                                                closes_min=closes))


def create_store(data: dict[str, Any], hours: str | None = None) -> Store:
    values = v.load(StoreSchema(), {k: val for k, val in data.items() if val is not None})
    if hours:
        parse_hours(hours)  # validate before writing anything
    with write_transaction() as session:
        if session.scalars(select(Store.id).where(Store.code == values["code"])).first():
            raise Conflict(_l("A store with code %(code)s already exists.", code=values["code"]),
                           field_errors={"code": [_l("Already taken.")]})
        store = Store(**values)
        session.add(store)
        if hours:
            _apply_hours(store, hours)
    return store


def update_store(ref: str | int, data: dict[str, Any], hours: str | None = None,
                 holidays: list[tuple[date, str]] | None = None) -> Store:
    values = v.load(StoreSchema(), {k: val for k, val in data.items() if val is not None},
                    partial=True)
    if hours:
        parse_hours(hours)
    if not values and not hours and not holidays:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    with write_transaction() as session:
        store = get_store(ref)
        if "code" in values and values["code"] != store.code and session.scalars(
            select(Store.id).where(Store.code == values["code"])
        ).first():
            raise Conflict(_l("A store with code %(code)s already exists.", code=values["code"]),
                           field_errors={"code": [_l("Already taken.")]})
        for key, value in values.items():
            setattr(store, key, value)
        if hours:
            _apply_hours(store, hours)
        for day, name in holidays or []:
            existing = next((h for h in store.holidays if h.day == day), None)
            if existing is None:
                store.holidays.append(StoreHoliday(day=day, name=name, closed=True))
            else:
                existing.name, existing.closed = name, True
    return store


class HolidaySchema(ma.Schema):
    """A dated exception: closed all day (no times) or open ``opens_min``-``closes_min``."""

    day = ma.fields.Date(required=True)
    name = ma.fields.String(load_default="", validate=v.length(120))
    opens_min = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                  validate=ma.validate.Range(min=0, max=1440))
    closes_min = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=ma.validate.Range(min=0, max=1440))

    @ma.validates_schema
    def _times(self, data: dict[str, Any], **_kwargs: Any) -> None:
        opens, closes = data.get("opens_min"), data.get("closes_min")
        if (opens is None) != (closes is None):
            field = "closes_min" if closes is None else "opens_min"
            raise ma.ValidationError(gettext("Give both the opening and the closing time, "
                                             "or neither for a closed day."), field_name=field)
        if opens is not None and closes is not None and opens >= closes:
            raise ma.ValidationError(gettext("The store must open before it closes."),
                                     field_name="closes_min")


def set_holiday(ref: str | int, data: dict[str, Any]) -> StoreHoliday:
    """Create or replace the store's exception for one day (special hours or closed)."""
    values = v.load(HolidaySchema(), data)
    with write_transaction():
        store = get_store(ref)
        holiday = next((h for h in store.holidays if h.day == values["day"]), None)
        if holiday is None:
            holiday = StoreHoliday(day=values["day"])
            store.holidays.append(holiday)
        holiday.name = values["name"]
        holiday.closed = values["opens_min"] is None
        holiday.opens_min, holiday.closes_min = values["opens_min"], values["closes_min"]
    return holiday


def remove_holiday(ref: str | int, day: date) -> None:
    """Delete the store's exception for ``day`` (NotFound if it has none)."""
    with write_transaction():
        store = get_store(ref)
        holiday = next((h for h in store.holidays if h.day == day), None)
        if holiday is None:
            raise NotFound(_l("No exception on %(day)s.", day=day.isoformat()))
        store.holidays.remove(holiday)
