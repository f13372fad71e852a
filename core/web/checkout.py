"""What plugins offer at a booking's checkout, for both faces that take payment: the
customer's checkout page and the desk's booking page."""

from __future__ import annotations

from typing import Any

from ..extensions import db
from ..models import Customer, Order
from ..plugins import plugins


def checkout_sections(order: Order, face: str) -> list[dict[str, Any]]:
    """Sections from ``fulian_checkout_sections``, in their order."""
    found = plugins().call_flat("fulian_checkout_sections", order=order,
                                customer=db.session.get(Customer, order.customer_id),
                                face=face)
    return sorted((s for s in found if s), key=lambda s: s.get("order", 100))
