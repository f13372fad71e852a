"""The application's PostgreSQL login: what it may do, granted by the tables' owner.

Triggers keep ledger history append-only, but the owner of a table (or a superuser) can
switch them off (``ALTER TABLE … DISABLE TRIGGER``, ``session_replication_role``) or
``TRUNCATE`` past row triggers. So migrations run as the owner
(``FULIAN_MIGRATION_DATABASE_URL``) and the app as a role that owns nothing
(``FULIAN_DATABASE_URL``), holding exactly the privileges granted here:

* append-only tables (ledger entries and transactions, the audit log): SELECT, INSERT;
* ledger accounts: SELECT, INSERT and UPDATE of ``balance`` only (the posting service's
  one atomic UPDATE; no DELETE);
* the Alembic version table: SELECT (``fulian check`` compares it with the code);
* every other table of the schema, plugins' included: SELECT, INSERT, UPDATE, DELETE;
* sequences: USAGE (``nextval`` for new ids, not ``setval``); the schema: USAGE, no CREATE.

Never TRUNCATE, TRIGGER or REFERENCES, and no ownership, so no DDL. Granting first
revokes what the role held on the schema's tables, so re-running it after a migration
both covers new tables and tightens tables whose rules changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from .errors import FulianError

APPEND_ONLY = ("ledger_entries", "ledger_transactions", "audit_log")
#: tables the app may insert into and update only these columns of (never delete)
COLUMN_UPDATES = {"ledger_accounts": ("balance",)}
READ_ONLY = ("alembic_version",)
READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"


class RoleNotGrantable(FulianError):
    """The role does not exist, or holds power a grant cannot take away."""

    status = 400


@dataclass
class GrantReport:
    """What :func:`grant_app_role` did: tables per kind of access, and what it could not
    fix (tables another role owns, CREATE on the schema through PUBLIC)."""

    role: str
    read_write: list[str] = field(default_factory=list)
    append_only: list[str] = field(default_factory=list)
    limited: list[str] = field(default_factory=list)
    read_only: list[str] = field(default_factory=list)
    sequences: int = 0
    warnings: list[str] = field(default_factory=list)


def privileges(table: str) -> str:
    """The privilege list the app role gets on ``table``."""
    if table in APPEND_ONLY:
        return "SELECT, INSERT"
    if table in COLUMN_UPDATES:
        return f"SELECT, INSERT, UPDATE ({', '.join(COLUMN_UPDATES[table])})"
    if table in READ_ONLY:
        return "SELECT"
    return READ_WRITE


def login_of(url: str) -> str | None:
    """The user name a PostgreSQL URL logs in as (None: not PostgreSQL, or none given)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    return parsed.username or None


def grant_app_role(conn: Connection, role: str) -> GrantReport:
    """Grant ``role`` what the app needs on the current schema, as the tables' owner, in
    the caller's transaction. Refuses a role that does not exist, is a superuser, or is
    (a member of) the owner of a table here: grants cannot restrict those."""
    quote = conn.dialect.identifier_preparer.quote
    found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"),
                         {"r": role}).first()
    if found is None:
        raise RoleNotGrantable(_("There is no database role %(role)s: create it first "
                                 "(CREATE ROLE … LOGIN).", role=role))
    if found.rolsuper:
        raise RoleNotGrantable(_("%(role)s is a superuser: privileges cannot restrict it. "
                                 "The app needs a role of its own.", role=role))
    tables = conn.execute(text("""
        SELECT c.relname, c.relkind, pg_has_role(:r, c.relowner, 'MEMBER') AS owns,
               pg_has_role(current_user, c.relowner, 'USAGE') AS mine
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'S')
         ORDER BY c.relname"""), {"r": role}).all()
    owned = sorted(t.relname for t in tables if t.owns)
    if owned:
        raise RoleNotGrantable(_("%(role)s owns (or is a member of the owner of) "
                                 "%(tables)s: the app's role must own nothing.",
                                 role=role, tables=", ".join(owned[:5])))
    who = quote(role)
    report = GrantReport(role)
    schema = conn.execute(text(
        "SELECT n.nspname, pg_has_role(current_user, n.nspowner, 'USAGE') AS mine FROM "
        "pg_namespace n WHERE n.nspname = current_schema()")).one()
    if schema.mine:
        conn.execute(text(f"GRANT USAGE ON SCHEMA {quote(schema.nspname)} TO {who}"))
        conn.execute(text(f"REVOKE CREATE ON SCHEMA {quote(schema.nspname)} FROM {who}"))
    for row in tables:
        name = quote(row.relname)
        if not row.mine:
            report.warnings.append(_("%(table)s belongs to another role: grant on it as "
                                     "its owner.", table=row.relname))
            continue
        if row.relkind == "S":
            conn.execute(text(f"REVOKE ALL ON SEQUENCE {name} FROM {who}"))
            conn.execute(text(f"GRANT USAGE ON SEQUENCE {name} TO {who}"))
            report.sequences += 1
            continue
        conn.execute(text(f"REVOKE ALL ON TABLE {name} FROM {who}"))
        conn.execute(text(f"GRANT {privileges(row.relname)} ON TABLE {name} TO {who}"))
        kind = (report.append_only if row.relname in APPEND_ONLY else
                report.limited if row.relname in COLUMN_UPDATES else
                report.read_only if row.relname in READ_ONLY else report.read_write)
        kind.append(row.relname)
    usage, create = conn.execute(text(
        "SELECT has_schema_privilege(:r, current_schema(), 'USAGE'), "
        "has_schema_privilege(:r, current_schema(), 'CREATE')"), {"r": role}).one()
    if not usage:
        report.warnings.append(_(
            "%(role)s may not use schema %(schema)s: run GRANT USAGE ON SCHEMA %(schema)s "
            "TO %(role)s as the schema's owner.", role=role, schema=schema.nspname))
    if create:
        report.warnings.append(_(
            "%(role)s can still create tables in schema %(schema)s (PUBLIC may): run "
            "REVOKE CREATE ON SCHEMA %(schema)s FROM PUBLIC as the schema's owner.",
            role=role, schema=schema.nspname))
    return report
