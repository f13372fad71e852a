"""Back office: the service catalogue — categories, services, publishing, and where each
service is offered at what price.

Like ``/api/v1/services``: owners and brand admins edit the catalogue; a store's managers
see the services offered at their stores (published or not) and set their stores'
offers and prices. Prices are typed in major units ("128.50") and stored as integer
minor units, converted exactly with :class:`decimal.Decimal`.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...auth import policy
from ...catalog import services as catalog
from ...errors import FulianError, ValidationFailed
from ...extensions import db
from ...models import Service, ServiceCategory, Store, StoreServiceOffer
from ..forms import Form, optional_int
from ..session import page_user
from . import bp
from .setup_common import (
    administered_store,
    administered_stores,
    format_major,
    parse_money,
    render,
    require_brand_admin,
    setup_page,
    status_of,
    to_int,
)

SERVICE_INTS = ("duration_min", "buffer_before_min", "buffer_after_min")


def _categories() -> list[ServiceCategory]:
    return list(db.session.scalars(select(ServiceCategory).order_by(
        ServiceCategory.position, ServiceCategory.name, ServiceCategory.id)))


def _visible_services() -> list[Service]:
    """Brand admins: every service; store managers: those offered at their stores."""
    query = (select(Service).order_by(Service.id)
             .options(selectinload(Service.offers), selectinload(Service.category)))
    ids = policy.admin_store_ids(page_user())
    if ids is not None:
        if not ids:
            return []
        query = query.where(Service.offers.any(StoreServiceOffer.store_id.in_(sorted(ids))))
    return list(db.session.scalars(query))


def _visible_service(service_id: int) -> Service:
    service = db.session.get(Service, service_id)
    if service is None:
        abort(404)
    ids = policy.admin_store_ids(page_user())
    if ids is not None and not any(o.store_id in ids for o in service.offers):
        abort(404)
    return service


def _service_values(form: Form) -> dict[str, Any]:
    """The service fields of a submitted form, typed for ``catalog.ServiceSchema``."""
    data: dict[str, Any] = {"name": form.get("name"), "description": form.get("description")}
    for key in SERVICE_INTS:
        data[key] = to_int(form.get(key))
    data["price"] = parse_money(form.get("price"), "price")
    return data


def _check_required(form: Form) -> None:
    missing = [k for k in ("name", "duration_min", "price") if not form.get(k)]
    if missing:
        raise ValidationFailed(_("The input is not valid."), field_errors={
            k: [_("Missing data for required field.")] for k in missing})


def _category_id(form: Form) -> int | None:
    raw = form.get("category_id")
    if not raw:
        return None
    category_id = optional_int(raw)
    if category_id is None or db.session.get(ServiceCategory, category_id) is None:
        raise ValidationFailed(_("The input is not valid."), field_errors={
            "category_id": [_("Unknown category.")]})
    return category_id


def _list_page(category_form: Form | None = None, rename: dict[int, Form] | None = None
               ) -> Any:
    stores = {s.id: s for s in db.session.scalars(select(Store).order_by(Store.id))}
    mine = administered_stores()
    return render("admin/services.html", status_of(category_form, *(rename or {}).values()),
                  services=_visible_services(), categories=_categories(), stores=stores,
                  mine={s.id for s in mine}, category_form=category_form or Form(),
                  rename=rename or {}, price_at=catalog.price_at)


@bp.get("/services")
@setup_page
def services() -> Any:
    """The services table and the categories."""
    return _list_page()


@bp.post("/services/categories")
@setup_page
def category_add() -> Any:
    require_brand_admin()
    form = Form.submitted()
    try:
        category = catalog.add_category({"name": form.get("name"),
                                         "position": to_int(form.get("position"))})
    except FulianError as exc:
        return _list_page(category_form=form.fail(exc))
    flash(_("Category %(name)s added.", name=category.name), "success")
    return redirect(url_for("admin.services") + "#categories")


@bp.post("/services/categories/<id:category_id>")
@setup_page
def category_rename(category_id: int) -> Any:
    require_brand_admin()
    if db.session.get(ServiceCategory, category_id) is None:
        abort(404)
    form = Form.submitted()
    try:
        category = catalog.update_category(category_id, {
            "name": form.get("name"), "position": to_int(form.get("position"))})
    except FulianError as exc:
        return _list_page(rename={category_id: form.fail(exc)})
    flash(_("Category %(name)s saved.", name=category.name), "success")
    return redirect(url_for("admin.services") + "#categories")


def _form_page(form: Form, service: Service | None = None) -> Any:
    all_stores = list(db.session.scalars(select(Store).order_by(Store.id)))
    offers = {o.store_id: o for o in service.offers} if service is not None else {}
    return render("admin/services_form.html", status_of(form), form=form, service=service,
                  category_options=[(c.id, c.name) for c in _categories()],
                  stores=all_stores, offers=offers,
                  mine={s.id for s in administered_stores()},
                  format_major=format_major, price_at=catalog.price_at)


@bp.route("/services/new", methods=["GET", "POST"])
@setup_page
def service_new() -> Any:
    """Add a service (owner and brand admins), offered at the stores ticked."""
    require_brand_admin()
    active = [str(s.id) for s in db.session.scalars(
        select(Store).where(Store.status == "active").order_by(Store.id))]
    form = Form({"duration_min": 60, "buffer_before_min": 0, "buffer_after_min": 0,
                 "store_ids": active, "published": True})
    if request.method == "POST":
        form = Form.submitted(lists=("store_ids",))
        form.values["published"] = bool(form.get("published"))
        try:
            _check_required(form)
            data = _service_values(form)
            data["published"] = form.values["published"]
            category_id = _category_id(form)
            store_ids = [optional_int(i) for i in form.get("store_ids")]
            known = {s.id for s in db.session.scalars(select(Store))}
            if not store_ids or any(i not in known for i in store_ids):
                raise ValidationFailed(_("The input is not valid."), field_errors={
                    "store_ids": [_("Tick at least one store.")]})
            category = db.session.get(ServiceCategory, category_id) if category_id else None
            service = catalog.add_service(
                data, category=category.name if category else None,
                stores=[str(i) for i in dict.fromkeys(store_ids)])
        except FulianError as exc:
            form.fail(exc)
        else:
            flash(_("Service %(name)s added.", name=service.name), "success")
            return redirect(url_for("admin.service", service_id=service.id))
    return _form_page(form)


def _service_form(service: Service) -> Form:
    return Form({"name": service.name, "description": service.description,
                 "category_id": service.category_id or "",
                 "duration_min": service.duration_min,
                 "buffer_before_min": service.buffer_before_min,
                 "buffer_after_min": service.buffer_after_min,
                 "price": format_major(service.price)})


@bp.route("/services/<id:service_id>", methods=["GET", "POST"])
@setup_page
def service(service_id: int) -> Any:
    """A service: edit (brand admins), and its offers at the user's stores."""
    service = _visible_service(service_id)
    form = _service_form(service)
    if request.method == "POST":
        require_brand_admin()
        form = Form.submitted()
        try:
            _check_required(form)
            data = _service_values(form)
            category_id = _category_id(form)
            catalog.update_service(service.id, data, category_id=category_id)
        except FulianError as exc:
            form.fail(exc)
        else:
            flash(_("Service %(name)s saved.", name=service.name), "success")
            return redirect(url_for("admin.service", service_id=service.id))
    return _form_page(form, service)


