"""Plugin discovery, per-deployment enablement, licence gate and hook calling.

Installation is code: every distribution that registers a module under the
``fulian.plugins`` entry-point group is *installed* (bundled plugins register exactly the
same way in our own ``setup.cfg``). Enablement is data: a ``plugin_states`` row says
whether the deployment switched a plugin on, and a paid plugin additionally needs the
licence in force to name it. Hooks are called only on plugins that are enabled *now*,
through pluggy subset callers that leave the others out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import marshmallow as ma
import pluggy
from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from . import hookspecs, licensing
from . import version as core_version
from .db import WRITE_OPTION
from .errors import FulianError, NotFound, ValidationFailed
from .extensions import db
from .hookspecs import hookimpl
from .models import BrandSettings, InstalledLicense, PluginSettings, PluginState, Store

__all__ = ["PluginMeta", "PluginRegistry", "hookimpl", "plugins", "LicenseStatus",
           "plugin_settings", "save_plugin_settings"]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "fulian.plugins"
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class PluginMeta:
    """What a plugin says about itself; shown by ``fulian plugins list``.

    ``paid`` plugins can only be enabled under a licence naming them; ``requires`` lists
    plugins that must be enabled first.

    ``core`` is the range of core versions the plugin works with, a PEP 440 specifier
    such as ``">=0.1,<0.2"`` checked against :data:`core.version.VERSION`; empty means
    "any" (no claim). A plugin outside its range cannot be enabled, and one that was
    enabled before a core upgrade took it out of range is not loaded (``fulian check``
    warns) until a compatible release of it is installed.

    ``on_enable`` / ``on_disable`` are called with no arguments, in the app context,
    **inside the write transaction** that switches the plugin on or off, only when the
    state really changes: they may write with ``db.session`` (never commit), and raising
    refuses the change — nothing of it, nor of what the callback wrote, is kept.
    """

    name: str
    title: str
    version: str
    description: str = ""
    paid: bool = False
    requires: tuple[str, ...] = ()
    core: str = ""
    on_enable: Callable[[], None] | None = field(default=None, compare=False)
    on_disable: Callable[[], None] | None = field(default=None, compare=False)

    def supports_core(self, version: str | None = None) -> bool:
        """Whether this plugin declares itself compatible with core ``version`` (default:
        the running core). A malformed range is compatible with nothing."""
        if not self.core.strip():
            return True
        try:
            return Version(version or core_version.VERSION) in SpecifierSet(self.core)
        except (InvalidSpecifier, InvalidVersion):
            return False


@dataclass
class InstalledPlugin:
    meta: PluginMeta
    module: ModuleType | Any
    distribution: str | None = None
    blueprints: list[str] = field(default_factory=list)
    #: whether ``meta.core`` admits the running core; incompatible plugins are listed
    #: but never registered with pluggy, so none of their hooks can run
    compatible: bool = True


@dataclass(frozen=True)
class LicenseStatus:
    """The licence in force (if any) and, when it is refused, why."""

    license: licensing.License | None
    error: Any  # a (lazy) translated reason, or None

    @property
    def valid(self) -> bool:
        return self.license is not None and self.error is None

    def covers(self, name: str) -> bool:
        return self.valid and self.license is not None and name in self.license.plugins


class PluginRegistry:
    """One per app: the pluggy manager plus what is installed and what is enabled."""

    def __init__(self, app: Flask, extra: Iterable[Any] = ()):
        self.app = app
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.installed: dict[str, InstalledPlugin] = {}
        self._lock = threading.Lock()
        self._cache: tuple[float, frozenset[str], LicenseStatus] | None = None
        self._callers: dict[tuple[str, frozenset[str]], Any] = {}
        self._warned: set[str] = set()
        self.core_version = core_version.VERSION
        self._discover(extra)

    # ---------------------------------------------------------------- discovery
    def _discover(self, extra: Iterable[Any]) -> None:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                obj = ep.load()
            except Exception:  # a broken third-party plugin must not take the platform down
                log.exception("could not load plugin entry point %s", ep.name)
                continue
            dist = ep.dist.name if ep.dist else None
            self._add(obj, dist)
        for obj in extra:
            self._add(obj, None)

    def _add(self, obj: Any, dist: str | None) -> None:
        meta = getattr(obj, "meta", None)
        if not isinstance(meta, PluginMeta):
            log.error("plugin %r has no PluginMeta named 'meta'; ignored", obj)
            return
        if meta.name in self.installed:
            return
        compatible = meta.supports_core(self.core_version)
        if compatible:
            self.pm.register(obj, name=meta.name)
        self.installed[meta.name] = InstalledPlugin(meta=meta, module=obj, distribution=dist,
                                                    compatible=compatible)

    def incompatible(self) -> dict[str, PluginMeta]:
        """Installed plugins whose core range excludes the running core."""
        return {n: p.meta for n, p in self.installed.items() if not p.compatible}

    def incompatible_message(self, name: str) -> Any:
        meta = self.installed[name].meta
        return _l("%(name)s %(version)s works with core %(range)s; this core is "
                  "%(core)s. Install a release of the plugin made for this core.",
                  name=name, version=meta.version, range=meta.core, core=self.core_version)

    # --------------------------------------------------------------- enablement
    def _compute(self) -> tuple[frozenset[str], LicenseStatus]:
        # Own connection, never the caller's session: this may run in the middle of a
        # service's write transaction, which must not be committed or disturbed here.
        try:
            with db.engine.connect() as conn:
                wanted = set(conn.scalars(
                    select(PluginState.name).where(PluginState.enabled.is_(True))
                ))
                status = license_status(conn)
        except SQLAlchemyError:
            # Tables not migrated yet (e.g. before ``fulian init``): nothing is enabled.
            return frozenset(), LicenseStatus(None, None)
        enabled = {n for n in wanted if n in self.installed}
        for name in sorted(n for n in enabled if not self.installed[n].compatible):
            enabled.discard(name)
            if name not in self._warned:  # one log line per process, not per refresh
                self._warned.add(name)
                meta = self.installed[name].meta  # (may run before Babel is set up)
                log.warning("plugin %s %s is enabled but not loaded: it works with core "
                            "%s, this core is %s", name, meta.version, meta.core,
                            self.core_version)
        enabled = {n for n in enabled if not self.installed[n].meta.paid or status.covers(n)}
        changed = True
        while changed:  # drop plugins whose requirements are not all enabled
            changed = False
            for name in list(enabled):
                if any(r not in enabled for r in self.installed[name].meta.requires):
                    enabled.discard(name)
                    changed = True
        return frozenset(enabled), status

    def _state(self) -> tuple[frozenset[str], LicenseStatus]:
        now = time.monotonic()
        cached = self._cache
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1], cached[2]
        with self._lock:
            enabled, status = self._compute()
            self._cache = (now, enabled, status)
            return enabled, status

    def refresh(self) -> None:
        """Forget cached enablement (after enabling, disabling or installing a licence)."""
        self._cache = None

    def enabled(self) -> frozenset[str]:
        return self._state()[0]

    def license_status(self) -> LicenseStatus:
        return self._state()[1]

    def is_enabled(self, name: str) -> bool:
        return name in self.enabled()

    # -------------------------------------------------------------------- hooks
    def hook(self, name: str) -> Any:
        """A hook caller that reaches only the currently enabled plugins."""
        enabled = self.enabled()
        key = (name, enabled)
        caller = self._callers.get(key)
        if caller is None:
            disabled = [p.module for n, p in self.installed.items() if n not in enabled]
            caller = self.pm.subset_hook_caller(name, remove_plugins=disabled)
            if len(self._callers) > 256:
                self._callers.clear()
            self._callers[key] = caller
        return caller

    def call(self, hook: str, /, **kwargs: Any) -> list[Any]:
        """Call a hook on enabled plugins; returns their non-None results, in order.

        pluggy calls the most recently registered implementation first; we reverse that
        so that results follow plugin registration (alphabetical) order.
        """
        return list(reversed(self.hook(hook)(**kwargs)))

    def call_flat(self, hook: str, /, **kwargs: Any) -> list[Any]:
        """Like :meth:`call` for hooks that return lists: one flat list."""
        out: list[Any] = []
        for result in self.call(hook, **kwargs):
            if isinstance(result, list | tuple):
                out.extend(result)
            else:
                out.append(result)
        return out

    def menu_items(self, face: str, user: Any) -> list[dict[str, Any]]:
        items = self.call_flat("fulian_menu_items", face=face, user=user)
        return sorted(items, key=lambda i: i.get("order", 100))

    def slot(self, name: str, **context: Any) -> Markup:
        parts = self.call("fulian_template_slot", name=name, context=context)
        return Markup("").join(Markup(p) for p in parts if p)

    def settings_schema(self, name: str) -> tuple[str, ma.Schema] | None:
        """``(section, schema)`` from plugin ``name``'s ``fulian_settings_schema``, or None.

        Asks that plugin alone, enabled or not (its own :func:`plugin_settings` and its
        ``on_enable`` may need its settings before it is switched on); pages and the API
        offer settings of enabled plugins only."""
        plugin = self.installed.get(name)
        if plugin is None or not plugin.compatible:
            return None
        others = [p.module for n, p in self.installed.items() if n != name]
        for result in self.pm.subset_hook_caller("fulian_settings_schema", others)():
            if result is not None:
                section, schema = result
                if not isinstance(schema, ma.Schema):
                    log.error("plugin %s: fulian_settings_schema did not return a schema "
                              "instance; its settings are ignored", name)
                    return None
                return str(section), schema
        return None

    def with_settings(self) -> list[str]:
        """Enabled plugins that have settings, by name."""
        return [n for n in sorted(self.enabled()) if self.settings_schema(n) is not None]

    # ------------------------------------------------------------------ changes
    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch a plugin on or off for this deployment (data is always kept)."""
        from .db import write_transaction

        plugin = self.installed.get(name)
        if plugin is None:
            raise NotFound(_l("No plugin named %(name)s is installed.", name=name))
        if enabled:
            if not plugin.compatible:
                raise FulianError(_l("%(name)s cannot be enabled: %(reason)s", name=name,
                                     reason=self.incompatible_message(name)))
            if plugin.meta.paid:
                status = self.license_status()
                if not status.covers(name):
                    reason = status.error or _l("no licence is installed")
                    if status.valid:
                        reason = _l("the licence does not include it")
                    raise FulianError(_l("%(name)s is a paid plugin and cannot be enabled: "
                                         "%(reason)s.", name=name, reason=reason))
            missing = [r for r in plugin.meta.requires if not self.is_enabled(r)]
            if missing:
                raise FulianError(_l("%(name)s requires these plugins to be enabled first: "
                                     "%(missing)s.", name=name, missing=", ".join(missing)))
        else:
            dependants = [n for n in self.enabled()
                          if name in self.installed[n].meta.requires]
            if dependants:
                raise FulianError(_l("%(name)s is required by enabled plugins: %(deps)s.",
                                     name=name, deps=", ".join(sorted(dependants))))
        callback = plugin.meta.on_enable if enabled else plugin.meta.on_disable
        try:
            with write_transaction() as session:
                state = session.get(PluginState, name)
                was = bool(state and state.enabled)
                if state is None:
                    session.add(PluginState(name=name, enabled=enabled))
                elif state.enabled != enabled:
                    state.enabled = enabled
                if callback is not None and was != enabled:
                    session.flush()
                    callback()
        except FulianError:
            raise
        except Exception as exc:
            if callback is None:
                raise
            log.exception("the %s callback of plugin %s failed",
                          "on_enable" if enabled else "on_disable", name)
            message = (_l("%(name)s was not enabled: its set-up step failed (see the log).",
                          name=name) if enabled else
                       _l("%(name)s was not disabled: its clean-up step failed (see the "
                          "log).", name=name))
            raise FulianError(message) from exc
        finally:
            self.refresh()


