"""Is this deployment ready to serve? What ``fulian check`` prints and what production
refuses to start without.

A brand must not go live on demo parts: in production a missing secret key, an
unmigrated database, customer SMS login without a real SMS provider, or an online
payment provider that is switched on but not configured stops ``fulian serve``,
``fulian worker`` and gunicorn (``core.wsgi``) with one clear message. Things that work
but deserve a look (no online payment at all, cookies without HTTPS, no proxy trusted, a
database login that could switch the ledger's triggers off) are warnings. Demo and test
deployments report the same findings without refusing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .config import is_production
from .errors import FulianError

MIN_SECRET = 32


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``ok``, ``warning`` or ``error`` about a ``topic``."""

    level: str
    topic: str
    message: str


class NotReady(FulianError):
    """Production cannot start: the message names the first problem."""


def _secret(app: Flask) -> list[Finding]:
    key = app.config.get("SECRET_KEY") or ""
    if not key:
        return [Finding("error", "secret_key", _(
            "No secret key: set FULIAN_SECRET_KEY (the same on every app server) or run "
            "`fulian init`, which writes one into the instance folder."))]
    if len(str(key)) < MIN_SECRET:
        return [Finding("error", "secret_key", _(
            "The secret key is shorter than %(n)d characters.", n=MIN_SECRET))]
    return [Finding("ok", "secret_key", _("Secret key set."))]


def _database(app: Flask) -> list[Finding]:
    from . import dbmigrate
    from .extensions import db
    from .models import BrandSettings

    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if dbmigrate.pending():
            return [Finding("error", "database", _(
                "The database schema is not up to date: run `fulian db upgrade`."))]
        if db.session.get(BrandSettings, 1) is None:
            return [Finding("error", "database", _(
                "No brand yet: run `fulian init`."))]
    except SQLAlchemyError as exc:
        db.session.rollback()
        return [Finding("error", "database", _(
            "The database cannot be reached: %(error)s",
            error=str(exc).splitlines()[0][:200]))]
    engine = db.engine.url.get_backend_name()
    findings = [Finding("ok", "database", _("Database %(engine)s, schema up to date.",
                                            engine=engine))]
    strange = dbmigrate.unknown()
    if strange:
        findings.append(Finding("warning", "database", _(
            "The database has migrations this code does not know (%(revisions)s): a "
            "plugin was uninstalled, or the code is older than the database.",
            revisions=", ".join(strange))))
    if engine == "sqlite" and is_production(app.config):
        findings.append(Finding("warning", "database", _(
            "SQLite serves one store on one server; chains use PostgreSQL "
            "(FULIAN_DATABASE_URL).")))
    return findings


def _database_role(app: Flask) -> list[Finding]:
    """Production's PostgreSQL login must not be able to switch the ledger's triggers
    off: no superuser (``session_replication_role``), no owner of the ledger tables
    (``ALTER TABLE … DISABLE TRIGGER``, ``TRUNCATE``) — see ``fulian db grant-app-role``."""
    from .dbroles import APPEND_ONLY
    from .extensions import db

    if not is_production(app.config) or db.engine.dialect.name != "postgresql":
        return []
    row = db.session.execute(text("""
        SELECT current_user AS login, r.rolsuper AS superuser,
               array(SELECT c.relname::text FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = current_schema() AND c.relname = ANY(:tables)
                        AND pg_has_role(current_user, c.relowner, 'MEMBER')
                      ORDER BY c.relname) AS owned
          FROM pg_roles r WHERE r.rolname = current_user"""),
        {"tables": list(APPEND_ONLY)}).one()
    if row.superuser:
        return [Finding("warning", "database_role", _(
            "The app logs in to PostgreSQL as the superuser %(login)s, which can switch "
            "off the ledger's protection: give FULIAN_DATABASE_URL a restricted role and "
            "run `fulian db grant-app-role`.", login=row.login))]
    if row.owned:
        return [Finding("warning", "database_role", _(
            "The app's database login %(login)s owns %(tables)s and can switch off their "
            "triggers: let another role own the tables (FULIAN_MIGRATION_DATABASE_URL) "
            "and run `fulian db grant-app-role`.", login=row.login,
            tables=", ".join(row.owned)))]
    return [Finding("ok", "database_role", _(
        "The app's database login %(login)s is no superuser and owns none of the ledger "
        "and audit tables.",
        login=row.login))]


