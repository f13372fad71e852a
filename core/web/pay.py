"""The page every online payment goes through: ``/pay/<ref>``.

Starting an online payment (checkout page, stored-value top-up, API) commits a pending
payment and sends the customer here. This page asks the provider how to pay
(:func:`core.finance.online.begin`), and then either sends the browser on
(Alipay's page, WeChat Pay's H5 page), shows a QR code to scan (WeChat Pay Native, e.g.
on a desktop), or hands WeChat's JS bridge its parameters (inside WeChat). The page
polls its own status and moves on once the provider's notification settled the
payment; "I have paid" asks the provider directly, for a notification that is late or
lost.

Only the order's customer and its store see the page (others: 404, anonymous: login).
"""

from __future__ import annotations

from typing import Any

import segno
from flask import (
    Blueprint,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import select

from ..auth import policy
from ..extensions import db
from ..finance import online, polling
from ..finance.providers import ProviderError, installed
from ..models import Booking, Order, Payment, User
from .session import page_user

bp = Blueprint("pay", __name__, url_prefix="/pay")


def after_payment(payment: Payment, order: Order, user: User) -> str:
    """Where the payer goes once the payment is settled (or given up): the booking or
    the member centre for customers, the booking's back-office page for the store."""
    relation = policy.order_relation(user, order)
    if order.booking_id is not None:
        booking = db.session.get(Booking, order.booking_id)
        if booking is not None:
            if relation == "customer":
                return url_for("customer.booking", code=booking.code)
            return url_for("admin.booking_detail", booking_id=booking.id)
    if relation == "customer":
        return url_for("customer.member")
    return url_for("pay.page", ref=payment.external_ref)


def _visible(ref: str) -> tuple[Payment, Order, User] | Any:
    payment = db.session.scalars(select(Payment).where(Payment.external_ref == ref)).first()
    order = db.session.get(Order, payment.order_id) if payment is not None else None
    if payment is None or order is None or payment.provider not in installed():
        abort(404)
    user = page_user()
    if user is None:
        return redirect(url_for("account.customer_login", next=request.path))
    if policy.order_relation(user, order) is None:
        abort(404)
    return payment, order, user


def _qr_svg(text: str) -> Markup:
    """The QR code as inline SVG (no external image service, no inline script)."""
    return Markup(segno.make(text, error="m").svg_inline(scale=6, border=2, omitsize=True))


@bp.get("/<string(maxlength=40):ref>")
def page(ref: str) -> Any:
    found = _visible(ref)
    if not isinstance(found, tuple):
        return found
    payment, order, user = found
    if payment.status == "succeeded":
        return redirect(after_payment(payment, order, user))
    checkout, error = None, None
    if payment.status == "pending" and payment.checkout:
        # Back from the provider's page (or a reload): its notification may not be here
        # yet, so ask the provider once instead of sending the customer to pay again.
        _ask(payment)
        payment, order = db.session.get(Payment, payment.id), db.session.get(Order, order.id)
        if payment.status == "succeeded":
            return redirect(after_payment(payment, order, user))
    if payment.status == "pending":
        first = not payment.checkout
        try:
            checkout = online.begin(payment, order,
                                    user_agent=request.headers.get("User-Agent", ""),
                                    client_ip=request.remote_addr or "")
        except ProviderError as exc:
            error = str(exc.message)
        if first and checkout is not None and checkout.redirect_url:
            return redirect(checkout.redirect_url)
    provider = installed()[payment.provider]
    return render_template(
        "pay/page.html", payment=payment, order=order, provider=provider,
        checkout=checkout, error=error,
        qr=_qr_svg(checkout.qr_text) if checkout is not None and checkout.qr_text else None,
        done_url=after_payment(payment, order, user)), 502 if error else 200


@bp.get("/<string(maxlength=40):ref>/status")
def status(ref: str) -> Any:
    """The payment's status, polled by the page's script."""
    found = _visible(ref)
    if not isinstance(found, tuple):
        abort(404)
    payment, order, user = found
    return jsonify({"status": payment.status,
                    "next": after_payment(payment, order, user)
                    if payment.status != "pending" else None})


@bp.post("/<string(maxlength=40):ref>/check")
def check(ref: str) -> Any:
    """"I have paid": ask the provider now instead of waiting for its notification."""
    found = _visible(ref)
    if not isinstance(found, tuple):
        return found
    _ask(found[0])
    return redirect(url_for("pay.page", ref=ref))


def _ask(payment: Payment) -> None:
    """Ask the provider about ``payment`` now; unreachable, the page says it is still
    waiting and the poller keeps asking."""
    try:
        polling.check_payment(payment)
    except ProviderError:
        pass
    db.session.expire_all()
