"""fulian_template_slot, through the home page's ``slot(...)`` calls."""

from __future__ import annotations

from typing import Any

from tests.core.hooks.helpers import calls


def test_hook_fulian_template_slot(contract_app: Any) -> None:
    html = contract_app.test_client().get("/?lang=en").get_data(as_text=True)
    assert '<p id="contract-slot">contract slot</p>' in html  # inserted as is
    slots = [c["name"] for c in calls("fulian_template_slot")]
    assert {"head", "home.hero", "home.after_services", "body.end"} <= set(slots)
