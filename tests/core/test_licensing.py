"""Licences: Ed25519 signatures, deployment binding, expiry, store limits, fallback."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from core import licensing
from core.db import write_transaction
from core.extensions import db
from core.models import BrandSettings, InstalledLicense

TODAY = date(2026, 11, 25)


@pytest.fixture
def keys():
    private, public = licensing.generate_keypair()
    return private, licensing.load_public_key(public)


def _issue(private: bytes, **overrides):
    args = {"deployment_id": "dep-1", "licensee": "Jade Spa Ltd", "plugins": ["vault"],
            "max_stores": 2, "expires_at": TODAY + timedelta(days=30), "issued_at": TODAY}
    args.update(overrides)
    return licensing.issue(private, **args)


def test_valid_licence_verifies(keys):
    private, public = keys
    lic = licensing.verify(_issue(private), [public], deployment_id="dep-1", active_stores=2,
                           today=TODAY)
    assert lic.plugins == ("vault",)
    assert lic.max_stores == 2
    assert lic.licensee == "Jade Spa Ltd"


@pytest.mark.parametrize("case, match", [
    ("expired", "expired on 2026-11-24"),
    ("tampered", "signature is invalid"),
    ("wrong_deployment", "for deployment dep-1, not this one"),
    ("too_many_stores", "allows 2 stores but 3 are active"),
    ("other_vendor", "signature is invalid"),
    ("garbage", "not a valid Fulian licence"),
    ("no_keys", "No vendor public key"),
])
def test_refusals(keys, case, match):
    private, public = keys
    doc = _issue(private)
    verify_args = {"deployment_id": "dep-1", "active_stores": 2, "today": TODAY}
    key_list = [public]
    if case == "expired":
        doc = _issue(private, expires_at=TODAY - timedelta(days=1),
                     issued_at=TODAY - timedelta(days=30))
    elif case == "tampered":
        data = json.loads(doc)
        data["payload"]["max_stores"] = 500
        doc = json.dumps(data)
    elif case == "wrong_deployment":
        verify_args["deployment_id"] = "dep-2"
    elif case == "too_many_stores":
        verify_args["active_stores"] = 3
    elif case == "other_vendor":
        other_private, _ = licensing.generate_keypair()
        doc = _issue(other_private)
    elif case == "garbage":
        doc = "{not json"
    elif case == "no_keys":
        key_list = []
    with pytest.raises(licensing.LicenseError, match=match):
        licensing.verify(doc, key_list, **verify_args)


def test_issue_rejects_bad_input(keys):
    private, _ = keys
    with pytest.raises(licensing.LicenseError, match="at least 1"):
        _issue(private, max_stores=0)
    with pytest.raises(licensing.LicenseError, match="at least one plugin"):
        _issue(private, plugins=[])
    with pytest.raises(licensing.LicenseError, match="not a readable PEM"):
        _issue(b"nonsense")
    with pytest.raises(licensing.LicenseError, match="before the issue date"):
        _issue(private, expires_at=TODAY - timedelta(days=1))


def _install(app, document: str) -> None:
    with app.app_context():
        with write_transaction() as session:
            session.add(InstalledLicense(document=document))
        app.extensions["fulian_plugins"].refresh()


def test_paid_plugin_needs_licence_and_falls_back_when_it_lapses(make_app, vendor_keys):
    from tests.core.factories import make_shop

    app = make_app()
    private = vendor_keys["private"].read_bytes()
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        deployment = db.session.get(BrandSettings, 1).deployment_id
        reg.set_enabled("contract", True)
        make_shop("a", "a@example.com")
    _install(app, licensing.issue(private, deployment_id=deployment, licensee="L",
                                  plugins=["vault"], max_stores=1,
                                  expires_at=date.today() + timedelta(days=10)))
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        assert reg.license_status().valid
        reg.set_enabled("vault", True)
        assert reg.is_enabled("vault")
        # a second active store exceeds the licence: vault falls back to disabled
        make_shop("b", "b@example.com")
        reg.refresh()
        status = reg.license_status()
        assert not status.valid
        assert "allows 1 stores but 2 are active" in str(status.error)
        assert not reg.is_enabled("vault")
        # its enablement (data) is kept: a valid licence brings it back
        from core.models import PluginState

        assert db.session.get(PluginState, "vault").enabled is True
    _install(app, licensing.issue(private, deployment_id=deployment, licensee="L",
                                  plugins=["vault"], max_stores=5,
                                  expires_at=date.today() + timedelta(days=10)))
    with app.app_context():
        assert app.extensions["fulian_plugins"].is_enabled("vault")


def test_licence_for_another_deployment_enables_nothing(make_app, vendor_keys):
    app = make_app()
    private = vendor_keys["private"].read_bytes()
    _install(app, licensing.issue(private, deployment_id="someone-else", licensee="L",
                                  plugins=["vault"], max_stores=5,
                                  expires_at=date.today() + timedelta(days=10)))
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        assert "not this one" in str(reg.license_status().error)
        reg.set_enabled("contract", True)
        with pytest.raises(Exception, match="paid plugin"):
            reg.set_enabled("vault", True)


def _deployment(app) -> str:
    with app.app_context():
        return db.session.get(BrandSettings, 1).deployment_id


def _status(app):
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        reg.refresh()
        return reg.license_status()


def test_keys_in_the_instance_folder_are_not_trusted(make_app, tmp_path):
    """The app can write its instance folder, so a key dropped there would let anyone
    who gets a file onto the server license themselves."""
    app = make_app(FULIAN_LICENSE_PUBLIC_KEYS=[])
    private, public = licensing.generate_keypair()
    folder = tmp_path / "instance" / "license_keys"
    folder.mkdir(parents=True)
    (folder / "mine.pem").write_bytes(public)
    _install(app, licensing.issue(private, deployment_id=_deployment(app), licensee="Me",
                                  plugins=["vault"], max_stores=5,
                                  expires_at=date.today() + timedelta(days=10)))
    assert not _status(app).valid
    assert "No vendor public key" in str(_status(app).error)


def test_shipped_vendor_keys_and_configured_keys_are_trusted(make_app, vendor_keys, tmp_path,
                                                           monkeypatch):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    private, public = licensing.generate_keypair()
    (shipped / "vendor-2027.pem").write_bytes(public)
    monkeypatch.setattr(licensing, "SHIPPED_KEYS", shipped)
    assert [p.name for p in licensing.public_key_paths([])] == ["vendor-2027.pem"]
    app = make_app()
    for key in (private, vendor_keys["private"].read_bytes()):  # shipped, configured
        _install(app, licensing.issue(key, deployment_id=_deployment(app), licensee="L",
                                      plugins=["vault"], max_stores=5,
                                      expires_at=date.today() + timedelta(days=10)))
        assert _status(app).valid


@pytest.mark.parametrize("env, trusted", [("demo", True), ("test", False),
                                          ("production", False)])
def test_the_demo_key_is_trusted_by_demo_deployments_only(make_app, env, trusted):
    app = make_app(FULIAN_ENV=env, SECRET_KEY="x" * 40)
    _install(app, licensing.issue(licensing.demo_private_pem(),
                                  deployment_id=_deployment(app), licensee="Demo",
                                  plugins=["vault"], max_stores=5,
                                  expires_at=date.today() + timedelta(days=10)))
    assert _status(app).valid is trusted


def test_setting_the_clock_back_revives_no_expired_licence(make_app, vendor_keys):
    app = make_app()
    private = vendor_keys["private"].read_bytes()
    doc = licensing.issue(private, deployment_id=_deployment(app), licensee="L",
                          plugins=["vault"], max_stores=5,
                          expires_at=date.today() + timedelta(days=10))
    _install(app, doc)
    with app.app_context():
        from core.plugins import remember_licence_clock

        remember_licence_clock()
        assert db.session.scalars(select(InstalledLicense.clock_seen)).one() == date.today()
    assert _status(app).valid
    # The deployment has already seen a day after expiry; today's clock says otherwise
    # (it was set back). Installing the same licence again does not reset what was seen.
    with app.app_context(), write_transaction() as session:
        session.execute(update(InstalledLicense).values(
            clock_seen=date.today() + timedelta(days=20)))
    _install(app, doc)
    status = _status(app)
    assert not status.valid and "expired" in str(status.error)


def test_the_deployment_id_is_bound_at_install(app):
    """Licences are bound to it: the database itself refuses to change it."""
    with app.app_context():
        before = db.session.get(BrandSettings, 1).deployment_id
        with pytest.raises(DBAPIError), write_transaction() as session:
            session.execute(update(BrandSettings).values(deployment_id="someone-else"))
        db.session.rollback()
        with write_transaction() as session:  # other brand settings still change
            session.execute(update(BrandSettings).values(name="Renamed"))
        assert db.session.get(BrandSettings, 1).deployment_id == before
