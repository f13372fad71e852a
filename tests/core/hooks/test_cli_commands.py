"""fulian_cli_commands, through the ``fulian`` click group."""

from __future__ import annotations

from typing import Any

import fulian_contract

from tests.core.hooks.helpers import calls


def test_hook_fulian_cli_commands(make_app: Any, run_cli: Any) -> None:
    app = make_app()
    code, out, _ = run_cli("--help")
    assert code == 0 and "contract-hello" not in out  # installed, not enabled
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("contract", True)
    fulian_contract.CALLS.clear()
    code, out, _ = run_cli("--help")
    assert code == 0 and "contract-hello" in out
    assert "Say hello from the contract plugin." in out
    code, out, _ = run_cli("contract-hello")
    assert (code, out) == (0, "hello from contract\n")
    assert calls("fulian_cli_commands")
