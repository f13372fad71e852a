"""Hostile input at the edge (core.armour): every request a client can send gets a 4xx
problem document (a themed page outside /api/) and writes no traceback to the log.

Each input that once crashed Python or PostgreSQL with a 500 (NOTES trap 18) is sent as
an anonymous caller and as the owner, on SQLite and on PostgreSQL: JSON nested 1,100
deep, a 4,301-digit integer, NUL in a JSON field, a query string, a form field or a path,
a lone UTF-16 surrogate, years 1 and 9999 in dates, a 10 MB body (with and without a
Content-Length), money as text, time zones that are no place, and bodies of every kind
sent by callers who must log in first (401 before any 422).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from core.api.common import needs_login
from core.models import Customer
from core.web.errors import database_unreachable
from tests.core.api.resources_world import BACKENDS, World, world_fixture

DEEP = "[" * 1100 + "]" * 1100
HUGE_INT = "1" * 4301
TEN_MB = 10 * 1024 * 1024
JSON = "application/json"


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that carry a traceback (what ``_unexpected`` writes for a 500)."""
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR and r.exc_info]


def _cases(world: World) -> list[tuple[str, str, str, dict[str, Any], int, int, str | None]]:
    """(what, method, url, request kwargs, status for anonymous, status for the owner,
    field the 422 names)."""
    ids = world.ids
    north, cut = ids["north"], ids["cut"]
    booking = {"store_id": north, "service_id": cut, "staff_id": ids["ann"],
               "start_at": "2030-03-05T10:00:00+08:00",
               "customer": {"phone": "13900000005", "name": "Hostile"}}
    customer = {"phone": "13900000006", "name": "Eve"}
    return [
        # malformed or costly JSON: 400 with a detail (401 first where a login is needed)
        ("deep JSON, public", "POST", "/api/v1/auth/token", {"data": DEEP}, 400, 400, None),
        ("deep JSON", "POST", "/api/v1/bookings", {"data": DEEP}, 401, 400, None),
        ("huge integer, public", "POST", "/api/v1/auth/token",
         {"data": '{"login": ' + HUGE_INT + ', "password": "x"}'}, 400, 400, None),
        ("huge integer", "POST", "/api/v1/bookings",
         {"data": '{"store_id": ' + HUGE_INT + "}"}, 401, 400, None),
        ("NaN", "POST", "/api/v1/customers", {"data": '{"phone": NaN}'}, 401, 400, None),
        ("broken JSON", "POST", "/api/v1/customers", {"data": '{"phone": '}, 401, 400, None),
        # text no database stores: 422 naming the field
        ("NUL in a JSON field", "POST", "/api/v1/customers",
         {"json": {**customer, "name": "E\x00ve"}}, 401, 422, "name"),
        ("NUL in a nested field", "POST", "/api/v1/bookings",
         {"json": {**booking, "customer": {"phone": "13900000005", "name": "a\x00"}}},
         401, 422, "customer.name"),
        ("NUL in a list item", "POST", "/api/v1/customers",
         {"json": {**customer, "tags": ["ok", "b\x00d"]}}, 401, 422, "tags[1]"),
        ("NUL in a public body", "POST", "/api/v1/auth/token",
         {"json": {"login": "a\x00", "password": "x"}}, 422, 422, "login"),
        ("lone surrogate", "POST", "/api/v1/customers",
         {"data": '{"phone": "13900000007", "name": "\\ud800"}'}, 401, 422, "name"),
        ("lone surrogate, public", "POST", "/api/v1/auth/token",
         {"data": '{"login": "\\udfff", "password": "x"}'}, 422, 422, "login"),
        ("NUL in a query", "GET", "/api/v1/stores?q=no%00rth", {}, 422, 422, "q"),
        ("NUL in a query, login", "GET", "/api/v1/customers?q=%00", {}, 401, 422, "q"),
        ("NUL in a form field", "POST", "/api/v1/auth/token",
         {"data": {"login": "x\x00", "password": "y"}}, 422, 422, "login"),
        ("NUL in a provider's notification: not trusted", "POST",
         "/api/v1/payments/sandbox/notify", {"data": {"ref": "x\x00"}}, 401, 401, None),
        ("NUL in a path", "GET", "/api/v1/calendar/staff/a%00b.ics", {}, 422, 422, "token"),
        ("NUL in a header", "GET", "/api/v1/stores", {"headers": {"X-Note": "a\x00b"}},
         400, 400, None),
        # dates a salon has no use for (they overflowed Python's dates: 500)
        ("year 1 in availability", "GET",
         f"/api/v1/stores/{north}/availability?service_id={cut}&date_from=0001-01-01", {},
         422, 422, "date_from"),
        ("year 9999 in availability", "GET",
         f"/api/v1/stores/{north}/availability?service_id={cut}&date_from=9999-12-31", {},
         422, 422, "date_from"),
        ("year 9999 as the end", "GET",
         f"/api/v1/stores/{north}/availability?service_id={cut}&date_to=9999-12-31", {},
         422, 422, "date_to"),
        ("year 1 as a booking's start", "POST", "/api/v1/bookings",
         {"json": {**booking, "start_at": "0001-01-01T00:00:00+08:00"}}, 401, 422,
         "start_at"),
        ("year 9999 as a booking's start", "POST", "/api/v1/bookings",
         {"json": {**booking, "start_at": "9999-12-31T23:59:59-14:00"}}, 401, 422,
         "start_at"),
        ("year 9999 in a reschedule", "POST",
         f"/api/v1/bookings/{ids['booking_n']}/reschedule",
         {"json": {"start_at": "9999-12-31T23:00:00+00:00"}}, 401, 422, "start_at"),
        ("year 1 roster week", "GET", f"/api/v1/stores/{north}/rosters/0001-W01", {},
         401, 422, "week"),
        ("year 9999 roster week", "POST",
         f"/api/v1/stores/{north}/rosters/9999-W52/generate", {"json": {}}, 401, 422, "week"),
        ("week 53 of a 52-week year", "GET", f"/api/v1/stores/{north}/rosters/2027-W53", {},
         401, 422, "week"),
        ("year 9999 holiday", "DELETE", f"/api/v1/stores/{north}/holidays/9999-12-31", {},
         401, 422, "day"),
        ("year 1 holiday", "POST", f"/api/v1/stores/{north}/holidays",
         {"json": {"day": "0001-01-01"}}, 401, 422, "day"),
        ("year 9999 time-off", "POST", f"/api/v1/staff/{ids['ann']}/time-off",
         {"json": {"start_at": "9999-12-30T00:00:00Z", "end_at": "9999-12-31T00:00:00Z"}},
         401, 422, "start_at"),
        ("year 9999 override", "POST", f"/api/v1/staff/{ids['ann']}/overrides",
         {"json": {"store_id": north, "day": "9999-12-31", "intervals": []}}, 401, 422,
         "day"),
        # money only as JSON integers, and more than nothing where money must move
        ("money as text", "PUT", f"/api/v1/services/{cut}/stores/{north}",
         {"json": {"price_override": "100"}}, 401, 422, "price_override"),
        ("money as a float", "POST", "/api/v1/services",
         {"json": {"name": "Shave", "duration_min": 30, "price": 100.0}}, 401, 422, "price"),
        # time zones that are no place
        ("localtime", "POST", "/api/v1/stores",
         {"json": {"code": "west", "name": "West", "timezone": "localtime"}}, 401, 422,
         "timezone"),
        ("Factory", "POST", "/api/v1/stores",
         {"json": {"code": "west", "name": "West", "timezone": "Factory"}}, 401, 422,
         "timezone"),
        ("posix tree", "POST", "/api/v1/stores",
         {"json": {"code": "west", "name": "West", "timezone": "posix/Asia/Shanghai"}},
         401, 422, "timezone"),
        # shapes published in the document
        ("empty PATCH", "PATCH", f"/api/v1/stores/{north}", {"json": {}}, 401, 422,
         "_schema"),
        ("blank name", "PATCH", f"/api/v1/stores/{north}", {"json": {"name": " \t "}},
         401, 422, "name"),
        ("blank tag", "POST", f"/api/v1/customers/{ids['cy']}/tags/%20%20", {}, 401, 422,
         "tag"),
        ("long tag", "POST", f"/api/v1/customers/{ids['cy']}/tags/{'x' * 41}", {}, 401, 422,
         "tag"),
        # anonymous callers learn nothing from validation: 401 for any body
        ("anonymous, empty body", "POST", "/api/v1/bookings", {"json": {}}, 401, 422,
         "store_id"),
        ("anonymous, wrong types", "POST", "/api/v1/bookings",
         {"json": {"store_id": "x", "start_at": 5}}, 401, 422, "store_id"),
        ("anonymous, not JSON", "POST", "/api/v1/customers",
         {"data": b"\xff\xfe", "content_type": JSON}, 401, 400, None),
    ]


