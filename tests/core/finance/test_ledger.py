"""The ledger: balanced, append-only, never overdrawn, idempotent — on SQLite and
PostgreSQL, including a stateful property test and concurrent spends in processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from core.db import write_transaction
from core.extensions import db
from core.finance import ledger
from core.models import LedgerAccount, LedgerEntry, LedgerTransaction

WALLET = "customer:1:principal"
CASH = "store:1:cash"
REVENUE = "store:1:revenue"


@pytest.fixture
def ctx(make_app: Any) -> Iterator[Any]:
    app = make_app()
    with app.app_context():
        yield app


def top_up(amount: int, key: str | None = None) -> LedgerTransaction:
    with write_transaction():
        return ledger.post("top_up", [(CASH, amount), (WALLET, -amount)],
                           idempotency_key=key)


def spend(amount: int) -> LedgerTransaction:
    with write_transaction():
        return ledger.post("spend", [(WALLET, amount), (REVENUE, -amount)])


def test_postings_balance_and_balances_follow(ctx: Any) -> None:
    top_up(10_000)
    spend(2_500)
    assert ledger.balance(WALLET) == 7_500 == ledger.balance_from_entries(WALLET)
    assert ledger.balance(CASH) == 10_000 == ledger.balance_from_entries(CASH)
    assert ledger.balance(REVENUE) == 2_500 == ledger.balance_from_entries(REVENUE)
    assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0


def test_overdraft_is_refused_and_writes_nothing(ctx: Any) -> None:
    top_up(1_000)
    with pytest.raises(ledger.InsufficientFunds):
        spend(1_001)
    assert ledger.balance(WALLET) == 1_000
    assert db.session.query(LedgerTransaction).count() == 1
    assert db.session.query(LedgerEntry).count() == 2


@pytest.mark.parametrize("legs", [
    [(WALLET, 100), (REVENUE, -99)],        # does not sum to zero
    [(WALLET, 100)],                         # one leg
    [(WALLET, 1.5), (REVENUE, -1.5)],        # not integer minor units
    [(WALLET, True), (REVENUE, -1)],         # a bool is not an amount
])
def test_malformed_transactions_are_refused(ctx: Any, legs: list) -> None:
    with pytest.raises(ledger.UnbalancedTransaction), write_transaction():
        ledger.post("spend", legs)
    assert db.session.query(LedgerEntry).count() == 0


def test_unknown_account_purpose_is_refused(ctx: Any) -> None:
    with pytest.raises(ValueError), write_transaction():
        ledger.post("x", [("customer:1:mystery", 1), (REVENUE, -1)])


def test_idempotency_key_posts_once(ctx: Any) -> None:
    first = top_up(500, key="topup-7")
    again = top_up(500, key="topup-7")
    assert again.id == first.id
    assert ledger.balance(WALLET) == 500


def test_history_is_append_only_in_the_database(ctx: Any) -> None:
    txn = top_up(300)
    for statement in ("UPDATE ledger_entries SET amount = amount * 2",
                      "DELETE FROM ledger_entries",
                      f"UPDATE ledger_transactions SET memo = 'x' WHERE id = {txn.id}",
                      "DELETE FROM ledger_transactions"):
        with pytest.raises(DBAPIError, match="append-only"), write_transaction() as s:
            s.execute(text(statement))
    assert db.session.query(LedgerEntry).count() == 2


def test_corrections_are_reversing_entries(ctx: Any) -> None:
    txn = top_up(800)
    with write_transaction():
        undo = ledger.reverse(db.session.get(LedgerTransaction, txn.id))
    assert undo.reverses_id == txn.id
    assert ledger.balance(WALLET) == 0 == ledger.balance_from_entries(WALLET)
    assert db.session.query(LedgerEntry).count() == 4
    # money already spent cannot be reversed out of the wallet: refused, nothing written
    paid = top_up(100)
    spend(60)
    with pytest.raises(ledger.InsufficientFunds), write_transaction():
        ledger.reverse(db.session.get(LedgerTransaction, paid.id))
    assert ledger.balance(WALLET) == 40 == ledger.balance_from_entries(WALLET)


class LedgerMachine(RuleBasedStateMachine):
    """Random top-ups, spends, transfers and reversals; the invariants always hold."""

    customers = ("customer:1:principal", "customer:2:principal", "customer:2:bonus")

    @initialize()
    def fresh(self) -> None:
        # Examples share the database: the model starts from what is there.
        self.model: dict[str, int] = {c: ledger.balance(c) for c in self.customers}
        self.posted: list[int] = []

    @rule(who=st.sampled_from(customers), amount=st.integers(1, 50_000))
    def top_up(self, who: str, amount: int) -> None:
        with write_transaction():
            txn = ledger.post("top_up", [("store:1:cash", amount), (who, -amount)])
        self.model[who] += amount
        self.posted.append(txn.id)

    @rule(who=st.sampled_from(customers), amount=st.integers(1, 60_000))
    def spend(self, who: str, amount: int) -> None:
        try:
            with write_transaction():
                txn = ledger.post("spend", [(who, amount), ("store:1:revenue", -amount)])
        except ledger.InsufficientFunds:
            assert amount > self.model[who]
            return
        assert amount <= self.model[who]
        self.model[who] -= amount
        self.posted.append(txn.id)

    @rule(data=st.data())
    def reverse_something(self, data: st.DataObject) -> None:
        if not self.posted:
            return
        # draw a position, not an id: ids come from the database (not from hypothesis)
        txn_id = self.posted[data.draw(st.integers(0, 10_000)) % len(self.posted)]
        txn = db.session.get(LedgerTransaction, txn_id)
        effect = {e.account.code: -e.amount for e in txn.entries
                  if e.account.code in self.model}
        try:
            with write_transaction():
                ledger.reverse(db.session.get(LedgerTransaction, txn_id))
        except ledger.InsufficientFunds:
            assert any(self.model[c] - a < 0 for c, a in effect.items())
            return
        for code, amount in effect.items():  # credit-normal: a debit lowers the balance
            self.model[code] -= amount
        assert all(v >= 0 for v in self.model.values())

    @invariant()
    def balances_match_entries_and_model(self) -> None:
        for code, expected in self.model.items():
            assert ledger.balance(code) == expected == ledger.balance_from_entries(code)

    @invariant()
    def every_transaction_sums_to_zero(self) -> None:
        sums = db.session.execute(select(LedgerEntry.transaction_id, func.sum(
            LedgerEntry.amount)).group_by(LedgerEntry.transaction_id)).all()
        assert all(total == 0 for _, total in sums)
        floor = db.session.scalars(select(LedgerAccount).where(
            LedgerAccount.allow_negative.is_(False))).all()
        assert all(a.balance >= 0 for a in floor)


def test_ledger_invariants_hold_under_random_operations(ctx: Any) -> None:
    LedgerMachine.TestCase.settings = settings(
        max_examples=15, stateful_step_count=25, deadline=None,
        suppress_health_check=list(HealthCheck))
    LedgerMachine.TestCase().runTest()


def _spender(url: str, folder: str, rounds: int, amount: int, out: Any) -> None:
    from core import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": folder,
                      "FULIAN_JOBS_THREAD": False})
    ok = refused = 0
    with app.app_context():
        for _ in range(rounds):
            try:
                spend(amount)
                ok += 1
            except ledger.InsufficientFunds:
                refused += 1
        db.engine.dispose()
    out.put((ok, refused))


def test_concurrent_spends_never_overdraw(make_app: Any, db_url: str, tmp_path: Any) -> None:
    """Four processes race to spend 30 x 700 each from a wallet holding 50 000: exactly
    71 spends succeed (71 x 700 = 49 700), the rest are refused, sums hold."""
    app = make_app()
    with app.app_context():
        top_up(50_000)
        db.engine.dispose()
    queue: Any = multiprocessing.get_context("spawn").Queue()
    procs = [multiprocessing.get_context("spawn").Process(
        target=_spender, args=(db_url, str(tmp_path / "instance"), 30, 700, queue))
        for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(ok for ok, _ in results) == 71
    assert sum(refused for _, refused in results) == 120 - 71
    with app.app_context():
        assert ledger.balance(WALLET) == 300 == ledger.balance_from_entries(WALLET)
        assert ledger.balance(REVENUE) == 49_700
        assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0
