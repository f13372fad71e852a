"""What happens to a booking's money when it will not be served.

Applied the same way whatever paid for it, inside the same transaction as the booking's
status change:

* the store declines or cancels: everything paid goes back to the original tenders;
* the customer cancels inside the late window (``late_cancel_window_min``) or does not
  show up: the policy's fee (a percent of the order's total; the service may override
  the store's percent) is kept, the rest goes back; if less than the fee was paid the
  order stays open for the difference.

The receipt explains it: the service line is cancelled by an adjustment and the fee is a
line of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Booking, Order, OrderAdjustment, OrderLine, Service, Store
from . import orders
from .rates import percent


def booking_ended(booking: Booking, action: str, *, by_customer: bool, now: datetime,
                  status_label: str, user_id: int | None = None,
                  held: bool = False) -> Order | None:
    """Settle the order of a booking that was declined, cancelled or not attended. A
    booking still waiting for its deposit (``held``) was never confirmed: no fee.
    ``status_label`` names the booking's new status on the receipt (the booking side
    owns its statuses' names)."""
    session = db.session
    order = session.scalars(select(Order).where(
        Order.booking_id == booking.id, Order.status.in_(("open", "paid")))).first()
    if order is None:
        return None
    store = session.get(Store, booking.store_id)
    service = session.get(Service, booking.service_id)
    fee, label = 0, ""
    if action == "no_show":
        fee = order.total * percent(service, store, "no_show_fee_percent") // 100
        label = _("No-show fee")
    elif action == "cancel" and by_customer and not held and \
            booking.start_at - now < timedelta(minutes=store.late_cancel_window_min):
        fee = order.total * percent(service, store, "late_cancel_fee_percent") // 100
        label = _("Late-cancellation fee")
    position = len(order.adjustments)
    order.adjustments.append(OrderAdjustment(
        position=position, source="policy", amount=-order.total,
        label=_("Not provided: the booking was %(status)s",
                status=status_label)))
    if fee:
        order.lines.append(OrderLine(kind="fee", description=label, quantity=1,
                                     unit_price=fee, amount=fee, ref_id=booking.id))
    order.subtotal += fee
    order.total = fee
    session.flush()
    excess = (order.paid - order.refunded) - fee
    if excess > 0:
        orders.refund_within(order, excess, label or _("Booking not provided"), user_id=user_id)
    session.refresh(order)
    if fee == 0:
        order.status = "cancelled"
    else:  # the fee is owed: settled by what was paid, or still open for the rest
        order.status = "open" if order.paid - order.refunded < fee else "paid"
    session.flush()
    return order
