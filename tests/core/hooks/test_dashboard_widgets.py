"""fulian_dashboard_widgets, through the back-office dashboard."""

from __future__ import annotations

from typing import Any

from tests.core.factories import make_shop, make_user
from tests.core.hooks.helpers import calls, login


def test_hook_fulian_dashboard_widgets(contract_app: Any) -> None:
    with contract_app.app_context():
        main, other = make_shop().store.id, make_shop("north", "cy@example.com").store.id
        make_user("mgr@example.com", "store_manager", ["main"])
    html = login(contract_app, "mgr@example.com").get("/admin/?lang=en").get_data(
        as_text=True)
    assert "<p>w</p>" in html  # the widget's HTML
    [scope] = [c["scope"] for c in calls("fulian_dashboard_widgets")]
    assert scope["store_ids"] == [main] and other not in scope["store_ids"]
    assert scope["user"].email == "mgr@example.com"
