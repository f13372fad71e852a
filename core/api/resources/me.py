"""Who am I: the caller's account, roles and scopes, for clients to shape their UI."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy import select

from ...auth import policy
from ...extensions import db
from ...models import Store
from ..common import require_user

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The current user")


class RoleOut(ma.Schema):
    role = ma.fields.String()
    store_id = ma.fields.Integer(allow_none=True,
                                 metadata={"description": "null for brand-wide roles"})


class MeOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    email = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    locale = ma.fields.String(allow_none=True)
    roles = ma.fields.List(ma.fields.Nested(RoleOut))
    all_stores = ma.fields.Boolean(
        metadata={"description": "brand-wide role: manages every store, present and future"})
    managed_store_ids = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "stores whose bookings, staff schedules and customers the user "
                       "handles (store manager, front desk or a brand role)"})
    admin_store_ids = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "stores whose settings, staff and schedules the user may change"})
    staff_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "the user's staff profile, if any"})
    customer_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "the user's customer record, if any"})


@blp.get("")
@blp.response(200, MeOut)
def read_me() -> dict[str, Any]:
    """The logged-in user with roles, the stores they may manage and their staff
    profile / customer record ids."""
    user = require_user()
    managed = policy.managed_store_ids(user)
    admin = policy.admin_store_ids(user)
    every: list[int] = []
    if managed is None or admin is None:
        every = list(db.session.scalars(select(Store.id).order_by(Store.id)))
    staff = policy.staff_profile(user)
    customer = policy.customer_of(user)
    return {
        "id": user.id, "name": user.name, "email": user.email, "phone": user.phone,
        "locale": user.locale,
        "roles": sorted(({"role": r.role, "store_id": r.store_id} for r in user.roles),
                        key=lambda r: (r["role"], r["store_id"] or 0)),
        "all_stores": managed is None,
        "managed_store_ids": every if managed is None else sorted(managed),
        "admin_store_ids": every if admin is None else sorted(admin),
        "staff_id": staff.id if staff else None,
        "customer_id": customer.id if customer else None,
    }