# ---------------------------------------------------------------------- settings


def _schema_or_404(name: str) -> ma.Schema:
    found = plugins().settings_schema(name)
    if found is None:
        raise NotFound(_l("The plugin %(name)s has no settings.", name=name))
    return found[1]


def _load_stored(name: str, schema: ma.Schema, stored: dict[str, Any]) -> dict[str, Any]:
    """Stored values through the schema (defaults filled in). Values the schema refuses
    now (it changed in a new release) fall back to their defaults, with a log line."""
    try:
        return schema.load(stored, unknown=ma.EXCLUDE)
    except ma.ValidationError as exc:
        bad = set(exc.messages) if isinstance(exc.messages, dict) else set(stored)
        log.warning("plugin %s: stored settings %s no longer valid; defaults used",
                    name, ", ".join(sorted(bad)))
        try:
            return schema.load({k: v for k, v in stored.items() if k not in bad},
                               unknown=ma.EXCLUDE)
        except ma.ValidationError as again:
            valid = again.valid_data
            return dict(valid) if isinstance(valid, dict) else {}


def plugin_settings(name: str) -> dict[str, Any]:
    """The settings of plugin ``name`` in this deployment: what the back office (or the
    API) saved, loaded through the plugin's ``fulian_settings_schema``, so fields never
    saved have the schema's ``load_default``. Raises NotFound if it has no schema.

    Example (in a plugin)::

        points = plugin_settings("wallet")["points_per_yuan"]
    """
    schema = _schema_or_404(name)
    row = db.session.get(PluginSettings, name)
    return _load_stored(name, schema, dict(row.data) if row and row.data else {})


