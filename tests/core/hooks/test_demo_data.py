"""fulian_demo_data, through ``fulian demo``."""

from __future__ import annotations

from typing import Any

import fulian_contract

from core.extensions import db
from tests.core.hooks.helpers import calls


def test_hook_fulian_demo_data(make_app: Any, run_cli: Any) -> None:
    app = make_app()
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("contract", True)
    fulian_contract.CALLS.clear()
    code, out, _ = run_cli("demo", "--no-serve")
    assert code == 0, out
    assert calls("fulian_demo_data") == [{"brand": "青玉 Jade Spa"}]  # called once
    with app.app_context():  # written in the demo's transaction, committed by it
        notes = [n.body for n in db.session.query(fulian_contract.ContractNote)]
    assert notes == ["demo for 青玉 Jade Spa"]
