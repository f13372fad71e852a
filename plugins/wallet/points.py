"""Points (积分): earned when a booking is completed — ``WALLET_POINTS_PER_YUAN`` (default
1) per whole unit of currency paid for it, valid ``WALLET_POINTS_DAYS`` (default 365)
— and redeemed at checkout as a discount on an open order, one point worth
``WALLET_POINT_VALUE`` minor units (default 1 fen). Redemption spends the lots that
expire first, and the order's adjustment and the spent points commit together. Each lot's
share of a redemption is recorded, so a booking cancelled or declined afterwards gives
those points back to their lots (with their own expiry); a no-show forfeits them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from core.sdk import RuleViolation, db, utcnow, write_transaction
from core.sdk.models import Booking, Order
from core.sdk.services import orders

from .models import PointsLot, PointsRedemption


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def point_value() -> int:
    """What one point is worth, in minor units."""
    return _setting("WALLET_POINT_VALUE", 1)


def balance(customer_id: int, now: datetime | None = None) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(PointsLot.remaining), 0))
                                 .where(PointsLot.customer_id == customer_id,
                                        PointsLot.expires_at > (now or utcnow()))))


def earn(booking: Booking) -> PointsLot | None:
    """Points for a completed booking, from what was paid for it (once per booking)."""
    with write_transaction() as session:
        order = session.scalars(select(Order).where(Order.booking_id == booking.id)).first()
        if order is None or session.scalars(select(PointsLot.id).where(
                PointsLot.booking_id == booking.id)).first():
            return None
        net = order.paid - order.refunded
        earned = net // 100 * _setting("WALLET_POINTS_PER_YUAN", 1)
        if earned <= 0:
            return None
        lot = PointsLot(customer_id=booking.customer_id, booking_id=booking.id,
                        earned=earned, remaining=earned,
                        expires_at=utcnow() + timedelta(days=_setting("WALLET_POINTS_DAYS",
                                                                      365)))
        session.add(lot)
    return lot


def redeem(order_id: int, points: int, *,
           before_commit: Callable[[Order], None] | None = None) -> Order:
    """Use ``points`` as a discount on the customer's open order. ``before_commit``
    runs inside the transaction, after the points are spent."""
    order = orders.get_order(order_id)
    if order.customer_id is None:
        raise RuleViolation(_l("This order has no customer with a card."))
    value = points * point_value()

    def spend(changed: Order) -> None:
        left = points
        now = utcnow()
        for lot in db.session.scalars(select(PointsLot).where(
                PointsLot.customer_id == order.customer_id, PointsLot.remaining > 0,
                PointsLot.expires_at > now).order_by(PointsLot.expires_at, PointsLot.id)):
            take = min(left, lot.remaining)
            taken = db.session.execute(update(PointsLot).where(
                PointsLot.id == lot.id, PointsLot.remaining >= take
            ).values(remaining=PointsLot.remaining - take)).rowcount
            if not taken:  # spent meanwhile by another checkout
                continue
            db.session.add(PointsRedemption(order_id=order_id, lot_id=lot.id, points=take))
            left -= take
            if left == 0:
                if before_commit is not None:
                    before_commit(changed)
                return
        raise RuleViolation(_l("Not enough points: %(left)d available.",
                               left=points - left))

    return orders.add_adjustment(order_id, "wallet",
                                 gettext("%(points)d points redeemed", points=points),
                                 -value, before_commit=spend)


def give_back(booking: Booking) -> int:
    """Return the points redeemed on a cancelled or declined booking's order to their
    lots; returns how many. Each redemption row is returned once (conditional update),
    so a repeated event gives nothing twice."""
    returned = 0
    with write_transaction() as session:
        for row in session.scalars(select(PointsRedemption).join(
                Order, Order.id == PointsRedemption.order_id).where(
                Order.booking_id == booking.id, PointsRedemption.returned.is_(False))):
            if session.execute(update(PointsRedemption).where(
                    PointsRedemption.id == row.id, PointsRedemption.returned.is_(False)
            ).values(returned=True)).rowcount:
                session.execute(update(PointsLot).where(PointsLot.id == row.lot_id)
                                .values(remaining=PointsLot.remaining + row.points))
                returned += row.points
    return returned
