"""Wallet records. Balances are not stored here: they live in the core ledger
(``customer:<id>:principal`` and ``customer:<id>:bonus``); these rows say what was sold
and why, and carry idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import UTCDateTime, db, utcnow


class TopUpPlan(db.Model):
    """A stored-value offer: pay ``pay_amount``, get ``pay_amount + bonus_amount``."""

    __tablename__ = "wallet_plans"
    __audited__ = True
    __table_args__ = (CheckConstraint("pay_amount > 0 AND bonus_amount >= 0",
                                      name="amounts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    pay_amount: Mapped[int] = mapped_column(BigInteger)
    bonus_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TopUp(db.Model):
    """One sale of stored value at a store, which holds the money: ``principal_left`` is
    what of it the customer has not spent yet (spending takes the oldest first), so a
    card used or refunded at another store settles with the stores that hold it."""

    __tablename__ = "wallet_top_ups"
    __audited__ = True
    __table_args__ = (CheckConstraint("principal_left >= 0 AND principal_left <= paid",
                                      name="principal_left"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_plans.id"))
    paid: Mapped[int] = mapped_column(BigInteger)
    bonus: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_left: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    ledger_txn_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tier(db.Model):
    """A member tier: reached by total spend, worth a discount on every quote."""

    __tablename__ = "wallet_tiers"
    __audited__ = True
    __table_args__ = (CheckConstraint("min_spend >= 0 AND discount_percent BETWEEN 0 AND 100",
                                      name="bounds"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    min_spend: Mapped[int] = mapped_column(BigInteger, unique=True)
    discount_percent: Mapped[int] = mapped_column(Integer, default=0)


class PunchProduct(db.Model):
    """A punch card on sale (次卡): ``uses`` visits of any of ``service_ids``."""

    __tablename__ = "wallet_punch_products"
    __audited__ = True
    __table_args__ = (CheckConstraint("uses > 0 AND price >= 0 AND validity_days > 0",
                                      name="bounds"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    service_ids: Mapped[list[int]] = mapped_column(JSON)
    uses: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    validity_days: Mapped[int] = mapped_column(Integer, default=365)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PunchCard(db.Model):
    """A customer's punch card; ``uses_left`` counts reserved uses as taken."""

    __tablename__ = "wallet_punch_cards"
    __audited__ = True
    __table_args__ = (CheckConstraint("uses_left >= 0 AND uses_left <= uses_total",
                                      name="uses"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("wallet_punch_products.id"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    uses_total: Mapped[int] = mapped_column(Integer)
    uses_left: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: deferred revenue recognised as breakage because visits expired unused
    broken: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PunchUse(db.Model):
    """One booking's use of a card: reserved when booked, consumed when completed,
    released when it will not happen."""

    __tablename__ = "wallet_punch_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("wallet_punch_cards.id"), index=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="reserved")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsLot(db.Model):
    """Points earned at once (one completed booking); spent first-expiring-first."""

    __tablename__ = "wallet_points"
    __table_args__ = (CheckConstraint("remaining >= 0 AND remaining <= earned",
                                      name="remaining"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), unique=True)
    earned: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsRedemption(db.Model):
    """Points of one lot spent on one order, so a cancelled booking gives exactly those
    points back to the lots they came from (keeping their expiry)."""

    __tablename__ = "wallet_points_redemptions"
    __table_args__ = (CheckConstraint("points > 0", name="points"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("wallet_points.id"))
    points: Mapped[int] = mapped_column(Integer)
    returned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
