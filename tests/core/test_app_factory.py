"""The app factory: configuration sources, instance folder, secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core import create_app
from core.config import load_config


def test_defaults_to_sqlite_in_instance_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("FULIAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("FULIAN_REDIS_URL", raising=False)
    monkeypatch.delenv("FULIAN_SECRET_KEY", raising=False)
    monkeypatch.setenv("FULIAN_INSTANCE", str(tmp_path / "inst"))
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'inst' / 'fulian.db'}"
    assert app.config["FULIAN_REDIS_URL"] is None
    key_file = tmp_path / "inst" / "secret_key"
    assert key_file.read_text() == app.config["SECRET_KEY"]
    assert len(app.config["SECRET_KEY"]) >= 40
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # a second app reuses the generated key instead of logging everybody out
    assert create_app().config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_environment_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FULIAN_INSTANCE", str(tmp_path))
    monkeypatch.setenv("FULIAN_DATABASE_URL", "sqlite:///" + str(tmp_path / "x.db"))
    monkeypatch.setenv("FULIAN_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("FULIAN_SECRET_KEY", "from-env")
    cfg = load_config()
    assert cfg["SQLALCHEMY_DATABASE_URI"].endswith("x.db")
    assert cfg["FULIAN_REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert cfg["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "secret_key").exists()
    assert load_config({"SECRET_KEY": "override"})["SECRET_KEY"] == "override"


def test_two_apps_are_independent(tmp_path: Path):
    a = create_app({"INSTANCE_PATH": str(tmp_path / "a")})
    b = create_app({"INSTANCE_PATH": str(tmp_path / "b")})
    assert a.config["SQLALCHEMY_DATABASE_URI"] != b.config["SQLALCHEMY_DATABASE_URI"]
    assert a.extensions["fulian_plugins"] is not b.extensions["fulian_plugins"]


def test_health_endpoint(app):
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_unmigrated_database_does_not_crash_plugin_lookup(make_app):
    app = make_app(migrate=False)
    with app.app_context():
        assert app.extensions["fulian_plugins"].enabled() == frozenset()
