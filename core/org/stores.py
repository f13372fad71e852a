"""Stores: create, update, list. The only writer of store rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import validation as v
from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import STORE_STATUSES, OpeningHours, Store, StoreHoliday
from .hours import parse_hours


class StoreSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=v.valid_code)
    name = ma.fields.String(required=True, validate=[v.not_blank, v.length(120)])
    timezone = ma.fields.String(required=True, validate=v.valid_timezone)
    address = ma.fields.String(validate=v.length(300))
    phone = ma.fields.String(validate=v.valid_phone)
    status = ma.fields.String(validate=ma.validate.OneOf(STORE_STATUSES))


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
