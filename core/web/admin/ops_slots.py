"""Free times for the front desk's booking form.

The same loader and engine as ``GET /api/v1/stores/{id}/availability`` (one store, one
service, one local day, optionally one staff member), with the rule the booking service
applies to front-desk sources (walk-in, phone): no minimum notice, and a customer who is
already here may start up to a quarter of an hour ago. So every time offered here is one
``create_booking`` accepts, and the desk cannot book in the past.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ...booking.service import slot_rule
from ...db import utcnow
from ...extensions import db
from ...models import Service, Store
from ...scheduling.loader import load_window
from .ops_common import fmt_time


def slot_choices(store: Store, service: Service, day: date, staff_id: int | None
                 ) -> list[dict[str, Any]]:
    """``[{"value": ISO start with offset, "label": "10:30", "staff": "Lin Ya, ..."}]``."""
    window = load_window(db.session.connection(), store.id, service.id, day, day,
                         staff_id=staff_id)
    if not window.found:
        return []
    now = int(utcnow().timestamp())
    out = []
    for ts, who in window.slots(now, rule=slot_rule(window, "walk_in", now)):
        start = datetime.fromtimestamp(ts, window.tz)
        out.append({"value": start.isoformat(), "label": fmt_time(start, window.tz),
                    "hour": start.hour,
                    "staff": ", ".join(window.staff_names[s] for s in who)})
    return out