def save_plugin_settings(name: str, data: Any) -> dict[str, Any]:
    """Validate ``data`` (the whole section) with the plugin's schema and store it;
    return what :func:`plugin_settings` now gives. Refusals raise ValidationFailed with
    the schema's messages per field (HTTP 422); nothing is written then."""
    schema = _schema_or_404(name)
    if not isinstance(data, dict):
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"_schema": [_l("Send an object.")]})
    try:
        loaded = schema.load(data)
    except ma.ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed(_l("The input is not valid."), field_errors=errors) from exc
    stored = schema.dump(loaded)
    from .db import write_transaction

    with write_transaction() as session:
        row = session.get(PluginSettings, name)
        if row is None:
            session.add(PluginSettings(plugin=name, data=stored))
        elif row.data != stored:
            row.data = stored
    return plugin_settings(name)


def trusted_keys() -> list[Any]:
    """The vendor keys shipped with the code, the operator's configured ones and, in a
    demo deployment only, the demo key."""
    paths = licensing.public_key_paths(current_app.config["FULIAN_LICENSE_PUBLIC_KEYS"])
    keys = [licensing.load_public_key(p.read_bytes()) for p in paths if p.is_file()]
    if current_app.config.get("FULIAN_ENV") == "demo":
        keys.append(licensing.demo_public_key())
    return keys