@bp.post("/services/<id:service_id>/<any(publish,unpublish):action>")
@setup_page
def service_publish(service_id: int, action: str) -> Any:
    """Show the service to customers, or hide it."""
    service = _visible_service(service_id)
    require_brand_admin()
    catalog.set_published(service.id, action == "publish")
    if action == "publish":
        flash(_("%(name)s is now shown to customers.", name=service.name), "success")
    else:
        flash(_("%(name)s is now hidden from customers.", name=service.name), "success")
    return redirect(request.form.get("back") or url_for("admin.services"))


@bp.post("/services/<id:service_id>/stores/<id:store_id>")
@setup_page
def service_offer(service_id: int, store_id: int) -> Any:
    """Offer the service at a store at the base price or its own price, or stop
    offering it there (the store's managers)."""
    service = _visible_service(service_id)
    store = administered_store(store_id)
    form = Form.submitted()
    try:
        if form.get("offered") in ("1", "on"):
            price = parse_money(form.get("price_override"), "price_override",
                                required=False)
            catalog.set_store_offer(service.id, store.id, price)
            flash(_("%(service)s at %(store)s saved.", service=service.name,
                    store=store.name), "success")
        elif any(o.store_id == store.id for o in service.offers):
            catalog.remove_store_offer(service.id, store.id)
            flash(_("%(service)s is no longer offered at %(store)s.",
                    service=service.name, store=store.name), "success")
    except FulianError as exc:
        page_form = _service_form(service)
        page_form.errors[f"offer-{store.id}"] = [
            m for msgs in exc.field_errors.values() for m in msgs] or [str(exc.message)]
        page_form.values[f"offer-{store.id}"] = form.get("price_override")
        return _form_page(page_form, service)
    if not any(o.store_id in (policy.admin_store_ids(page_user()) or {store.id})
               for o in catalog.get_service(service.id).offers) \
            and not policy.is_brand_admin(page_user()):
        return redirect(url_for("admin.services"))
    return redirect(url_for("admin.service", service_id=service.id) + "#offers")
