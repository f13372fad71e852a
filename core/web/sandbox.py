"""The sandbox provider's payment page: what a customer sees on an online provider's
site. Paying (or failing) here makes the "provider" send its signed notification
through the same verification as a real one, then returns the customer to us.

Demo and test deployments only: the blueprint is not even registered in production.
Only the order's own customer or its store may press "pay" — an anonymous visitor who
learnt a reference settles nothing."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from sqlalchemy import select

from ..auth import policy
from ..extensions import db
from ..finance import callbacks, sandbox
from ..models import Order, Payment
from .pay import after_payment
from .session import page_user

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _payment(ref: str) -> tuple[Payment, Order]:
    payment = db.session.scalars(select(Payment).where(
        Payment.external_ref == ref, Payment.provider == "sandbox")).first()
    order = db.session.get(Order, payment.order_id) if payment is not None else None
    if payment is None or order is None:
        abort(404)
    return payment, order


@bp.route("/pay/<string(maxlength=40):ref>", methods=["GET", "POST"])
def pay_page(ref: str) -> Any:
    payment, order = _payment(ref)
    user = page_user()
    if user is None:
        return redirect(url_for("account.customer_login", next=request.path))
    if policy.order_relation(user, order) is None:
        abort(404)
    if request.method == "POST" and payment.status == "pending":
        status = "succeeded" if request.form.get("outcome") == "pay" else "failed"
        body = sandbox.notice_body(ref, payment.amount, status)
        callbacks.handle("sandbox", body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
        return redirect(after_payment(payment, order, user))
    return render_template("sandbox/pay.html", payment=payment, order=order)
