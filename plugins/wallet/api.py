"""The wallet's API resources (``/api/v1/wallet``), documented with the core's while the
plugin is enabled.

Every call that moves money or points honours ``Idempotency-Key`` through the core's
:func:`core.sdk.api.idempotent`: the reply is stored with the sale, in its
transaction, and replayed to retries (also concurrent ones); the same key with another
body is 422."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from core.sdk import ValidationFailed, db
from core.sdk.api import (
    IDEMPOTENCY_DOC,
    OPTIONAL_LOGIN,
    PUBLIC,
    Change,
    Flag,
    Forbidden,
    Id,
    MinorUnits,
    audited,
    current_user,
    idempotent,
    json_reply,
    not_found,
    policy,
    require_user,
)
from core.sdk.models import Order

from . import points, punch, service, tiers

blp = Blueprint("wallet", __name__, url_prefix="/api/v1/wallet",
                description="Stored value (wallet plugin)")


class PlanIn(service.PlanSchema):
    """The rules the set-up page uses too (``service.PlanSchema``)."""


class PlanPatch(Change, service.PlanSchema):
    """Any of the fields (loaded partial); the others stay."""

    active = Flag(metadata={"description": "false retires the plan"})


class ListQuery(ma.Schema):
    include_retired = ma.fields.Boolean(load_default=False, metadata={
        "description": "brand admins: also the retired ones (not sold any more)"})


class PlanOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    pay_amount = ma.fields.Integer()
    bonus_amount = ma.fields.Integer()
    active = ma.fields.Boolean(metadata={"description": "false: retired, not sold"})


class TopUpIn(ma.Schema):
    customer_id = Id(required=True)
    store_id = Id(required=True)
    plan_id = Id(load_default=None, allow_none=True,
                 metadata={"description": "a plan, or give amount (no bonus)"})
    amount = MinorUnits(load_default=None, allow_none=True, minimum=1)
    provider = ma.fields.String(load_default="cash", validate=ma.validate.OneOf(["cash"]))


class WalletOut(ma.Schema):
    customer_id = ma.fields.Integer()
    principal = ma.fields.Integer()
    bonus = ma.fields.Integer()
    total = ma.fields.Integer()
    spend = ma.fields.Integer(metadata={"description": "paid less refunded, all orders"})
    tier = ma.fields.String(allow_none=True)
    points = ma.fields.Integer()
    punch_cards = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "id, uses_left, uses_total, expires_at"})
    statement = ma.fields.List(ma.fields.Dict())


class CardRefundIn(ma.Schema):
    store_id = Id(required=True)
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))


class CardRefundOut(ma.Schema):
    principal_refunded = ma.fields.Integer()
    bonus_voided = ma.fields.Integer()


class TierIn(tiers.TierSchema):
    """The rules the set-up page uses too (``tiers.TierSchema``)."""


class TierPatch(Change, tiers.TierSchema):
    """Any of the fields (loaded partial); the others stay."""


class TierOut(TierIn):
    id = ma.fields.Integer()


def _wallet(customer_id: int) -> dict[str, Any]:
    rows = service.statement(customer_id)
    for row in rows:
        row["at"] = row["at"].isoformat()
    tier = tiers.tier_of(customer_id)
    cards = [{"id": c.id, "uses_left": c.uses_left, "uses_total": c.uses_total,
              "expires_at": c.expires_at.isoformat()} for c in punch.cards_of(customer_id)]
    return {"customer_id": customer_id, **service.balances(customer_id), "statement": rows,
            "spend": tiers.spend(customer_id), "tier": tier.name if tier else None,
            "punch_cards": cards, "points": points.balance(customer_id)}


def _wallet_reply(customer_id: int, status: int = 201) -> Response:
    """The card after a sale, as the reply remembered inside the sale's transaction."""
    return json_reply(WalletOut().dump(_wallet(customer_id)), status)


def _brand_admin(message: Any) -> None:
    if not policy.is_brand_admin(require_user()):
        raise Forbidden(message)


def _with_retired(args: dict[str, Any]) -> bool:
    """Retired ones are listed for brand admins who ask; others see what is on sale."""
    return bool(args["include_retired"]) and policy.is_brand_admin(current_user())


@blp.get("/plans")
@blp.doc(**OPTIONAL_LOGIN)
@blp.arguments(ListQuery, location="query")
@blp.response(200, PlanOut(many=True))
def plans(args: dict[str, Any]) -> list[Any]:
    """Top-up plans on sale (pay X, get X + bonus)."""
    return service.plans(include_retired=_with_retired(args))


