"""/me, stores (hours, holidays), the pagination scheme, bounded ids and the OpenAPI
document of the resource endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.models import AuditEntry, OpeningHours, Store, StoreHoliday
from tests.core.api.resources_world import BACKENDS, HUGE_PATHS, World, errors_of, world_fixture


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def test_me_describes_roles_scopes_and_profiles(world: World) -> None:
    ids = world.ids
    assert world.get("/api/v1/me").status_code == 401
    bad = world.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.mimetype == "application/problem+json"

    owner = world.get("/api/v1/me", "owner").json
    assert owner["roles"] == [{"role": "owner", "store_id": None}]
    assert owner["all_stores"] is True
    assert owner["managed_store_ids"] == sorted([ids["north"], ids["south"], ids["east"]])
    assert owner["staff_id"] is None and owner["customer_id"] is None

    mgr = world.get("/api/v1/me", "mgr_n").json
    assert mgr["all_stores"] is False
    assert mgr["managed_store_ids"] == [ids["north"]] == mgr["admin_store_ids"]
    desk = world.get("/api/v1/me", "desk_n").json
    assert desk["managed_store_ids"] == [ids["north"]] and desk["admin_store_ids"] == []

    ann = world.get("/api/v1/me", "ann").json
    assert ann["staff_id"] == ids["ann"] and ann["managed_store_ids"] == []
    assert ann["roles"] == [{"role": "staff", "store_id": ids["north"]}]
    bo = world.get("/api/v1/me", "bo").json
    assert bo["customer_id"] == ids["bo_customer"] and bo["staff_id"] is None


def test_store_visibility_filters_and_pages(world: World) -> None:
    ids = world.ids
    anon = world.get("/api/v1/stores").json
    assert [s["code"] for s in anon["items"]] == ["north", "south"]
    assert anon["total"] == 2 and anon["page"] == 1 and anon["per_page"] == 20
    first = anon["items"][0]
    assert first["hours"] == "mon-sun 09:00-21:00" and first["slot_step_min"] == 15
    assert world.get("/api/v1/stores?status=closed").json["items"] == []
    # closed stores: 404 to the public, customers, staff and other stores' managers
    for who in (None, "bo", "ann", "mgr_n", "desk_n"):
        assert world.get(f"/api/v1/stores/{ids['east']}", who).status_code == 404, who
        assert world.get(f"/api/v1/stores/{ids['east']}/hours", who).status_code == 404
    owner = world.get("/api/v1/stores?status=closed", "owner").json
    assert [s["code"] for s in owner["items"]] == ["east"]
    assert world.get(f"/api/v1/stores/{ids['east']}", "owner").json["status"] == "closed"
    assert world.get(f"/api/v1/stores/{ids['north']}").json["code"] == "north"
    # search and paging
    assert [s["code"] for s in world.get("/api/v1/stores?q=SOUTH").json["items"]] == ["south"]
    assert world.get("/api/v1/stores?q=%25").json["total"] == 0  # LIKE wildcards escaped
    page2 = world.get("/api/v1/stores?per_page=1&page=2", "owner").json
    assert page2["total"] == 3 and [s["code"] for s in page2["items"]] == ["south"]
    assert world.get("/api/v1/stores?page=9", "owner").json["items"] == []
    assert "status" in errors_of(world.get("/api/v1/stores?status=gone"))


def test_store_create_is_for_brand_roles(world: World) -> None:
    body = {"code": "west", "name": "Store west", "timezone": "Asia/Shanghai",
            "hours": "mon-fri 10:00-20:00", "slot_step_min": 30, "acceptance_required": True}
    before = world.count(Store)
    assert world.post("/api/v1/stores", json=body).status_code == 401
    for who in ("mgr_n", "desk_n", "ann", "bo"):
        assert world.post("/api/v1/stores", who, json=body).status_code == 403, who
    # validation: field errors, nothing written
    bad = {**body, "code": "West!", "timezone": "Mars/Base", "slot_step_min": 7,
           "horizon_days": 0, "phone": "x"}
    errors = errors_of(world.post("/api/v1/stores", "owner", json=bad))
    assert set(errors) == {"code", "timezone", "slot_step_min", "horizon_days", "phone"}
    assert "extra" in errors_of(world.post("/api/v1/stores", "owner", json={**body, "extra": 1}))
    assert "hours" in errors_of(world.post("/api/v1/stores", "owner",
                                           json={**body, "hours": "someday"}))
    assert world.count(Store) == before

    resp = world.post("/api/v1/stores", "owner", json=body)
    assert resp.status_code == 201, resp.json
    assert resp.json["hours"] == "mon-fri 10:00-20:00" and resp.json["slot_step_min"] == 30
    assert resp.json["acceptance_required"] is True
    dup = world.post("/api/v1/stores", "owner", json=body)
    assert dup.status_code == 409 and "code" in dup.json["errors"]
    with world.app.app_context():
        from core.extensions import db

        entry = db.session.query(AuditEntry).filter_by(
            entity_type="stores", entity_id=str(resp.json["id"]), action="create").one()
        assert entry.actor == f"user:{world.ids['user_owner']}"
        assert entry.actor_user_id == world.ids["user_owner"]


def test_store_update_is_for_its_managers(world: World) -> None:
    ids = world.ids
    north, south, east = (f"/api/v1/stores/{ids[c]}" for c in ("north", "south", "east"))
    change = {"name": "North Flagship", "cancel_window_min": 240, "acceptance_required": True,
              "acceptance_timeout_action": "reassign", "status": "active"}
    assert world.patch(north, json=change).status_code == 401
    assert world.patch(south, "mgr_n", json=change).status_code == 403
    assert world.patch(east, "mgr_n", json=change).status_code == 404
    for who in ("desk_n", "ann", "bo"):
        assert world.patch(north, who, json=change).status_code == 403, who
    assert world.row(Store, ids["south"]).name == "Store south"

    errors = errors_of(world.patch(north, "mgr_n", json={
        "cancel_window_min": -1, "slot_step_min": "15", "acceptance_timeout_action": "drop",
        "code": "other"}))
    assert set(errors) == {"cancel_window_min", "slot_step_min", "acceptance_timeout_action",
                           "code"}
    assert world.patch(north, "mgr_n", json={}).status_code == 422  # nothing to change
    assert world.row(Store, ids["north"]).cancel_window_min == 120

    resp = world.patch(north, "mgr_n", json=change)
    assert resp.status_code == 200, resp.json
    assert resp.json["name"] == "North Flagship" and resp.json["cancel_window_min"] == 240
    assert resp.json["acceptance_timeout_action"] == "reassign"
    assert world.patch(south, "owner", json={"status": "closed"}).json["status"] == "closed"
    # hours through PATCH too
    resp = world.patch(north, "mgr_n", json={"hours": "mon-sat 10:00-19:00"})
    assert resp.json["hours"] == "mon-sat 10:00-19:00"
    assert "hours" in errors_of(world.patch(north, "mgr_n", json={"hours": " "}))


def test_opening_hours_text_and_intervals(world: World) -> None:
    url = f"/api/v1/stores/{world.ids['north']}/hours"
    got = world.get(url).json
    assert got["text"] == "mon-sun 09:00-21:00" and len(got["intervals"]) == 7
    assert got["intervals"][0] == {"weekday": 0, "start": "09:00", "end": "21:00"}

    assert world.put(url, json={"text": "mon 09:00-10:00"}).status_code == 401
    for who in ("mgr_s", "desk_n", "ann"):
        assert world.put(url, who, json={"text": "mon 09:00-10:00"}).status_code == 403, who
    before = world.count(OpeningHours)
    for body, field in (
        ({}, "text"),
        ({"text": "mon 09:00-10:00", "intervals": []}, "text"),
        ({"text": "mon 25:00-26:00"}, "text"),
        ({"text": ""}, "text"),
        ({"intervals": []}, "intervals"),
        ({"intervals": [{"weekday": 7, "start": "09:00", "end": "10:00"}]}, "intervals"),
        ({"intervals": [{"weekday": 0, "start": "9am", "end": "10:00"}]}, "intervals"),
        ({"intervals": [{"weekday": 0, "start": "09:00", "end": "12:00"},
                        {"weekday": 0, "start": "11:00", "end": "13:00"}]}, "intervals"),
        ({"intervals": [{"weekday": 0, "start": "12:00", "end": "12:00"}]}, "intervals"),
    ):
        assert field in errors_of(world.put(url, "mgr_n", json=body)), body
    assert world.count(OpeningHours) == before

    resp = world.put(url, "mgr_n", json={"text": "mon-fri 09:00-12:00,13:00-21:00"})
    assert resp.status_code == 200 and resp.json["text"] == "mon-fri 09:00-12:00,13:00-21:00"
    assert len(resp.json["intervals"]) == 10
    resp = world.put(url, "owner", json={"intervals": [
        {"weekday": 5, "start": "10:00", "end": "24:00"},
        {"weekday": 6, "start": "10:00", "end": "24:00"}]})
    assert resp.status_code == 200 and resp.json["text"] == "sat-sun 10:00-24:00"
    assert world.get(url).json["text"] == "sat-sun 10:00-24:00"


def test_holidays(world: World) -> None:
    url = f"/api/v1/stores/{world.ids['north']}/holidays"
    assert world.post(url, json={"day": "2030-10-01"}).status_code == 401
    assert world.post(url, "mgr_s", json={"day": "2030-10-01"}).status_code == 403
    for body, field in (({"day": "2030-13-01"}, "day"), ({}, "day"),
                        ({"day": "2030-10-01", "opens": "10:00"}, "closes"),
                        ({"day": "2030-10-01", "opens": "18:00", "closes": "10:00"}, "closes"),
                        ({"day": "2030-10-01", "name": "x" * 121}, "name")):
        assert field in errors_of(world.post(url, "mgr_n", json=body)), body
    assert world.count(StoreHoliday) == 0

    closed = world.post(url, "mgr_n", json={"day": "2030-10-01", "name": "National Day"})
    assert closed.status_code == 201
    assert closed.json["closed"] is True and closed.json["opens"] is None
    short = world.post(url, "mgr_n", json={"day": "2030-10-02", "opens": "12:00",
                                           "closes": "17:00"})
    assert short.json == {**short.json, "closed": False, "opens": "12:00", "closes": "17:00"}
    # replacing the same day keeps one row
    again = world.post(url, "mgr_n", json={"day": "2030-10-02", "name": "Half day",
                                           "opens": "12:00", "closes": "16:00"})
    assert again.json["id"] == short.json["id"] and again.json["closes"] == "16:00"
    listed = world.get(url).json
    assert [h["day"] for h in listed["items"]] == ["2030-10-01", "2030-10-02"]
    assert world.get(url + "?date_from=2030-10-02").json["total"] == 1
    assert "date_to" in errors_of(world.get(url + "?date_to=tomorrow"))

    assert world.delete(url + "/2030-10-01", "mgr_s").status_code == 403
    assert "day" in errors_of(world.delete(url + "/2030-99-01", "mgr_n"))
    assert "day" in errors_of(world.delete(url + "/2030-10-1", "mgr_n"))
    assert "day" in errors_of(world.delete(url + "/9999-12-31", "mgr_n"))
    assert world.delete(url + "/2030-10-01", "mgr_n").status_code == 204
    assert world.delete(url + "/2030-10-01", "mgr_n").status_code == 404
    assert world.get(url).json["total"] == 1


LISTS = ("/api/v1/stores", "/api/v1/services", "/api/v1/service-categories", "/api/v1/staff",
         "/api/v1/customers", "/api/v1/audit", "/api/v1/stores/{north}/holidays",
         "/api/v1/customers/{bo_customer}/notes", "/api/v1/customers/{bo_customer}/bookings",
         "/api/v1/staff/{ann}/time-off")


def test_pagination_bounds_on_every_list(world: World) -> None:
    for template in LISTS:
        url = template.format(**world.ids)
        ok = world.get(url, "owner")
        assert ok.status_code == 200, (url, ok.json)
        assert set(ok.json) == {"items", "page", "per_page", "total"}
        assert "X-Pagination" not in ok.headers
        for query, field in (("per_page=0", "per_page"), ("per_page=101", "per_page"),
                             ("page=0", "page"), ("page=10001", "page"), ("page=-1", "page"),
                             ("page=1.5", "page"), ("per_page=" + "9" * 5000, "per_page")):
            assert field in errors_of(world.get(f"{url}?{query}", "owner")), (url, query)
        assert world.get(f"{url}?page=10000&per_page=100", "owner").json["items"] == []


ITEM_PATHS = ("/api/v1/stores/{}", "/api/v1/stores/{}/hours", "/api/v1/stores/{}/holidays",
              "/api/v1/services/{}", "/api/v1/service-categories/{}", "/api/v1/staff/{}",
              "/api/v1/staff/{}/time-off", "/api/v1/customers/{}", "/api/v1/customers/{}/notes",
              "/api/v1/customers/{}/bookings", "/api/v1/services/1/stores/{}",
              "/api/v1/staff/1/time-off/{}/approve")


def test_huge_and_missing_ids_are_404_never_500(world: World) -> None:
    for template in ITEM_PATHS:
        for value in HUGE_PATHS:  # the route does not match
            resp = world.get(template.format(value), "owner")
            assert resp.status_code in (404, 405), (template, value, resp.status_code)
            assert resp.mimetype == "application/problem+json"
    for value in HUGE_PATHS:  # werkzeug answers 405 if another method's rule would match
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for template in ("/api/v1/stores/{}", "/api/v1/customers/{}/tags/vip"):
                resp = world.call(method, template.format(value), "owner", json={})
                assert resp.status_code in (404, 405), (template, value, method)
        for who in ("owner", None):  # the largest id: a real lookup that finds nothing
            resp = world.get(template.format(2**31 - 1), who)
            assert resp.status_code in (401, 404, 405), (template, who, resp.status_code)
    for url in (f"/api/v1/services?store_id={2**40}", "/api/v1/services?store_id=0",
                "/api/v1/staff?service_id=-3", "/api/v1/services?category_id=1e3",
                f"/api/v1/staff?store_id={'9' * 5000}", f"/api/v1/audit?actor_user_id={2**31}",
                f"/api/v1/staff/{world.ids['ann']}/availability?store_id={2**31}"):
        errors = errors_of(world.get(url, "owner"))
        assert set(errors) in ({"store_id"}, {"service_id"}, {"category_id"},
                               {"actor_user_id"}), (url, errors)
    body = {"code": "x1", "name": "X", "timezone": "UTC", "hours": "mon 09:00-10:00"}
    assert world.post("/api/v1/stores", "owner", json={**body, "slot_step_min": 2**70}
                      ).status_code == 422


def test_openapi_lists_the_resource_paths(world: World) -> None:
    doc = world.get("/api/v1/openapi.json").json
    paths = doc["paths"]
    expected = {
        "/api/v1/me": {"get"},
        "/api/v1/stores": {"get", "post"},
        "/api/v1/stores/{store_id}": {"get", "patch"},
        "/api/v1/stores/{store_id}/hours": {"get", "put"},
        "/api/v1/stores/{store_id}/holidays": {"get", "post"},
        "/api/v1/stores/{store_id}/holidays/{day}": {"delete"},
        "/api/v1/service-categories": {"get", "post"},
        "/api/v1/service-categories/{category_id}": {"patch"},
        "/api/v1/services": {"get", "post"},
        "/api/v1/services/{service_id}": {"get", "patch"},
        "/api/v1/services/{service_id}/{action}": {"post"},
        "/api/v1/services/{service_id}/stores/{store_id}": {"put", "delete"},
        "/api/v1/staff": {"get", "post"},
        "/api/v1/staff/{staff_id}": {"get", "patch"},
        "/api/v1/staff/{staff_id}/services": {"put"},
        "/api/v1/staff/{staff_id}/availability": {"get", "put"},
        "/api/v1/staff/{staff_id}/overrides": {"post"},
        "/api/v1/staff/{staff_id}/time-off": {"get", "post"},
        "/api/v1/staff/{staff_id}/time-off/{time_off_id}/{action}": {"post"},
        "/api/v1/customers": {"get", "post"},
        "/api/v1/customers/{customer_id}": {"get", "patch"},
        "/api/v1/customers/{customer_id}/tags/{tag}": {"post", "delete"},
        "/api/v1/customers/{customer_id}/notes": {"get", "post"},
        "/api/v1/customers/{customer_id}/bookings": {"get"},
        "/api/v1/audit": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    store_param = paths["/api/v1/stores/{store_id}"]["parameters"][0]
    assert store_param["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    query = {p["name"]: p for p in paths["/api/v1/stores"]["get"]["parameters"]}
    assert query["per_page"]["schema"]["maximum"] == 100
    assert query["page"]["schema"]["maximum"] == 10000
    page = doc["components"]["schemas"]["StorePage"]["properties"]
    assert set(page) == {"items", "page", "per_page", "total"}
