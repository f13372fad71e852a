"""Customers (CRM): records, tags, notes and booking history.

Customer records are brand-wide: the owner, brand admins, store managers and front desks
of any store work with them. A store manager's view of a customer's booking history is
limited to their stores. A customer may read their own record (without the internal tags
and notes) and their own history; everybody else's records are 404 to them.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ... import validation as v
from ...auth import policy
from ...crm import customers as crm
from ...extensions import db
from ...models import BOOKING_STATUSES, CUSTOMER_SOURCES, Booking, Customer, CustomerNote, Store
from ...models import User as UserModel
from ..bookings import BookingOut
from ..common import Forbidden, audited, not_found, require_user
from .access import in_scope
from .pagination import PageQuery, page_schema, paginate

blp = Blueprint("customers", __name__, url_prefix="/api/v1/customers",
                description="Customers (CRM): records, tags, notes, booking history")
INTERNAL = ("source", "user_id", "tags", "created_at")


class CustomerOut(ma.Schema):
    id = ma.fields.Integer()
    phone = ma.fields.String()
    name = ma.fields.String()
    source = ma.fields.String(metadata={"description": "internal (not shown to the customer)"})
    user_id = ma.fields.Integer(allow_none=True, metadata={"description": "internal"})
    tags = ma.fields.List(ma.fields.String(), metadata={"description": "internal"})
    created_at = ma.fields.AwareDateTime(format="iso", metadata={"description": "internal"})


class CustomerQuery(PageQuery):
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                         metadata={"description": "part of the phone number or name"})
    tag = ma.fields.String(validate=ma.validate.Length(min=1, max=40))


class CustomerIn(ma.Schema):
    phone = v.phone_field(required=True)
    name = ma.fields.String(load_default="", validate=v.length(120))
    source = ma.fields.String(load_default="phone",
                              validate=ma.validate.OneOf(CUSTOMER_SOURCES))
    tags = ma.fields.List(ma.fields.String(validate=[v.valid_tag, v.length(v.TAG_MAX)]),
                          load_default=list, validate=ma.validate.Length(max=50))


class CustomerUpdate(v.Change):
    phone = v.phone_field()
    name = ma.fields.String(validate=v.length(120))
    source = ma.fields.String(validate=ma.validate.OneOf(CUSTOMER_SOURCES))


class NoteIn(ma.Schema):
    body = ma.fields.String(required=True, validate=[v.not_blank, v.length(4000)])


class NoteOut(ma.Schema):
    id = ma.fields.Integer()
    body = ma.fields.String()
    author_id = ma.fields.Integer(allow_none=True)
    author_name = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(format="iso")


class HistoryQuery(PageQuery):
    status = ma.fields.String(validate=ma.validate.OneOf(BOOKING_STATUSES))


class HistoryItem(BookingOut):
    """A booking as the customer's history lists it: without notes and status trail."""

    class Meta:
        exclude = ("customer_id", "note", "history")


# ------------------------------------------------------------------------- helpers


def _dump(customer: Customer, *, internal: bool = True) -> dict[str, Any]:
    out = {"id": customer.id, "phone": customer.phone, "name": customer.name,
           "source": customer.source, "user_id": customer.user_id,
           "tags": [t.tag for t in customer.tags], "created_at": customer.created_at}
    if not internal:
        for key in INTERNAL:
            out.pop(key)
    return out


def _crm_user() -> UserModel:
    """The caller, if they work with customer records (401 / 403 otherwise)."""
    user = require_user()
    if not policy.is_crm_user(user):
        raise Forbidden(_l("Only the store's front desk and managers work with customers."))
    return user


def _readable(customer_id: int) -> tuple[UserModel, Customer, bool]:
    """The customer for the CRM (internal view) or the customer themselves."""
    user = require_user()
    customer = db.session.get(Customer, customer_id)
    if customer is not None:
        if policy.is_crm_user(user):
            return user, customer, True
        if customer.user_id is not None and customer.user_id == user.id:
            return user, customer, False
    raise not_found(_l("Customer"))


def _writable(customer_id: int) -> tuple[UserModel, Customer]:
    user, customer, internal = _readable(customer_id)
    if not internal:
        raise Forbidden(_l("Only the store's front desk and managers change customer "
                           "records."))
    return user, customer


# ------------------------------------------------------------------------- records


@blp.get("")
@blp.arguments(CustomerQuery, location="query")
@blp.response(200, page_schema(CustomerOut))
def list_customers(args: dict[str, Any]) -> dict[str, Any]:
    """Customers, newest first; ``q`` searches phone and name (digits match however
    they are grouped: ``138 0013 8000`` finds ``+8613800138000``), ``tag`` filters."""
    _crm_user()
    query = crm.search_customers(args.get("q"), args.get("tag"))
    query = query.options(selectinload(Customer.tags))
    return paginate(query, args, lambda rows: [_dump(c) for c in rows])


