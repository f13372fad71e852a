"""Stored value (储值卡): top-ups with bonus, spending as a tender, refunds, statements.

Accounts in the core ledger, per customer: ``principal`` (money the customer paid in,
owed back on a card refund) and ``bonus`` (given by the brand, never paid out). Neither
may go negative — the ledger's floor refuses an overspend atomically, also when two
desks charge the same card at once.

* Top-up of P with bonus B at store A: cash in A's drawer, P owed to the customer; B is
  A's promotion expense, owed as bonus.
* Spending at store S takes principal and bonus in proportion to the balances; S earns
  the revenue. The principal comes out of the customer's top-ups oldest first (each
  top-up remembers what is left of it); for the part sold by another store, a
  settlement pair records that S is owed it by that store (``due_from``/``due_to``).
* Refunding a payment puts the same shares back, to the same stores' top-ups, and undoes
  the settlement. Refunding the card pays the principal back at one store, which is
  owed the parts other stores hold, and voids the remaining bonus (reversing the
  promotion expense of the store that sold the last top-up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from core.sdk import NotFound, RuleViolation, ValidationFailed, db, write_transaction
from core.sdk.models import (
    Customer,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    Payment,
    Store,
)
from core.sdk.services import ledger
from core.sdk.services import validation as v

from .models import TopUp, TopUpPlan

ledger.register_purpose("promotion", "debit", allow_negative=True)
TENDER = "wallet"


def principal(customer_id: int) -> str:
    return f"customer:{customer_id}:principal"


def bonus(customer_id: int) -> str:
    return f"customer:{customer_id}:bonus"


def balances(customer_id: int) -> dict[str, int]:
    p, b = ledger.balance(principal(customer_id)), ledger.balance(bonus(customer_id))
    return {"principal": p, "bonus": b, "total": p + b}


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(_l("Customer not found."))
    return customer


def get_plan(plan_id: int) -> TopUpPlan:
    plan = db.session.get(TopUpPlan, plan_id)
    if plan is None or not plan.active:
        raise NotFound(_l("No such top-up plan."))
    return plan


def add_plan(name: str, pay_amount: int, bonus_amount: int) -> TopUpPlan:
    with write_transaction() as session:
        plan = TopUpPlan(name=name, pay_amount=pay_amount, bonus_amount=bonus_amount)
        session.add(plan)
    return plan


def top_up(customer_id: int, store_id: int, paid: int, bonus_amount: int = 0, *,
           plan_id: int | None = None, provider: str = "cash", key: str | None = None,
           user_id: int | None = None,
           before_commit: Callable[[TopUp], None] | None = None) -> TopUp:
    """Sell stored value for cash at a store; a repeated ``key`` returns the first sale.
    ``before_commit`` runs inside the transaction (e.g. to store an idempotent reply)."""
    if provider != "cash":
        raise RuleViolation(_l("The payment method %(code)s is not available.",
                               code=provider))
    with write_transaction() as session:
        if key is not None:
            done = session.scalars(select(TopUp).where(TopUp.idempotency_key == key)).first()
            if done is not None:
                return done
        get_customer(customer_id)
        if session.get(Store, store_id) is None:
            raise NotFound(_l("Store not found."))
        row = TopUp(customer_id=customer_id, store_id=store_id, plan_id=plan_id, paid=paid,
                    bonus=bonus_amount, principal_left=paid, provider=provider,
                    idempotency_key=key, created_by=user_id)
        _post_top_up(row, f"store:{store_id}:cash")
        if before_commit is not None:
            before_commit(row)
    return row


def _post_top_up(row: TopUp, funded_by: str) -> None:
    """Write the sale and credit the card (inside the caller's write transaction): the
    paid part is owed to the customer, funded by ``funded_by``; the bonus is the selling
    store's promotion."""
    db.session.add(row)
    db.session.flush()
    legs = [(funded_by, row.paid), (principal(row.customer_id), -row.paid)]
    if row.bonus:
        legs += [(f"store:{row.store_id}:promotion", row.bonus),
                 (bonus(row.customer_id), -row.bonus)]
    txn = ledger.post("top_up", legs, reference=f"wallet-top-up:{row.id}",
                      idempotency_key=f"wallet-top-up:{row.id}")
    row.ledger_txn_id = txn.id


def deliver(order: Order) -> list[TopUp]:
    """Credit the card for the stored value an order sold, once it is paid in full
    (``fulian_order_paid``, inside the paying transaction). The payment was booked as the
    store's revenue; it is the customer's money, so it moves from revenue to the card.
    A plan's bonus applies if the plan still asks the price that was paid."""
    made = []
    for line in order.lines:
        if line.kind != "top_up" or order.customer_id is None:
            continue
        key = f"order:{order.id}:{line.id}"
        if db.session.scalars(select(TopUp.id).where(TopUp.idempotency_key == key)).first():
            continue
        plan = db.session.get(TopUpPlan, line.ref_id) if line.ref_id else None
        extra = plan.bonus_amount if plan is not None and plan.pay_amount == line.amount \
            else 0
        row = TopUp(customer_id=order.customer_id, store_id=order.store_id,
                    plan_id=plan.id if plan else None, paid=line.amount, bonus=extra,
                    principal_left=line.amount, provider="online", idempotency_key=key)
        _post_top_up(row, f"store:{order.store_id}:revenue")
        made.append(row)
    return made


def home_store(customer_id: int) -> int | None:
    """The store that sold the customer's last top-up (it bears the bonus)."""
    return db.session.scalars(select(TopUp.store_id).where(
        TopUp.customer_id == customer_id).order_by(TopUp.id.desc())).first()


def take_principal(customer_id: int, amount: int, fallback_store: int) -> dict[int, int]:
    """Take ``amount`` of principal out of the customer's top-ups, oldest first (inside
    the caller's write transaction); returns how much each store held. Each take is a
    conditional update, so two spends racing never take the same money twice; what no
    top-up covers (cards older than this bookkeeping) counts as ``fallback_store``'s."""
    by_store: dict[int, int] = {}
    left = amount
    for lot in db.session.scalars(select(TopUp).where(
            TopUp.customer_id == customer_id, TopUp.principal_left > 0).order_by(TopUp.id)):
        if left == 0:
            break
        share = min(left, lot.principal_left)
        taken = db.session.execute(update(TopUp).where(
            TopUp.id == lot.id, TopUp.principal_left >= share
        ).values(principal_left=TopUp.principal_left - share)).rowcount
        if taken:
            by_store[lot.store_id] = by_store.get(lot.store_id, 0) + share
            left -= share
    if left:
        by_store[fallback_store] = by_store.get(fallback_store, 0) + left
    return by_store


def return_principal(customer_id: int, by_store: dict[int, int]) -> None:
    """Put principal back into each store's top-ups, newest first (a refunded payment)."""
    for store_id, amount in by_store.items():
        left = amount
        for lot in db.session.scalars(select(TopUp).where(
                TopUp.customer_id == customer_id, TopUp.store_id == store_id,
                TopUp.principal_left < TopUp.paid).order_by(TopUp.id.desc())):
            if left == 0:
                break
            share = min(left, lot.paid - lot.principal_left)
            db.session.execute(update(TopUp).where(TopUp.id == lot.id).values(
                principal_left=TopUp.principal_left + share))
            left -= share


def _settle_between(store_id: int, by_store: dict[int, int], sign: int = 1
                    ) -> list[tuple[str, int]]:
    """``store_id`` is owed (sign 1) what other stores hold of the money it handled."""
    legs: list[tuple[str, int]] = []
    for holder, amount in sorted(by_store.items()):
        if holder != store_id and amount:
            legs += [(f"store:{store_id}:due_from", sign * amount),
                     (f"store:{holder}:due_to", -sign * amount)]
    return legs


def refund_card(customer_id: int, store_id: int, *, reason: str = "",
                before_commit: Callable[[dict[str, int]], None] | None = None
                ) -> dict[str, int]:
    """Pay the principal back in cash at ``store_id`` (owed by the stores that sold it)
    and void the remaining bonus. ``before_commit`` gets what was refunded, inside the
    transaction."""
    with write_transaction():
        get_customer(customer_id)
        now = balances(customer_id)
        if now["total"] == 0:
            raise RuleViolation(_l("There is nothing on this card to refund."))
        legs: list[tuple[str, int]] = []
        if now["principal"]:
            held = take_principal(customer_id, now["principal"], store_id)
            legs += [(principal(customer_id), now["principal"]),
                     (f"store:{store_id}:cash", -now["principal"]),
                     *_settle_between(store_id, held)]
        if now["bonus"]:
            home = home_store(customer_id) or store_id
            legs += [(bonus(customer_id), now["bonus"]),
                     (f"store:{home}:promotion", -now["bonus"])]
        ledger.post("card_refund", legs, memo=reason, reference=f"customer:{customer_id}")
        done = {"principal_refunded": now["principal"], "bonus_voided": now["bonus"]}
        if before_commit is not None:
            before_commit(done)
    return done


def statement(customer_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The customer's wallet movements, newest first, with the balance after each."""
    codes = (principal(customer_id), bonus(customer_id))
    rows = db.session.execute(
        select(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.created_at,
               LedgerTransaction.reference, LedgerAccount.code, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.code.in_(codes))
        .order_by(LedgerTransaction.id)).all()
    by_txn: dict[int, dict[str, Any]] = {}
    for txn_id, kind, at, reference, code, amount in rows:
        item = by_txn.setdefault(txn_id, {"kind": kind, "at": at, "reference": reference,
                                          "principal": 0, "bonus": 0})
        item["principal" if code.endswith(":principal") else "bonus"] -= amount
    running = 0
    out = []
    for item in by_txn.values():
        running += item["principal"] + item["bonus"]
        out.append({**item, "change": item["principal"] + item["bonus"],
                    "balance": running})
    return list(reversed(out))[:limit]


class WalletTender:
    """Stored value as a tender at checkout (``fulian_account_tenders``)."""

    code = TENDER
    label = _l("Stored value")

    def available(self, order: Order) -> int:
        """What the customer's card can pay of this order now."""
        if order.customer_id is None:
            return 0
        return balances(order.customer_id)["total"]

    def legs(self, order: Order, amount: int) -> list[tuple[str, int]]:
        if order.customer_id is None:
            raise RuleViolation(_l("This order has no customer with a card."))
        cid = order.customer_id
        now = balances(cid)
        if now["total"] < amount:
            raise ledger.InsufficientFunds(_l("Not enough stored value: %(left)s left.",
                                              left=now["total"]))
        from_principal = amount * now["principal"] // now["total"]
        from_bonus = amount - from_principal
        if from_bonus > now["bonus"]:  # rounding: keep within the bonus balance
            from_principal, from_bonus = amount - now["bonus"], now["bonus"]
        legs = [(principal(cid), from_principal)]
        if from_bonus:
            legs.append((bonus(cid), from_bonus))
        if from_principal:
            held = take_principal(cid, from_principal, order.store_id)
            legs += _settle_between(order.store_id, held)
        return legs

    def refund_legs(self, order: Order, payment: Payment, amount: int
                    ) -> list[tuple[str, int]]:
        """Back to the card in the shares the payment took, the principal to the stores'
        top-ups it came from, and that part of the settlement undone."""
        original = {e.account.code: e.amount for e in db.session.get(
            LedgerTransaction, payment.ledger_txn_id).entries}
        cid = order.customer_id
        paid_p, paid_b = original.get(principal(cid), 0), original.get(bonus(cid), 0)
        back_p = amount * paid_p // (paid_p + paid_b)
        legs = [(principal(cid), -back_p)]
        if amount - back_p:
            legs.append((bonus(cid), -(amount - back_p)))
        if back_p:
            held = {int(code.split(":")[1]): -value for code, value in original.items()
                    if code.endswith(":due_to")}
            held[order.store_id] = paid_p - sum(held.values())
            back = _shares(held, back_p)
            return_principal(cid, back)
            legs += _settle_between(order.store_id, back, sign=-1)
        return legs


def _shares(parts: dict[int, int], amount: int) -> dict[int, int]:
    """``amount`` split in proportion to ``parts``; the rounding rest to the largest."""
    total = sum(parts.values())
    out = {key: amount * value // total for key, value in parts.items()}
    out[max(parts, key=lambda key: parts[key])] += amount - sum(out.values())
    return out


# --- set-up of top-up plans (back-office pages and the API share these) -----------------

class PlanSchema(ma.Schema):
    """A top-up plan's fields; the API's ``PlanIn`` and the set-up page load with it.
    ``pay_amount`` is at least one minor unit: the table refuses a free plan."""

    name = ma.fields.String(required=True, validate=[
        v.not_blank, ma.validate.Length(min=1, max=120)])
    pay_amount = v.MinorUnits(required=True, validate=ma.validate.Range(
        min=1, error=str(_l("Must be more than zero."))))
    bonus_amount = v.MinorUnits(load_default=0)


def plans(include_retired: bool = False) -> list[TopUpPlan]:
    """Plans by price; retired ones only when asked (the set-up page shows them)."""
    query = select(TopUpPlan).order_by(TopUpPlan.active.desc(), TopUpPlan.pay_amount,
                                       TopUpPlan.id)
    if not include_retired:
        query = query.where(TopUpPlan.active.is_(True))
    return list(db.session.scalars(query))


def find_plan(plan_id: int) -> TopUpPlan:
    """A plan on sale or retired (set-up edits both; selling needs :func:`get_plan`)."""
    plan = db.session.get(TopUpPlan, plan_id)
    if plan is None:
        raise NotFound(_l("No such top-up plan."))
    return plan


def create_plan(data: dict[str, Any]) -> TopUpPlan:
    """A new plan from unvalidated input (page form or API body)."""
    values = v.load(PlanSchema(), data)
    return add_plan(values["name"].strip(), values["pay_amount"], values["bonus_amount"])


def update_plan(plan_id: int, data: dict[str, Any]) -> TopUpPlan:
    """Change a plan's name or amounts. Cards already topped up keep what they got: the
    ledger holds their balances, not the plan."""
    values = v.load(PlanSchema(), {k: x for k, x in data.items() if x is not None},
                    partial=True)
    if not values:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    with write_transaction():
        plan = find_plan(plan_id)
        for key, value in values.items():
            setattr(plan, key, value.strip() if key == "name" else value)
    return plan


def set_plan_active(plan_id: int, active: bool) -> TopUpPlan:
    """Retire a plan (no longer sold) or put it back on sale; never deleted, since
    top-ups point at it."""
    with write_transaction():
        plan = find_plan(plan_id)
        plan.active = bool(active)
    return plan


STORE_LEGS = (":cash", ":revenue", ":due_from", ":deferred", ":promotion")


def statement_stores(rows: list[dict[str, Any]]) -> list[int | None]:
    """The store of each :func:`statement` row (where the money moved: its cash or
    revenue account), so the desk can show it and the date in that store's zone."""
    refs = {r["reference"] for r in rows if r.get("reference")}
    if not refs:
        return [None] * len(rows)
    found: dict[tuple[Any, ...], int] = {}
    ranks: dict[tuple[Any, ...], int] = {}
    for kind, ref, at, code in db.session.execute(
            select(LedgerTransaction.kind, LedgerTransaction.reference,
                   LedgerTransaction.created_at, LedgerAccount.code)
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerTransaction.reference.in_(sorted(refs)),
                   LedgerAccount.code.like("store:%"))):
        parts = code.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        suffix = f":{parts[2]}"
        rank = STORE_LEGS.index(suffix) if suffix in STORE_LEGS else len(STORE_LEGS)
        key = (kind, ref, at)
        if key not in ranks or rank < ranks[key]:
            ranks[key], found[key] = rank, int(parts[1])
    return [found.get((r["kind"], r.get("reference"), r["at"])) for r in rows]
