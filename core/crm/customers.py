"""Customer records, found by phone (the identity customers log in with).

Phones are stored in E.164 (:mod:`core.phones`): one number, one customer, however the
desk or the customer types it."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import audit, phones, webhooks
from .. import validation as v
from ..db import utcnow, write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import CUSTOMER_SOURCES, Customer, CustomerNote, CustomerTag


class CustomerSchema(ma.Schema):
    phone = ma.fields.String(required=True, validate=v.valid_phone)
    name = ma.fields.String(validate=v.length(120))
    source = ma.fields.String(validate=ma.validate.OneOf(CUSTOMER_SOURCES))
    tags = ma.fields.List(ma.fields.String(validate=[v.not_blank, v.length(40)]))


def find_or_create(phone: str, name: str = "", source: str = "online",
                   tags: list[str] | None = None, *, announce: bool = True,
                   absent: bool = False) -> Customer:
    """Return the customer with this phone (any spelling of the number), creating it;
    caller holds the transaction. 422 for a number that cannot exist.

    One statement for a known customer, two for a new one: ``INSERT ... ON CONFLICT DO
    NOTHING`` creates it without a savepoint, and when a concurrent transaction created
    the same number first (PostgreSQL; SQLite serialises writers) the unique index made
    us wait until it committed, so its row is then read. ``announce=False`` skips the
    ``customer.created`` webhook (a caller that already knows nobody subscribes);
    ``absent=True`` skips the first look-up (a caller that has just looked)."""
    values = _loaded(CustomerSchema(), {"phone": phone, "name": name, "source": source,
                                        "tags": tags or []})
    session = db.session
    customer = None if absent else session.scalars(
        select(Customer).where(Customer.phone == values["phone"])).first()
    if customer is None:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        customer = session.scalars(
            insert(Customer).values(phone=values["phone"], name=values.get("name", ""),
                                    source=values["source"], created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["phone"]).returning(Customer)).first()
        if customer is None:  # created by a concurrent transaction a moment ago
            customer = session.scalars(select(Customer).where(
                Customer.phone == values["phone"])).one()
        else:
            audit.record_created(customer)
            if announce:
                webhooks.record_customer(customer)
    for tag in values.get("tags", []):
        if all(t.tag != tag for t in customer.tags):
            customer.tags.append(CustomerTag(tag=tag))
    return customer


def _loaded(schema: ma.Schema, data: dict[str, Any], *, partial: bool = False
            ) -> dict[str, Any]:
    """Validate, then put the phone in E.164: the schema checks its shape, the numbering
    plan of its country decides whether it can exist."""
    values = v.load(schema, data, partial=partial)
    if "phone" in values:
        values["phone"] = phones.normalise(values["phone"])
    return values


class NoteSchema(ma.Schema):
    body = ma.fields.String(required=True, validate=[v.not_blank, v.length(4000)])


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(_l("No customer %(ref)s.", ref=customer_id))
    return customer


def search_customers(search: str | None = None, tag: str | None = None) -> Select[Any]:
    """Customers whose phone or name contains ``search`` and who carry ``tag``, newest
    first (a query, so callers can count and page it). Digits match the stored E.164
    number however they are grouped: "138 0013 8000" finds "+8613800138000"."""
    query = select(Customer).order_by(Customer.id.desc())
    if search and search.strip():
        text = search.strip()
        matches = [Customer.phone.contains(text, autoescape=True),
                   Customer.name.icontains(text, autoescape=True)]
        matches += [Customer.phone.contains(fragment, autoescape=True)
                    for fragment in phones.search_fragments(text)]
        query = query.where(or_(*matches))
    if tag:
        query = query.where(Customer.tags.any(CustomerTag.tag == tag.strip()))
    return query


def _phone_taken(phone: str, exclude_id: int | None = None) -> None:
    query = select(Customer.id).where(Customer.phone == phone)
    if exclude_id is not None:
        query = query.where(Customer.id != exclude_id)
    if db.session.scalars(query).first():
        raise Conflict(_l("A customer with this phone already exists."),
                       field_errors={"phone": [_l("Already taken.")]})


def create_customer(data: dict[str, Any]) -> Customer:
    """A new customer (Conflict if the phone is already known)."""
    values = _loaded(CustomerSchema(), {k: val for k, val in data.items() if val is not None})
    with write_transaction():
        _phone_taken(values["phone"])
        customer = find_or_create(values["phone"], values.get("name", ""),
                                  values.get("source", "online"), values.get("tags"))
    return customer


def update_customer(customer_id: int, data: dict[str, Any]) -> Customer:
    """Change name, phone or source (tags and notes have their own functions)."""
    values = _loaded(CustomerSchema(only=("phone", "name", "source")),
                     {k: val for k, val in data.items() if val is not None}, partial=True)
    if not values:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    with write_transaction():
        customer = get_customer(customer_id)
        if "phone" in values:
            _phone_taken(values["phone"], exclude_id=customer.id)
        for key, value in values.items():
            setattr(customer, key, value)
    return customer


def _tag(tag: str) -> str:
    return v.load(CustomerSchema(only=("tags",)), {"tags": [tag]})["tags"][0].strip()


def add_customer_tag(customer_id: int, tag: str) -> Customer:
    """Tag a customer (no-op if already tagged)."""
    tag = _tag(tag)
    with write_transaction():
        customer = get_customer(customer_id)
        if all(t.tag != tag for t in customer.tags):
            customer.tags.append(CustomerTag(tag=tag))
    return customer


def remove_customer_tag(customer_id: int, tag: str) -> Customer:
    """Remove a tag (no-op if the customer does not carry it)."""
    tag = _tag(tag)
    with write_transaction():
        customer = get_customer(customer_id)
        for row in [t for t in customer.tags if t.tag == tag]:
            customer.tags.remove(row)
    return customer


def add_customer_note(customer_id: int, body: str, author_id: int | None = None
                      ) -> CustomerNote:
    values = v.load(NoteSchema(), {"body": body})
    with write_transaction() as session:
        customer = get_customer(customer_id)
        note = CustomerNote(customer_id=customer.id, author_id=author_id,
                            body=values["body"].strip())
        session.add(note)
    return note
