"""The money panel of a booking's back-office page: its order as a receipt, the ways the
desk can take payment for it, and whether the viewer may refund. Kept apart from the
views (:mod:`.payments`) so the booking page can show it without importing them."""

from __future__ import annotations

from typing import Any

from ...auth import policy
from ...finance import orders, tenders
from ...models import ACTIVE_STATUSES, Booking, Order, User
from .. import once
from ..checkout import checkout_sections
from .setup_common import format_major


def desk_methods(order: Order) -> list[dict[str, Any]]:
    """Cash, then each account tender with something available for this customer."""
    found = [{"code": "cash", "label": orders.tender_label("cash"), "available": None}]
    found += [{"code": code, "label": label, "available": left}
              for code, label, left in tenders.payable_from_accounts(order)]
    return found


def context(booking: Booking, user: User) -> dict[str, Any]:
    """What the booking page shows of its money (no order yet: nothing was asked)."""
    order = orders.order_of(booking.id)
    if order is None:
        return {"order": None, "once": once.new_token()}
    due = orders.due(order)
    return {"order": order, "due": due, "once": once.new_token(),
            "sections": checkout_sections(order, "admin")
            if booking.status in ACTIVE_STATUSES else [],
            "pay_methods": desk_methods(order) if due else [],
            "due_text": format_major(due),
            "can_refund": policy.administers(user, booking.store_id)
            and order.paid > order.refunded,
            "refundable_text": format_major(order.paid - order.refunded)}
