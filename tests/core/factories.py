"""Small builders for test data, written through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.auth.passwords import hash_password
from core.catalog.services import add_service
from core.crm.customers import find_or_create
from core.db import write_transaction
from core.models import Customer, RoleAssignment, Store, StoreHoliday, User
from core.org.staff import add_staff
from core.org.stores import create_store
from core.org.users import create_user, set_password


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
    # 11:00 on the store's tomorrow (not UTC's: the two differ from 16:00 UTC on)
    start = local(store, store_day(store, 1), "11:00").astimezone(UTC)
    return Shop(store, staff, service, customer, start)


# --- helpers for booking, scheduling and API tests ---------------------------------------

PASSWORD = "correct horse battery"


def local(store: Any, day: date, hhmm: str) -> datetime:
    """The aware instant of wall-clock ``hhmm`` on ``day`` in the store's zone."""
    hour, minute = (int(p) for p in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(store.timezone))


def store_day(store: Any, days_ahead: int = 1) -> date:
    """The store-local date ``days_ahead`` days from today."""
    return datetime.now(ZoneInfo(store.timezone)).date() + timedelta(days=days_ahead)


def next_monday(store: Any, weeks_ahead: int = 1) -> date:
    today = store_day(store, 0)
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks_ahead)


def iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def add_person(name: str, email: str, stores: list[str], services: list[Any] | None = None
               ) -> Any:
    """Another staff member (services given as Service objects or ids)."""
    return add_staff({"name": name, "email": email}, {}, stores=stores,
                     services=[str(getattr(s, "id", s)) for s in services or []])


def set_policy(store: Any, **values: Any) -> Any:
    """Change store booking policy columns (acceptance, windows, step, notice, status)."""
    with write_transaction() as session:
        row = session.get(Store, store.id)
        for key, value in values.items():
            setattr(row, key, value)
    return row


def add_holiday(store: Any, day: date, opens: str | None = None, closes: str | None = None,
                name: str = "Holiday") -> None:
    """A dated exception: closed all day, or open ``opens``-``closes`` only."""
    def minutes(text: str | None) -> int | None:
        if text is None:
            return None
        h, m = (int(p) for p in text.split(":"))
        return h * 60 + m

    with write_transaction() as session:
        session.add(StoreHoliday(store_id=store.id, day=day, name=name,
                                 closed=opens is None, opens_min=minutes(opens),
                                 closes_min=minutes(closes)))


def make_user(email: str, role: str | None = None, stores: list[str] | None = None,
              password: str = PASSWORD) -> Any:
    return create_user({"name": email.split("@")[0], "email": email, "password": password},
                       role=role, stores=stores)


def with_password(email: str, password: str = PASSWORD) -> Any:
    return set_password(email, password)


def make_customer_user(customer: Any, email: str, password: str = PASSWORD) -> Any:
    """A login for ``customer``: a user with the customer role, linked by Customer.user_id."""
    with write_transaction() as session:
        user = User(name=customer.name or email, email=email,
                    password_hash=hash_password(password))
        user.roles.append(RoleAssignment(role="customer", store_id=None))
        session.add(user)
        session.flush()
        session.get(Customer, customer.id).user_id = user.id
    return user


def book(shop: Shop, start: datetime | None = None, *, staff: Any = "default",
         source: str = "phone", customer: Any = None, service: Any = None) -> Any:
    """A booking through the real service (front-desk source by default)."""
    from core.booking.service import create_booking

    return create_booking(store=shop.store, service=service or shop.service,
                          customer=customer or shop.customer, start_at=start or shop.start,
                          staff=shop.staff if staff == "default" else staff, source=source)


def token_for(user: Any) -> str:
    """A bearer token for ``user`` without the password round trip."""
    from core.auth.tokens import issue_token

    return issue_token(user)[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
