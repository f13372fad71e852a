"""Staff profiles: a user who performs services at one or more stores."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import phones
from .. import validation as v
from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import Service, StaffProfile, Store, User
from .stores import get_store
from .users import _validated, grant, new_user


class StaffSchema(ma.Schema):
    title = ma.fields.String(validate=v.length(120))
    level = ma.fields.String(validate=v.length(40))
    bio = ma.fields.String(validate=v.length(4000))
    photo_url = ma.fields.String(allow_none=True, validate=v.length(500))
    specialities = ma.fields.List(ma.fields.String(validate=v.length(40)))


def _services(refs: list[str]) -> list[Service]:
    found: list[Service] = []
    for ref in refs:
        svc = None
        if str(ref).isdigit():
            svc = db.session.get(Service, int(ref))
        if svc is None:
            svc = db.session.scalars(select(Service).where(Service.name == str(ref))).first()
        if svc is None:
            raise NotFound(_l("No service %(ref)s.", ref=ref),
                           field_errors={"service": [_l("Unknown service.")]})
        found.append(svc)
    return found


def add_staff(user_data: dict[str, Any], profile: dict[str, Any], stores: list[str],
              services: list[str] | None = None) -> StaffProfile:
    """Create the user (if the email/phone is new), the staff role and the profile."""
    if not stores:
        raise ValidationFailed(_l("A staff member works at one store at least."),
                               field_errors={"store": [_l("Missing data for required field.")]})
    profile_values = v.load(StaffSchema(), {k: val for k, val in profile.items()
                                            if val is not None})
    with write_transaction() as session:
        store_rows: list[Store] = [get_store(ref) for ref in stores]
        service_rows = _services(services or [])
        user = None
        email = user_data.get("email")
        phone = phones.lookup_key(user_data.get("phone"))  # E.164, any spelling
        if email:
            user = session.scalars(select(User).where(User.email == str(email).lower())
                                   ).first()
        elif phone:
            user = session.scalars(select(User).where(User.phone == phone)).first()
        if user is None:
            user = new_user(_validated(user_data))
            session.flush()
        elif session.scalars(select(StaffProfile.id).where(StaffProfile.user_id == user.id)
                             ).first():
            raise Conflict(_l("%(name)s already has a staff profile.", name=user.name))
        grant(user, "staff", [str(s.id) for s in store_rows])
        staff = StaffProfile(user_id=user.id, display_name=user_data.get("name") or user.name,
                             **profile_values)
        staff.stores = store_rows
        staff.services = service_rows
        session.add(staff)
    return staff


def list_staff(store: str | None = None) -> list[StaffProfile]:
    query = select(StaffProfile).order_by(StaffProfile.id)
    if store:
        store_id = get_store(store).id
        query = query.where(StaffProfile.stores.any(Store.id == store_id))
    return list(db.session.scalars(query))


class StaffUpdateSchema(StaffSchema):
    display_name = ma.fields.String(validate=[v.not_blank, v.length(120)])
    active = ma.fields.Boolean()
    max_minutes_week = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=0, max=7 * 24 * 60, error=str(_l("Between 0 and 10080 minutes."))))
    min_rest_days = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=0, max=7, error=str(_l("Between 0 and 7 days."))))


def get_staff_profile(staff_id: int) -> StaffProfile:
    staff = db.session.get(StaffProfile, staff_id)
    if staff is None:
        raise NotFound(_l("No staff member %(ref)s.", ref=staff_id))
    return staff


def update_staff(staff_id: int, data: dict[str, Any]) -> StaffProfile:
    """Change a staff profile; ``photo_url`` may be set to None to remove the photo."""
    values = v.load(StaffUpdateSchema(), {k: val for k, val in data.items()
                                          if val is not None or k == "photo_url"},
                    partial=True)
    if not values:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    with write_transaction():
        staff = get_staff_profile(staff_id)
        for key, value in values.items():
            setattr(staff, key, value)
    return staff


def set_staff_services(staff_id: int, services: list[str]) -> StaffProfile:
    """Replace the services a staff member performs (ids or names)."""
    with write_transaction():
        staff = get_staff_profile(staff_id)
        staff.services = _services(list(dict.fromkeys(str(s) for s in services)))
    return staff
