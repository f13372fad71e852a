"""Platform administration: plugins, licences, themes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask_babel import gettext as _

from core.errors import FulianError

from .base import echo_table, get_app, with_app


def _registry():  # noqa: ANN202
    return get_app().extensions["fulian_plugins"]


# ----------------------------------------------------------------------- plugins
@click.group()
def plugins() -> None:
    """Installed plugins and their enablement in this deployment."""


@plugins.command("list")
@with_app
def plugins_list() -> None:
    """List installed plugins: version, paid, licensed, core range, enabled."""
    reg = _registry()
    reg.refresh()
    enabled = reg.enabled()
    status = reg.license_status()
    if not reg.installed:
        click.echo(_("No plugins are installed."))
        return
    rows = []
    for name, p in sorted(reg.installed.items()):
        licensed = "-" if not p.meta.paid else (_("yes") if status.covers(name) else _("no"))
        compatible = _("yes") if p.compatible else _("no (incompatible)")
        rows.append([name, p.meta.title, p.meta.version, _("yes") if p.meta.paid else _("no"),
                     licensed, p.meta.core or "*", compatible,
                     _("yes") if name in enabled else _("no"), ",".join(p.meta.requires)])
    echo_table([_("Plugin"), _("Title"), _("Version"), _("Paid"), _("Licensed"), _("Core"),
                _("Compatible"), _("Enabled"), _("Requires")], rows)
    click.echo(_("Core version: %(version)s", version=reg.core_version))


@plugins.command("enable")
@click.argument("name")
@with_app
def plugins_enable(name: str) -> None:
    """Enable an installed plugin (paid plugins need a licence)."""
    _registry().set_enabled(name, True)
    click.echo(_("Plugin %(name)s enabled. Restart the app servers to mount its pages.",
                 name=name))


@plugins.command("disable")
@click.argument("name")
@with_app
def plugins_disable(name: str) -> None:
    """Disable a plugin; its data is kept."""
    _registry().set_enabled(name, False)
    click.echo(_("Plugin %(name)s disabled; its data is kept.", name=name))


# ---------------------------------------------------------------------- licences
@click.group()
def license() -> None:  # noqa: A001 - the noun ops expect
    """Licences for paid plugins."""


@license.command("install")
@click.argument("file", type=click.Path(dir_okay=False))
@with_app
def license_install(file: str) -> None:
    """Verify and install a licence file from the vendor."""
    from core.db import write_transaction
    from core.models import InstalledLicense

    path = Path(file)
    if not path.is_file():
        raise FulianError(_("No such file: %(file)s", file=file))
    try:
        document = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FulianError(_("Cannot read %(file)s.", file=file)) from exc
    lic = _verify_here(document)
    with write_transaction() as session:
        session.add(InstalledLicense(document=document))
    _registry().refresh()
    click.echo(_("Licence %(id)s for %(licensee)s installed: plugins %(plugins)s, up to "
                 "%(max)d stores, valid until %(until)s.", id=lic.license_id,
                 licensee=lic.licensee, plugins=", ".join(lic.plugins), max=lic.max_stores,
                 until=lic.expires_at.isoformat()))


def _verify_here(document: str):  # noqa: ANN202
    from core.extensions import db
    from core.plugins import verify_here

    return verify_here(db.session.connection(), document)


@license.command("show")
@with_app
def license_show() -> None:
    """Show this deployment's id and the licence in force."""
    from core.org.brand import get_brand

    reg = _registry()
    reg.refresh()
    click.echo(_("Deployment id: %(id)s", id=get_brand().deployment_id))
    status = reg.license_status()
    if status.license is None and status.error is None:
        click.echo(_("No licence installed: paid plugins cannot be enabled."))
        return
    lic = status.license
    if lic is not None:
        click.echo(_("Licence %(id)s for %(licensee)s: plugins %(plugins)s, up to %(max)d "
                     "stores, valid until %(until)s.", id=lic.license_id, licensee=lic.licensee,
                     plugins=", ".join(lic.plugins), max=lic.max_stores,
                     until=lic.expires_at.isoformat()))
    if status.valid:
        click.echo(_("Status: valid."))
    else:
        click.echo(_("Status: refused: %(reason)s Paid plugins are disabled; their data is "
                     "kept.", reason=status.error))


@license.command("issue")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False),
              help="The vendor's Ed25519 private key (PEM).")
@click.option("--deployment", required=True, help="Deployment id (fulian license show).")
@click.option("--licensee", required=True)
@click.option("--plugin", "plugin_names", multiple=True, required=True)
@click.option("--max-stores", required=True, type=click.IntRange(1, 100000))
@click.option("--expires", required=True, help="Last valid day, YYYY-MM-DD.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def license_issue(key_file: str, deployment: str, licensee: str, plugin_names: tuple[str, ...],
                  max_stores: int, expires: str, out: str | None) -> None:
    """(Vendor) sign a licence for a deployment."""
    from core import licensing

    try:
        expires_at = date.fromisoformat(expires)
    except ValueError as exc:
        raise click.BadParameter(f"{expires!r} is not a date (YYYY-MM-DD)",
                                 param_hint="--expires") from exc
    path = Path(key_file)
    if not path.is_file():
        raise click.BadParameter(f"no such file: {key_file}", param_hint="--key")
    document = licensing.issue(path.read_bytes(), deployment_id=deployment, licensee=licensee,
                               plugins=list(plugin_names), max_stores=max_stores,
                               expires_at=expires_at)
    if out:
        Path(out).write_text(document, encoding="utf-8")
        click.echo(f"Licence written to {out}")
    else:
        click.echo(document)


@license.command("keygen")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False))
def license_keygen(out_dir: str) -> None:
    """(Vendor) create an Ed25519 signing key pair: vendor.key (secret) and vendor.pem."""
    import os

    from core import licensing

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    private, public = licensing.generate_keypair()
    key_path = folder / "vendor.key"
    if key_path.exists():
        raise click.ClickException(f"{key_path} exists; refusing to overwrite a signing key")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    (folder / "vendor.pem").write_bytes(public)
    click.echo(f"Private key: {key_path} (keep secret); public key: {folder / 'vendor.pem'}")


# ------------------------------------------------------------------------ themes
@click.group()
def theme() -> None:
    """Themes (look and brand tokens)."""


@theme.command("list")
@with_app
def theme_list() -> None:
    """List available themes; * marks the active one."""
    from core.theming import active_theme_name, available_themes

    active = active_theme_name()
    echo_table(["", _("Theme"), _("Title"), _("Extends"), _("Path")], [
        ["*" if name == active else "", name, t.title, t.extends or "", str(t.path)]
        for name, t in sorted(available_themes(get_app()).items())
    ])


@theme.command("use")
@click.argument("name")
@with_app
def theme_use(name: str) -> None:
    """Make NAME the active theme."""
    from core.theming import use_theme

    t = use_theme(get_app(), name)
    click.echo(_("Theme %(name)s is now active.", name=t.name))
