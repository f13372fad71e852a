"""phone numbers as E.164 identities, one customer per number, login failures per identifier

* ``brand_settings.country`` (ISO 3166 alpha-2, default ``CN``): where numbers written
  without a country code belong. ``FULIAN_PHONE_COUNTRY=US fulian db upgrade`` reads
  existing numbers as US numbers and sets the brand's country to US.
* ``users.phone`` and ``customers.phone`` are rewritten in E.164 (``+8613800138000``).
  Numbers that do not parse are left as they are, with a warning.
* Users whose numbers turn out equal: the oldest keeps the number; the others lose it
  if they have an e-mail to log in with, else they are deactivated (and lose it too: the
  unique index allows one holder).
* Customers whose numbers turn out equal are merged. The survivor is the one linked to
  a user (the one whose user kept the number, if several are), else the lowest id. Every
  foreign key that references ``customers.id`` is found by reflection, plugin tables
  included, and re-pointed; tags the survivor already has are dropped from the
  duplicate. A ledger account ``customer:<dup>:<purpose>`` with a balance is emptied
  into ``customer:<survivor>:<purpose>`` by an appended, balanced ``customer_merge``
  transaction (ledger history is append-only), then renamed
  ``merged-customer:<dup>:<purpose>`` so that a future customer given the same id
  (SQLite reuses the highest id) does not inherit its history. If a unique constraint
  makes a re-point impossible, the upgrade stops before changing anything and names the
  customers to merge by hand; no money data is ever deleted.
* ``auth_failures``: failed password logins counted per identifier (an HMAC of it),
  known or not, so a lockout no longer tells which accounts exist; ``users.failed_logins``
  and ``users.locked_until`` are dropped (nothing reads them any more).

This migration uses ``phonenumbers`` itself instead of app code: migrations must keep
working when the app changes later.

Revision ID: c0009
Revises: c0008
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision = 'c0009'
down_revision = 'c0008'
branch_labels = None
depends_on = None

DEFAULT_COUNTRY = "CN"
#: referencing tables whose rows a duplicate may simply lose when the survivor has the
#: same (tags are labels: the survivor carrying the tag is all that matters)
DROP_IF_SURVIVOR_HAS = {"customer_tags"}


class CannotMergeCustomers(Exception):
    """Duplicates a person must merge: a re-point would break a unique constraint."""


def _say(message: str) -> None:
    print(f"c0009: {message}", flush=True)


# ------------------------------------------------------------------------- numbers


def _e164(raw: Any, country: str) -> str | None:
    """As core.phones.normalise, frozen here: E.164 for a valid number, else None."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        return None
    text = raw.strip()
    compact = "".join(ch for ch in text if ch not in " -().\u00a0\u3000\t")
    candidates = [text]
    if compact.startswith("00") and len(compact) > 4:
        candidates.append("+" + compact[2:])
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        if number.extension is None and phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _country(bind: Any, inspector: Any) -> str:
    wanted = (os.environ.get("FULIAN_PHONE_COUNTRY") or "").strip().upper()
    if wanted:
        if wanted not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"FULIAN_PHONE_COUNTRY={wanted!r} is not a country code with a "
                         "phone numbering plan (e.g. CN, US)")
        return wanted
    columns = {c["name"] for c in inspector.get_columns("brand_settings")}
    if "country" in columns:
        found = bind.execute(sa.text("SELECT country FROM brand_settings WHERE id = 1")
                             ).scalar()
        if found in phonenumbers.SUPPORTED_REGIONS:
            return str(found)
    return DEFAULT_COUNTRY


# ---------------------------------------------------------------------------- plan


def _plan_users(bind: Any, country: str) -> tuple[dict[int, str], list[dict[str, Any]],
                                                  dict[str, int]]:
    """(new phone by user id, users to clear or deactivate, keeper id by number)."""
    rows = bind.execute(sa.text(
        "SELECT id, phone, email, created_at FROM users WHERE phone IS NOT NULL "
        "ORDER BY id")).all()
    groups: dict[str, list[Any]] = defaultdict(list)
    changes: dict[int, str] = {}
    for row in rows:
        norm = _e164(row.phone, country)
        if norm is None:
            _say(f"warning: user #{row.id} has phone {row.phone!r}, not a valid number in "
                 f"{country}; left unchanged")
            continue
        groups[norm].append(row)
    losers: list[dict[str, Any]] = []
    keepers: dict[str, int] = {}
    for norm, members in groups.items():
        members.sort(key=lambda r: (str(r.created_at or ""), r.id))
        keeper = members[0]
        keepers[norm] = keeper.id
        if keeper.phone != norm:
            changes[keeper.id] = norm
        for other in members[1:]:
            losers.append({"id": other.id, "phone": other.phone, "norm": norm,
                           "keeper": keeper.id, "deactivate": not other.email})
    return changes, losers, keepers


