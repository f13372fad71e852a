"""Helpers shared by the per-hook tests."""

from __future__ import annotations

import re
from typing import Any

import fulian_contract

from tests.core.factories import PASSWORD


def calls(hook: str) -> list[dict[str, Any]]:
    """What the contract plugin recorded for ``hook``."""
    return [kwargs for name, kwargs in fulian_contract.CALLS if name == hook]


def form_field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


def login(app: Any, email: str, password: str = PASSWORD) -> Any:
    """A test client logged in on the web pages as ``email``."""
    client = app.test_client()
    token = form_field(client.get("/login").get_data(as_text=True), "csrf_token")
    resp = client.post("/login", data={"login": email, "password": password,
                                       "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:400]
    return client


CUSTOMER_EMAIL = "bo@example.com"


def shop_with_booking(app: Any, source: str = "online") -> dict[str, Any]:
    """A store with a service, a staff member, a customer who can log in
    (:data:`CUSTOMER_EMAIL`) and one booking of theirs; returns plain ids."""
    from tests.core.factories import book, make_customer_user, make_shop

    with app.app_context():
        shop = make_shop()
        user = make_customer_user(shop.customer, CUSTOMER_EMAIL)
        booking = book(shop, source=source)
        return {"store_id": shop.store.id, "service_id": shop.service.id,
                "staff_id": shop.staff.id, "customer_id": shop.customer.id,
                "user_id": user.id,
                "booking_id": booking.id, "code": booking.code,
                "start": shop.start.isoformat()}
