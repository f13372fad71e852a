"""Staff profiles (public vs private fields), their services, weekly availability,
overrides and the time-off request/approval flow over the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.models import AvailabilityOverride, StaffProfile, TimeOff, User, WeeklyAvailability
from tests.core.api.resources_world import BACKENDS, World, errors_of, world_fixture

PRIVATE = {"user_id", "email", "phone", "calendar_token", "max_minutes_week", "min_rest_days"}


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def test_public_profiles_and_private_fields(world: World) -> None:
    ids = world.ids
    ann_url = f"/api/v1/staff/{ids['ann']}"
    anon = world.get("/api/v1/staff").json
    assert [s["display_name"] for s in anon["items"]] == ["Ann", "Bob"]
    assert not PRIVATE & set(anon["items"][0])
    assert anon["items"][0]["store_ids"] == [ids["north"]]
    assert anon["items"][0]["service_ids"] == [ids["cut"]]
    for who in (None, "bo", "bob", "mgr_s"):
        assert not PRIVATE & set(world.get(ann_url, who).json), who
    for who in ("ann", "mgr_n", "desk_n", "owner"):
        got = world.get(ann_url, who).json
        assert got["email"] == "ann@example.com" and got["phone"] == "+8613700000001"
        # the calendar feed secret: the person and store managers, not the front desk
        assert set(got) & PRIVATE == (PRIVATE - {"calendar_token"} if who == "desk_n"
                                      else PRIVATE), who
    # filters
    by_store = world.get(f"/api/v1/staff?store_id={ids['south']}").json["items"]
    assert [s["id"] for s in by_store] == [ids["bob"]]
    by_service = world.get(f"/api/v1/staff?service_id={ids['cut']}").json["items"]
    assert [s["id"] for s in by_service] == [ids["ann"]]
    assert world.get(f"/api/v1/staff?store_id={ids['east']}").status_code == 404
    assert world.get("/api/v1/staff/999").status_code == 404
    # inactive staff: gone for the public, still there for their managers and themselves
    assert world.patch(ann_url, "mgr_n", json={"active": False}).status_code == 200
    assert world.get(ann_url).status_code == 404
    assert world.get(ann_url, "mgr_s").status_code == 404
    assert world.get(ann_url, "ann").json["active"] is False
    assert [s["id"] for s in world.get("/api/v1/staff").json["items"]] == [ids["bob"]]
    assert world.get("/api/v1/staff", "mgr_n").json["total"] == 2


def test_create_update_and_services(world: World) -> None:
    ids = world.ids
    body = {"name": "Cat", "email": "cat@example.com", "title": "Junior",
            "store_ids": [ids["north"]], "service_ids": [ids["cut"]],
            "specialities": ["fades"]}
    before = (world.count(StaffProfile), world.count(User))
    assert world.post("/api/v1/staff", json=body).status_code == 401
    for who in ("desk_n", "ann", "bo", "mgr_s"):
        assert world.post("/api/v1/staff", who, json=body).status_code == 403, who
    for bad, field in (({"store_ids": [999]}, "store_ids"),
                       ({"store_ids": [ids["east"]]}, "store_ids"),
                       ({"service_ids": [999]}, "service_ids")):
        unknown = world.post("/api/v1/staff", "mgr_n", json={**body, **bad})  # state: 404
        assert unknown.status_code == 404 and field in unknown.json["errors"], bad
    for bad, field in (({"store_ids": []}, "store_ids"),
                       ({"email": "not-an-email"}, "email"), ({"email": None}, "email"),
                       ({"phone": "12"}, "phone"), ({"specialities": ["x" * 41]}, "specialities"),
                       ({"store_ids": [2**31]}, "store_ids"), ({"name": ""}, "name"),
                       ({"title": "x" * 121}, "title")):
        errors = errors_of(world.post("/api/v1/staff", "mgr_n", json={**body, **bad}))
        assert field in errors, (bad, errors)
    assert (world.count(StaffProfile), world.count(User)) == before

    resp = world.post("/api/v1/staff", "mgr_n", json=body)
    assert resp.status_code == 201, resp.json
    cat = resp.json
    assert cat["display_name"] == "Cat" and cat["email"] == "cat@example.com"
    assert cat["store_ids"] == [ids["north"]] and cat["specialities"] == ["fades"]
    assert world.post("/api/v1/staff", "mgr_n", json=body).status_code == 409
    # an existing account (here a customer's login) is attached only by brand roles
    bo_login = {**body, "name": "Bo", "email": None, "phone": "13800000001"}
    taken = world.post("/api/v1/staff", "mgr_n", json=bo_login)
    assert taken.status_code == 409 and "Bo" not in taken.get_data(as_text=True)
    assert world.count(StaffProfile) == before[0] + 1
    by_owner = world.post("/api/v1/staff", "owner", json=bo_login)
    assert by_owner.status_code == 201 and by_owner.json["user_id"] == ids["user_bo"]
    # a brand role may add staff anywhere
    assert world.post("/api/v1/staff", "owner", json={
        **body, "name": "Dan", "email": "dan@example.com",
        "store_ids": [ids["south"]], "service_ids": []}).status_code == 201

    url = f"/api/v1/staff/{cat['id']}"
    assert world.patch(url, json={"title": "Senior"}).status_code == 401
    for who in ("mgr_s", "desk_n", "ann"):
        assert world.patch(url, who, json={"title": "Senior"}).status_code == 403, who
    assert world.patch(f"/api/v1/staff/{ids['bob']}", "mgr_n",
                       json={"title": "x"}).status_code == 403
    for bad, field in (({"max_minutes_week": 99999}, "max_minutes_week"),
                       ({"min_rest_days": "2"}, "min_rest_days"), ({"active": "often"}, "active"),
                       ({"display_name": " "}, "display_name"), ({"email": "x@y.z"}, "email")):
        assert field in errors_of(world.patch(url, "mgr_n", json=bad)), bad
    assert world.patch(url, "mgr_n", json={}).status_code == 422
    changed = world.patch(url, "mgr_n", json={"title": "Senior", "level": "L2",
                                              "max_minutes_week": 1200, "photo_url": None})
    assert changed.status_code == 200
    assert changed.json["title"] == "Senior" and changed.json["max_minutes_week"] == 1200

    services = f"{url}/services"
    assert world.put(services, "mgr_s", json={"service_ids": []}).status_code == 403
    unknown = world.put(services, "mgr_n", json={"service_ids": [999]})
    assert unknown.status_code == 404 and "service_ids" in unknown.json["errors"]
    assert "service_ids" in errors_of(world.put(services, "mgr_n", json={}))
    resp = world.put(services, "mgr_n", json={"service_ids": [ids["secret"], ids["cut"],
                                                              ids["cut"]]})
    assert resp.json["service_ids"] == [ids["cut"], ids["secret"]]
    assert world.put(services, "mgr_n", json={"service_ids": []}).json["service_ids"] == []


def test_weekly_availability_and_overrides(world: World) -> None:
    ids = world.ids
    url = f"/api/v1/staff/{ids['ann']}/availability?store_id={ids['north']}"
    empty = world.get(url, "ann").json
    assert empty == {"staff_id": ids["ann"], "store_id": ids["north"], "text": "",
                     "intervals": []}
    assert world.get(url).status_code == 401
    for who in ("bob", "mgr_s", "bo"):
        assert world.get(url, who).status_code == 404, who
    assert "store_id" in errors_of(world.get(f"/api/v1/staff/{ids['ann']}/availability",
                                             "ann"))
    body = {"text": "mon-fri 10:00-14:00,15:00-19:00"}
    for who in ("desk_n", "ann", "mgr_s"):
        assert world.put(url, who, json=body).status_code == 403, who
    elsewhere = world.put(f"/api/v1/staff/{ids['ann']}/availability?store_id={ids['south']}",
                          "owner", json=body)  # she does not work there: a rule, not a shape
    assert elsewhere.status_code == 409 and "store_id" in elsewhere.json["errors"]
    assert "intervals" in errors_of(world.put(url, "mgr_n", json={"intervals": [
        {"weekday": 0, "start": "10:00", "end": "09:00"}]}))
    assert world.count(WeeklyAvailability) == 0

    resp = world.put(url, "mgr_n", json=body)
    assert resp.status_code == 200 and resp.json["text"] == body["text"]
    assert len(resp.json["intervals"]) == 10
    assert world.get(url, "desk_n").json["text"] == body["text"]
    resp = world.put(url, "mgr_n", json={"intervals": [
        {"weekday": 6, "start": "12:00", "end": "18:00"}]})
    assert resp.json["text"] == "sun 12:00-18:00"
    assert world.put(url, "mgr_n", json={"text": ""}).json["intervals"] == []

    overrides = f"/api/v1/staff/{ids['ann']}/overrides"
    day = {"store_id": ids["north"], "day": "2030-05-01",
           "intervals": [{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "12:00"}]}
    assert world.post(overrides, json=day).status_code == 401
    assert world.post(overrides, "ann", json=day).status_code == 403
    assert world.post(overrides, "mgr_s", json=day).status_code == 403
    for bad, field in (({"intervals": [{"start": "12:00", "end": "11:00"}]}, "intervals"),
                       ({"intervals": [{"start": "09:00", "end": "12:00"},
                                       {"start": "11:00", "end": "13:00"}]}, "intervals"),
                       ({"day": "someday"}, "day"), ({"store_id": 0}, "store_id"),
                       ({"intervals": None}, "intervals")):
        assert field in errors_of(world.post(overrides, "mgr_n", json={**day, **bad})), bad
    assert world.count(AvailabilityOverride) == 0
    resp = world.post(overrides, "mgr_n", json=day)
    assert resp.status_code == 200, resp.json
    assert resp.json["available"] is True
    assert resp.json["intervals"] == [{"start": "09:00", "end": "12:00"},
                                      {"start": "13:00", "end": "17:00"}]
    off = world.post(overrides, "mgr_n", json={**day, "intervals": []}).json
    assert off["available"] is False and off["intervals"] == []
    assert world.count(AvailabilityOverride) == 1


def test_time_off_requests_and_approval(world: World) -> None:
    ids = world.ids
    url = f"/api/v1/staff/{ids['ann']}/time-off"
    leave = {"start_at": "2030-06-01T09:00:00+08:00", "end_at": "2030-06-03T21:00:00+08:00",
             "reason": "wedding"}
    assert world.post(url, json=leave).status_code == 401
    for who in ("bob", "mgr_s", "desk_n"):
        assert world.post(url, who, json=leave).status_code == 403, who
    assert world.post(url, "bo", json=leave).status_code == 403
    for bad, field in (({"end_at": "2030-06-01T08:00:00+08:00"}, "end_at"),
                       ({"end_at": "2031-06-03T21:00:00+08:00"}, "end_at"),
                       ({"start_at": "2030-06-01T09:00:00"}, "start_at"),
                       ({"end_at": "9999-12-31T23:59:59-12:00"}, "end_at"),
                       ({"start_at": "0001-01-01T00:00:00+14:00"}, "start_at"),
                       ({"reason": "x" * 201}, "reason")):
        assert field in errors_of(world.post(url, "ann", json={**leave, **bad})), bad
    assert world.count(TimeOff) == 0

    requested = world.post(url, "ann", json=leave)
    assert requested.status_code == 201 and requested.json["status"] == "requested"
    tid = requested.json["id"]
    assert world.post(f"{url}/{tid}/approve", "ann").status_code == 403
    assert world.post(f"{url}/{tid}/approve", "desk_n").status_code == 403
    assert world.post(f"{url}/{tid}/approve", "mgr_s").status_code == 404
    assert world.post(f"/api/v1/staff/{ids['bob']}/time-off/{tid}/approve",
                      "owner").status_code == 404  # not Bob's
    assert world.row(TimeOff, tid).status == "requested"
    approved = world.post(f"{url}/{tid}/approve", "mgr_n")
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert world.post(f"{url}/{tid}/reject", "mgr_n").status_code == 409

    second = world.post(url, "ann", json={**leave, "start_at": "2030-07-01T09:00:00+08:00",
                                          "end_at": "2030-07-01T12:00:00+08:00"}).json
    assert world.post(f"{url}/{second['id']}/reject", "owner").json["status"] == "rejected"
    by_manager = world.post(url, "mgr_n", json={**leave, "start_at": "2030-08-01T09:00:00Z",
                                                "end_at": "2030-08-02T09:00:00Z"})
    assert by_manager.json["status"] == "approved"

    listed = world.get(url, "ann").json
    assert [t["status"] for t in listed["items"]] == ["approved", "rejected", "approved"]
    assert world.get(url + "?status=rejected", "desk_n").json["total"] == 1
    assert "status" in errors_of(world.get(url + "?status=maybe", "ann"))
    for who in ("bob", "mgr_s", "bo"):
        assert world.get(url, who).status_code == 404, who
    assert world.get(url).status_code == 401