@blp.post("")
@blp.arguments(CustomerIn)
@blp.response(201, CustomerOut)
@audited
def create_customer(data: dict[str, Any]) -> dict[str, Any]:
    """Add a customer (409 if the phone is already known, in any spelling; 422 on
    ``phone`` if the number cannot exist in its country's numbering plan)."""
    _crm_user()
    return _dump(crm.create_customer(data))


@blp.get("/<id:customer_id>")
@blp.response(200, CustomerOut)
def read_customer(customer_id: int) -> dict[str, Any]:
    """A customer record (the CRM), or one's own record without internal fields."""
    _, customer, internal = _readable(customer_id)
    return _dump(customer, internal=internal)


@blp.patch("/<id:customer_id>")
@blp.arguments(CustomerUpdate)
@blp.response(200, CustomerOut)
@audited
def update_customer(data: dict[str, Any], customer_id: int) -> dict[str, Any]:
    """Change name, phone or source (409 if the new phone belongs to another customer;
    422 on ``phone`` if the number cannot exist in its country's numbering plan)."""
    _, customer = _writable(customer_id)
    return _dump(crm.update_customer(customer.id, data))


@blp.post("/<id:customer_id>/tags/<tag:tag>")
@blp.response(200, CustomerOut)
@audited
def add_tag(customer_id: int, tag: str) -> dict[str, Any]:
    """Tag the customer (no change if already tagged)."""
    _, customer = _writable(customer_id)
    return _dump(crm.add_customer_tag(customer.id, tag))


@blp.delete("/<id:customer_id>/tags/<tag:tag>")
@blp.response(200, CustomerOut)
@audited
def remove_tag(customer_id: int, tag: str) -> dict[str, Any]:
    """Remove a tag (no change if the customer does not carry it)."""
    _, customer = _writable(customer_id)
    return _dump(crm.remove_customer_tag(customer.id, tag))


# --------------------------------------------------------------------------- notes


def _note_dicts(rows: list[CustomerNote]) -> list[dict[str, Any]]:
    ids = {n.author_id for n in rows if n.author_id is not None}
    names = dict(db.session.execute(select(UserModel.id, UserModel.name)
                                    .where(UserModel.id.in_(ids))).all()) if ids else {}
    return [{"id": n.id, "body": n.body, "author_id": n.author_id,
             "author_name": names.get(n.author_id), "created_at": n.created_at}
            for n in rows]


@blp.get("/<id:customer_id>/notes")
@blp.arguments(PageQuery, location="query")
@blp.response(200, page_schema(NoteOut))
def list_notes(args: dict[str, Any], customer_id: int) -> dict[str, Any]:
    """Internal notes on the customer, newest first."""
    _, customer = _writable(customer_id)
    query = (select(CustomerNote).where(CustomerNote.customer_id == customer.id)
             .order_by(CustomerNote.id.desc()))
    return paginate(query, args, _note_dicts)


@blp.post("/<id:customer_id>/notes")
@blp.arguments(NoteIn)
@blp.response(201, NoteOut)
@audited
def add_note(data: dict[str, Any], customer_id: int) -> dict[str, Any]:
    """Add an internal note (signed with the caller's name)."""
    user, customer = _writable(customer_id)
    note = crm.add_customer_note(customer.id, data["body"], author_id=user.id)
    return _note_dicts([note])[0]


# ------------------------------------------------------------------------- history


@blp.get("/<id:customer_id>/bookings")
@blp.arguments(HistoryQuery, location="query")
@blp.response(200, page_schema(HistoryItem, "CustomerBookingPage"))
def history(args: dict[str, Any], customer_id: int) -> dict[str, Any]:
    """The customer's bookings, latest first. Store managers and front desks see those
    of their stores; brand roles and the customer themselves see all."""
    user, customer, internal = _readable(customer_id)
    query = (select(Booking).where(Booking.customer_id == customer.id)
             .order_by(Booking.start_at.desc(), Booking.id.desc()))
    if internal:
        query = query.where(in_scope(Booking.store_id, policy.managed_store_ids(user)))
    if args.get("status"):
        query = query.where(Booking.status == args.get("status"))

    def dump(rows: list[Booking]) -> list[dict[str, Any]]:
        zones = dict(db.session.execute(select(Store.id, Store.timezone).where(
            Store.id.in_({b.store_id for b in rows}))).all()) if rows else {}
        out = []
        for b in rows:
            tz = ZoneInfo(zones.get(b.store_id, "UTC"))
            out.append({"id": b.id, "code": b.code, "store_id": b.store_id,
                        "staff_id": b.staff_id, "service_id": b.service_id,
                        "start_at": b.start_at.astimezone(tz).isoformat(),
                        "end_at": b.end_at.astimezone(tz).isoformat(), "status": b.status,
                        "price": b.price, "currency": b.currency, "source": b.source})
        return out

    return paginate(query, args, dump)