def _customer_refs(inspector: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """Every (table, column) whose foreign key references customers.id, and problems."""
    refs, problems = [], []
    for table in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(table):
            if fk.get("referred_table") != "customers":
                continue
            if fk.get("referred_columns") != ["id"] or len(fk["constrained_columns"]) != 1:
                problems.append(f"{table}{tuple(fk['constrained_columns'])} references "
                                f"customers{tuple(fk.get('referred_columns') or ())}")
                continue
            refs.append((table, fk["constrained_columns"][0]))
    return sorted(set(refs)), problems


def _unique_sets(inspector: Any, table: str, column: str) -> list[list[str]]:
    """Column sets that are unique in ``table`` and contain ``column``."""
    sets = [list(u["column_names"]) for u in inspector.get_unique_constraints(table)]
    sets += [list(i["column_names"]) for i in inspector.get_indexes(table)
             if i.get("unique") and all(c is not None for c in i["column_names"])]
    pk = inspector.get_pk_constraint(table).get("constrained_columns") or []
    if pk:
        sets.append(list(pk))
    out = []
    for cols in sets:
        if column in cols and cols not in out:
            out.append(cols)
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _collisions(bind: Any, table: str, column: str, cols: list[str], ids: list[int]
                ) -> list[str]:
    """Values of ``cols`` (other than ``column``) held by two customers of ``ids``."""
    others = [c for c in cols if c != column]
    params = {f"i{n}": i for n, i in enumerate(ids)}
    in_ids = ", ".join(f":i{n}" for n in range(len(ids)))
    if not others:
        count = bind.execute(sa.text(
            f"SELECT COUNT(DISTINCT {_q(column)}) FROM {_q(table)} "
            f"WHERE {_q(column)} IN ({in_ids})"), params).scalar()
        return ["one row per customer"] if count and count > 1 else []
    select = ", ".join(_q(c) for c in others)
    not_null = " AND ".join(f"{_q(c)} IS NOT NULL" for c in others)
    found = bind.execute(sa.text(
        f"SELECT {select} FROM {_q(table)} WHERE {_q(column)} IN ({in_ids}) AND {not_null} "
        f"GROUP BY {select} HAVING COUNT(DISTINCT {_q(column)}) > 1"), params).all()
    return [", ".join(f"{c}={v!r}" for c, v in zip(others, row, strict=True))
            for row in found]


def _plan_customers(bind: Any, inspector: Any, country: str, user_keepers: dict[str, int]
                    ) -> tuple[dict[int, str], list[tuple[int, list[int], str]], list[str]]:
    """(new phone by customer id, merges as (survivor, duplicates, number), problems)."""
    rows = bind.execute(sa.text("SELECT id, phone, user_id FROM customers ORDER BY id")
                        ).all()
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        norm = _e164(row.phone, country)
        if norm is None:
            _say(f"warning: customer #{row.id} has phone {row.phone!r}, not a valid number "
                 f"in {country}; left unchanged")
            continue
        groups[norm].append(row)
    changes: dict[int, str] = {}
    merges: list[tuple[int, list[int], str]] = []
    for norm, members in groups.items():
        keeper = user_keepers.get(norm)
        linked = [m for m in members if m.user_id is not None]
        survivor = next((m for m in linked if m.user_id == keeper), None) \
            or (linked[0] if linked else members[0])
        if survivor.phone != norm:
            changes[survivor.id] = norm
        dups = [m.id for m in members if m.id != survivor.id]
        if dups:
            merges.append((survivor.id, dups, norm))
    problems: list[str] = []
    if not merges:
        return changes, merges, problems
    refs, fk_problems = _customer_refs(inspector)
    problems += fk_problems
    for survivor, dups, norm in merges:
        ids = [survivor, *dups]
        names = " and ".join(f"#{i}" for i in ids)
        for table, column in refs:
            if table in DROP_IF_SURVIVOR_HAS:
                continue
            for cols in _unique_sets(inspector, table, column):
                for clash in _collisions(bind, table, column, cols, ids):
                    problems.append(f"customers {names} ({norm}): {table} allows one row "
                                    f"per customer for {tuple(cols)} and both have one "
                                    f"({clash})")
        problems += _ledger_problems(bind, survivor, dups, names, norm)
    return changes, merges, problems


def _ledger_accounts(bind: Any, customer_id: int) -> list[Any]:
    prefix = f"customer:{customer_id}:"
    return [a for a in bind.execute(sa.text(
        "SELECT id, code, normal, currency, allow_negative, balance FROM ledger_accounts "
        "WHERE code LIKE :prefix ORDER BY code"), {"prefix": prefix + "%"}).all()
        if a.code.startswith(prefix) and ":" not in a.code[len(prefix):]]


def _ledger_problems(bind: Any, survivor: int, dups: list[int], names: str, norm: str
                     ) -> list[str]:
    problems = []
    theirs = {a.code.rsplit(":", 1)[1]: a for a in _ledger_accounts(bind, survivor)}
    for dup in dups:
        for account in _ledger_accounts(bind, dup):
            purpose = account.code.rsplit(":", 1)[1]
            target = theirs.get(purpose)
            if account.balance and target is not None and (
                    target.currency != account.currency or target.normal != account.normal):
                problems.append(f"customers {names} ({norm}): ledger accounts {account.code}"
                                f" and {target.code} differ in currency or side")
    return problems


# ---------------------------------------------------------------------------- apply


def _now(bind: Any) -> datetime:
    now = datetime.now(timezone.utc)  # noqa: UP017 - migrations stay plain
    return now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now


_accounts = sa.table("ledger_accounts", sa.column("id", sa.Integer),
                     sa.column("code", sa.String), sa.column("normal", sa.String),
                     sa.column("currency", sa.String), sa.column("allow_negative", sa.Boolean),
                     sa.column("balance", sa.BigInteger), sa.column("created_at", sa.DateTime))
_transactions = sa.table("ledger_transactions", sa.column("id", sa.Integer),
                         sa.column("kind", sa.String), sa.column("memo", sa.String),
                         sa.column("reference", sa.String),
                         sa.column("idempotency_key", sa.String),
                         sa.column("created_at", sa.DateTime))
_entries = sa.table("ledger_entries", sa.column("transaction_id", sa.Integer),
                    sa.column("account_id", sa.Integer), sa.column("amount", sa.BigInteger),
                    sa.column("created_at", sa.DateTime))


def _move_ledger(bind: Any, survivor: int, dup: int) -> None:
    """What ``core.finance.ledger.post`` does, in plain SQL: one balanced transaction
    empties each of the duplicate's accounts into the survivor's (created if missing),
    balances move with one atomic UPDATE each; then the emptied account is renamed."""
    now = _now(bind)
    for account in _ledger_accounts(bind, dup):
        purpose = account.code.rsplit(":", 1)[1]
        if account.balance:
            code = f"customer:{survivor}:{purpose}"
            target = bind.execute(sa.select(_accounts.c.id).where(_accounts.c.code == code)
                                  ).scalar()
            if target is None:
                bind.execute(_accounts.insert().values(
                    code=code, normal=account.normal, currency=account.currency,
                    allow_negative=account.allow_negative, balance=0, created_at=now))
                target = bind.execute(sa.select(_accounts.c.id).where(
                    _accounts.c.code == code)).scalar_one()
            # positive = debit: the leg that takes the balance out of the duplicate
            out = -account.balance if account.normal == "debit" else account.balance
            key = f"customer_merge:{dup}:{survivor}:{purpose}"
            bind.execute(_transactions.insert().values(
                kind="customer_merge", memo=f"customer #{dup} merged into #{survivor}",
                reference=f"customer:{survivor}", idempotency_key=key, created_at=now))
            txn = bind.execute(sa.select(_transactions.c.id).where(
                _transactions.c.idempotency_key == key)).scalar_one()
            for account_id, amount in sorted(((account.id, out), (target, -out))):
                delta = amount if account.normal == "debit" else -amount
                bind.execute(_accounts.update().where(_accounts.c.id == account_id)
                             .values(balance=_accounts.c.balance + delta))
                bind.execute(_entries.insert().values(transaction_id=txn,
                                                      account_id=account_id,
                                                      amount=amount, created_at=now))
            _say(f"moved {account.balance} ({account.currency}) from {account.code} to "
                 f"{code}")
        bind.execute(_accounts.update().where(_accounts.c.id == account.id)
                     .values(code=f"merged-{account.code}"))


def _merge(bind: Any, refs: list[tuple[str, str]], survivor: int, dups: list[int],
           norm: str) -> None:
    for dup in dups:
        params = {"dup": dup, "survivor": survivor}
        for table, column in refs:
            if table in DROP_IF_SURVIVOR_HAS:
                bind.execute(sa.text(
                    f"DELETE FROM {_q(table)} WHERE {_q(column)} = :dup AND tag IN "
                    f"(SELECT tag FROM {_q(table)} WHERE {_q(column)} = :survivor)"), params)
            bind.execute(sa.text(f"UPDATE {_q(table)} SET {_q(column)} = :survivor "
                                 f"WHERE {_q(column)} = :dup"), params)
        _move_ledger(bind, survivor, dup)
        bind.execute(sa.text("DELETE FROM customers WHERE id = :dup"), params)
        _say(f"customer #{dup} merged into #{survivor} ({norm})")


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    country = _country(bind, inspector)

    # Plan first, change nothing until every merge is known to be possible.
    user_phones, losers, keepers = _plan_users(bind, country)
    customer_phones, merges, problems = _plan_customers(bind, inspector, country, keepers)
    if problems:
        # One line (the CLI shows the first line of an error); not a RuntimeError, which
        # Flask-Migrate would swallow into a bare exit status.
        raise CannotMergeCustomers(
            "c0009 cannot merge customers whose phone numbers are the same once written "
            "in E.164; nothing was changed. Merge these by hand (move or remove the rows "
            "named), then run the upgrade again: " + "; ".join(problems))
    refs, _ = _customer_refs(inspector) if merges else ([], [])

    with op.batch_alter_table('brand_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=False,
                                      server_default=DEFAULT_COUNTRY))
    if country != DEFAULT_COUNTRY:
        bind.execute(sa.text("UPDATE brand_settings SET country = :c"), {"c": country})

    op.create_table(
        'auth_failures',
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_auth_failures')),
    )
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_failures_window_start'), ['window_start'],
                              unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    # Users: losers give the number up first, so the keeper can take its E.164 form.
    for loser in losers:
        if loser["deactivate"]:
            bind.execute(sa.text("UPDATE users SET phone = NULL, is_active = :off "
                                 "WHERE id = :id"), {"id": loser["id"], "off": False})
            _say(f"user #{loser['id']} deactivated: phone {loser['phone']!r} is "
                 f"{loser['norm']}, kept by the older user #{loser['keeper']}, and it has "
                 "no e-mail to log in with")
        else:
            bind.execute(sa.text("UPDATE users SET phone = NULL WHERE id = :id"),
                         {"id": loser["id"]})
            _say(f"user #{loser['id']} lost phone {loser['phone']!r}: it is "
                 f"{loser['norm']}, kept by the older user #{loser['keeper']}; it logs in "
                 "with its e-mail")
    for user_id, phone in user_phones.items():
        bind.execute(sa.text("UPDATE users SET phone = :p WHERE id = :id"),
                     {"p": phone, "id": user_id})

    # Customers: merge, then write the survivors' numbers in E.164.
    for survivor, dups, norm in merges:
        _merge(bind, refs, survivor, dups, norm)
    for customer_id, phone in customer_phones.items():
        bind.execute(sa.text("UPDATE customers SET phone = :p WHERE id = :id"),
                     {"p": phone, "id": customer_id})
    if user_phones or customer_phones or merges or losers:
        _say(f"{len(user_phones)} user and {len(customer_phones)} customer phone numbers "
             f"written in E.164 (national numbers read as {country}); {len(merges)} "
             "customer merges")


def downgrade() -> None:
    """Schema only: numbers stay in E.164 and merged customers stay merged (the ledger
    transfers are history)."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_failures_window_start'))
    op.drop_table('auth_failures')
    with op.batch_alter_table('brand_settings', schema=None) as batch_op:
        batch_op.drop_column('country')
