"""The ledger: double-entry and append-only.

Every movement of money is a :class:`LedgerTransaction` whose :class:`LedgerEntry` legs
sum to zero (positive = debit, negative = credit, integer minor units). Entries are
never updated or deleted — the database refuses it with triggers on SQLite and
PostgreSQL — and mistakes are corrected by a reversing transaction.

:class:`LedgerAccount` keeps a running ``balance`` in the account's normal direction
(credit-normal accounts such as customer wallets count credits as positive). It is
changed only by the posting service in the same transaction as the entries, with one
atomic ``UPDATE``, and a CHECK constraint keeps accounts that may not go negative
(customer wallets) at or above zero even when spends race: the second of two
overlapping spends fails instead of overdrawing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, utcnow
from ..extensions import db

NORMAL_SIDES = ("debit", "credit")


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("allow_negative OR balance >= 0", name="balance_floor"),
        CheckConstraint("normal IN ('debit', 'credit')", name="normal_side"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: stable name, e.g. ``customer:12:principal``, ``store:3:revenue``, ``cash:3``
    code: Mapped[str] = mapped_column(String(120), unique=True)
    normal: Mapped[str] = mapped_column(String(6))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerTransaction(db.Model):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: what happened: ``payment``, ``refund``, ``top_up``, ``spend``, ``settlement``, ...
    kind: Mapped[str] = mapped_column(String(40), index=True)
    memo: Mapped[str] = mapped_column(String(200), default="")
    #: business reference, e.g. ``order:12`` — reports group by it
    reference: Mapped[str | None] = mapped_column(String(80), index=True)
    #: a caller's key; posting the same key twice returns the first transaction
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id")


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="nonzero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"),
                                                index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    #: positive = debit, negative = credit (minor units)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()
