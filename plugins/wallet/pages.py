"""The wallet in the back office: sell stored value and punch cards at the desk, and
see the plans, punch cards and tiers on sale. Mounted and in the menu only while the
plugin is enabled."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.auth import policy
from core.errors import FulianError
from core.extensions import db
from core.models import Customer
from core.web.forms import Form, optional_int
from core.web.session import back_office, page_user

from . import punch, service
from .models import PunchProduct, Tier, TopUpPlan

bp = Blueprint("wallet_admin", __name__, url_prefix="/admin/wallet",
               template_folder="templates")


def _customer(form: Form) -> Customer | None:
    phone = form.get("phone").replace(" ", "").replace("-", "")
    found = db.session.scalars(select(Customer).where(Customer.phone == phone)).first()
    if found is None:
        form.errors["phone"] = [_("No customer has this phone number.")]
    return found


@bp.route("/", methods=["GET", "POST"])
@back_office
def index() -> Any:
    stores = policy.stores_of(page_user(), active_only=True)
    form = Form({"store_id": stores[0].id if stores else ""})
    status = 200
    if request.method == "POST":
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
        status = 422
    phone = request.args.get("phone") or form.get("phone")
    customer = db.session.scalars(select(Customer).where(Customer.phone == phone)).first() \
        if phone else None
    return render_template(
        "wallet/admin.html", face="admin", form=form, stores=stores,
        plans=db.session.scalars(select(TopUpPlan).where(TopUpPlan.active.is_(True))).all(),
        products=db.session.scalars(select(PunchProduct).where(
            PunchProduct.active.is_(True))).all(),
        tiers=db.session.scalars(select(Tier).order_by(Tier.min_spend)).all(),
        customer=customer, balances=service.balances(customer.id) if customer else None,
        cards=punch.cards_of(customer.id) if customer else [],
        once=secrets.token_hex(8)), status
