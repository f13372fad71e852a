"""The wallet's set-up pages: top-up plans, punch card products and member tiers.

Like the API's ``POST``/``PATCH`` of the same things, these are for owners and brand
admins (``policy.is_brand_admin``; others get the 403 page, as the catalogue's set-up
pages answer them). The pages call the same validated service functions as the API.
Amounts are typed in yuan and stored as fen, converted exactly (Decimal) by the set-up
helpers of the core. Plans and punch cards are retired, never deleted: sold cards point
at them and keep working; a tier is only a threshold and may be deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from core.sdk import FulianError, NotFound, ValidationFailed, db
from core.sdk.models import Service
from core.sdk.web import (
    Form,
    brand_page,
    format_major,
    parse_money,
    render,
    status_of,
    to_int,
)

from . import punch, service, tiers
from .blueprints import admin as bp
from .models import PunchCard, PunchProduct, Tier, TopUp
from .pages import tabs


def _page(template: str, status: int = 200, **context: Any) -> Any:
    return render(template, status, tabs=tabs(), format_major=format_major, **context)


def _found(finder: Any, ident: int) -> Any:
    try:
        return finder(ident)
    except NotFound:
        abort(404)


def _submit(form: Form, write: Callable[[Form], Any], lists: tuple[str, ...] = ()
            ) -> tuple[Form, Any]:
    """On POST, the submitted form and what ``write`` made of it, or the form with its
    translated errors and None (nothing written); on GET, the form as given and None."""
    if request.method != "POST":
        return form, None
    form = Form.submitted(lists=lists)
    try:
        return form, write(form)
    except FulianError as exc:
        db.session.rollback()
        form.fail(exc)
        return form, None


def _typed(form: Form, required: tuple[str, ...], money: tuple[str, ...] = ()
           ) -> dict[str, Any]:
    """Blank required fields and yuan amounts (as fen), with every field's error at
    once rather than only the first; the schema checks the rest."""
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in required:
        if not form.get(name):
            errors[name] = [_("Missing data for required field.")]
    for name in money:
        if name in errors:
            continue
        try:
            out[name] = parse_money(form.get(name), name, required=name in required)
        except ValidationFailed as exc:
            errors.update({k: [str(m) for m in v] for k, v in exc.field_errors.items()})
    if errors:
        raise ValidationFailed(_("The input is not valid."), field_errors=errors)
    return out


# --- top-up plans ------------------------------------------------------------------------

def _plan_values(form: Form) -> dict[str, Any]:
    amounts = _typed(form, ("name", "pay_amount"), money=("pay_amount", "bonus_amount"))
    return {"name": form.get("name"), "pay_amount": amounts["pay_amount"],
            "bonus_amount": amounts["bonus_amount"] or 0}


@bp.get("/plans")
@brand_page
def plans() -> Any:
    """Top-up plans, on sale and retired, with how many were sold."""
    sold = dict(db.session.execute(select(TopUp.plan_id, func.count()).group_by(
        TopUp.plan_id)).all())
    return _page("wallet/admin_plans.html", plans=service.plans(include_retired=True),
                 sold=sold)


@bp.route("/plans/new", methods=["GET", "POST"])
@brand_page
def plan_new() -> Any:
    """A new plan: pay X, get X + bonus."""
    form, plan = _submit(Form({"bonus_amount": "0.00"}),
                         lambda f: service.create_plan(_plan_values(f)))
    if plan is not None:
        flash(_("Plan %(name)s is on sale.", name=plan.name), "success")
        return redirect(url_for("wallet_admin.plans"))
    return _page("wallet/admin_plan_form.html", status_of(form), form=form, plan=None)


@bp.route("/plans/<id:plan_id>", methods=["GET", "POST"])
@brand_page
def plan_edit(plan_id: int) -> Any:
    """Edit a plan; cards topped up already keep what they got."""
    plan = _found(service.find_plan, plan_id)
    form, saved = _submit(Form({"name": plan.name, "pay_amount": format_major(plan.pay_amount),
                                "bonus_amount": format_major(plan.bonus_amount)}),
                          lambda f: service.update_plan(plan.id, _plan_values(f)))
    if saved is not None:
        flash(_("Plan %(name)s saved.", name=saved.name), "success")
        return redirect(url_for("wallet_admin.plans"))
    return _page("wallet/admin_plan_form.html", status_of(form), form=form, plan=plan)


@bp.post("/plans/<id:plan_id>/<any(retire,reactivate):action>")
@brand_page
def plan_active(plan_id: int, action: str) -> Any:
    """Retire a plan (no longer sold; balances stay) or put it back on sale."""
    plan = _found(service.find_plan, plan_id)
    service.set_plan_active(plan.id, action == "reactivate")
    if action == "retire":
        flash(_("Plan %(name)s is retired: no longer sold.", name=plan.name), "success")
    else:
        flash(_("Plan %(name)s is on sale.", name=plan.name), "success")
    return redirect(url_for("wallet_admin.plans"))


# --- punch card products -----------------------------------------------------------------

def _service_choices(selected: list[int]) -> list[Service]:
    """Published services, and any unpublished one the product already covers."""
    return list(db.session.scalars(select(Service).where(
        Service.published.is_(True) | Service.id.in_(selected or [0])).order_by(
        Service.name, Service.id)))


def _product_values(form: Form) -> dict[str, Any]:
    amounts = _typed(form, ("name", "uses", "price", "validity_days"), money=("price",))
    return {"name": form.get("name"), "price": amounts["price"],
            "service_ids": [to_int(i) for i in form.get("service_ids", [])],
            "uses": to_int(form.get("uses")),
            "validity_days": to_int(form.get("validity_days"))}


def _product_page(form: Form, product: PunchProduct | None) -> Any:
    chosen = [to_int(i) for i in form.get("service_ids", [])]
    return _page("wallet/admin_punch_form.html", status_of(form), form=form, product=product,
                 services=_service_choices([i for i in chosen if isinstance(i, int)]))


@bp.get("/punch-cards")
@brand_page
def products() -> Any:
    """Punch card products, on sale and retired, with the services they cover."""
    sold = dict(db.session.execute(select(PunchCard.product_id, func.count()).group_by(
        PunchCard.product_id)).all())
    names = {s.id: s.name for s in db.session.scalars(select(Service))}
    return _page("wallet/admin_punch.html", products=punch.products(include_retired=True),
                 sold=sold, service_names=names)


@bp.route("/punch-cards/new", methods=["GET", "POST"])
@brand_page
def product_new() -> Any:
    """A new punch card: N visits of the services ticked, valid for D days."""
    form, product = _submit(Form({"uses": 10, "validity_days": 365, "service_ids": []}),
                            lambda f: punch.create_product(_product_values(f)),
                            lists=("service_ids",))
    if product is not None:
        flash(_("Punch card %(name)s is on sale.", name=product.name), "success")
        return redirect(url_for("wallet_admin.products"))
    return _product_page(form, None)


@bp.route("/punch-cards/<id:product_id>", methods=["GET", "POST"])
@brand_page
def product_edit(product_id: int) -> Any:
    """Edit a punch card; cards sold keep their uses, price and expiry."""
    product = _found(punch.find_product, product_id)
    form, saved = _submit(Form({"name": product.name, "uses": product.uses,
                                "price": format_major(product.price),
                                "validity_days": product.validity_days,
                                "service_ids": [str(i) for i in product.service_ids or []]}),
                          lambda f: punch.update_product(product.id, _product_values(f)),
                          lists=("service_ids",))
    if saved is not None:
        flash(_("Punch card %(name)s saved.", name=saved.name), "success")
        return redirect(url_for("wallet_admin.products"))
    return _product_page(form, product)


@bp.post("/punch-cards/<id:product_id>/<any(retire,reactivate):action>")
@brand_page
def product_active(product_id: int, action: str) -> Any:
    """Retire a punch card (no longer sold; cards sold keep working) or sell it again."""
    product = _found(punch.find_product, product_id)
    punch.set_product_active(product.id, action == "reactivate")
    if action == "retire":
        flash(_("Punch card %(name)s is retired: no longer sold.", name=product.name),
              "success")
    else:
        flash(_("Punch card %(name)s is on sale.", name=product.name), "success")
    return redirect(url_for("wallet_admin.products"))


# --- member tiers ------------------------------------------------------------------------

def _tier_values(form: Form) -> dict[str, Any]:
    amounts = _typed(form, ("name", "min_spend", "discount_percent"), money=("min_spend",))
    return {"name": form.get("name"), "min_spend": amounts["min_spend"],
            "discount_percent": to_int(form.get("discount_percent"))}


@bp.get("/tiers")
@brand_page
def tier_list() -> Any:
    """Member tiers by threshold; a customer's tier follows their spend."""
    return _page("wallet/admin_tiers.html", tiers=tiers.all_tiers())


