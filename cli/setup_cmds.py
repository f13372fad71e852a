"""Provisioning and running: init, demo, serve, worker, db, i18n."""

from __future__ import annotations

import functools
import secrets
import sys
from typing import Any

import click
from flask_babel import gettext as _
from sqlalchemy import select

from core import dbmigrate
from core.dbroles import GrantReport, login_of
from core.extensions import db
from core.models import RoleAssignment

from .base import fail, get_app, use_mode, with_app


def _owner_exists() -> bool:
    return db.session.scalars(
        select(RoleAssignment.id).where(RoleAssignment.role == "owner")
    ).first() is not None


def check_country(country: str | None) -> str | None:
    """``--country`` upper-cased, or a usage error (exit 2) before anything changes."""
    from core.phones import supported_regions

    if country is None:
        return None
    code = country.strip().upper()
    if code not in supported_regions():
        raise click.BadParameter(_("Use a two-letter ISO country code such as CN."),
                                 param_hint="--country")
    return code


def initialise(brand: str, owner_email: str | None, owner_password: str | None,
               owner_name: str, locale: str, currency: str, timezone: str,
               country: str | None = None) -> None:
    """Migrate, create the brand and the first owner; safe to run again.

    ``country`` (default CN) is where phone numbers without a country code belong; given
    on a re-run it changes the existing brand's country and nothing else."""
    from core.org.brand import ensure_brand, update_brand
    from core.org.users import create_user

    country = check_country(country)

    app = get_app()
    if not app.config.get("SECRET_KEY"):  # production makes its key here, on purpose only
        from pathlib import Path

        from core.config import ensure_secret_key

        app.config["SECRET_KEY"] = ensure_secret_key(Path(app.config["INSTANCE_PATH"]))
    say_granted(dbmigrate.upgrade())
    row, created = ensure_brand({"name": brand, "default_locale": locale, "currency": currency,
                                 "timezone": timezone, "country": country or "CN"})
    click.echo(_("Brand %(name)s created.", name=row.name) if created
               else _("Brand %(name)s already exists; left unchanged.", name=row.name))
    if not created and country is not None and country != row.country:
        update_brand({"country": country})
        click.echo(_("Phone numbers without a country code are now read as %(country)s "
                     "numbers.", country=country))
    if _owner_exists():
        click.echo(_("An owner account already exists; left unchanged."))
        return
    if not owner_email:
        if sys.stdin.isatty():
            owner_email = click.prompt(_("Email of the first owner"))
        else:
            fail(_("No owner account exists yet: give --owner-email (and --owner-password)."))
    generated = not owner_password
    password = owner_password or secrets.token_urlsafe(12)
    create_user({"name": owner_name, "email": owner_email, "password": password}, role="owner")
    click.echo(_("Owner %(email)s created.", email=owner_email))
    if generated:
        click.echo(_("Generated password (shown once): %(password)s", password=password))


@click.command()
@click.option("--brand", default="Fulian", show_default=True, help="Brand name.")
@click.option("--owner-email", help="Email of the first owner account.")
@click.option("--owner-password", envvar="FULIAN_OWNER_PASSWORD",
              help="Password of the first owner (default: generated and printed once).")
@click.option("--owner-name", default="Owner", show_default=True)
@click.option("--locale", default="zh_CN", show_default=True, type=click.Choice(["zh_CN", "en"]))
@click.option("--currency", default="CNY", show_default=True)
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
@click.option("--country", default=None, metavar="CC",
              help="ISO 3166 country code where phone numbers without a country code "
                   "belong (default CN).")
@with_app
def init(brand: str, owner_email: str | None, owner_password: str | None, owner_name: str,
         locale: str, currency: str, timezone: str, country: str | None) -> None:
    """Create the instance folder, database schema, brand and first owner (idempotent)."""
    initialise(brand, owner_email, owner_password, owner_name, locale, currency, timezone,
               country)
    click.echo(_("Instance ready in %(path)s.", path=get_app().config["INSTANCE_PATH"]))


