"""Orders and money: quote, the order of a booking, receipts, cash payments, refunds.

Money-moving calls honour ``Idempotency-Key`` (:mod:`core.idempotency`): the key is
claimed before the payment, the reply is stored in the same transaction as the ledger
postings and replayed byte for byte on a retry, also to copies sent at the same moment.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request, url_for
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from ..armour import raw_body
from ..auth import policy
from ..extensions import db
from ..finance import callbacks, online, orders
from ..finance.providers import CHANNELS, installed, providers
from ..idempotency import Remember, idempotent, json_reply
from ..models import Booking, Order, Payment, Service, Store
from ..validation import MinorUnits
from .common import (
    IDEMPOTENCY_DOC,
    OPTIONAL_LOGIN,
    Forbidden,
    Id,
    audited,
    current_user,
    not_found,
    require_user,
)

blp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Orders and payments")


class QuoteIn(ma.Schema):
    store_id = Id(required=True)
    service_id = Id(required=True)


class LineOut(ma.Schema):
    kind = ma.fields.String()
    description = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price = ma.fields.Integer(metadata={"description": "minor units"})
    amount = ma.fields.Integer(metadata={"description": "minor units"})


class AdjustmentOut(ma.Schema):
    source = ma.fields.String(metadata={"description": "the plugin that applied it"})
    label = ma.fields.String()
    amount = ma.fields.Integer(metadata={"description": "signed minor units"})


class QuoteOut(ma.Schema):
    currency = ma.fields.String()
    lines = ma.fields.List(ma.fields.Nested(LineOut))
    adjustments = ma.fields.List(ma.fields.Nested(AdjustmentOut))
    subtotal = ma.fields.Integer()
    total = ma.fields.Integer()


class PaymentOut(ma.Schema):
    id = ma.fields.Integer()
    provider = ma.fields.String()
    amount = ma.fields.Integer()
    refunded = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "pending, succeeded or failed"})
    redirect_url = ma.fields.String(metadata={
        "description": "online payments: our pay page, where the customer pays (it "
                       "shows a QR code or moves on to the provider)"})


class RefundOut(ma.Schema):
    id = ma.fields.Integer()
    payment_id = ma.fields.Integer()
    amount = ma.fields.Integer()
    reason = ma.fields.String()
    status = ma.fields.String(metadata={
        "description": "succeeded; online refunds are pending until the provider "
                       "confirms them, or failed (the amount can be refunded again)"})


class OrderOut(QuoteOut):
    id = ma.fields.Integer()
    store_id = ma.fields.Integer()
    customer_id = ma.fields.Integer(allow_none=True)
    booking_id = ma.fields.Integer(allow_none=True)
    status = ma.fields.String(metadata={"description": "open, paid, cancelled, refunded"})
    paid = ma.fields.Integer()
    refunded = ma.fields.Integer()
    due = ma.fields.Integer()
    deposit = ma.fields.Integer(metadata={"description": "asked up front by the policy"})
    payments = ma.fields.List(ma.fields.Nested(PaymentOut))
    refunds = ma.fields.List(ma.fields.Nested(RefundOut))


class PaymentIn(ma.Schema):
    provider = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^[a-z][a-z0-9_-]{0,39}$"),
        metadata={"description": "cash (recorded at the store), an online provider "
                                 "(wechatpay, alipay; sandbox in demo deployments), or a "
                                 "plugin's account tender such as wallet; a method not "
                                 "offered is 409"})
    amount = MinorUnits(required=True, minimum=1)
    channel = ma.fields.String(
        validate=ma.validate.OneOf(CHANNELS),
        metadata={"description": "online: native (QR code), h5 (phone browser), jsapi "
                                 "(inside WeChat or a mini-program, with openid), page "
                                 "or wap (Alipay); by default the pay page picks one for "
                                 "the device"})
    openid = ma.fields.String(
        validate=ma.validate.Regexp(r"^[A-Za-z0-9_-]{1,128}$"),
        metadata={"description": "online, channel jsapi: the payer's WeChat openid"})


class CheckoutIn(ma.Schema):
    channel = ma.fields.String(validate=ma.validate.OneOf(CHANNELS), metadata={
        "description": "the channel wanted, if the payment was started without one"})


class CheckoutOut(ma.Schema):
    channel = ma.fields.String()
    redirect_url = ma.fields.String(allow_none=True, metadata={
        "description": "send the customer's browser here"})
    qr_text = ma.fields.String(allow_none=True, metadata={
        "description": "show this as a QR code for the customer to scan"})
    params = ma.fields.Dict(metadata={
        "description": "jsapi: the signed parameters for wx.requestPayment / "
                       "WeixinJSBridge"})


class RefundIn(ma.Schema):
    amount = MinorUnits(required=True, minimum=1)
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))


def _order_dict(order: Order) -> dict[str, Any]:
    return {
        "id": order.id, "store_id": order.store_id, "customer_id": order.customer_id,
        "booking_id": order.booking_id, "status": order.status, "currency": order.currency,
        "lines": order.lines, "adjustments": order.adjustments, "subtotal": order.subtotal,
        "total": order.total, "paid": order.paid, "refunded": order.refunded,
        "due": orders.due(order), "deposit": order.deposit, "payments": order.payments,
        "refunds": order.refunds,
    }


def _visible(order_id: int) -> tuple[Order, str]:
    user = require_user()
    order = db.session.get(Order, order_id)
    relation = policy.order_relation(user, order) if order is not None else None
    if order is None or relation is None:
        raise not_found(_l("Order"))
    return order, relation


@blp.post("/orders/quote")
@blp.doc(**OPTIONAL_LOGIN)
@blp.arguments(QuoteIn)
@blp.response(200, QuoteOut)
def quote(data: dict[str, Any]) -> dict[str, Any]:
    """What a service costs at a store for the caller, with every adjustment explained
    (member discounts and the like come from plugins)."""
    store = db.session.get(Store, data["store_id"])
    svc = db.session.get(Service, data["service_id"])
    if store is None or store.status != "active":
        raise not_found(_l("Store"))
    if svc is None or not svc.published:
        raise not_found(_l("Service"))
    result = orders.quote_for_service(store, svc, policy.customer_of(current_user()))
    return {"currency": result.currency, "lines": result.lines,
            "adjustments": result.adjustments, "subtotal": result.subtotal,
            "total": result.total}


@blp.post("/bookings/<id:booking_id>/order")
@blp.response(201, OrderOut)
@audited
def booking_order(booking_id: int) -> dict[str, Any]:
    """The booking's order (created on first call from a fresh quote; one per booking)."""
    user = require_user()
    booking = db.session.get(Booking, booking_id)
    if booking is None or policy.booking_relation(user, booking) is None:
        raise not_found(_l("Booking"))
    return _order_dict(orders.order_for_booking(booking, user.id))


