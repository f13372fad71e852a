"""Member tiers: thresholds by what a customer has spent (paid less refunded, over all
their orders), each with a discount that joins every quote through the pricing hook —
so the receipt shows it with its source like any other adjustment."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.sdk import Conflict, NotFound, ValidationFailed, db, write_transaction
from core.sdk.models import Order
from core.sdk.services import validation as v

from .models import Tier

ADJUSTMENT_ORDER = 20  # after list prices, before coupons (which come later)


def add_tier(name: str, min_spend: int, discount_percent: int) -> Tier:
    with write_transaction() as session:
        tier = Tier(name=name, min_spend=min_spend, discount_percent=discount_percent)
        session.add(tier)
    return tier


def spend(customer_id: int) -> int:
    """Paid less refunded for bookings (buying stored value is not spending)."""
    return int(db.session.scalar(select(func.coalesce(func.sum(
        Order.paid - Order.refunded), 0)).where(Order.customer_id == customer_id,
                                                Order.booking_id.is_not(None))))


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


# --- set-up of tiers (back-office pages and the API share these) ------------------------

class TierSchema(ma.Schema):
    """A tier's fields; the API's ``TierIn`` and the set-up page load with it."""

    name = ma.fields.String(required=True, validate=[
        v.not_blank, ma.validate.Length(min=1, max=60)])
    min_spend = v.MinorUnits(required=True, metadata={"description": "spend that reaches it"})
    discount_percent = ma.fields.Integer(required=True, strict=True, validate=v.percent())


def all_tiers() -> list[Tier]:
    """Tiers, lowest threshold first."""
    return list(db.session.scalars(select(Tier).order_by(Tier.min_spend)))


def find_tier(tier_id: int) -> Tier:
    tier = db.session.get(Tier, tier_id)
    if tier is None:
        raise NotFound(_l("No such member tier."))
    return tier


def _threshold_free(session: Any, min_spend: int, exclude_id: int | None = None) -> None:
    query = select(Tier.id).where(Tier.min_spend == min_spend)
    if exclude_id is not None:
        query = query.where(Tier.id != exclude_id)
    if session.scalars(query).first() is not None:
        raise Conflict(_l("A tier already starts at this spend."), field_errors={
            "min_spend": [gettext("A tier already starts at this spend.")]})


def create_tier(data: dict[str, Any]) -> Tier:
    """A new tier from unvalidated input; a threshold already used is a conflict on
    ``min_spend`` (also when two admins add the same one at once: the unique index)."""
    values = v.load(TierSchema(), data)
    try:
        with write_transaction() as session:
            _threshold_free(session, values["min_spend"])
            tier = Tier(name=values["name"].strip(), min_spend=values["min_spend"],
                        discount_percent=values["discount_percent"])
            session.add(tier)
    except IntegrityError:
        _threshold_free(db.session, values["min_spend"])
        raise
    return tier


def update_tier(tier_id: int, data: dict[str, Any]) -> Tier:
    """Change a tier; customers move between tiers by the new thresholds at once (a tier
    is computed from spend, never stored on the customer)."""
    values = v.load(TierSchema(), {k: x for k, x in data.items() if x is not None},
                    partial=True)
    if not values:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    try:
        with write_transaction() as session:
            tier = find_tier(tier_id)
            if "min_spend" in values:
                _threshold_free(session, values["min_spend"], exclude_id=tier.id)
            for key, value in values.items():
                setattr(tier, key, value.strip() if key == "name" else value)
    except IntegrityError:
        _threshold_free(db.session, values["min_spend"], exclude_id=tier_id)
        raise
    return tier


def delete_tier(tier_id: int) -> None:
    """Delete a tier: it is only a threshold, nothing was sold under it."""
    with write_transaction() as session:
        session.delete(find_tier(tier_id))