def _sms(app: Flask) -> list[Finding]:
    from . import sms

    if not app.config.get("FULIAN_SMS_LOGIN", True):
        return [Finding("warning", "sms", _(
            "Customer login by SMS is off (FULIAN_SMS_LOGIN=0): customers cannot log in "
            "or book online."))]
    wanted = app.config.get("FULIAN_SMS_PROVIDER")
    if not wanted:
        return [Finding("error", "sms", _(
            "Customers log in with a code sent by SMS, but no SMS provider is set: enable "
            "an SMS provider plugin and set FULIAN_SMS_PROVIDER (or FULIAN_SMS_LOGIN=0)."))]
    found = sms.providers().get(wanted)
    if found is None:
        return [Finding("error", "sms", _(
            "The SMS provider %(code)s is not available here (a demo provider, or its "
            "plugin is not enabled).", code=wanted))]
    problems = [str(p) for p in found.readiness()]
    if problems:
        return [Finding("error", "sms", _("SMS provider %(code)s: %(problems)s",
                                          code=wanted, problems="; ".join(problems)))]
    return [Finding("ok", "sms", _("SMS provider %(code)s ready.", code=wanted))]


def _payments(app: Flask) -> list[Finding]:
    from .finance.providers import installed

    findings = []
    ready = []
    for code, provider in installed().items():
        problems = [str(p) for p in provider.readiness()]
        if problems:
            findings.append(Finding("error", f"payments:{code}", _(
                "Payment provider %(code)s is enabled but not ready: %(problems)s",
                code=code, problems="; ".join(problems))))
        else:
            ready.append(code)
            findings.append(Finding("ok", f"payments:{code}", _(
                "Payment provider %(code)s ready.", code=code)))
    if not installed():
        findings.append(Finding("warning", "payments", _(
            "No online payment provider: customers pay at the store, and deposits and "
            "stored value are not offered online.")))
    public = app.config.get("FULIAN_PUBLIC_URL") or ""
    if ready and is_production(app.config) and not public.startswith("https://"):
        findings.append(Finding("error", "public_url", _(
            "Online payment needs FULIAN_PUBLIC_URL, the https:// address customers and "
            "the providers' servers reach this site at.")))
    return findings


def _web(app: Flask) -> list[Finding]:
    findings = []
    if is_production(app.config) and not app.config.get("SESSION_COOKIE_SECURE"):
        findings.append(Finding("warning", "cookies", _(
            "Session cookies are also sent over plain HTTP (FULIAN_SECURE_COOKIES=0): "
            "serve the site over HTTPS only.")))
    if is_production(app.config) and not app.config.get("FULIAN_TRUSTED_PROXIES"):
        findings.append(Finding("warning", "proxy", _(
            "No reverse proxy is trusted (FULIAN_TRUSTED_PROXIES=0): behind nginx, rate "
            "limits and the audit log see the proxy's address instead of the client's.")))
    return findings


def _licence(app: Flask) -> list[Finding]:
    status = app.extensions["fulian_plugins"].license_status()
    if status.error is not None:
        return [Finding("warning", "licence", _(
            "The installed licence is not honoured: %(reason)s", reason=status.error))]
    if status.license is not None:
        return [Finding("ok", "licence", _("Licence for %(licensee)s, valid until %(day)s.",
                                           licensee=status.license.licensee,
                                           day=status.license.expires_at.isoformat()))]
    return []


def _plugins(app: Flask) -> list[Finding]:
    """Plugins switched on in this deployment that the running core does not load: their
    declared core range (``PluginMeta.core``) excludes it (usually after a core upgrade)."""
    from .extensions import db
    from .models import PluginState

    registry = app.extensions["fulian_plugins"]
    incompatible = registry.incompatible()
    if not incompatible:
        return []
    wanted = set(db.session.scalars(
        db.select(PluginState.name).where(PluginState.enabled.is_(True))))
    return [Finding("warning", f"plugin:{name}", _(
        "Plugin %(name)s is switched on but not loaded: %(reason)s", name=name,
        reason=registry.incompatible_message(name)))
        for name in sorted(wanted & set(incompatible))]


def check(app: Flask) -> list[Finding]:
    """Every finding about ``app``'s deployment (needs the app context)."""
    findings = [Finding("ok", "environment", _("Deployment kind: %(kind)s.",
                                               kind=app.config.get("FULIAN_ENV")))]
    findings += _secret(app) + _database(app)
    if not any(f.level == "error" and f.topic == "database" for f in findings):
        findings += _database_role(app) + _sms(app) + _payments(app) + _licence(app)
        findings += _plugins(app)
    return findings + _web(app)


def require(app: Flask) -> list[Finding]:
    """Raise :class:`NotReady` in production when anything is an error; return the
    findings otherwise (for the start-up log)."""
    findings = check(app)
    errors = [f for f in findings if f.level == "error"]
    if errors and is_production(app.config):
        raise NotReady(_("Fulian cannot start in production: %(problem)s (run `fulian "
                         "check` for the full report).", problem=errors[0].message))
    return findings


def as_text(findings: list[Finding]) -> list[str]:
    marks: dict[str, Any] = {"ok": "✓", "warning": "!", "error": "✗"}
    return [f"{marks[f.level]} {f.message}" for f in findings]
