"""Services and their categories; per-store offers and price overrides."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import validation as v
from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
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
    # Overrides of the store's money policy (null = the store's).
    deposit_percent = ma.fields.Integer(strict=True, allow_none=True, validate=v.percent())
    late_cancel_fee_percent = ma.fields.Integer(strict=True, allow_none=True,
                                                validate=v.percent())
    no_show_fee_percent = ma.fields.Integer(strict=True, allow_none=True,
                                            validate=v.percent())


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


class CategorySchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[v.not_blank, v.length(120)])
    position = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=100000))


#: ``update_service(category_id=KEEP)`` leaves the category as it is.
KEEP: Any = object()


def get_service(service_id: int) -> Service:
    service = db.session.get(Service, service_id)
    if service is None:
        raise NotFound(_l("No service %(ref)s.", ref=service_id))
    return service


def get_category(category_id: int) -> ServiceCategory:
    category = db.session.get(ServiceCategory, category_id)
    if category is None:
        raise NotFound(_l("No service category %(ref)s.", ref=category_id))
    return category


def _unique_category_name(session: Any, name: str, exclude_id: int | None = None) -> None:
    query = select(ServiceCategory.id).where(ServiceCategory.name == name)
    if exclude_id is not None:
        query = query.where(ServiceCategory.id != exclude_id)
    if session.scalars(query).first():
        raise Conflict(_l("A category named %(name)s already exists.", name=name),
                       field_errors={"name": [_l("Already taken.")]})


def add_category(data: dict[str, Any]) -> ServiceCategory:
    values = v.load(CategorySchema(), {k: val for k, val in data.items() if val is not None})
    values["name"] = values["name"].strip()
    with write_transaction() as session:
        _unique_category_name(session, values["name"])
        category = ServiceCategory(**values)
        session.add(category)
    return category


def update_category(category_id: int, data: dict[str, Any]) -> ServiceCategory:
    values = v.load(CategorySchema(), {k: val for k, val in data.items() if val is not None},
                    partial=True)
    if not values:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    if "name" in values:
        values["name"] = values["name"].strip()
    with write_transaction() as session:
        category = get_category(category_id)
        if "name" in values:
            _unique_category_name(session, values["name"], exclude_id=category.id)
        for key, value in values.items():
            setattr(category, key, value)
    return category


#: fields of a service that ``None`` clears (a picture; overrides of the store's policy)
CLEARABLE = ("image_url", "deposit_percent", "late_cancel_fee_percent", "no_show_fee_percent")


def update_service(service_id: int, data: dict[str, Any],
                   category_id: int | None = KEEP) -> Service:
    """Change a service's fields; ``category_id=None`` removes it from its category.
    ``None`` clears the picture and the policy overrides (the store's percent applies
    again); other ``None`` values are ignored."""
    values = v.load(ServiceSchema(), {k: val for k, val in data.items()
                                      if val is not None or k in CLEARABLE}, partial=True)
    if not values and category_id is KEEP:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    with write_transaction():
        service = get_service(service_id)
        if category_id is not KEEP:
            service.category = get_category(category_id) if category_id is not None else None
        for key, value in values.items():
            setattr(service, key, value)
    return service


def set_published(service_id: int, published: bool) -> Service:
    """Show (``True``) or hide a service from customers."""
    with write_transaction():
        service = get_service(service_id)
        service.published = bool(published)
    return service


def set_store_offer(service_id: int, store_ref: str | int, price_override: int | None
                    ) -> StoreServiceOffer:
    """Offer the service at a store, at its own price (``None``: the base price)."""
    if price_override is not None:
        price_override = v.load(ServiceSchema(), {"price": price_override},
                                partial=True)["price"]
    with write_transaction():
        service = get_service(service_id)
        store = get_store(store_ref)
        offer = next((o for o in service.offers if o.store_id == store.id), None)
        if offer is None:
            offer = StoreServiceOffer(store_id=store.id)
            service.offers.append(offer)
        offer.price_override = price_override
    return offer


def remove_store_offer(service_id: int, store_ref: str | int) -> None:
    """Stop offering the service at a store (NotFound if it was not offered there)."""
    with write_transaction():
        service = get_service(service_id)
        store = get_store(store_ref)
        offer = next((o for o in service.offers if o.store_id == store.id), None)
        if offer is None:
            raise NotFound(_l("%(service)s is not offered at %(store)s.", service=service.name,
                              store=store.name))
        service.offers.remove(offer)
