"""Money at the desk, on a booking's page: the receipt, taking payment (cash, or a
customer account such as stored value) and refunds.

Same services and the same rules as ``POST /api/v1/orders/{id}/payments`` and
``/refunds``: the store's front desk and managers take payment, only managers who
administer the store refund, never more than is due or was paid. Amounts are typed in
yuan and converted exactly (:func:`.setup_common.parse_money`). A one-time token per
form (:mod:`core.web.once`) makes a double click pay once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ...auth import policy
from ...errors import FulianError, ValidationFailed
from ...extensions import db
from ...finance import orders
from ...models import Booking, User
from .. import once
from ..context import money
from ..forms import Form
from ..session import back_office
from . import bp
from .bookings import _detail
from .money_panel import desk_methods
from .ops_common import booking_or_404, current
from .setup_common import parse_money

SCOPE = "web:desk-money"


def _positive_amount(form: Form, name: str) -> int:
    amount = parse_money(form.get(name), name)
    if not amount:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={name: [_l("Give a positive amount.")]})
    return amount


def _money_form(user: User, booking: Booking, action: str,
                effect: Callable[[Form, Callable[[Any], None]], tuple[int, str]]) -> Any:
    """Run one money form: its one-time token, the effect (which validates and calls the
    service with ``remember`` as its ``before_commit``), the page again with the errors
    (422) or back to the booking with a message."""
    form = Form.submitted()
    token = form.get("once")
    if not once.valid(token):
        abort(400)
    back = url_for("admin.booking_detail", booking_id=booking.id)
    if once.done(SCOPE, token):
        return redirect(back)
    try:
        amount, currency = effect(form, lambda _done: once.remember(SCOPE, token, back))
    except IntegrityError:  # the same form, sent twice at once: the other one did it
        db.session.rollback()
        return redirect(back)
    except FulianError as exc:
        db.session.rollback()
        form.fail(exc)
        return _detail(booking_or_404(user, booking.id), form, action, 422)
    done = _("Paid %(amount)s.", amount=money(amount, currency)) if action == "pay" \
        else _("Refunded %(amount)s.", amount=money(amount, currency))
    flash(done, "success")
    return redirect(back)


@bp.post("/bookings/<id:booking_id>/pay")
@back_office
def booking_pay(booking_id: int) -> Any:
    """Take a payment for the booking (its order is made from a fresh quote if needed)."""
    user = current()
    booking = booking_or_404(user, booking_id)

    def effect(form: Form, remember: Callable[[Any], None]) -> tuple[int, str]:
        amount = _positive_amount(form, "amount")
        order = orders.order_for_booking(booking, user.id)
        method = {m["code"]: m for m in desk_methods(order)}.get(form.get("method"))
        if method is None:
            raise ValidationFailed(_l("The input is not valid."), field_errors={
                "method": [_l("Choose how the customer pays.")]})
        orders.pay(order.id, method["code"], amount, user_id=user.id, before_commit=remember)
        return amount, order.currency

    return _money_form(user, booking, "pay", effect)


@bp.post("/bookings/<id:booking_id>/refund")
@back_office
def booking_refund(booking_id: int) -> Any:
    """Refund part or all of what was paid, back to the original tenders (managers who
    administer the store)."""
    user = current()
    booking = booking_or_404(user, booking_id)
    if not policy.administers(user, booking.store_id):
        abort(403)
    order = orders.order_of(booking.id)
    if order is None:
        abort(404)

    def effect(form: Form, remember: Callable[[Any], None]) -> tuple[int, str]:
        amount = _positive_amount(form, "refund_amount")
        reason = form.get("refund_reason")
        if len(reason) > 200:
            raise ValidationFailed(_l("The input is not valid."), field_errors={
                "refund_reason": [_l("At most %(n)d characters.", n=200)]})
        orders.refund(order.id, amount, reason, user_id=user.id, before_commit=remember)
        return amount, order.currency

    return _money_form(user, booking, "refund", effect)
