"""fulian_validate_booking, through the bookings API: a veto is a 422 and nothing is
written."""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.models import Booking, Customer
from tests.core.factories import bearer, make_shop, make_user, token_for
from tests.core.hooks.helpers import calls


def test_hook_fulian_validate_booking(contract_app: Any) -> None:
    with contract_app.app_context():
        shop = make_shop()
        desk = bearer(token_for(make_user("desk@example.com", "front_desk", ["main"])))
        body = {"store_id": shop.store.id, "service_id": shop.service.id,
                "staff_id": shop.staff.id, "start_at": shop.start.isoformat(),
                "note": "by phone"}
        customers = db.session.query(Customer).count()
    client = contract_app.test_client()
    vetoed = client.post("/api/v1/bookings", headers=desk, json={
        **body, "customer": {"phone": "13900000009", "name": "Vetoed"}})
    assert vetoed.status_code == 422, vetoed.json
    assert "Contract plugin refuses this customer." in vetoed.get_data(as_text=True)
    assert calls("fulian_validate_booking") == [{"note": "by phone"}]
    with contract_app.app_context():
        assert db.session.query(Booking).count() == 0
        assert db.session.query(Customer).count() == customers  # nothing written
    booked = client.post("/api/v1/bookings", headers=desk, json={
        **body, "customer": {"phone": "13900000010", "name": "Welcome"}})
    assert booked.status_code == 201, booked.json
    assert len(calls("fulian_validate_booking")) == 2
