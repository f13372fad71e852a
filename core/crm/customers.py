"""Customer records, found by phone (the identity customers log in with)."""

from __future__ import annotations

import marshmallow as ma
from sqlalchemy import select

from .. import validation as v
from ..extensions import db
from ..models import CUSTOMER_SOURCES, Customer, CustomerTag


class CustomerSchema(ma.Schema):
    phone = ma.fields.String(required=True, validate=v.valid_phone)
    name = ma.fields.String(validate=v.length(120))
    source = ma.fields.String(validate=ma.validate.OneOf(CUSTOMER_SOURCES))
    tags = ma.fields.List(ma.fields.String(validate=[v.not_blank, v.length(40)]))


def find_or_create(phone: str, name: str = "", source: str = "online",
                   tags: list[str] | None = None) -> Customer:
    """Return the customer with this phone, creating it; caller holds the transaction."""
    values = v.load(CustomerSchema(), {"phone": phone, "name": name, "source": source,
                                       "tags": tags or []})
    customer = db.session.scalars(select(Customer).where(Customer.phone == values["phone"])
                                  ).first()
    if customer is None:
        customer = Customer(phone=values["phone"], name=values.get("name", ""),
                            source=values["source"])
        db.session.add(customer)
    for tag in values.get("tags", []):
        if all(t.tag != tag for t in customer.tags):
            customer.tags.append(CustomerTag(tag=tag))
    return customer
