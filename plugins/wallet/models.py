"""Wallet records. Balances are not stored here: they live in the core ledger
(``customer:<id>:principal`` and ``customer:<id>:bonus``); these rows say what was sold
and why, and carry idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from core.extensions import db


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
    """One sale of stored value at a store (the store that holds the money)."""

    __tablename__ = "wallet_top_ups"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_plans.id"))
    paid: Mapped[int] = mapped_column(BigInteger)
    bonus: Mapped[int] = mapped_column(BigInteger, default=0)
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