@blp.get("/orders/<id:order_id>")
@blp.response(200, OrderOut)
def read_order(order_id: int) -> dict[str, Any]:
    """A receipt: lines, adjustments with their source, payments and refunds."""
    order, _ = _visible(order_id)
    return _order_dict(order)


@blp.post("/orders/<id:order_id>/payments")
@blp.arguments(PaymentIn)
@blp.response(201, PaymentOut)
@blp.doc(parameters=IDEMPOTENCY_DOC)
@audited
def pay(data: dict[str, Any], order_id: int) -> Response:
    """Pay part or all of what is due. ``cash`` is recorded by the store (front desk,
    managers, or the staff member who served the booking) and settles at once, as do
    plugins' account tenders (e.g. ``wallet``: stored value, 409 when short);
    ``sandbox`` is started by the customer (or the store) and answers a
    ``redirect_url``: the payment settles when the provider's signed notification
    arrives. Part payments add up; more than is due is 409."""
    order, relation = _visible(order_id)
    user = require_user()
    ready = providers()
    is_online = data["provider"] in ready
    if data["provider"] == "cash" and relation not in ("manager", "staff"):
        raise Forbidden(_l("Only the store records cash payments."))
    if is_online and relation not in ("manager", "customer"):
        raise Forbidden(_l("Only the customer or the store starts an online payment."))

    def reply(payment: Payment) -> Response:
        out = PaymentOut().dump(payment)
        if is_online:  # the pay page asks the provider after this commit
            out["redirect_url"] = url_for("pay.page", ref=payment.external_ref)
        return json_reply(out)

    def effect(remember: Remember) -> None:
        def keep(payment: Payment) -> None:
            remember(reply(payment))
        if is_online:
            orders.start_online(order.id, data["provider"], data["amount"],
                                ready[data["provider"]].new_reference(), user_id=user.id,
                                channel=data.get("channel"), payer=data.get("openid"),
                                before_commit=keep)
        else:
            orders.pay(order.id, data["provider"], data["amount"], user_id=user.id,
                       before_commit=keep)

    return idempotent("orders.pay", effect)