def test_hostile_input_is_refused_with_a_problem(world: World,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = world.count(Customer)
    failures = []
    for what, method, url, kwargs, anonymous, owner, field in _cases(world):
        for who, status in ((None, anonymous), ("owner", owner)):
            options = dict(kwargs)
            if "data" in options and isinstance(options["data"], str):
                options.setdefault("content_type", JSON)
            resp = world.call(method, url, who, **options)
            label = f"{what} as {who or 'anonymous'}: {resp.status_code} "
            if resp.status_code != status:
                failures.append(label + resp.get_data(as_text=True)[:200])
            elif resp.mimetype != "application/problem+json":
                failures.append(label + f"answered {resp.mimetype}")
            elif status == 422 and field not in (resp.json.get("errors") or {}):
                failures.append(label + f"does not name {field}: {resp.json}")
            elif status == 400 and not resp.json.get("detail"):
                failures.append(label + "says not why")
    assert not failures, "\n".join(failures)
    assert not _tracebacks(caplog)
    assert world.count(Customer) == before


def test_money_moves_only_as_a_positive_integer(world: World) -> None:
    booking = world.ids["booking_n"]
    order = world.post(f"/api/v1/bookings/{booking}/order", "owner").json["id"]
    url = f"/api/v1/orders/{order}/payments"
    for amount in ("100", 100.0, 0, -1, True, None, 10**14):
        resp = world.post(url, "owner", json={"provider": "cash", "amount": amount})
        assert resp.status_code == 422 and "amount" in resp.json["errors"], (amount, resp.json)
    assert world.post(url, "owner", json={"provider": "cash", "amount": 100}).status_code == 201
    refund = world.post(f"/api/v1/orders/{order}/refunds", "owner", json={"amount": 0})
    assert "amount" in refund.json["errors"]


@pytest.mark.parametrize("who", [None, "owner"])
def test_ten_megabytes_are_not_read(world: World, who: str | None,
                                    caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"login": "' + b"x" * TEN_MB + b'"}'
    for url in ("/api/v1/auth/token", "/api/v1/bookings"):
        resp = world.post(url, who, data=body, content_type=JSON)
        assert resp.status_code == 413 and resp.mimetype == "application/problem+json"
    # Chunked (no Content-Length): the limit stops the read once it is passed.
    chunked = world.app.test_client().post(
        "/api/v1/auth/token", input_stream=io.BytesIO(body), content_type=JSON,
        environ_overrides={"wsgi.input_terminated": True})
    assert chunked.status_code == 413, chunked.get_data(as_text=True)
    page = world.post("/login", who, data=body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 413 and page.mimetype == "text/html"
    assert not _tracebacks(caplog)


def test_a_page_form_with_nul_gets_the_themed_page(world: World) -> None:
    resp = world.post("/login", data={"login": "bo\x00", "password": "x"})
    assert resp.status_code == 422 and resp.mimetype == "text/html"
    assert "login" in resp.get_data(as_text=True)


def test_every_login_operation_answers_401_before_reading_anything(world: World) -> None:
    """The document's ``security`` and the server agree: an anonymous call of any
    operation that needs a login is 401 whatever its path values and body (here:
    malformed JSON), and the public ones are reachable without a token."""
    doc = world.get("/api/v1/openapi.json").json
    samples = {"week": "2030-W10", "day": "2030-01-01", "tag": "vip", "provider": "sandbox",
               "token": "x"}
    app = world.app
    checked = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            security = operation.get("security", doc["security"])
            url = path
            for param in [*operations.get("parameters", []),
                          *operation.get("parameters", [])]:
                if param["in"] == "path":
                    value = param["schema"].get("enum", [samples.get(param["name"], "1")])[0]
                    url = url.replace("{" + param["name"] + "}", value)
            resp = world.call(method.upper(), url, data="{not json", content_type=JSON)
            login = bool(security) and {} not in security
            # (a provider's notification is public but signed: unsigned, it is 401 too)
            assert (resp.status_code == 401) == (login or path.endswith("/notify")), \
                (method, path, resp.status_code)
            with app.test_request_context(url, method=method.upper()):
                adapter = app.url_map.bind("localhost")
                endpoint, _ = adapter.match(url, method=method.upper())
                assert needs_login(app.view_functions[endpoint]) == login
            checked += 1
    assert checked > 60


def test_what_counts_as_the_database_being_away() -> None:
    lost = sa_exc.DBAPIError("SELECT 1", {}, Exception("server closed the connection"),
                             connection_invalidated=True)
    assert database_unreachable(lost)
    assert database_unreachable(sa_exc.OperationalError("SELECT 1", {}, Exception("down")))
    assert database_unreachable(sa_exc.TimeoutError("QueuePool limit reached"))
    assert not database_unreachable(sa_exc.IntegrityError("INSERT", {}, Exception("dup")))
    assert not database_unreachable(ValueError("a bug"))
