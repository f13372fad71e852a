"""Small builders for test data, written through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.catalog.services import add_service
from core.crm.customers import find_or_create
from core.db import write_transaction
from core.org.staff import add_staff
from core.org.stores import create_store


@dataclass
class Shop:
    store: Any
    staff: Any
    service: Any
    customer: Any
    start: datetime


def make_shop(code: str = "main", email: str = "ann@example.com") -> Shop:
    store = create_store({"code": code, "name": f"Store {code}", "timezone": "Asia/Shanghai"},
                         hours="mon-sun 09:00-21:00")
    service = add_service({"name": f"Cut {code}", "duration_min": 60, "price": 12800,
                           "buffer_after_min": 15}, category="Hair", stores=[code])
    staff = add_staff({"name": "Ann", "email": email}, {"title": "Stylist"},
                      stores=[code], services=[str(service.id)])
    with write_transaction():
        customer = find_or_create("13800000001", "Bo")
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=3, minute=0, second=0,
                                                            microsecond=0)
    return Shop(store, staff, service, customer, start)
