"""Customers (CRM) over the API: who may work with records, search and tags, notes, the
booking history scoped to the caller's stores, and a customer's own view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.models import Customer, CustomerNote, CustomerTag
from tests.core.api.resources_world import BACKENDS, World, errors_of, world_fixture


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def test_crm_access_search_and_tags(world: World) -> None:
    ids = world.ids
    assert world.get("/api/v1/customers").status_code == 401
    for who in ("ann", "bob", "bo"):
        assert world.get("/api/v1/customers", who).status_code == 403, who
    for who in ("owner", "mgr_n", "desk_n", "mgr_s"):
        listed = world.get("/api/v1/customers", who).json
        assert [c["name"] for c in listed["items"]] == ["Cy", "Bo"], who  # newest first
    bo = world.get("/api/v1/customers?q=0001", "desk_n").json["items"]
    assert [c["id"] for c in bo] == [ids["bo_customer"]] and bo[0]["tags"] == ["vip"]
    assert world.get("/api/v1/customers?q=cY", "desk_n").json["total"] == 1
    assert world.get("/api/v1/customers?q=_", "desk_n").json["total"] == 0
    assert world.get("/api/v1/customers?tag=vip", "desk_n").json["total"] == 1
    assert world.get("/api/v1/customers?tag=vip&q=Cy", "desk_n").json["total"] == 0
    assert "q" in errors_of(world.get("/api/v1/customers?q=" + "x" * 101, "desk_n"))

    cy = f"/api/v1/customers/{ids['cy']}"
    assert world.post(f"{cy}/tags/regular", json={}).status_code == 401
    for who in ("ann", "bo"):
        assert world.post(f"{cy}/tags/regular", who).status_code == 404, who
    assert world.post(f"/api/v1/customers/{ids['bo_customer']}/tags/x", "bo").status_code == 403
    assert "tag" in errors_of(world.post(f"{cy}/tags/{'x' * 41}", "desk_n"))
    assert "tag" in errors_of(world.post(f"{cy}/tags/%20%20", "desk_n"))
    assert "tag" in errors_of(world.post(f"{cy}/tags/{'x' * 101}", "desk_n"))
    assert world.count(CustomerTag) == 1
    assert world.post(f"{cy}/tags/regular", "desk_n").json["tags"] == ["regular"]
    assert world.post(f"{cy}/tags/regular", "mgr_s").json["tags"] == ["regular"]  # no-op
    assert world.post(f"{cy}/tags/%E8%80%81%E5%AE%A2", "mgr_s").json["tags"] == [
        "regular", "老客"]
    assert world.delete(f"{cy}/tags/regular", "mgr_n").json["tags"] == ["老客"]
    assert world.delete(f"{cy}/tags/regular", "mgr_n").status_code == 200
    assert world.count(CustomerTag) == 2


def test_create_update_and_notes(world: World) -> None:
    ids = world.ids
    body = {"phone": "13900000009", "name": "Di", "tags": ["new"], "source": "walk_in"}
    before = world.count(Customer)
    assert world.post("/api/v1/customers", json=body).status_code == 401
    for who in ("ann", "bo"):
        assert world.post("/api/v1/customers", who, json=body).status_code == 403, who
    for bad, field in (({"phone": "abc"}, "phone"), ({"phone": None}, "phone"),
                       ({"source": "street"}, "source"), ({"name": "x" * 121}, "name"),
                       ({"tags": [""]}, "tags"), ({"tags": "vip"}, "tags"),
                       ({"id": 5}, "id")):
        assert field in errors_of(world.post("/api/v1/customers", "desk_n",
                                             json={**body, **bad})), bad
    assert world.count(Customer) == before
    made = world.post("/api/v1/customers", "desk_n", json=body)
    assert made.status_code == 201, made.json
    assert made.json["tags"] == ["new"] and made.json["source"] == "walk_in"
    dup = world.post("/api/v1/customers", "mgr_s", json=body)
    assert dup.status_code == 409 and "phone" in dup.json["errors"]

    url = f"/api/v1/customers/{made.json['id']}"
    assert world.patch(url, "ann", json={"name": "X"}).status_code == 404
    assert "phone" in errors_of(world.patch(url, "desk_n", json={"phone": "x"}))
    assert world.patch(url, "desk_n", json={}).status_code == 422
    assert world.patch(url, "desk_n", json={"phone": "13800000002"}).status_code == 409
    changed = world.patch(url, "desk_n", json={"name": "Diana", "phone": "13900000010"})
    assert changed.json["name"] == "Diana" and changed.json["phone"] == "+8613900000010"

    notes = f"{url}/notes"
    assert world.post(notes, json={"body": "x"}).status_code == 401
    assert world.post(notes, "ann", json={"body": "x"}).status_code == 404
    for bad in ({}, {"body": "  "}, {"body": "x" * 4001}, {"body": 5}):
        assert "body" in errors_of(world.post(notes, "desk_n", json=bad)), bad
    assert world.count(CustomerNote) == 0
    first = world.post(notes, "desk_n", json={"body": "Prefers mornings"})
    assert first.status_code == 201
    assert first.json["author_id"] == ids["user_desk_n"]
    assert first.json["author_name"] == "desk_n"
    world.post(notes, "mgr_s", json={"body": "Allergic to latex"})
    listed = world.get(notes, "owner").json
    assert [n["body"] for n in listed["items"]] == ["Allergic to latex", "Prefers mornings"]
    assert world.get(notes + "?per_page=1&page=2", "owner").json["items"][0]["body"] == \
        "Prefers mornings"


def test_customer_sees_only_their_own_record(world: World) -> None:
    ids = world.ids
    own = world.get(f"/api/v1/customers/{ids['bo_customer']}", "bo")
    assert own.status_code == 200
    assert own.json == {"id": ids["bo_customer"], "phone": "+8613800000001", "name": "Bo"}
    assert world.get(f"/api/v1/customers/{ids['cy']}", "bo").status_code == 404
    assert world.get(f"/api/v1/customers/{ids['bo_customer']}/notes", "bo").status_code == 403
    assert world.patch(f"/api/v1/customers/{ids['bo_customer']}", "bo",
                       json={"name": "Boss"}).status_code == 403
    assert world.row(Customer, ids["bo_customer"]).name == "Bo"
    assert world.get(f"/api/v1/customers/{ids['cy']}", "ann").status_code == 404
    full = world.get(f"/api/v1/customers/{ids['bo_customer']}", "mgr_s").json
    assert full["tags"] == ["vip"] and full["source"] == "online"
    assert world.get("/api/v1/customers/999", "owner").status_code == 404


def test_booking_history_is_scoped_to_the_callers_stores(world: World) -> None:
    ids = world.ids
    url = f"/api/v1/customers/{ids['bo_customer']}/bookings"
    both = {ids["booking_n"], ids["booking_s"]}
    for who in ("owner", "bo"):
        assert {b["id"] for b in world.get(url, who).json["items"]} == both, who
    north = world.get(url, "mgr_n").json
    assert [b["id"] for b in north["items"]] == [ids["booking_n"]] and north["total"] == 1
    item = north["items"][0]
    assert item["store_id"] == ids["north"] and item["start_at"].endswith("+08:00")
    assert item["price"] == 12800 and item["currency"] == "CNY"
    assert [b["id"] for b in world.get(url, "desk_n").json["items"]] == [ids["booking_n"]]
    assert [b["id"] for b in world.get(url, "mgr_s").json["items"]] == [ids["booking_s"]]
    assert world.get(url + "?status=cancelled", "owner").json["total"] == 0
    assert "status" in errors_of(world.get(url + "?status=lost", "owner"))
    assert world.get(url).status_code == 401
    assert world.get(url, "ann").status_code == 404
    assert world.get(f"/api/v1/customers/{ids['cy']}/bookings", "bo").status_code == 404
    assert world.get(f"/api/v1/customers/{ids['cy']}/bookings", "owner").json["total"] == 0
