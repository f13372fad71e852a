"""The sandbox provider's payment page: what a customer sees on an online provider's
site. Paying (or failing) here makes the "provider" send its signed notification
through the same verification as a real one, then returns the customer to us."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from sqlalchemy import select

from ..extensions import db
from ..finance import callbacks, sandbox
from ..models import Booking, Order, Payment

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _payment(ref: str) -> tuple[Payment, Order]:
    payment = db.session.scalars(select(Payment).where(
        Payment.external_ref == ref, Payment.provider == "sandbox")).first()
    if payment is None:
        abort(404)
    return payment, db.session.get(Order, payment.order_id)


@bp.route("/pay/<string(maxlength=40):ref>", methods=["GET", "POST"])
def pay_page(ref: str) -> Any:
    payment, order = _payment(ref)
    if request.method == "POST" and payment.status == "pending":
        status = "succeeded" if request.form.get("outcome") == "pay" else "failed"
        body = sandbox.notice_body(ref, payment.amount, status)
        callbacks.handle("sandbox", body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
        booking = db.session.get(Booking, order.booking_id) if order.booking_id else None
        if booking is not None:
            return redirect(url_for("customer.booking", code=booking.code))
        if order.customer_id is not None:  # stored value and the like: the member centre
            return redirect(url_for("customer.member"))
        return redirect(url_for("sandbox.pay_page", ref=ref))
    return render_template("sandbox/pay.html", payment=payment, order=order)