@blp.post("/plans")
@blp.arguments(PlanIn)
@blp.response(201, PlanOut)
@audited
def add_plan(data: dict[str, Any]) -> Any:
    """A new top-up plan (owners and brand admins)."""
    _brand_admin(_l("Only brand admins sell new plans."))
    return service.create_plan(data)


@blp.patch("/plans/<id:plan_id>")
@blp.arguments(PlanPatch(partial=True))
@blp.response(200, PlanOut)
@audited
def update_plan(data: dict[str, Any], plan_id: int) -> Any:
    """Change a plan, or retire it (``active: false``; cards topped up keep their
    balance) and sell it again (owners and brand admins)."""
    _brand_admin(_l("Only brand admins change plans."))
    service.find_plan(plan_id)
    active = data.pop("active", None)
    plan = service.update_plan(plan_id, data) if data else service.find_plan(plan_id)
    if active is not None:
        plan = service.set_plan_active(plan_id, active)
    return plan


@blp.post("/top-ups")
@blp.arguments(TopUpIn)
@blp.response(201, WalletOut)
@blp.doc(parameters=IDEMPOTENCY_DOC)
@audited
def top_up(data: dict[str, Any]) -> Response:
    """Sell stored value at a store, paid in cash at the desk (the store's front desk
    and managers). A retry with the same Idempotency-Key sells nothing twice and gets
    the first reply; the same key for another customer or amount is 422."""
    user = require_user()
    if not policy.can_manage_store(user, data["store_id"]):
        raise not_found(_l("Store"))
    if data["plan_id"] is not None:
        plan = service.get_plan(data["plan_id"])
        paid, extra = plan.pay_amount, plan.bonus_amount
    elif data["amount"]:
        paid, extra = data["amount"], 0
    else:
        raise ValidationFailed(_l("The input is not valid."), field_errors={
            "amount": [_l("Give a plan or an amount.")]})
    return idempotent("wallet.top_up", lambda remember: service.top_up(
        data["customer_id"], data["store_id"], paid, extra, plan_id=data["plan_id"],
        user_id=user.id, before_commit=lambda row: remember(_wallet_reply(row.customer_id))))


@blp.get("/customers/<id:customer_id>")
@blp.response(200, WalletOut)
def customer_wallet(customer_id: int) -> dict[str, Any]:
    """Balance (principal and bonus) and statement: the store's CRM users, or the
    customer themself."""
    user = require_user()
    own = policy.customer_of(user)
    if not policy.is_crm_user(user) and (own is None or own.id != customer_id):
        raise not_found(_l("Customer"))
    service.get_customer(customer_id)
    return _wallet(customer_id)


@blp.post("/customers/<id:customer_id>/refund")
@blp.arguments(CardRefundIn)
@blp.response(200, CardRefundOut)
@blp.doc(parameters=IDEMPOTENCY_DOC)
@audited
def refund_card(data: dict[str, Any], customer_id: int) -> Response:
    """Refund the card: the principal is paid back in cash at the store, the remaining
    bonus is voided (the store's managers)."""
    user = require_user()
    if not policy.administers(user, data["store_id"]):
        raise Forbidden(_l("Only the store's managers refund cards."))
    return idempotent("wallet.card_refund", lambda remember: service.refund_card(
        customer_id, data["store_id"], reason=data["reason"],
        before_commit=lambda done: remember(json_reply(CardRefundOut().dump(done), 200))))


@blp.get("/tiers")
@blp.doc(**PUBLIC)
@blp.response(200, TierOut(many=True))
def list_tiers() -> list[Any]:
    """Member tiers, lowest first."""
    return tiers.all_tiers()


@blp.post("/tiers")
@blp.arguments(TierIn)
@blp.response(201, TierOut)
@audited
def add_tier(data: dict[str, Any]) -> Any:
    """A member tier (owners and brand admins); a threshold already used is 409."""
    _brand_admin(_l("Only brand admins set member tiers."))
    return tiers.create_tier(data)


@blp.patch("/tiers/<id:tier_id>")
@blp.arguments(TierPatch(partial=True))
@blp.response(200, TierOut)
@audited
def update_tier(data: dict[str, Any], tier_id: int) -> Any:
    """Change a tier (owners and brand admins); a threshold already used is 409."""
    _brand_admin(_l("Only brand admins set member tiers."))
    return tiers.update_tier(tier_id, data)


