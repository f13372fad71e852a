"""The app as a restricted PostgreSQL role, the tables' owner for migrations.

One database per test process, set up the way the README tells operators to: a LOGIN
role for the app (random name, dropped afterwards), ``fulian init`` with
``FULIAN_DATABASE_URL`` naming that role and ``FULIAN_MIGRATION_DATABASE_URL`` the
owner (no superuser either; it owns the database), which migrates as the owner and
grants the app role its privileges. Then, as the app role, the real services and the
API work while every way around the ledger's triggers is refused; as the owner,
TRUNCATE is refused by the trigger.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

import cli.base
from cli.main import cli as fulian
from core import create_app, dbmigrate, readiness
from core.db import write_transaction
from core.dbroles import RoleNotGrantable
from core.extensions import db
from core.finance import ledger
from core.models import AuditEntry, LedgerEntry, Payment
from tests.core.api.resources_world import World, build_world

#: what the README tells operators to run as the superuser, once per server
SETUP_SQL = (
    "CREATE ROLE {owner} LOGIN",  # a real server adds PASSWORD '…' to both
    "CREATE ROLE {app} LOGIN",
    "CREATE DATABASE {db} OWNER {owner}",
    "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
    "GRANT CONNECT ON DATABASE {db} TO {app}",
    # and, connected to the new database:
    "ALTER SCHEMA public OWNER TO {owner}",
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
)


@dataclass
class Deployment:
    role: str
    owner_role: str
    app_url: str
    owner_url: str
    superuser_url: str
    owner: Engine
    superuser: Engine
    world: World
    folder: Path

    def app_engine(self) -> Engine:
        return create_engine(self.app_url)

    def env(self) -> dict[str, str]:
        return operator_env(self.folder, self.app_url, self.owner_url)


def operator_env(folder: Path, app_url: str, owner_url: str) -> dict[str, str]:
    """The environment of the ``fulian`` commands an operator runs."""
    return {"FULIAN_INSTANCE": str(folder / "instance"), "FULIAN_DATABASE_URL": app_url,
            "FULIAN_MIGRATION_DATABASE_URL": owner_url, "FULIAN_JOBS_THREAD": "0",
            "FULIAN_LOCALE": "en", "FULIAN_REDIS_URL": ""}


def run_fulian(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``fulian ARGS`` in process with ``env`` as its environment variables."""
    cli.base._app = cli.base._mode = None
    fulian._plugin_commands = None
    try:
        result = CliRunner(env=env).invoke(fulian, list(args), prog_name="fulian")
        app = cli.base._app
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        cli.base._app = cli.base._mode = None
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def deployment(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    """The README's setup with random names: an owner and an app role (no superusers),
    a database the owner owns, ``fulian init`` with both URLs, a world of data written
    by the app role. Everything is dropped afterwards."""
    tag = uuid.uuid4().hex[:12]
    names = {"owner": f"fulian_owner_{tag}", "app": f"fulian_app_{tag}",
             "db": f"t_roles_{tag}"}
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    base = make_url(pg_admin_url).set(database=names["db"])
    url_of = {who: base.set(username=names[who]).render_as_string(hide_password=False)
              for who in ("owner", "app")}
    superuser_url = base.render_as_string(hide_password=False)
    superuser = create_engine(superuser_url, isolation_level="AUTOCOMMIT")
    owner = create_engine(url_of["owner"], isolation_level="AUTOCOMMIT")
    app = None
    try:
        with admin.connect() as conn:
            for statement in SETUP_SQL[:5]:
                conn.execute(text(statement.format(**names)))
        with superuser.connect() as conn:
            for statement in SETUP_SQL[5:]:
                conn.execute(text(statement.format(**names)))
        folder = tmp_path_factory.mktemp("roles")
        code, out, err = run_fulian(operator_env(folder, url_of["app"], url_of["owner"]),
                                    "init", "--brand", "Roles",
                                    "--owner-email", "boss@example.com",
                                    "--owner-password", "a-long-password", "--locale", "en")
        assert code == 0, out + err
        assert f"Role {names['app']} granted" in out and "Brand Roles created." in out
        app = _app(folder, url_of["app"], url_of["owner"])
        yield Deployment(names["app"], names["owner"], url_of["app"], url_of["owner"],
                         superuser_url, owner, superuser, build_world(app), folder)
    finally:
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        owner.dispose()
        superuser.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{names["db"]}" WITH (FORCE)'))
            for who in ("app", "owner"):
                conn.execute(text(f'DROP ROLE IF EXISTS "{names[who]}"'))
        admin.dispose()


def _app(folder: Path, app_url: str, owner_url: str, **config: Any) -> Any:
    return create_app({"INSTANCE_PATH": str(folder / "instance"),
                       "SQLALCHEMY_DATABASE_URI": app_url,
                       "FULIAN_MIGRATION_DATABASE_URL": owner_url,
                       "FULIAN_JOBS_THREAD": False, "TESTING": True, **config})


def _privileges(owner: Engine, role: str, table: str) -> set[str]:
    kinds = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    with owner.connect() as conn:
        return {k for k in kinds if conn.scalar(
            text("SELECT has_table_privilege(:r, :t, :k)"), {"r": role, "t": table, "k": k})}


def test_the_owner_owns_the_tables_and_the_app_role_holds_only_what_it_needs(
        deployment: Deployment) -> None:
    owner, role = deployment.owner, deployment.role
    with owner.connect() as conn:
        owned = conn.scalar(text(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_has_role(:r, c.relowner, 'MEMBER')"),
            {"r": role})
        tables = conn.scalars(text("SELECT tablename FROM pg_tables "
                                   "WHERE schemaname = 'public'")).all()
        owners = set(conn.scalars(text("SELECT tableowner FROM pg_tables "
                                       "WHERE schemaname = 'public'")))
        balance_only = [conn.scalar(text(
            "SELECT has_column_privilege(:r, 'ledger_accounts', :c, 'UPDATE')"),
            {"r": role, "c": column}) for column in ("balance", "code", "currency")]
        sequences = conn.execute(text(
            "SELECT has_sequence_privilege(:r, 'ledger_entries_id_seq', 'USAGE'), "
            "has_sequence_privilege(:r, 'ledger_entries_id_seq', 'UPDATE'), "
            "has_schema_privilege(:r, 'public', 'CREATE')"), {"r": role}).one()
    assert owned == 0 and owners == {deployment.owner_role}
    assert {"wallet_top_ups", "contract_notes"} <= set(tables)  # plugins' tables too
    for table in ("ledger_entries", "ledger_transactions", "audit_log"):
        assert _privileges(owner, role, table) == {"SELECT", "INSERT"}, table
    assert _privileges(owner, role, "ledger_accounts") == {"SELECT", "INSERT"}
    assert balance_only == [True, False, False]
    assert _privileges(owner, role, "alembic_version") == {"SELECT"}
    for table in set(tables) - {"ledger_entries", "ledger_transactions", "audit_log",
                                "ledger_accounts", "alembic_version"}:
        assert _privileges(owner, role, table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert tuple(sequences) == (True, False, False)


def test_bookings_payments_and_refunds_work_as_the_app_role(deployment: Deployment) -> None:
    world = deployment.world
    ids = world.ids
    order = world.post(f"/api/v1/bookings/{ids['booking_n']}/order", "desk_n")
    assert order.status_code in (200, 201), order.get_data(as_text=True)
    url = f"/api/v1/orders/{order.json['id']}/payments"
    key = {"Idempotency-Key": f"pay-{uuid.uuid4().hex}"}
    paid = world.post(url, "desk_n", json={"provider": "cash", "amount": 12800}, headers=key)
    assert paid.status_code == 201, paid.get_data(as_text=True)
    again = world.post(url, "desk_n", json={"provider": "cash", "amount": 12800}, headers=key)
    assert again.get_data() == paid.get_data()
    refund = world.post(f"/api/v1/orders/{order.json['id']}/refunds", "mgr_n",
                        json={"amount": 800, "reason": "late"})
    assert refund.status_code == 201, refund.get_data(as_text=True)
    with world.app.app_context():
        assert db.session.query(Payment).count() == 1
        assert db.session.query(AuditEntry).count() > 0
        assert ledger.balance(f"store:{ids['north']}:cash") == 12000
        assert ledger.balance_from_entries(f"store:{ids['north']}:cash") == 12000
        assert db.engine.url.username == deployment.role


def test_a_new_booking_through_the_api_as_the_app_role(deployment: Deployment) -> None:
    world = deployment.world
    ids = world.ids
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=5, minute=0, second=0,
                                                             microsecond=0)
    booked = world.post("/api/v1/bookings", "desk_n", json={
        "store_id": ids["north"], "service_id": ids["cut"], "staff_id": ids["ann"],
        "start_at": start.isoformat().replace("+00:00", "Z"), "source": "phone",
        "customer": {"phone": "13900000009", "name": "Walk In"}})
    assert booked.status_code == 201, booked.get_data(as_text=True)
    assert world.get(f"/api/v1/bookings/{booked.json['id']}/ics", "desk_n").status_code == 200


REFUSED = {
    "TRUNCATE ledger_entries": "permission denied",
    "TRUNCATE ledger_accounts CASCADE": "permission denied",
    "TRUNCATE audit_log": "permission denied",
    "UPDATE ledger_entries SET amount = amount * 2": "permission denied",
    "DELETE FROM ledger_entries": "permission denied",
    "DELETE FROM ledger_transactions": "permission denied",
    "UPDATE audit_log SET actor = 'nobody'": "permission denied",
    "DELETE FROM audit_log": "permission denied",
    "UPDATE ledger_accounts SET code = 'x' || code": "permission denied",
    "DELETE FROM ledger_accounts": "permission denied",
    "UPDATE alembic_version SET version_num = version_num": "permission denied",
    "SELECT setval('ledger_entries_id_seq', 1)": "permission denied",
    "ALTER TABLE ledger_entries DISABLE TRIGGER ALL": "must be owner",
    "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only": "must be owner",
    "DROP TRIGGER ledger_entries_no_truncate ON ledger_entries": "must be owner",
    "DROP TABLE ledger_entries": "must be owner",
    "SET session_replication_role = replica": "permission denied",
    "CREATE TABLE sneaky (id int)": "permission denied",
}


def test_the_app_role_cannot_get_around_the_ledgers_protection(
        deployment: Deployment) -> None:
    with deployment.world.app.app_context(), write_transaction():  # history to protect
        ledger.post("sale", [("store:0:cash", 100), ("store:0:revenue", -100)])
    with deployment.world.app.app_context():
        before = db.session.query(LedgerEntry).count()
    engine = deployment.app_engine()
    try:
        for statement, reason in REFUSED.items():
            with pytest.raises(DBAPIError, match=reason) as caught, engine.connect() as conn:
                conn.execute(text(statement))
            assert caught.value.orig.sqlstate == "42501", statement  # privilege
        # an unbalanced posting fails at commit even when raw SQL writes it
        with pytest.raises(DBAPIError, match="does not balance"), engine.begin() as conn:
            txn = conn.scalar(text(
                "INSERT INTO ledger_transactions (kind, memo, created_at) "
                "VALUES ('forged', '', now()) RETURNING id"))
            account = conn.scalar(text(
                "INSERT INTO ledger_accounts (code, normal, currency, allow_negative, "
                "balance, created_at) VALUES ('store:0:forged', 'debit', 'CNY', true, 0, "
                "now()) RETURNING id"))
            conn.execute(text(
                "INSERT INTO ledger_entries (transaction_id, account_id, amount, "
                "created_at) VALUES (:t, :a, 100000, now())"), {"t": txn, "a": account})
    finally:
        engine.dispose()
    with deployment.world.app.app_context():
        assert db.session.query(LedgerEntry).count() == before >= 2


def test_the_owner_cannot_truncate_either(deployment: Deployment) -> None:
    with deployment.owner.connect() as conn:
        for table in ("ledger_entries", "ledger_transactions CASCADE",
                      "ledger_accounts CASCADE", "audit_log",
                      "ledger_entries, ledger_transactions, ledger_accounts CASCADE"):
            with pytest.raises(DBAPIError, match="is append-only \\(TRUNCATE refused\\)"):
                conn.execute(text(f"TRUNCATE {table}"))


def test_granting_again_covers_new_tables_and_takes_back_extra_privileges(
        deployment: Deployment) -> None:
    owner, role = deployment.owner, deployment.role
    with owner.connect() as conn:  # as a later migration or a careless DBA might
        conn.execute(text("CREATE TABLE later_notes (id serial PRIMARY KEY, body text)"))
        conn.execute(text(f'GRANT UPDATE, TRUNCATE ON ledger_entries TO "{role}"'))
    try:
        assert _privileges(owner, role, "later_notes") == set()
        env = deployment.env()
        for _ in range(2):  # re-runnable
            code, out, err = run_fulian(env, "db", "grant-app-role")
            assert code == 0, out + err
            assert f"Role {deployment.role} granted" in out
            assert ("insert only on audit_log, ledger_entries, ledger_transactions; "
                    "balance updates only on ledger_accounts; read only on "
                    "alembic_version") in out
        assert _privileges(owner, role, "later_notes") == {"SELECT", "INSERT", "UPDATE",
                                                           "DELETE"}
        assert _privileges(owner, role, "ledger_entries") == {"SELECT", "INSERT"}
        code, out, err = run_fulian(env, "db", "upgrade")  # grants after each upgrade too
        assert code == 0 and f"Role {role} granted" in out, out + err
        code, _out, err = run_fulian(env, "db", "grant-app-role", deployment.owner_role)
        assert code == 2 and "the login this command runs as" in err
        code, _out, err = run_fulian(env, "db", "grant-app-role", "postgres")
        assert code == 1 and "is a superuser" in err
    finally:
        with owner.connect() as conn:
            conn.execute(text("DROP TABLE later_notes"))


def test_roles_that_grants_cannot_restrict_are_refused(deployment: Deployment) -> None:
    other = f"fulian_other_{uuid.uuid4().hex[:8]}"
    app = _app(deployment.folder, deployment.owner_url, deployment.owner_url)
    with deployment.superuser.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{other}" LOGIN'))
        conn.execute(text(f'CREATE TABLE "{other}_t" (id int)'))
        conn.execute(text(f'ALTER TABLE "{other}_t" OWNER TO "{other}"'))
    try:
        with app.app_context():
            for role, reason in (("postgres", "superuser"), ("no_such_role_x", "no database"),
                                 (other, "owns")):
                with pytest.raises(RoleNotGrantable, match=reason):
                    dbmigrate.grant_app_role(role)
    finally:
        with app.app_context():
            db.engine.dispose()
        with deployment.superuser.connect() as conn:
            conn.execute(text(f'DROP TABLE "{other}_t"'))
            conn.execute(text(f'DROP ROLE "{other}"'))


def test_check_warns_in_production_when_the_app_could_switch_triggers_off(
        deployment: Deployment) -> None:
    def finding(url: str) -> Any:
        app = _app(deployment.folder, url, deployment.owner_url, FULIAN_ENV="production",
                   SECRET_KEY="k" * 40)
        try:
            with app.app_context():
                return {f.topic: f for f in readiness.check(app)}["database_role"]
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

    restricted = finding(deployment.app_url)
    assert restricted.level == "ok" and deployment.role in restricted.message
    owner = finding(deployment.owner_url)
    assert owner.level == "warning" and "owns audit_log, ledger_entries" in owner.message
    superuser = finding(deployment.superuser_url)
    assert superuser.level == "warning" and "superuser" in superuser.message
