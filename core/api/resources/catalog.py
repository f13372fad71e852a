"""The service catalogue: categories, services, and where each is offered at what price.

Customers and anonymous callers see published services and their offers at active
stores; managers also see unpublished services offered at their stores. The owner and
brand admins edit the catalogue; a store's managers set its price for a service.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import or_, select, true
from sqlalchemy.orm import selectinload

from ... import validation as v
from ...auth import policy
from ...catalog import services as catalog
from ...errors import NotFound
from ...extensions import db
from ...models import Service, ServiceCategory, Store, StoreServiceOffer, User
from ...org.brand import get_brand
from ...validation import MinorUnits
from ..common import (
    OPTIONAL_LOGIN,
    PUBLIC,
    Forbidden,
    Id,
    audited,
    current_user,
    not_found,
    require_user,
)
from .access import in_scope, require_brand_admin
from .pagination import PageQuery, page_schema, paginate
from .stores import visible_store, visible_store_clause

blp = Blueprint("catalog", __name__, url_prefix="/api/v1",
                description="Service catalogue: categories, services, per-store prices")


class CategoryOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    position = ma.fields.Integer()


class CategoryIn(catalog.CategorySchema):
    pass


class CategoryUpdate(v.Change, catalog.CategorySchema):
    pass


class OfferOut(ma.Schema):
    store_id = ma.fields.Integer()
    price_override = ma.fields.Integer(allow_none=True, metadata={
        "description": "the store's own price in minor units, or null"})
    price = ma.fields.Integer(metadata={"description": "what the store charges (minor units)"})


class ServiceOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String()
    image_url = ma.fields.String(allow_none=True)
    category_id = ma.fields.Integer(allow_none=True)
    category = ma.fields.String(allow_none=True)
    duration_min = ma.fields.Integer()
    buffer_before_min = ma.fields.Integer()
    buffer_after_min = ma.fields.Integer()
    price = ma.fields.Integer(metadata={"description": "base price in minor units (fen/cents)"})
    currency = ma.fields.String()
    published = ma.fields.Boolean()
    offers = ma.fields.List(ma.fields.Nested(OfferOut), metadata={
        "description": "stores offering the service (those the caller may see)"})


class ServiceQuery(PageQuery):
    store_id = Id(strict=False, metadata={
        "description": "only services offered at this store"})
    category_id = Id(strict=False)
    published = ma.fields.Boolean()
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                         metadata={"description": "part of the name"})


class ServiceIn(catalog.ServiceSchema):
    published = v.Flag()
    category_id = Id(allow_none=True)
    store_ids = ma.fields.List(Id(), validate=ma.validate.Length(min=1, max=1000), metadata={
        "description": "stores offering it (default: every active store)"})


class ServiceUpdate(v.Change, ServiceIn):
    class Meta:
        exclude = ("store_ids",)


class OfferIn(ma.Schema):
    price_override = MinorUnits(load_default=None, allow_none=True, metadata={
        "description": "the store's price in minor units; null for the base price"})


def _unknown(field: str, message: Any) -> NotFound:
    """A body names something that does not exist: 404 on that field (the body is well
    formed, the database does not have it)."""
    return NotFound(message, field_errors={field: [message]})


def _visible_clause(user: User | None) -> Any:
    managed = policy.managed_store_ids(user) if user is not None else set()
    if managed is None:
        return true()
    return or_(Service.published.is_(True),
               Service.offers.any(in_scope(StoreServiceOffer.store_id, managed)))


def _dump(user: User | None, rows: list[Service]) -> list[dict[str, Any]]:
    if not rows:
        return []
    seen = set(db.session.scalars(select(Store.id).where(visible_store_clause(user))))
    currency = get_brand().currency
    out = []
    for svc in rows:
        out.append({
            "id": svc.id, "name": svc.name, "description": svc.description,
            "image_url": svc.image_url, "category_id": svc.category_id,
            "category": svc.category.name if svc.category else None,
            "duration_min": svc.duration_min, "buffer_before_min": svc.buffer_before_min,
            "buffer_after_min": svc.buffer_after_min, "price": svc.price,
            "currency": currency, "published": svc.published,
            "offers": [{"store_id": o.store_id, "price_override": o.price_override,
                        "price": o.price_override if o.price_override is not None
                        else svc.price}
                       for o in sorted(svc.offers, key=lambda o: o.store_id)
                       if o.store_id in seen],
        })
    return out


def _one(user: User | None, service: Service) -> dict[str, Any]:
    return _dump(user, [service])[0]


def visible_service(user: User | None, service_id: int) -> Service:
    service = db.session.scalars(select(Service).where(
        Service.id == service_id, _visible_clause(user))).first()
    if service is None:
        raise not_found(_l("Service"))
    return service


def _catalogue_admin(service_id: int | None = None) -> tuple[User, Service | None]:
    user = require_user()
    service = visible_service(user, service_id) if service_id is not None else None
    require_brand_admin(user)
    return user, service


def _check_category(category_id: int | None) -> ServiceCategory | None:
    if category_id is None:
        return None
    category = db.session.get(ServiceCategory, category_id)
    if category is None:
        raise _unknown("category_id", gettext("Unknown category."))
    return category


# ---------------------------------------------------------------------- categories


@blp.get("/service-categories")
@blp.doc(**PUBLIC)
@blp.arguments(PageQuery, location="query")
@blp.response(200, page_schema(CategoryOut))
def list_categories(args: dict[str, Any]) -> dict[str, Any]:
    """Service categories, by position then name (public)."""
    query = select(ServiceCategory).order_by(ServiceCategory.position, ServiceCategory.name,
                                             ServiceCategory.id)
    return paginate(query, args)


@blp.post("/service-categories")
@blp.arguments(CategoryIn)
@blp.response(201, CategoryOut)
@audited
def create_category(data: dict[str, Any]) -> ServiceCategory:
    """Add a category (owner and brand admins; names are unique, 409 if taken)."""
    require_brand_admin(require_user())
    return catalog.add_category(data)


@blp.patch("/service-categories/<id:category_id>")
@blp.arguments(CategoryUpdate(partial=True))
@blp.response(200, CategoryOut)
@audited
def update_category(data: dict[str, Any], category_id: int) -> ServiceCategory:
    """Rename or reorder a category (owner and brand admins)."""
    require_brand_admin(require_user())
    if db.session.get(ServiceCategory, category_id) is None:
        raise not_found(_l("Category"))
    return catalog.update_category(category_id, data)


# ------------------------------------------------------------------------ services


@blp.get("/services")
@blp.doc(**OPTIONAL_LOGIN)
@blp.arguments(ServiceQuery, location="query")
@blp.response(200, page_schema(ServiceOut))
def list_services(args: dict[str, Any]) -> dict[str, Any]:
    """Services, by id. Anyone sees published services; managers also unpublished ones
    offered at their stores."""
    user = current_user()
    query = (select(Service).where(_visible_clause(user)).order_by(Service.id)
             .options(selectinload(Service.offers), selectinload(Service.category)))
    if args.get("store_id") is not None:
        store = visible_store(user, args.get("store_id"))
        query = query.where(Service.offers.any(StoreServiceOffer.store_id == store.id))
    if args.get("category_id") is not None:
        query = query.where(Service.category_id == args.get("category_id"))
    if args.get("published") is not None:
        query = query.where(Service.published.is_(args.get("published")))
    if args.get("q"):
        query = query.where(Service.name.icontains(args["q"].strip(), autoescape=True))
    return paginate(query, args, lambda rows: _dump(user, rows))


@blp.get("/services/<id:service_id>")
@blp.doc(**OPTIONAL_LOGIN)
@blp.response(200, ServiceOut)
def read_service(service_id: int) -> dict[str, Any]:
    """A service with the stores offering it and their prices."""
    user = current_user()
    return _one(user, visible_service(user, service_id))


@blp.post("/services")
@blp.arguments(ServiceIn)
@blp.response(201, ServiceOut)
@audited
def create_service(data: dict[str, Any]) -> dict[str, Any]:
    """Add a service (owner and brand admins). ``price`` in minor units."""
    user, _ = _catalogue_admin()
    category = _check_category(data.pop("category_id", None))
    store_ids = data.pop("store_ids", None)
    for store_id in store_ids or []:
        if db.session.get(Store, store_id) is None:
            raise _unknown("store_ids", gettext("Unknown store %(id)s.", id=store_id))
    service = catalog.add_service(data, category=category.name if category else None,
                                  stores=[str(i) for i in dict.fromkeys(store_ids)]
                                  if store_ids else None)
    return _one(user, service)


@blp.patch("/services/<id:service_id>")
@blp.arguments(ServiceUpdate(partial=True))
@blp.response(200, ServiceOut)
@audited
def update_service(data: dict[str, Any], service_id: int) -> dict[str, Any]:
    """Change a service (owner and brand admins); ``category_id: null`` uncategorises."""
    user, service = _catalogue_admin(service_id)
    assert service is not None
    category_id = data.pop("category_id", catalog.KEEP)
    if category_id is not catalog.KEEP:
        _check_category(category_id)
    return _one(user, catalog.update_service(service.id, data, category_id=category_id))


@blp.post("/services/<id:service_id>/<any(publish,unpublish):action>")
@blp.response(200, ServiceOut)
@audited
def publish(service_id: int, action: str) -> dict[str, Any]:
    """Show the service to customers (``publish``) or hide it (``unpublish``)."""
    user, service = _catalogue_admin(service_id)
    assert service is not None
    return _one(user, catalog.set_published(service.id, action == "publish"))


def _offer_target(service_id: int, store_id: int) -> tuple[User, Service, Store]:
    user = require_user()
    service = visible_service(user, service_id)
    store = visible_store(user, store_id)
    if not policy.administers(user, store.id):
        raise Forbidden(_l("Only the store's managers may change its prices."))
    return user, service, store


@blp.put("/services/<id:service_id>/stores/<id:store_id>")
@blp.arguments(OfferIn)
@blp.response(200, ServiceOut)
@audited
def set_offer(data: dict[str, Any], service_id: int, store_id: int) -> dict[str, Any]:
    """Offer the service at a store, optionally at the store's own price (its managers)."""
    user, service, store = _offer_target(service_id, store_id)
    catalog.set_store_offer(service.id, store.id, data["price_override"])
    return _one(user, catalog.get_service(service.id))


@blp.delete("/services/<id:service_id>/stores/<id:store_id>")
@blp.response(204)
@audited
def remove_offer(service_id: int, store_id: int) -> None:
    """Stop offering the service at a store (its managers); 404 if not offered there."""
    _, service, store = _offer_target(service_id, store_id)
    catalog.remove_store_offer(service.id, store.id)
