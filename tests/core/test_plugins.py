"""Plugin system: discovery through entry points, enablement as data, the full contract."""

from __future__ import annotations

import inspect as pyinspect

import fulian_contract
import pytest

from core import hookspecs
from core.errors import FulianError, NotFound
from core.extensions import db
from core.models import PluginState


def _enable(app, *names: str) -> None:
    with app.app_context():
        for name in names:
            app.extensions["fulian_plugins"].set_enabled(name, True)


def test_bundled_and_third_party_plugins_are_discovered(app):
    installed = app.extensions["fulian_plugins"].installed
    assert {"beauty", "fitness", "contract", "vault"} <= set(installed)
    # the fake distribution registers exactly as a pip-installed plugin would
    assert installed["contract"].distribution == "fulian-contract"
    assert installed["beauty"].distribution == "fulian"
    assert installed["vault"].meta.paid is True


def test_installed_plugins_start_disabled_and_are_invisible(app):
    fulian_contract.CALLS.clear()
    client = app.test_client()
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        assert reg.enabled() == frozenset()
        assert reg.call("fulian_menu_items", face="admin", user=None) == []
    assert client.get("/contract/").status_code == 404
    assert b"contract-slot" not in client.get("/").data
    assert fulian_contract.CALLS == []


def test_contract_plugin_implements_every_hookspec():
    specs = {name for name, fn in pyinspect.getmembers(hookspecs, pyinspect.isfunction)
             if name.startswith("fulian_")}
    assert len(specs) >= 16
    implemented = {name for name in dir(fulian_contract) if name.startswith("fulian_")}
    assert specs == implemented
    for name in specs:  # every hookspec is documented
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name


def test_disabling_hides_routes_at_once_and_keeps_data(make_app):
    first = make_app()
    _enable(first, "contract")
    app = make_app(migrate=False)
    client = app.test_client()
    assert client.get("/contract/").status_code == 200
    with app.app_context():
        db.session.add(fulian_contract.ContractNote(body="kept"))
        db.session.commit()
    # the plugin's API resources are served and documented with the core's
    assert client.get("/api/v1/contract/notes").json == {"count": 1}
    doc = client.get("/api/v1/openapi.json").json
    assert "/api/v1/contract/notes" in doc["paths"]
    assert "contract_api" in {t["name"] for t in doc["tags"]}
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("contract", False)
    assert client.get("/contract/").status_code == 404
    assert client.get("/api/v1/contract/notes").status_code == 404
    doc = client.get("/api/v1/openapi.json").json
    assert "/api/v1/contract/notes" not in doc["paths"] and "/api/v1/stores" in doc["paths"]
    assert "contract_api" not in {t["name"] for t in doc["tags"]}
    fulian_contract.CALLS.clear()
    with app.app_context():
        assert app.extensions["fulian_plugins"].call("fulian_menu_items", face="admin",
                                                     user=None) == []
        assert db.session.query(fulian_contract.ContractNote).count() == 1
        state = db.session.get(PluginState, "contract")
        assert state is not None and state.enabled is False
    assert fulian_contract.CALLS == []


def test_enable_errors(app):
    with app.app_context():
        reg = app.extensions["fulian_plugins"]
        with pytest.raises(NotFound):
            reg.set_enabled("nope", True)
        with pytest.raises(FulianError, match="paid plugin"):
            reg.set_enabled("vault", True)
        reg.set_enabled("contract", True)
        with pytest.raises(FulianError, match="paid plugin"):
            reg.set_enabled("vault", True)
        assert db.session.get(PluginState, "vault") is None


def test_validate_booking_hook_vetoes_inside_the_transaction(app):
    from core.booking.service import create_booking
    from tests.core.factories import make_shop

    _enable(app, "contract")
    with app.app_context():
        shop = make_shop()
        from core.crm.customers import find_or_create
        from core.db import write_transaction

        with write_transaction():
            vetoed = find_or_create("13900000009", "Vetoed")
        from core.errors import ValidationFailed
        from core.models import Booking

        with pytest.raises(ValidationFailed) as err:
            create_booking(store=shop.store, staff=shop.staff, service=shop.service,
                           customer=vetoed, start_at=shop.start)
        assert "refuses" in str(err.value)
        assert db.session.query(Booking).count() == 0
        fulian_contract.CALLS.clear()
        booking = create_booking(store=shop.store, staff=shop.staff, service=shop.service,
                                 customer=shop.customer, start_at=shop.start)
        assert ("fulian_booking_event", {"booking_id": booking.id, "event": "created"}) in \
            fulian_contract.CALLS