@blp.post("/payments/<id:payment_id>/checkout")
@blp.arguments(CheckoutIn)
@blp.response(200, CheckoutOut)
def checkout(data: dict[str, Any], payment_id: int) -> dict[str, Any]:
    """How to pay a pending online payment, for apps and mini-programs that do not use
    the pay page: the provider is asked once (the answer is kept, so asking again
    returns the same). 409 when the payment is no longer pending; 502 when the
    provider cannot be reached."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.provider not in installed():
        raise not_found(_l("Payment"))
    order, relation = _visible(payment.order_id)
    if relation not in ("manager", "customer"):
        raise Forbidden(_l("Only the customer or the store starts an online payment."))
    return online.begin(payment, order, user_agent=request.headers.get("User-Agent", ""),
                        client_ip=request.remote_addr or "",
                        channel=data.get("channel")).as_dict()


@blp.post("/payments/<string(maxlength=40):provider>/notify")
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": {"type": "object"}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
    "description": "the provider's signed notification, as it sends it"},
    security=[], responses={"200": {"description": "the acknowledgement the provider "
                                                   "expects", "content": {
        "application/json": {"schema": {"type": "object"}},
        "text/plain": {"schema": {"type": "string"}}}}})
@raw_body
def notify(provider: str) -> Response:
    """Server-to-server notification from an online provider (payments and refunds).
    Verified (signature, timestamp within ±5 minutes, nonce never seen before) and
    idempotent: a retry of a processed payment changes nothing. Answered the way the
    provider expects (WeChat Pay: JSON; Alipay: ``success``); 401 for anything that
    cannot be trusted, 404 for an unknown payment, 409 for an amount that does not
    match."""
    outcome = callbacks.handle(provider, request.get_data(), request.headers)
    body, status, mimetype = installed()[provider].acknowledge(outcome)
    return Response(body, status=status, mimetype=mimetype)


@blp.post("/orders/<id:order_id>/refunds")
@blp.arguments(RefundIn)
@blp.response(201, RefundOut(many=True))
@blp.doc(parameters=IDEMPOTENCY_DOC)
@audited
def refund(data: dict[str, Any], order_id: int) -> Response:
    """Refund part or all of what was paid, back to the original tenders (the store's
    managers). More than was paid is 409."""
    order, relation = _visible(order_id)
    user = require_user()
    if relation != "manager" or not policy.administers(user, order.store_id):
        raise Forbidden(_l("Only the store's managers refund."))
    return idempotent("orders.refund", lambda remember: orders.refund(
        order.id, data["amount"], data["reason"], user_id=user.id,
        before_commit=lambda rows: remember(json_reply(RefundOut(many=True).dump(rows)))))
