"""The wallet in the back office: the desk (sell stored value and punch cards for cash,
look a customer up: balance, statement, cards, points, tier; refund the card) and the
set-up pages of plans, punch cards and tiers (``pages_setup``). Mounted and in the menu
only while the plugin is enabled.

The desk is for every back-office user of a store (front desk included, as the API's
top-up); refunding a card is for the managers who administer the store paying the cash
back (``policy.administers``, as the API's refund)."""

from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.sdk import FulianError, db
from core.sdk.models import BrandSettings, Customer, Store
from core.sdk.services import phones
from core.sdk.web import (
    Form,
    back_office,
    fmt_date,
    fmt_datetime,
    money,
    optional_int,
    page_user,
    policy,
)

from . import points, punch, service, tiers
from .blueprints import admin as bp
from .models import PunchProduct


def kind_label(kind: str) -> str:
    """A statement row's kind in the reader's language."""
    labels = {"top_up": _("Top-up"), "payment": _("Payment"), "refund": _("Refund"),
              "card_refund": _("Card refund"), "reversal": _("Correction")}
    return labels.get(kind, kind)


def tabs() -> list[dict[str, Any]]:
    """The wallet's sub-navigation: the desk for everyone, set-up for brand admins."""
    items = [("wallet_admin.index", _("Desk"))]
    if policy.is_brand_admin(page_user()):
        items += [("wallet_admin.plans", _("Top-up plans")),
                  ("wallet_admin.products", _("Punch cards")),
                  ("wallet_admin.tier_list", _("Member tiers"))]
    here = request.endpoint or ""
    prefix = {"wallet_admin.plan": "wallet_admin.plans",
              "wallet_admin.product": "wallet_admin.products",
              "wallet_admin.tier": "wallet_admin.tier_list"}
    active = next((v for k, v in prefix.items() if here.startswith(k)), here)
    return [{"url": url_for(endpoint), "label": label, "active": endpoint == active}
            for endpoint, label in items]


def _normal_phone(text: str) -> str:
    """The number as customers are stored (E.164), whatever the desk typed; what was
    typed when it is not a valid number (nothing then matches)."""
    return phones.lookup_key(text or "") or (text or "").strip()


def _customer(form: Form) -> Customer | None:
    phone = _normal_phone(form.get("phone"))
    found = db.session.scalars(select(Customer).where(Customer.phone == phone)).first() \
        if phone else None
    if found is None:
        form.errors["phone"] = [_("No customer has this phone number.")]
    return found


def _zone(store: Store | None) -> ZoneInfo:
    if store is not None:
        return ZoneInfo(store.timezone)
    brand = db.session.get(BrandSettings, 1)
    return ZoneInfo(brand.timezone if brand is not None else "Asia/Shanghai")


def _panel(customer: Customer) -> dict[str, Any]:
    """Everything the desk shows about a customer's wallet, dates in the store's zone."""
    stores = {s.id: s for s in db.session.scalars(select(Store))}
    rows = service.statement(customer.id)
    statement = []
    for row, store_id in zip(rows, service.statement_stores(rows), strict=True):
        store = stores.get(store_id) if store_id else None
        statement.append({**row, "store": store, "label": kind_label(row["kind"]),
                          "when": fmt_datetime(row["at"], _zone(store))})
    names = {p.id: p.name for p in db.session.scalars(select(PunchProduct))}
    cards = [{"card": c, "name": names.get(c.product_id, "—"),
              "store": stores.get(c.store_id),
              "expires": fmt_date(c.expires_at, _zone(stores.get(c.store_id))),
              "expired": punch.is_expired(c)}
             for c in punch.cards_of(customer.id)]
    tier = tiers.tier_of(customer.id)
    return {"balances": service.balances(customer.id), "statement": statement,
            "cards": cards, "points": points.balance(customer.id), "tier": tier,
            "spend": tiers.spend(customer.id)}


def _desk(form: Form | None = None, refund_form: Form | None = None,
          customer: Customer | None = None, status: int = 200) -> Any:
    user = page_user()
    stores = policy.stores_of(user, active_only=True)
    form = form or Form({"store_id": stores[0].id if stores else ""})
    refund_stores = policy.stores_of(user, administered=True, active_only=True)
    if customer is None:
        phone = _normal_phone(request.args.get("phone", ""))
        customer = db.session.scalars(select(Customer).where(Customer.phone == phone)
                                      ).first() if phone else None
        if phone and customer is None:
            form.errors.setdefault("lookup", [_("No customer has this phone number.")])
    if customer is not None and not form.get("phone"):
        form.values["phone"] = customer.phone
    refund_form = refund_form or Form({"store_id": refund_stores[0].id
                                       if refund_stores else ""})
    return render_template(
        "wallet/admin.html", face="admin", form=form, refund_form=refund_form,
        stores=stores, refund_stores=refund_stores, tabs=tabs(),
        plans=service.plans(), products=punch.products(), tiers=tiers.all_tiers(),
        customer=customer, panel=_panel(customer) if customer else None,
        lookup=request.args.get("phone", ""), once=secrets.token_hex(8)), status


@bp.route("/", methods=["GET", "POST"])
@back_office
def index() -> Any:
    """The desk: look a customer up, sell stored value or a punch card for cash."""
    if request.method == "GET":
        return _desk()
    stores = policy.stores_of(page_user(), active_only=True)
    form = Form.submitted()
    store_id = optional_int(form.get("store_id"))
    customer = _customer(form)
    if store_id not in {s.id for s in stores}:
        form.errors["store_id"] = [_("Choose one of your stores.")]
    if form.ok and customer is not None:
        try:
            if form.get("what") == "punch":
                product_id = optional_int(form.get("product_id")) or 0
                punch.sell(customer.id, store_id, product_id)
            else:
                plan = service.get_plan(optional_int(form.get("plan_id")) or 0)
                service.top_up(customer.id, store_id, plan.pay_amount,
                               plan.bonus_amount, plan_id=plan.id,
                               key=form.get("once") or None,
                               user_id=page_user().id)
            flash(_("Sold to %(name)s.", name=customer.name), "success")
            return redirect(url_for("wallet_admin.index", phone=customer.phone))
        except FulianError as exc:
            db.session.rollback()
            form.fail(exc)
    return _desk(form, customer=customer, status=422)


@bp.post("/customers/<id:customer_id>/refund")
@back_office
def refund(customer_id: int) -> Any:
    """Refund the card: principal back in cash at the chosen store, bonus voided. Only
    the managers who administer that store (front desks get 403, as in the API)."""
    user = page_user()
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        abort(404)
    form = Form.submitted()
    store_id = optional_int(form.get("store_id"))
    if store_id is None or not policy.administers(user, store_id):
        abort(403)
    try:
        done = service.refund_card(customer.id, store_id, reason=form.get("reason")[:200])
    except FulianError as exc:
        db.session.rollback()
        return _desk(refund_form=form.fail(exc), customer=customer, status=422)
    flash(_("Card refunded: %(principal)s paid back in cash, %(bonus)s bonus voided.",
            principal=money(done["principal_refunded"]),
            bonus=money(done["bonus_voided"])), "success")
    return redirect(url_for("wallet_admin.index", phone=customer.phone))
