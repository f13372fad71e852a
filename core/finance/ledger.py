"""Posting to the ledger — the only code that writes ledger rows or account balances.

Callers run :func:`post` inside their own ``write_transaction`` together with the
business change it pays for, so money and state commit or roll back together.

Accounts are named ``<owner>:<id>:<purpose>`` (``customer:12:principal``,
``store:3:revenue``); the purpose decides the normal side and whether the balance may
go negative. Plugins register their own purposes with :func:`register_purpose`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ..db import utcnow
from ..errors import FulianError, RuleViolation
from ..extensions import db
from ..models import LedgerAccount, LedgerEntry, LedgerTransaction


@dataclass(frozen=True)
class Purpose:
    normal: str  # "debit" or "credit"
    allow_negative: bool


#: purpose -> rule. Credit-normal accounts are what the business owes or has earned;
#: debit-normal ones what it holds or is owed.
PURPOSES: dict[str, Purpose] = {
    "principal": Purpose("credit", False),   # a customer's stored value, paid for
    "bonus": Purpose("credit", False),       # a customer's stored value, given
    "deferred": Purpose("credit", True),     # prepaid, not yet earned (liability)
    "revenue": Purpose("credit", True),      # earned by a store
    "fees": Purpose("credit", True),         # late-cancel / no-show fees earned
    "refunds": Purpose("debit", True),       # contra-revenue
    "cash": Purpose("debit", True),          # cash in a store's drawer
    "online": Purpose("debit", True),        # owed to us by an online provider
    "commission": Purpose("credit", True),   # the platform's fee per payment
    "commission_expense": Purpose("debit", True),
    "due_from": Purpose("debit", True),      # cross-store settlement receivable
    "due_to": Purpose("credit", True),       # cross-store settlement payable
}


class InsufficientFunds(RuleViolation):
    """A spend larger than what an account that may not go negative holds."""


class UnbalancedTransaction(FulianError):
    """Legs that do not sum to zero: a programming error, never committed."""

    status = 500


def register_purpose(name: str, normal: str, *, allow_negative: bool) -> None:
    """Let a plugin name its own kind of account (e.g. ``points``)."""
    if normal not in ("debit", "credit"):
        raise ValueError(normal)
    PURPOSES[name] = Purpose(normal, allow_negative)


def purpose_of(code: str) -> Purpose:
    parts = code.split(":")
    if len(parts) < 2 or parts[-1] not in PURPOSES:
        raise ValueError(f"unknown ledger account {code!r}")
    return PURPOSES[parts[-1]]


def _ensure_accounts(codes: Iterable[str], currency: str) -> dict[str, LedgerAccount]:
    session = db.session
    wanted = sorted(set(codes))
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = []
    for code in wanted:
        rule = purpose_of(code)
        rows.append({"code": code, "normal": rule.normal, "currency": currency,
                     "allow_negative": rule.allow_negative, "balance": 0,
                     "created_at": utcnow()})
    # Concurrent first postings to a new account must not fail: insert or keep.
    for row in rows:
        session.execute(insert(LedgerAccount).values(**row).on_conflict_do_nothing(
            index_elements=["code"]))
    found = session.scalars(select(LedgerAccount).where(LedgerAccount.code.in_(wanted)))
    return {a.code: a for a in found}


def post(kind: str, legs: Iterable[tuple[str, int]], *, memo: str = "",
         reference: str | None = None, idempotency_key: str | None = None,
         currency: str = "CNY", reverses: LedgerTransaction | None = None
         ) -> LedgerTransaction:
    """Append one balanced transaction. ``legs`` are ``(account code, amount)`` with
    positive = debit, negative = credit. Raises :class:`InsufficientFunds` (409) when an
    account that may not go negative would; the caller's transaction then rolls back."""
    session = db.session
    if idempotency_key is not None:
        existing = session.scalars(select(LedgerTransaction).where(
            LedgerTransaction.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return existing
    per_account: dict[str, int] = defaultdict(int)
    for code, amount in legs:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise UnbalancedTransaction(f"amount {amount!r} is not integer minor units")
        per_account[code] += amount
    per_account = {c: a for c, a in per_account.items() if a != 0}
    if len(per_account) < 2 or sum(per_account.values()) != 0:
        raise UnbalancedTransaction(f"legs do not balance: {dict(per_account)}")
    accounts = _ensure_accounts(per_account, currency)
    txn = LedgerTransaction(kind=kind, memo=memo[:200], reference=reference,
                            idempotency_key=idempotency_key,
                            reverses_id=reverses.id if reverses is not None else None)
    session.add(txn)
    session.flush()
    # Balances first, in a fixed order (no deadlocks between concurrent postings); the
    # CHECK constraint refuses an overdraft atomically.
    for code in sorted(per_account):
        account, amount = accounts[code], per_account[code]
        delta = amount if account.normal == "debit" else -amount
        try:
            with session.begin_nested():
                session.execute(update(LedgerAccount).where(LedgerAccount.id == account.id)
                                .values(balance=LedgerAccount.balance + delta))
        except IntegrityError as exc:
            raise InsufficientFunds(_l("Not enough balance for this payment.")) from exc
    session.add_all(LedgerEntry(transaction_id=txn.id, account_id=accounts[code].id,
                                amount=amount) for code, amount in per_account.items())
    session.flush()
    for account in accounts.values():
        session.expire(account, ["balance"])
    return txn


def reverse(txn: LedgerTransaction, memo: str = "") -> LedgerTransaction:
    """Undo a transaction by appending its mirror image (history stays intact)."""
    legs = [(e.account.code, -e.amount) for e in txn.entries]
    return post("reversal", legs, memo=memo or f"reverses #{txn.id}",
                reference=txn.reference, reverses=txn,
                currency=txn.entries[0].account.currency)


def balance(code: str) -> int:
    """The account's balance in its normal direction (0 for an account never used)."""
    value = db.session.scalar(select(LedgerAccount.balance).where(LedgerAccount.code == code))
    return int(value or 0)


def balance_from_entries(code: str) -> int:
    """The same balance recomputed from the entries alone (reports and checks)."""
    account = db.session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)
                                 ).first()
    if account is None:
        return 0
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                              .where(LedgerEntry.account_id == account.id))
    return int(total) if account.normal == "debit" else -int(total)
