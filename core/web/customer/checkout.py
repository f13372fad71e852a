"""Checkout of a booking by its customer: the receipt so far, what plugins add at
checkout (redeeming points, ...), and the ways to pay — online through a payment
provider, or from an account the brand keeps for the customer (stored value).

It pays through the same services as ``POST /api/v1/orders/{id}/payments``
(:func:`core.finance.orders.pay` and :func:`~core.finance.orders.start_online`), so the
same limits hold: never more than is due, never more than the card holds. A booking
waiting for its deposit (:mod:`core.booking.holds`) can pay just the deposit; paying it
confirms the booking. The form carries a one-time token so a double tap pays once.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from ...booking import holds
from ...errors import FulianError
from ...extensions import db
from ...finance import orders, tenders
from ...finance.providers import providers
from ...models import ACTIVE_STATUSES, Booking, Order
from .. import once
from ..checkout import checkout_sections
from ..context import money
from ..session import customer_only, page_user
from . import bp
from .me import _own, _views

SCOPE = "web:checkout"


def _methods(order: Order) -> list[dict[str, Any]]:
    """Ways this customer can pay this order now: online providers, then account
    tenders with something available (their balance shown)."""
    found = [{"code": code, "label": str(getattr(p, "label", code)), "online": True,
              "available": None} for code, p in providers().items()]
    found += [{"code": code, "label": label, "online": False, "available": left}
              for code, label, left in tenders.payable_from_accounts(order)]
    return found


def _amounts(order: Order, booking: Booking) -> list[dict[str, Any]]:
    """The amounts offered: the deposit while the booking waits for it, and what is due."""
    due = orders.due(order)
    offered = []
    if booking.status == holds.HOLD_STATUS and 0 < order.deposit - order.paid < due:
        offered.append({"key": "deposit", "amount": order.deposit - order.paid,
                        "label": _("The deposit")})
    if due:
        offered.append({"key": "due", "amount": due, "label": _("Everything due")})
    return offered


def _page(booking: Booking, order: Order, message: str | None = None,
          status: int = 200) -> Any:
    sections = checkout_sections(order, "customer") \
        if booking.status in ACTIVE_STATUSES else []
    return render_template(
        "customer/checkout.html", v=_views([booking])[0], order=order,
        due=orders.due(order), methods=_methods(order), amounts=_amounts(order, booking),
        sections=sections, once=once.new_token(), message=message,
        held_until=holds.held_until(booking) if booking.status == holds.HOLD_STATUS
        else None), status


def _order(booking: Booking) -> Order:
    order = orders.order_of(booking.id)
    if order is None:
        if booking.status not in ACTIVE_STATUSES:
            abort(404)
        order = orders.order_for_booking(booking, page_user().id)
    return order


@bp.get("/me/bookings/<string(maxlength=12):code>/pay")
@customer_only
def checkout(code: str) -> Any:
    """The receipt and the ways to pay what is due."""
    booking = _own(code)
    return _page(booking, _order(booking))


@bp.post("/me/bookings/<string(maxlength=12):code>/pay")
@customer_only
def pay(code: str) -> Any:
    """Pay the chosen amount with the chosen method; online methods go to the provider.
    The form's one-time token is remembered with the payment: sent again, it leads
    where the first one did and pays nothing."""
    booking = _own(code)
    order = _order(booking)
    token = request.form.get("once", "")
    if not once.valid(token):
        abort(400)
    first = once.done(SCOPE, token)
    if first is not None:
        return redirect(first)
    methods = {m["code"]: m for m in _methods(order)}
    amounts = {a["key"]: a["amount"] for a in _amounts(order, booking)}
    method = methods.get(request.form.get("method", ""))
    amount = amounts.get(request.form.get("amount", ""))
    if method is None or amount is None:
        return _page(booking, order, _("Choose how much to pay and how."), 422)
    if method["available"] is not None:
        amount = min(amount, method["available"])  # the rest another way

    def remember(where: str) -> None:
        once.remember(SCOPE, token, where)

    try:
        if method["online"]:  # the pay page asks the provider, after this commit
            ref = providers()[method["code"]].new_reference()
            orders.start_online(order.id, method["code"], amount, ref,
                                user_id=page_user().id,
                                before_commit=lambda p: remember(url_for("pay.page", ref=ref)))
            return redirect(url_for("pay.page", ref=ref))
        orders.pay(order.id, method["code"], amount, user_id=page_user().id,
                   before_commit=lambda _p: remember(url_for("customer.booking", code=code)))
    except IntegrityError:  # the same form, sent twice at once: the other one paid
        db.session.rollback()
        return redirect(url_for("customer.booking", code=code))
    except FulianError as exc:
        db.session.rollback()
        return _page(db.session.get(Booking, booking.id), orders.get_order(order.id),
                     str(exc.message), exc.status)
    flash(_("Paid %(amount)s.", amount=money(amount, order.currency)), "success")
    return redirect(url_for("customer.booking", code=code))
