"""fulian_register_blueprints, through the app factory: the routes answer."""

from __future__ import annotations

from typing import Any

import fulian_contract

from tests.core.hooks.helpers import calls


def test_hook_fulian_register_blueprints(make_app: Any) -> None:
    first = make_app()
    assert first.test_client().get("/contract/").status_code == 404  # not enabled
    with first.app_context():
        first.extensions["fulian_plugins"].set_enabled("contract", True)
    fulian_contract.CALLS.clear()
    app = make_app(migrate=False)  # the factory mounts the plugins enabled at start-up
    assert calls("fulian_register_blueprints") == [{}]
    client = app.test_client()
    assert client.get("/contract/").status_code == 200  # its web blueprint
    assert client.get("/api/v1/contract/notes").json == {"count": 0}  # its API blueprint
    assert "/api/v1/contract/notes" in client.get("/api/v1/openapi.json").json["paths"]