@blp.delete("/tiers/<id:tier_id>")
@blp.response(204)
@audited
def delete_tier(tier_id: int) -> None:
    """Delete a tier (owners and brand admins): only a threshold, nothing was sold."""
    _brand_admin(_l("Only brand admins set member tiers."))
    tiers.delete_tier(tier_id)


class PunchProductIn(punch.ProductSchema):
    """The rules the set-up page uses too (``punch.ProductSchema``)."""


class PunchProductPatch(Change, punch.ProductSchema):
    """Any of the fields (loaded partial); the others stay."""

    active = Flag(metadata={"description": "false retires the product"})


class PunchProductOut(PunchProductIn):
    id = ma.fields.Integer()
    active = ma.fields.Boolean(metadata={"description": "false: retired, not sold"})


class PunchSaleIn(ma.Schema):
    customer_id = Id(required=True)
    store_id = Id(required=True)
    product_id = Id(required=True)


@blp.get("/punch-products")
@blp.doc(**OPTIONAL_LOGIN)
@blp.arguments(ListQuery, location="query")
@blp.response(200, PunchProductOut(many=True))
def punch_products(args: dict[str, Any]) -> list[Any]:
    """Punch cards on sale."""
    return punch.products(include_retired=_with_retired(args))


@blp.post("/punch-products")
@blp.arguments(PunchProductIn)
@blp.response(201, PunchProductOut)
@audited
def add_punch_product(data: dict[str, Any]) -> Any:
    """A punch card product: N visits of these services within the validity (owners and
    brand admins)."""
    _brand_admin(_l("Only brand admins sell new plans."))
    return punch.create_product(data)


@blp.patch("/punch-products/<id:product_id>")
@blp.arguments(PunchProductPatch(partial=True))
@blp.response(200, PunchProductOut)
@audited
def update_punch_product(data: dict[str, Any], product_id: int) -> Any:
    """Change a punch card product, or retire it (``active: false``; cards sold keep
    working) and sell it again (owners and brand admins)."""
    _brand_admin(_l("Only brand admins change plans."))
    punch.find_product(product_id)
    active = data.pop("active", None)
    product = punch.update_product(product_id, data) if data else punch.find_product(
        product_id)
    if active is not None:
        product = punch.set_product_active(product_id, active)
    return product


@blp.post("/punch-cards")
@blp.arguments(PunchSaleIn)
@blp.response(201, WalletOut)
@blp.doc(parameters=IDEMPOTENCY_DOC)
@audited
def sell_punch_card(data: dict[str, Any]) -> Response:
    """Sell a punch card for cash at a store (its front desk and managers)."""
    if not policy.can_manage_store(require_user(), data["store_id"]):
        raise not_found(_l("Store"))
    service.get_customer(data["customer_id"])
    return idempotent("wallet.punch_card", lambda remember: punch.sell(
        data["customer_id"], data["store_id"], data["product_id"],
        before_commit=lambda card: remember(_wallet_reply(card.customer_id))))


class RedeemIn(ma.Schema):
    points = ma.fields.Integer(required=True, strict=True,
                               validate=ma.validate.Range(min=1, max=10_000_000))


class RedeemOut(ma.Schema):
    order_id = ma.fields.Integer()
    total = ma.fields.Integer()
    points_left = ma.fields.Integer()


@blp.post("/orders/<id:order_id>/redeem-points")
@blp.arguments(RedeemIn)
@blp.response(200, RedeemOut)
@blp.doc(parameters=IDEMPOTENCY_DOC)
@audited
def redeem_points(data: dict[str, Any], order_id: int) -> Response:
    """Redeem points as a discount on an open order (the customer, or the store at the
    desk). Points that expire first are spent first; more than available is 409."""
    user = require_user()
    order = db.session.get(Order, order_id)
    if order is None or policy.order_relation(user, order) not in ("manager", "customer"):
        raise not_found(_l("Order"))

    def reply(done: Order) -> Response:
        return json_reply(RedeemOut().dump({
            "order_id": done.id, "total": done.total,
            "points_left": points.balance(done.customer_id)}), 200)

    return idempotent("wallet.redeem_points", lambda remember: points.redeem(
        order.id, data["points"], before_commit=lambda done: remember(reply(done))))
