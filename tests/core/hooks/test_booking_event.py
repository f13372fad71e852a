"""fulian_booking_event, through the bookings API: each event arrives after its
transaction committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from core.extensions import db
from core.plugins import PluginMeta, hookimpl
from tests.core.factories import bearer, make_shop, make_user, token_for


class Watcher:
    """Records each event with the booking's status as another connection sees it."""

    meta = PluginMeta(name="watcher", title="Watcher", version="1.0")

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    @hookimpl
    def fulian_booking_event(self, booking: Any, event: str) -> None:
        with db.engine.connect() as conn:  # not the writer's session: only committed rows
            status = conn.scalar(text("SELECT status FROM bookings WHERE id = :id"),
                                 {"id": booking.id})
        self.seen.append((event, status))


def test_hook_fulian_booking_event(started_with: Any) -> None:
    watcher = Watcher()
    app = started_with("watcher", extra=(watcher,))
    with app.app_context():
        shop = make_shop()
        desk = bearer(token_for(make_user("desk@example.com", "front_desk", ["main"])))
        body = {"store_id": shop.store.id, "service_id": shop.service.id,
                "staff_id": shop.staff.id, "start_at": shop.start.isoformat(),
                "customer": {"phone": "13900000010", "name": "Walk In"}}
    client = app.test_client()
    booked = client.post("/api/v1/bookings", headers=desk, json=body)
    assert booked.status_code == 201, booked.json
    assert watcher.seen == [("created", booked.json["status"])]
    cancelled = client.post(f"/api/v1/bookings/{booked.json['id']}/cancel", headers=desk,
                            json={"reason": "changed plans"})
    assert cancelled.status_code == 200, cancelled.json
    assert watcher.seen[-1] == ("cancelled", "cancelled")
    assert len(watcher.seen) == 2
