"""Bearer tokens over HTTP: password login, the same answer for a wrong password and an
unknown account, revocation, and what an invalid token gets. Also the availability
endpoint's input checks (it needs no login)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.auth.tokens import _digest
from core.extensions import db
from core.models import ApiToken, Store, User
from tests.core.factories import PASSWORD, bearer, book, make_shop, make_user, store_day

PROBLEM = "application/problem+json"


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    with app.app_context():
        shop = make_shop()
        user = make_user("desk@example.com", "front_desk", ["main"])
        booking_id = book(shop).id
        return {"client": app.test_client(), "app": app, "user_id": user.id,
                "store_id": shop.store.id, "service_id": shop.service.id,
                "booking_id": booking_id, "staff_id": shop.staff.id,
                "day": store_day(shop.store, 1)}


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    return body


def _login(client: Any, login: str, password: str) -> Any:
    return client.post("/api/v1/auth/token", json={"login": login, "password": password})


# --- tokens -----------------------------------------------------------------------------------


def test_login_issues_a_working_bearer_token(world: dict[str, Any]) -> None:
    client = world["client"]
    response = _login(client, "Desk@Example.com ", PASSWORD)  # email is case-insensitive
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert len(body["token"]) >= 32
    assert body["expires_at"]
    booking = client.get(f"/api/v1/bookings/{world['booking_id']}",
                         headers=bearer(body["token"]))
    assert booking.status_code == 200
    with world["app"].app_context():  # only a hash is stored
        row = db.session.scalars(select(ApiToken)).one()
        assert row.token_hash == _digest(body["token"]) != body["token"]
        assert row.user_id == world["user_id"]
        assert abs(row.expires_at - row.created_at - timedelta(hours=12)) < timedelta(minutes=1)


def test_failed_logins_revocation_and_bad_tokens_are_401(world: dict[str, Any]) -> None:
    # A wrong password and an unknown account get the same answer.
    client = world["client"]
    wrong = _problem(_login(client, "desk@example.com", "not the password"), 401)
    unknown = _problem(_login(client, "nobody@example.com", PASSWORD), 401)
    assert wrong == unknown
    assert wrong["detail"] == "Wrong login or password."
    zh = client.post("/api/v1/auth/token", json={"login": "nobody@example.com",
                                                 "password": "x"},
                     headers={"Accept-Language": "zh-CN"})
    assert _problem(zh, 401)["detail"] == "账号或密码错误。"
    with world["app"].app_context():
        assert db.session.scalars(select(ApiToken)).all() == []
    # The login body is validated.
    for body in ({}, {"login": "desk@example.com"}, {"password": PASSWORD},
                 {"login": "", "password": PASSWORD}, {"login": "x" * 300, "password": "p"}):
        _problem(client.post("/api/v1/auth/token", json=body), 422)
    # A revoked token is 401; other tokens of the user still work.
    token = _login(client, "desk@example.com", PASSWORD).get_json()["token"]
    other = _login(client, "desk@example.com", PASSWORD).get_json()["token"]
    url = f"/api/v1/bookings/{world['booking_id']}"
    assert client.get(url, headers=bearer(token)).status_code == 200
    response = client.delete("/api/v1/auth/token", headers=bearer(token))
    assert response.status_code == 204
    problem = _problem(client.get(url, headers=bearer(token)), 401)
    assert problem["detail"]
    _problem(client.delete("/api/v1/auth/token", headers=bearer(token)), 401)
    assert client.get(url, headers=bearer(other)).status_code == 200  # only that one
    # Missing, invalid and expired tokens are 401.
    _problem(client.get(url), 401)
    _problem(client.get(url, headers=bearer("not-a-token")), 401)
    _problem(client.delete("/api/v1/auth/token"), 401)
    token = _login(client, "desk@example.com", PASSWORD).get_json()["token"]
    with world["app"].app_context():
        row = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))
                                 ).one()
        row.expires_at = row.created_at - timedelta(seconds=1)
        db.session.commit()
    _problem(client.get(url, headers=bearer(token)), 401)
    # A deactivated user can neither log in nor use a token.
    token = _login(client, "desk@example.com", PASSWORD).get_json()["token"]
    with world["app"].app_context():
        db.session.get(User, world["user_id"]).is_active = False
        db.session.commit()
    _problem(_login(client, "desk@example.com", PASSWORD), 401)
    _problem(client.get(f"/api/v1/bookings/{world['booking_id']}", headers=bearer(token)),
             401)


# --- availability input checks ------------------------------------------------------------------


def _availability(world: dict[str, Any], store_id: Any = None, **query: Any) -> Any:
    query.setdefault("service_id", world["service_id"])
    return world["client"].get(f"/api/v1/stores/{store_id or world['store_id']}/availability",
                               query_string=query)


def test_availability_slots_and_input_checks(world: dict[str, Any]) -> None:
    day = world["day"]
    response = _availability(world, date_from=day.isoformat(), date_to=day.isoformat())
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["timezone"] == "Asia/Shanghai"
    starts = [s["start"] for s in body["slots"]]
    assert starts[0] == f"{day.isoformat()}T09:00:00+08:00"
    assert f"{day.isoformat()}T11:00:00+08:00" not in starts  # the booking's time
    assert all(s["staff_ids"] == [world["staff_id"]] for s in body["slots"])
    # Bad dates are 422.
    day = world["day"]
    problem = _problem(_availability(world, date_from=day.isoformat(),
                                     date_to=(day - timedelta(days=1)).isoformat()), 422)
    assert "date_to" in problem["errors"]
    problem = _problem(_availability(world, date_from=day.isoformat(),
                                     date_to=(day + timedelta(days=31)).isoformat()), 422)
    assert "date_to" in problem["errors"]
    ok = _availability(world, date_from=day.isoformat(),
                       date_to=(day + timedelta(days=30)).isoformat())
    assert ok.status_code == 200
    for query in ({"date_from": "2026-02-30"}, {"date_to": "tomorrow"},
                  {"service_id": "abc"}, {"service_id": ""}, {"staff_id": "-1"}):
        _problem(_availability(world, **query), 422)
    # Unknown or huge ids: 404/422, never 500.
    _problem(_availability(world, store_id=999999), 404)
    for store_id in (2**31, 2**63, 10**30):
        response = _availability(world, store_id=store_id)
        assert response.status_code in (404, 422), (store_id, response.status_code)
    for service_id in (2**31, 10**30, 0, -5):
        response = _availability(world, service_id=service_id)
        assert response.status_code in (404, 422), (service_id, response.status_code)
    response = _availability(world, service_id=999999)
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert response.get_json()["slots"] == []
    # A closed store has no slots.
    with world["app"].app_context():
        db.session.get(Store, world["store_id"]).status = "closed"
        db.session.commit()
    day = world["day"].isoformat()
    response = _availability(world, date_from=day, date_to=day)
    assert response.status_code == 200
    assert response.get_json()["slots"] == []
