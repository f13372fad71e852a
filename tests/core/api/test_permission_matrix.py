"""The permission matrix: every API operation x every kind of caller x own / other store.

One table states, for each operation of the live OpenAPI document, what each caller may
do to a target in their own store (north) and in another store (south). The test calls
every cell through HTTP and checks three things:

* the status class: ``Y`` allowed (not 401/403/404, never 5xx), ``N`` refused (403 or 404;
  a read of another store's thing is always 404 so existence does not leak), ``A``
  anonymous (401);
* a refused call changed nothing: the audit log (written for every insert, update and
  delete) has no new entry (but the record of a failed login, which is the point);
* no response a scoped caller receives contains another store's private data or another
  customer's data (markers such as the south booking's code, Bob's e-mail, Cy's phone).

An operation missing from the table fails the test, so new endpoints join the matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.db import write_transaction
from core.extensions import db
from core.finance import orders
from core.finance.sandbox import SandboxProvider
from core.models import AuditEntry, Booking, StaffProfile, WebhookDelivery, WebhookSubscription
from core.scheduling.schedules import add_time_off
from tests.core.api.resources_world import BACKENDS, World, world_fixture

# Callers in the order they are tried: refusals first, so that allowed writes of earlier
# callers do not change what later ones see.
CALLERS = ("anon", "bo", "ann", "desk_n", "mgr_n", "owner")
TOMORROW = (date.today() + timedelta(days=1)).isoformat()
WEEK = "2030-W10"
SOON = (datetime.now(UTC) + timedelta(days=2)).replace(hour=4, minute=0, second=0,
                                                       microsecond=0).isoformat()

# operation -> (body, expectations). Expectations: one pair per caller in CALLERS order,
# own store then other store.
MATRIX: dict[str, tuple[Any, str]] = {
    # authentication: open to everyone (their own bodies decide)
    "POST /api/v1/auth/token": ({"login": "nobody@example.com", "password": "x"}, "*"),
    "DELETE /api/v1/auth/token": (None, "AA YA YA YA YA YA"),  # own token: revoked
    # log out everywhere: all own tokens and page sessions end (so the second call is 401)
    "DELETE /api/v1/auth/tokens": (None, "AA YA YA YA YA YA"),
    "POST /api/v1/auth/sms-code": ({"phone": "13900000009"}, "*"),
    "GET /api/v1/me": (None, "AA YY YY YY YY YY"),
    # the brand's public face
    "GET /api/v1/stores": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/stores/{store_id}": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/stores/{store_id}/hours": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/stores/{store_id}/holidays": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/stores/{store_id}/availability": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/service-categories": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/services": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/services/{service_id}": (None, "YN YN YN YN YN YY"),
    "GET /api/v1/staff": (None, "YY YY YY YY YY YY"),
    "GET /api/v1/staff/{staff_id}": (None, "YY YY YY YY YY YY"),
    # brand administration
    "POST /api/v1/stores": ({"code": "west", "name": "West", "timezone": "Asia/Shanghai"},
                            "AA NN NN NN NN YY"),
    "POST /api/v1/service-categories": ({"name": "Nails"}, "AA NN NN NN NN YY"),
    "PATCH /api/v1/service-categories/{category_id}": ({"name": "Hair & beard"},
                                                       "AA NN NN NN NN YY"),
    "POST /api/v1/services": ({"name": "Shave", "duration_min": 30, "price": 3000},
                              "AA NN NN NN NN YY"),
    "PATCH /api/v1/services/{service_id}": ({"name": "Renamed"}, "AA NN NN NN NN YY"),
    "POST /api/v1/services/{service_id}/{action}": (None, "AA NN NN NN NN YY"),
    "GET /api/v1/webhooks": (None, "AA NN NN NN NN YY"),
    "POST /api/v1/webhooks": ({"url": "https://example.com/hook", "events": ["*"]},
                              "AA NN NN NN NN YY"),
    "DELETE /api/v1/webhooks/{subscription_id}": (None, "AA NN NN NN NN YY"),
    "GET /api/v1/webhooks/{subscription_id}/deliveries": (None, "AA NN NN NN NN YY"),
    "POST /api/v1/webhooks/deliveries/{delivery_id}/replay": (None, "AA NN NN NN NN YY"),
    "GET /api/v1/audit": (None, "AA NN NN NN NN YY"),
    # store administration: managers of the store and brand admins
    "PATCH /api/v1/stores/{store_id}": ({"name": "Renamed"}, "AA NN NN NN YN YY"),
    "PUT /api/v1/stores/{store_id}/hours": ({"text": "mon-sun 10:00-20:00"},
                                           "AA NN NN NN YN YY"),
    "POST /api/v1/stores/{store_id}/holidays": ({"day": TOMORROW, "name": "Closed"},
                                               "AA NN NN NN YN YY"),
    "DELETE /api/v1/stores/{store_id}/holidays/{day}": (None, "AA NN NN NN YN YY"),
    "PUT /api/v1/services/{service_id}/stores/{store_id}": ({"price_override": 9900},
                                                           "AA NN NN NN YN YY"),
    "DELETE /api/v1/services/{service_id}/stores/{store_id}": (None, "AA NN NN NN YN YY"),
    "POST /api/v1/staff": ({"name": "Dee", "store_ids": ["{store_id}"]},
                           "AA NN NN NN YN YY"),
    "PATCH /api/v1/staff/{staff_id}": ({"title": "Senior"}, "AA NN NN NN YN YY"),
    "PUT /api/v1/staff/{staff_id}/services": ({"service_ids": []}, "AA NN NN NN YN YY"),
    "PUT /api/v1/staff/{staff_id}/availability": ({"text": "mon-fri 10:00-18:00"},
                                                 "AA NN NN NN YN YY"),
    "POST /api/v1/staff/{staff_id}/overrides": (
        {"store_id": "{store_id}", "day": TOMORROW, "intervals": []}, "AA NN NN NN YN YY"),
    "POST /api/v1/staff/{staff_id}/time-off/{time_off_id}/{action}": (
        {}, "AA NN NN NN YN YY"),
    "POST /api/v1/stores/{store_id}/rosters/{week}/generate": ({}, "AA NN NN NN YN YY"),
    "PUT /api/v1/stores/{store_id}/rosters/{week}/shifts": (
        {"staff_id": "{staff_id}", "day": "2030-03-05", "start_min": 600, "end_min": 900},
        "AA NN NN NN YN YY"),
    "POST /api/v1/stores/{store_id}/rosters/{week}/publish": (None, "AA NN NN NN YN YY"),
    # the store's team: its staff see schedules and rosters, staff their own
    "GET /api/v1/staff/{staff_id}/availability": (None, "AA NN YN YN YN YY"),
    "GET /api/v1/staff/{staff_id}/time-off": (None, "AA NN YN YN YN YY"),
    "POST /api/v1/staff/{staff_id}/time-off": (
        {"start_at": "2030-03-05T09:00:00+08:00", "end_at": "2030-03-05T18:00:00+08:00"},
        "AA NN YN NN YN YY"),
    "GET /api/v1/stores/{store_id}/rosters/{week}": (None, "AA NN NN YN YN YY"),
    # bookings: the customer's own, the staff member's own, the store's
    "POST /api/v1/bookings": (
        {"store_id": "{store_id}", "service_id": "{service_id}", "staff_id": "{staff_id}",
         "start_at": SOON, "customer": {"phone": "13900000001", "name": "Walk In"}},
        "AA YY NN YN YN YY"),
    "GET /api/v1/bookings/{booking_id}": (None, "AA YY YN YN YN YY"),
    "GET /api/v1/bookings/{booking_id}/ics": (None, "AA YY YN YN YN YY"),
    "POST /api/v1/bookings/{booking_id}/{action}": ({"reason": "matrix"},  # cancel
                                                    "AA YY NN YN YN YY"),
    "GET /api/v1/calendar/staff/{token}.ics": (None, "YN YN YN YN YN YN"),
    # money: quotes are public (for published services); an order is seen by those who
    # see its booking
    "POST /api/v1/orders/quote": ({"store_id": "{store_id}", "service_id": "{service_id}"},
                                  "YN YN YN YN YN YN"),
    "POST /api/v1/bookings/{booking_id}/order": (None, "AA YY YN YN YN YY"),
    "GET /api/v1/orders/{order_id}": (None, "AA YY YN YN YN YY"),
    "POST /api/v1/orders/{order_id}/payments": ({"provider": "cash", "amount": 100},
                                                "AA NN YN YN YN YY"),
    "POST /api/v1/orders/{order_id}/refunds": ({"amount": 50}, "AA NN NN NN YN YY"),
    # how to pay a pending online payment (apps, mini-programs): its customer or store
    "POST /api/v1/payments/{payment_id}/checkout": ({}, "AA YY NN YN YN YY"),
    # providers authenticate by signature, not by login: unsigned is 401 for everyone
    "POST /api/v1/payments/{provider}/notify": ({"ref": "x"}, "AA AA AA AA AA AA"),
    # customers: the brand's CRM for the front desk and up; a customer sees themself
    "GET /api/v1/customers": (None, "AA NN NN YY YY YY"),
    "POST /api/v1/customers": ({"phone": "13900000002", "name": "New"},
                               "AA NN NN YY YY YY"),
    "GET /api/v1/customers/{customer_id}": (None, "AA YN NN YY YY YY"),
    "PATCH /api/v1/customers/{customer_id}": ({"name": "Renamed"}, "AA NN NN YY YY YY"),
    "POST /api/v1/customers/{customer_id}/tags/{tag}": (None, "AA NN NN YY YY YY"),
    "DELETE /api/v1/customers/{customer_id}/tags/{tag}": (None, "AA NN NN YY YY YY"),
    "GET /api/v1/customers/{customer_id}/notes": (None, "AA NN NN YY YY YY"),
    "POST /api/v1/customers/{customer_id}/notes": ({"body": "Prefers mornings"},
                                                   "AA NN NN YY YY YY"),
    "GET /api/v1/customers/{customer_id}/bookings": (None, "AA YN NN YY YY YY"),
    # plugin settings: the brand's owner and brand admins (the brand-wide plugin "contract")
    "GET /api/v1/plugins/{name}/settings": (None, "AA NN NN NN NN YY"),
    "PUT /api/v1/plugins/{name}/settings": ({"greeting": "matrix"}, "AA NN NN NN NN YY"),
}


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def _targets(world: World) -> dict[str, dict[str, Any]]:
    """Path values and markers for 'own' (north) and 'other' (south) targets."""
    ids = world.ids
    with world.app.app_context(), write_transaction() as session:
        off = {name: add_time_off(ids[name], datetime(2030, 3, 4, 1, tzinfo=UTC),
                                  datetime(2030, 3, 4, 9, tzinfo=UTC), "rest").id
               for name in ("ann", "bob")}
        hook = WebhookSubscription(url="https://example.com/h", events=["*"],
                                   secret="s" * 32, active=True)
        session.add(hook)
        session.flush()
        delivery = WebhookDelivery(subscription_id=hook.id, event="booking.created",
                                   payload={}, status="failed")
        session.add(delivery)
        session.flush()
        codes = {b.id: b.code for b in session.query(Booking)}
        tokens = {s.id: s.calendar_token for s in session.query(StaffProfile)}
        hook_id, delivery_id = hook.id, delivery.id
        order_ids, payment_ids = {}, {}
        for name in ("booking_n", "booking_s"):
            order = orders.order_for_booking(session.get(Booking, ids[name]))
            order_ids[name] = order.id
            payment_ids[name] = orders.start_online(
                order.id, "sandbox", 100, SandboxProvider().new_reference()).id
    common = {"provider": "sandbox", "week": WEEK, "tag": "vip", "day": TOMORROW,
              "name": "contract", "subscription_id": hook_id, "delivery_id": delivery_id,
              "category_id": ids["hair"]}
    return {
        "own": {**common, "store_id": ids["north"], "staff_id": ids["ann"],
                "service_id": ids["cut"], "booking_id": ids["booking_n"],
                "customer_id": ids["bo_customer"], "time_off_id": off["ann"],
                "token": tokens[ids["ann"]], "action": "publish",
                "order_id": order_ids["booking_n"], "payment_id": payment_ids["booking_n"]},
        "other": {**common, "store_id": ids["south"], "staff_id": ids["bob"],
                  "service_id": ids["secret"], "booking_id": ids["booking_s"],
                  "customer_id": ids["cy"], "time_off_id": off["bob"],
                  "token": "x" * 32, "action": "publish",
                  "order_id": order_ids["booking_s"],
                  "payment_id": payment_ids["booking_s"]},
        "markers": {"south_booking": codes[ids["booking_s"]], "bob": "bob@example.com",
                    "cy": "13800000002", "ann_mail": "ann@example.com"},
    }


QUERIES = {  # query strings some operations need
    "GET /api/v1/staff/{staff_id}/availability": "?store_id={store_id}",
    "PUT /api/v1/staff/{staff_id}/availability": "?store_id={store_id}",
}
# Calls made as the owner before each cell, so that every caller finds the state the
# operation acts on (an earlier caller may have consumed it).
PREPARE = {
    "DELETE /api/v1/services/{service_id}/stores/{store_id}":
        ("PUT", "/api/v1/services/{service_id}/stores/{store_id}", {"price_override": None}),
    "DELETE /api/v1/stores/{store_id}/holidays/{day}":
        ("POST", "/api/v1/stores/{store_id}/holidays", {"day": TOMORROW}),
    "POST /api/v1/orders/{order_id}/refunds":
        ("POST", "/api/v1/orders/{order_id}/payments", {"provider": "cash", "amount": 100}),
    "GET /api/v1/stores/{store_id}/rosters/{week}":
        ("POST", "/api/v1/stores/{store_id}/rosters/{week}/generate", {}),
    "PUT /api/v1/stores/{store_id}/rosters/{week}/shifts":
        ("POST", "/api/v1/stores/{store_id}/rosters/{week}/generate", {}),
    "POST /api/v1/stores/{store_id}/rosters/{week}/publish":
        ("POST", "/api/v1/stores/{store_id}/rosters/{week}/generate", {}),
}
# Plugins switched on before an operation's cells (only there: a plugin's hooks change
# what other operations see).
ENABLE = {
    "GET /api/v1/plugins/{name}/settings": "contract",
    "PUT /api/v1/plugins/{name}/settings": "contract",
}
ACTIONS = {  # the {action} segment per operation
    "POST /api/v1/services/{service_id}/{action}": "publish",
    "POST /api/v1/staff/{staff_id}/time-off/{time_off_id}/{action}": "approve",
    "POST /api/v1/bookings/{booking_id}/{action}": "cancel",
}
# Markers each caller must never receive.
FOREIGN = {
    "anon": ("south_booking", "bob", "cy", "ann_mail"),
    "bo": ("bob", "cy", "ann_mail"),
    "ann": ("south_booking", "bob", "cy"),
    "desk_n": ("south_booking", "bob"),
    "mgr_n": ("south_booking", "bob"),
}
TOKENS = {"bo": "bo", "ann": "ann", "desk_n": "desk_n", "mgr_n": "mgr_n", "owner": "owner"}


def _url(template: str, target: dict[str, Any]) -> str:
    for key, value in target.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def _fill(value: Any, target: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, target) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, target) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return target[value[1:-1]]
    return value


def _audit_count(world: World) -> int:
    """Audit entries, less the record of failed logins: a refused login must be on
    record (core.audit.record_event), and it changes nothing else."""
    with world.app.app_context():
        return db.session.query(AuditEntry).filter(
            ~((AuditEntry.entity_type == "auth") & (AuditEntry.action == "login_failed"))
        ).count()


def _live_operations(world: World) -> set[str]:
    doc = world.get("/api/v1/openapi.json").json
    return {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops
            if m in ("get", "post", "put", "patch", "delete")}


def test_every_operation_is_in_the_matrix(world: World) -> None:
    assert _live_operations(world) == set(MATRIX)


@pytest.mark.parametrize("operation", sorted(MATRIX))
def test_matrix(world: World, operation: str) -> None:
    body, expected = MATRIX[operation]
    targets = _targets(world)
    method, template = operation.split(" ", 1)
    wanted = expected.split()
    failures = []
    if operation in ENABLE:
        with world.app.app_context():
            world.app.extensions["fulian_plugins"].set_enabled(ENABLE[operation], True)
    for i, caller in enumerate(CALLERS):
        for j, scope in enumerate(("own", "other")):
            target = {**targets[scope], "action": ACTIONS.get(operation, "publish")}
            url = _url(template + QUERIES.get(operation, ""), target)
            if operation in PREPARE:
                how, where, what = PREPARE[operation]
                world.call(how, _url(where, target), "owner", json=what)
            kwargs = {} if body is None else {"json": _fill(body, target)}
            before = _audit_count(world)
            resp = world.call(method, url, TOKENS.get(caller), **kwargs)
            text = resp.get_data(as_text=True)
            code = resp.status_code
            assert code < 500, (operation, caller, scope, text)
            got = "A" if code == 401 else "N" if code in (403, 404) else "Y"
            want = "*" if expected == "*" else wanted[i][j]
            if want != "*" and got != want:
                failures.append(f"{caller}/{scope}: want {want}, got {code} {text[:160]}")
            if got in "AN" and _audit_count(world) != before:
                failures.append(f"{caller}/{scope}: refused with {code} but wrote")
            if got == "N" and method == "GET" and scope == "other" and wanted[i][0] == "Y" \
                    and code != 404:
                failures.append(f"{caller}/{scope}: a hidden read must be 404, got {code}")
            for marker in FOREIGN.get(caller, ()):
                if targets["markers"][marker] in text:
                    failures.append(f"{caller}/{scope}: response leaks {marker}")
    assert not failures, "\n".join([operation, *failures])
