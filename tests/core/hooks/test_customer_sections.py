"""fulian_customer_sections, through the member centre and the back office's customer
page (what the desk sees of the customer)."""

from __future__ import annotations

from typing import Any

from tests.core.factories import make_user
from tests.core.hooks.helpers import CUSTOMER_EMAIL, calls, login, shop_with_booking


def test_hook_fulian_customer_sections(contract_app: Any) -> None:
    shop = shop_with_booking(contract_app)
    html = login(contract_app, CUSTOMER_EMAIL).get("/me?lang=en").get_data(as_text=True)
    assert "Contract" in html and "<p>c</p>" in html  # the section's title and HTML
    assert calls("fulian_customer_sections") == [{"face": "customer"}]

    with contract_app.app_context():
        make_user("desk@example.com", "front_desk", ["main"])
    desk = login(contract_app, "desk@example.com")
    page = desk.get(f"/admin/customers/{shop['customer_id']}?lang=en")
    assert page.status_code == 200
    assert "<p>c</p>" in page.get_data(as_text=True)
    assert calls("fulian_customer_sections")[-1] == {"face": "admin"}
