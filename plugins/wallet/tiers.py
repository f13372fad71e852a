"""Member tiers: thresholds by what a customer has spent (paid less refunded, over all
their orders), each with a discount that joins every quote through the pricing hook —
so the receipt shows it with its source like any other adjustment."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select

from core.db import write_transaction
from core.extensions import db
from core.models import Order

from .models import Tier

ADJUSTMENT_ORDER = 20  # after list prices, before coupons (which come later)


def add_tier(name: str, min_spend: int, discount_percent: int) -> Tier:
    with write_transaction() as session:
        tier = Tier(name=name, min_spend=min_spend, discount_percent=discount_percent)
        session.add(tier)
    return tier


def spend(customer_id: int) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(
        Order.paid - Order.refunded), 0)).where(Order.customer_id == customer_id)))


def tier_of(customer_id: int) -> Tier | None:
    return db.session.scalars(select(Tier).where(Tier.min_spend <= spend(customer_id))
                              .order_by(Tier.min_spend.desc())).first()


def adjustments(quote: Any) -> list[dict[str, Any]]:
    customer = getattr(quote, "customer", None)
    if customer is None:
        return []
    tier = tier_of(customer.id)
    if tier is None or not tier.discount_percent:
        return []
    return [{"source": "wallet", "order": ADJUSTMENT_ORDER,
             "label": gettext("%(tier)s member discount %(percent)d%%", tier=tier.name,
                              percent=tier.discount_percent),
             "amount": -(quote.subtotal * tier.discount_percent // 100)}]