@bp.route("/tiers/new", methods=["GET", "POST"])
@brand_page
def tier_new() -> Any:
    """A new tier: spend at least X, get Y% off every booking."""
    form, tier = _submit(Form({"discount_percent": 5}),
                         lambda f: tiers.create_tier(_tier_values(f)))
    if tier is not None:
        flash(_("Tier %(name)s added.", name=tier.name), "success")
        return redirect(url_for("wallet_admin.tier_list"))
    return _page("wallet/admin_tier_form.html", status_of(form), form=form, tier=None)


@bp.route("/tiers/<id:tier_id>", methods=["GET", "POST"])
@brand_page
def tier_edit(tier_id: int) -> Any:
    """Edit a tier's name, threshold or discount."""
    tier = _found(tiers.find_tier, tier_id)
    form, saved = _submit(Form({"name": tier.name, "min_spend": format_major(tier.min_spend),
                                "discount_percent": tier.discount_percent}),
                          lambda f: tiers.update_tier(tier.id, _tier_values(f)))
    if saved is not None:
        flash(_("Tier %(name)s saved.", name=saved.name), "success")
        return redirect(url_for("wallet_admin.tier_list"))
    return _page("wallet/admin_tier_form.html", status_of(form), form=form, tier=tier)


@bp.post("/tiers/<id:tier_id>/delete")
@brand_page
def tier_delete(tier_id: int) -> Any:
    """Delete a tier (only a threshold; customers fall to the tier below)."""
    tier: Tier = _found(tiers.find_tier, tier_id)
    name = tier.name
    tiers.delete_tier(tier.id)
    flash(_("Tier %(name)s deleted.", name=name), "success")
    return redirect(url_for("wallet_admin.tier_list"))

