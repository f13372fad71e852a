"""Services and their categories; per-store offers and price overrides."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import validation as v
from ..db import write_transaction
from ..extensions import db
from ..models import Service, ServiceCategory, StoreServiceOffer
from ..org.stores import get_store, list_stores


class ServiceSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[v.not_blank, v.length(120)])
    description = ma.fields.String(validate=v.length(4000))
    image_url = ma.fields.String(allow_none=True, validate=v.length(500))
    duration_min = ma.fields.Integer(
        required=True, strict=True,
        validate=ma.validate.Range(min=5, max=720,
                                   error=str(_l("Between 5 and 720 minutes."))))
    buffer_before_min = ma.fields.Integer(
        strict=True, validate=ma.validate.Range(min=0, max=240,
                                                error=str(_l("Between 0 and 240 minutes."))))
    buffer_after_min = ma.fields.Integer(
        strict=True, validate=ma.validate.Range(min=0, max=240,
                                                error=str(_l("Between 0 and 240 minutes."))))
    price = v.MinorUnits(required=True)
    published = ma.fields.Boolean()


def _category(name: str | None) -> ServiceCategory | None:
    if not name or not name.strip():
        return None
    name = name.strip()[:120]
    cat = db.session.scalars(select(ServiceCategory).where(ServiceCategory.name == name)).first()
    if cat is None:
        cat = ServiceCategory(name=name)
        db.session.add(cat)
    return cat


def add_service(data: dict[str, Any], category: str | None = None,
                stores: list[str] | None = None,
                store_prices: dict[str, int] | None = None) -> Service:
    """Create a service offered at ``stores`` (default: every active store)."""
    values = v.load(ServiceSchema(), {k: val for k, val in data.items() if val is not None})
    with write_transaction() as session:
        targets = [get_store(ref) for ref in stores] if stores else list_stores("active")
        service = Service(**values, category=_category(category))
        session.add(service)
        for store in targets:
            override = (store_prices or {}).get(store.code)
            service.offers.append(StoreServiceOffer(store_id=store.id, price_override=override))
    return service


def list_services(store: str | None = None, published_only: bool = False) -> list[Service]:
    query = select(Service).order_by(Service.id)
    if store:
        store_id = get_store(store).id
        query = query.where(Service.offers.any(StoreServiceOffer.store_id == store_id))
    if published_only:
        query = query.where(Service.published.is_(True))
    return list(db.session.scalars(query))


def price_at(service: Service, store_id: int) -> int:
    """The price a store charges: its override if set, else the service's base price."""
    for offer in service.offers:
        if offer.store_id == store_id and offer.price_override is not None:
            return offer.price_override
    return service.price