def _as_demo(fn: Any) -> Any:
    """``fulian demo`` is a demo deployment whatever FULIAN_ENV says: the sandbox
    payment provider, the dev SMS provider and the demo licence key exist only there."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        use_mode("demo")
        return fn(*args, **kwargs)
    return wrapper


@click.command()
@click.option("--no-serve", is_flag=True, help="Load the demo data and exit.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@_as_demo
@with_app
def demo(no_serve: bool, host: str, port: int) -> None:
    """Initialise a demo brand with stores, staff, services, customers and bookings
    (a demo deployment: sandbox payments, codes by SMS shown in the log)."""
    from core.demo import DEMO_OWNER_EMAIL, DEMO_PASSWORD, license_paid_plugins, load_demo

    initialise("青玉 Jade Spa", DEMO_OWNER_EMAIL, DEMO_PASSWORD, "Demo Owner", "zh_CN", "CNY",
               "Asia/Shanghai")
    enabled = license_paid_plugins()
    if enabled:
        click.echo(_("Paid plugins enabled with a demo licence: %(names)s.",
                     names=", ".join(enabled)))
    summary = load_demo()
    click.echo(summary)
    click.echo(_("Log in as %(email)s with password %(password)s.", email=DEMO_OWNER_EMAIL,
                 password=DEMO_PASSWORD))
    if not no_serve:
        if enabled:  # their pages are mounted when the app is built: build it again
            use_mode("demo")
            with get_app().app_context():
                _serve(host, port)
        else:
            _serve(host, port)


def _ready() -> None:
    """Refuse to start a production deployment that is not ready; print the warnings."""
    from core import readiness

    for line in readiness.as_text([f for f in readiness.require(get_app())
                                   if f.level != "ok"]):
        click.echo(line, err=True)


def _serve(host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from core import jobs

    app = get_app()
    _ready()
    jobs.start_worker_thread(app)
    click.echo(_("Serving on http://%(host)s:%(port)d/ (Ctrl+C to stop)", host=host, port=port))
    run_simple(host, port, app, threaded=True, use_reloader=False)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_app
def serve(host: str, port: int) -> None:
    """Serve the app with the embedded server (use gunicorn in production)."""
    _serve(host, port)


@click.command()
@click.option("--burst", is_flag=True, help="Run the jobs that are due, then exit.")
@with_app
def worker(burst: bool) -> None:
    """Run background jobs in one long-lived app: with FULIAN_REDIS_URL an rq SimpleWorker
    and the dispatcher that hands due and lost jobs to Redis, else in-process. SIGTERM
    lets a running job finish."""
    from core import jobs

    _ready()
    jobs.run_worker(get_app(), burst=burst)


@click.command()
@with_app
def check() -> None:
    """Print whether this deployment is ready for production (exit 1 if not)."""
    from core import readiness
    from core.config import is_production

    findings = readiness.check(get_app())
    for line in readiness.as_text(findings):
        click.echo(line)
    errors = sum(f.level == "error" for f in findings)
    if errors and is_production(get_app().config):
        fail(_("%(n)d problem(s) keep this deployment from starting.", n=errors))


@click.group(name="db")
def db_group() -> None:
    """Database schema migrations (core and every installed plugin)."""


@db_group.command()
@click.option("--revision", default="heads", show_default=True)
@with_app
def upgrade(revision: str) -> None:
    """Upgrade the schema of core and all installed plugins (as
    FULIAN_MIGRATION_DATABASE_URL when set; then the app's login is granted its
    privileges on every table)."""
    say_granted(dbmigrate.upgrade(revision))
    click.echo(_("Database is up to date."))


@db_group.command(name="grant-app-role")
@click.argument("role", required=False)
@with_app
def grant_app_role(role: str | None) -> None:
    """Grant the app's PostgreSQL ROLE (default: the user of FULIAN_DATABASE_URL) what it
    needs on every table, and no more; run as the tables' owner, again after migrations
    (`fulian db upgrade` does it when FULIAN_MIGRATION_DATABASE_URL is another user)."""
    role = role or login_of(get_app().config["SQLALCHEMY_DATABASE_URI"])
    if not role:
        raise click.UsageError(_("Name the role: FULIAN_DATABASE_URL names no "
                                 "PostgreSQL user."))
    if role == login_of(dbmigrate.migration_url(get_app().config)):
        raise click.UsageError(_("%(role)s is the login this command runs as (the "
                                 "tables' owner): name the app's own role, or set "
                                 "FULIAN_MIGRATION_DATABASE_URL to the owner's login.",
                                 role=role))
    say_granted(dbmigrate.grant_app_role(role))


def say_granted(report: GrantReport | None) -> None:
    """Print what a grant did (nothing when no grant ran)."""
    if report is None:
        return
    click.echo(_("Role %(role)s granted: read and write on %(rw)d tables; insert only on "
                 "%(append)s; balance updates only on %(limited)s; read only on "
                 "%(read)s; %(sequences)d sequences. No TRUNCATE, no DDL.",
                 role=report.role, rw=len(report.read_write),
                 append=", ".join(report.append_only) or "-",
                 limited=", ".join(report.limited) or "-",
                 read=", ".join(report.read_only) or "-", sequences=report.sequences))
    for warning in report.warnings:
        click.echo(f"! {warning}", err=True)


@db_group.command()
@with_app
def current() -> None:
    """Show the current revision(s)."""
    revisions = dbmigrate.current()
    click.echo("\n".join(revisions) or _("No revision applied yet: run fulian db upgrade."))


@db_group.command()
@with_app
def history() -> None:
    """List all known revisions."""
    click.echo("\n".join(dbmigrate.history()))


@click.group(name="i18n")
def i18n_group() -> None:
    """Translation catalogues."""


@i18n_group.command()
@with_app
def compile() -> None:  # noqa: A001 - the verb ops expect
    """Compile the .po catalogues of core and installed plugins to .mo files."""
    from core import i18n

    dirs = [*i18n.installed_translation_dirs(), *get_app().extensions["fulian_plugins"].call_flat(
        "fulian_translation_dirs")]
    count = i18n.compile_catalogues(dict.fromkeys(str(d) for d in dirs))
    click.echo(_("Compiled %(n)d catalogues.", n=count))
