"""Orders, their priced lines and adjustments, payments and refunds.

An order freezes a quote: lines at their base price plus the adjustments the pricing
pipeline collected (each with its source, so a receipt explains the total). Payments
and refunds record which tender moved how much; the money itself moves in the ledger
(:mod:`core.finance.ledger`), referenced as ``order:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, utcnow
from ..extensions import db

ORDER_STATUSES = ("open", "paid", "cancelled", "refunded")
PAYMENT_STATUSES = ("pending", "succeeded", "failed")
#: a refund of an online payment is ``pending`` until the provider confirms it
REFUND_STATUSES = ("pending", "succeeded", "failed")


class Order(db.Model):
    __tablename__ = "orders"
    __audited__ = True
    __table_args__ = (CheckConstraint("total >= 0", name="total_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    #: what the booking's policy asks to be paid up front (minor units)
    deposit: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan")
    adjustments: Mapped[list[OrderAdjustment]] = relationship(
        back_populates="order", order_by="OrderAdjustment.position",
        cascade="all, delete-orphan")
    payments: Mapped[list[Payment]] = relationship(
        back_populates="order", order_by="Payment.id")
    refunds: Mapped[list[Refund]] = relationship(back_populates="order", order_by="Refund.id")


class OrderLine(db.Model):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    #: ``booking``, ``card_sale``, ``top_up``, ``fee``, ...
    kind: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderAdjustment(db.Model):
    __tablename__ = "order_adjustments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(back_populates="adjustments")


class Payment(db.Model):
    __tablename__ = "payments"
    __audited__ = True
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    #: tender: ``cash``, ``sandbox``, ``wallet``, ...
    provider: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    #: the provider's reference (online) — unique per provider
    external_ref: Mapped[str | None] = mapped_column(String(80), unique=True)
    ledger_txn_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: online: the channel asked for (``native``, ``h5``, ``jsapi``, ``page``, ``wap``)
    channel: Mapped[str | None] = mapped_column(String(16))
    #: online: the payer's id at the provider where the channel needs one (WeChat openid)
    payer: Mapped[str | None] = mapped_column(String(128))
    #: online: how to pay, as the provider answered ``start`` (kept so that a reload
    #: does not open a second prepay order)
    checkout: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: online: the provider's own transaction id, once known
    provider_txn_id: Mapped[str | None] = mapped_column(String(80))

    order: Mapped[Order] = relationship(back_populates="payments")


class Refund(db.Model):
    __tablename__ = "refunds"
    __audited__ = True
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200), default="")
    ledger_txn_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: ``succeeded`` at once for cash and accounts; online refunds wait for the provider
    status: Mapped[str] = mapped_column(String(12), default="succeeded", index=True)
    #: online: our reference of the refund at the provider (``out_refund_no``)
    external_ref: Mapped[str | None] = mapped_column(String(80), unique=True)
    #: online: the provider's own refund id
    provider_ref: Mapped[str | None] = mapped_column(String(80))
    #: online: when it was handed to the provider (None: not yet, or to hand again)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the provider's reason when it refused the refund
    failure_reason: Mapped[str | None] = mapped_column(String(200))

    order: Mapped[Order] = relationship(back_populates="refunds")


class PaymentCallback(db.Model):
    """A provider notification already processed: its nonce is never accepted twice."""

    __tablename__ = "payment_callbacks"
    __table_args__ = (UniqueConstraint("provider", "nonce",
                                       name="uq_payment_callbacks_provider_nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(80))
    payment_ref: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