def licence_today(conn: Connection) -> date:
    """Today for licence checks: never earlier than the latest day this deployment has
    already seen, so setting the clock back revives no expired licence."""
    seen = conn.scalar(select(func.max(InstalledLicense.clock_seen)))
    today = date.today()
    return seen if seen is not None and seen > today else today


def remember_licence_clock() -> None:
    """Record today as seen (at start and hourly; never inside a request's own
    transaction, which may hold SQLite's write lock)."""
    try:
        with db.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, \
                conn.begin():
            newest = conn.scalar(select(func.max(InstalledLicense.id)))
            if newest is not None:
                conn.execute(update(InstalledLicense).where(
                    InstalledLicense.id == newest,
                    (InstalledLicense.clock_seen.is_(None))
                    | (InstalledLicense.clock_seen < date.today())
                ).values(clock_seen=date.today()))
    except SQLAlchemyError:  # not migrated yet
        log.debug("licence clock not recorded", exc_info=True)


def verify_here(conn: Connection, document: str) -> licensing.License:
    """Verify a licence document for this deployment, its keys and its active stores
    now; raise LicenseError with the reason. Used at install time and whenever
    enablement is computed."""
    deployment_id = conn.scalar(select(BrandSettings.deployment_id).where(BrandSettings.id == 1))
    if deployment_id is None:
        raise licensing.LicenseError(_l("The deployment is not initialised."))
    stores = conn.scalar(
        select(func.count()).select_from(Store).where(Store.status == "active")
    ) or 0
    return licensing.verify(document, trusted_keys(), deployment_id=deployment_id,
                            active_stores=stores, today=licence_today(conn))


def license_status(conn: Connection) -> LicenseStatus:
    """The newest installed licence and, if it must not be honoured, why."""
    doc = conn.scalars(
        select(InstalledLicense.document).order_by(InstalledLicense.id.desc()).limit(1)
    ).first()
    if doc is None:
        return LicenseStatus(None, None)
    try:
        return LicenseStatus(verify_here(conn, doc), None)
    except licensing.LicenseError as exc:
        try:
            parsed: licensing.License | None = licensing.parse(doc)[0]
        except licensing.LicenseError:
            parsed = None
        return LicenseStatus(parsed, exc.message)


def plugins(app: Flask | None = None) -> PluginRegistry:
    """The registry of ``app`` (default: the current app)."""
    return (app or current_app).extensions["fulian_plugins"]
