"""PluginMeta: the core-version range (refused enable, not loaded after an upgrade,
listed and checked) and the on_enable / on_disable callbacks."""

from __future__ import annotations

import logging
from importlib.metadata import version as dist_version

import fulian_contract
import pytest

import core.version
from core import readiness
from core.errors import FulianError
from core.extensions import db
from core.models import PluginState
from core.plugins import PluginMeta, hookimpl

OWNER = ("--owner-email", "o@example.com", "--owner-password", "owner-pass-1")


class _Plugin:
    """A plugin object (hashable, as pluggy needs) carrying only its meta."""

    def __init__(self, meta: PluginMeta) -> None:
        self.meta = meta


def _plugin(name: str, core: str = "", **meta: object) -> _Plugin:
    return _Plugin(PluginMeta(name=name, title=name.title(), version="1.0", core=core,
                              **meta))  # type: ignore[arg-type]


def _cli(run_cli):  # noqa: ANN001, ANN202
    code, _out, err = run_cli("init", "--brand", "B", *OWNER, "--locale", "en")
    assert code == 0, err
    return run_cli


def _row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(name + " "))


def test_core_version_comes_from_the_distribution():
    assert core.version.VERSION == dist_version("fulian") == "0.1.0"


@pytest.mark.parametrize("spec, running, ok", [
    ("", "0.1.0", True), (">=0.1,<0.2", "0.1.0", True), (">=0.1,<0.2", "0.1.9", True),
    (">=0.1,<0.2", "0.2.0", False), ("~=0.1.0", "0.1.3", True), ("<0.1", "0.1.0", False),
    ("not a range", "0.1.0", False),
])
def test_supports_core(spec, running, ok):
    assert PluginMeta(name="x", title="X", version="1", core=spec).supports_core(running) is ok


def test_bundled_plugins_declare_their_core_range(app):
    reg = app.extensions["fulian_plugins"]
    for name in ("alipay", "beauty", "fitness", "tencentsms", "wallet", "wechatpay", "contract"):
        assert reg.installed[name].meta.core == ">=0.1,<0.2", name
        assert reg.installed[name].compatible


def test_incompatible_plugin_is_refused_when_enabled(make_app):
    app = make_app(extra=(_plugin("old", core="<0.1"),))
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        assert reg.incompatible() == {"old": reg.installed["old"].meta}
        with pytest.raises(FulianError) as err:
            reg.set_enabled("old", True)
        assert str(err.value) == ("old cannot be enabled: old 1.0 works with core <0.1; this "
                                  "core is 0.1.0. Install a release of the plugin made for "
                                  "this core.")
        assert db.session.get(PluginState, "old") is None


def test_cli_refuses_an_incompatible_plugin_in_one_line_and_lists_it(run_cli, monkeypatch):
    run = _cli(run_cli)
    monkeypatch.setattr(core.version, "VERSION", "0.2.0")
    code, out, err = run("plugins", "enable", "contract")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("Error: contract cannot be enabled: contract 0.1.0 works with "
                               "core >=0.1,<0.2; this core is 0.2.0.")
    code, out, _ = run("plugins", "list")
    assert code == 0
    row = _row(out, "contract")
    assert ">=0.1,<0.2" in row and "no (incompatible)" in row
    assert "Core version: 0.2.0" in out


def test_enabled_plugin_that_became_incompatible_is_not_loaded(make_app, monkeypatch, caplog):
    first = make_app()
    with first.app_context():
        first.extensions["fulian_plugins"].set_enabled("contract", True)
    monkeypatch.setattr(core.version, "VERSION", "0.2.0")  # the core was upgraded
    caplog.set_level(logging.WARNING, logger="core.plugins")
    app = make_app(migrate=False)
    client = app.test_client()
    assert client.get("/contract/").status_code == 404  # no blueprint mounted
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        fulian_contract.CALLS.clear()
        for _ in range(3):
            reg.refresh()
            assert "contract" not in reg.enabled()
        assert reg.call("fulian_menu_items", face="admin", user=None) == []
        assert fulian_contract.CALLS == []
        assert db.session.get(PluginState, "contract").enabled is True  # the wish is kept
        findings = readiness.check(app)
    logged = [r for r in caplog.records if "contract" in r.getMessage()
              and "not loaded" in r.getMessage()]
    assert len(logged) == 1
    warnings = [f for f in findings if f.topic == "plugin:contract"]
    assert [f.level for f in warnings] == ["warning"]
    assert "switched on but not loaded" in warnings[0].message
    assert ">=0.1,<0.2" in warnings[0].message


def test_check_command_warns_about_an_incompatible_enabled_plugin(run_cli, monkeypatch):
    run = _cli(run_cli)
    assert run("plugins", "enable", "contract")[0] == 0
    monkeypatch.setattr(core.version, "VERSION", "0.2.0")
    code, out, _ = run("check")
    assert "! Plugin contract is switched on but not loaded" in out
    assert _row(run("plugins", "list")[1], "contract").split()[-1] == "no"


def test_on_enable_and_on_disable_are_called_once_each(run_cli):
    run = _cli(run_cli)
    fulian_contract.LIFECYCLE.clear()
    assert run("plugins", "enable", "contract")[0] == 0
    assert run("plugins", "enable", "contract")[0] == 0  # already on: no second call
    assert fulian_contract.LIFECYCLE == ["enabled"]
    assert run("plugins", "disable", "contract")[0] == 0
    assert run("plugins", "disable", "contract")[0] == 0
    assert fulian_contract.LIFECYCLE == ["enabled", "disabled"]


class Seeded:
    """A plugin whose on_enable writes inside the enabling transaction."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.meta = PluginMeta(name="seeded", title="Seeded", version="1.0",
                               on_enable=self.seed)

    def seed(self) -> None:
        db.session.add(PluginState(name="seeded-marker", enabled=False))
        if self.fail:
            raise FulianError("The seeded plugin cannot start here.")

    @hookimpl
    def fulian_menu_items(self, face, user):
        return None


@pytest.mark.parametrize("fail", [False, True])
def test_on_enable_runs_inside_the_enabling_write(make_app, fail):
    app = make_app(extra=(Seeded(fail),))
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        if fail:
            with pytest.raises(FulianError, match="cannot start here"):
                reg.set_enabled("seeded", True)
        else:
            reg.set_enabled("seeded", True)
        db.session.rollback()
        assert reg.is_enabled("seeded") is not fail
        # what the callback wrote shares the fate of the switch
        assert (db.session.get(PluginState, "seeded-marker") is None) is fail
        assert (db.session.get(PluginState, "seeded") is None) is fail


def test_unexpected_callback_error_refuses_with_one_message(make_app):
    def boom() -> None:
        raise RuntimeError("bug in plugin")

    app = make_app(extra=(_plugin("buggy", on_disable=boom),))
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        reg.set_enabled("buggy", True)
        with pytest.raises(FulianError, match="buggy was not disabled: its clean-up step"):
            reg.set_enabled("buggy", False)
        assert reg.is_enabled("buggy")
