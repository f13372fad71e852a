"""fulian_menu_items, through the pages' navigation."""

from __future__ import annotations

from typing import Any

from tests.core.factories import make_shop, make_user
from tests.core.hooks.helpers import calls, login


def test_hook_fulian_menu_items(contract_app: Any) -> None:
    html = contract_app.test_client().get("/?lang=en").get_data(as_text=True)
    assert '<a href="/contract/">Contract page</a>' in html  # customer face, anonymous
    assert {"face": "customer"} in calls("fulian_menu_items")
    with contract_app.app_context():
        make_shop()
        make_user("owner@example.com", "owner")
    admin = login(contract_app, "owner@example.com")
    html = admin.get("/admin/?lang=en").get_data(as_text=True)
    assert 'href="/contract/"' in html and "Contract page" in html
    assert {"face": "admin"} in calls("fulian_menu_items")
