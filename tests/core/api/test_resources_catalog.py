"""Service categories, services, publishing and per-store prices over the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.models import AuditEntry, Service, ServiceCategory, StoreServiceOffer
from tests.core.api.resources_world import BACKENDS, World, errors_of, world_fixture


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def test_unpublished_services_are_seen_only_by_their_managers(world: World) -> None:
    ids = world.ids
    cut, secret = f"/api/v1/services/{ids['cut']}", f"/api/v1/services/{ids['secret']}"
    anon = world.get("/api/v1/services").json
    assert [s["name"] for s in anon["items"]] == ["Cut"]
    item = anon["items"][0]
    assert item["price"] == 12800 and item["currency"] == "CNY" and item["category"] == "Hair"
    assert item["offers"] == [{"store_id": ids["north"], "price_override": None,
                               "price": 12800}]
    for who in (None, "bo", "ann", "bob", "mgr_n", "desk_n"):
        assert world.get(secret, who).status_code == 404, who
        names = [s["name"] for s in world.get("/api/v1/services", who).json["items"]]
        assert names == ["Cut"], who
    for who in ("mgr_s", "owner"):
        assert world.get(secret, who).json["published"] is False
    assert world.get("/api/v1/services?published=false", "mgr_s").json["total"] == 1
    assert world.get("/api/v1/services?published=false").json["total"] == 0
    assert world.get(cut).json["name"] == "Cut"
    # filters
    north = world.get(f"/api/v1/services?store_id={ids['north']}").json
    assert [s["id"] for s in north["items"]] == [ids["cut"]]
    assert world.get(f"/api/v1/services?store_id={ids['south']}").json["total"] == 0
    assert world.get(f"/api/v1/services?store_id={ids['east']}").status_code == 404
    assert world.get(f"/api/v1/services?category_id={ids['hair']}&q=cu").json["total"] == 1
    assert world.get("/api/v1/services?category_id=999").json["total"] == 0
    assert "published" in errors_of(world.get("/api/v1/services?published=maybe"))


def test_service_create_update_and_publish(world: World) -> None:
    ids = world.ids
    body = {"name": "Colour", "duration_min": 90, "price": 39900, "category_id": ids["hair"],
            "store_ids": [ids["north"], ids["south"]], "buffer_after_min": 10}
    before = world.count(Service)
    assert world.post("/api/v1/services", json=body).status_code == 401
    for who in ("mgr_n", "desk_n", "ann", "bo"):
        assert world.post("/api/v1/services", who, json=body).status_code == 403, who
    for bad, field in (({"price": 1.5}, "price"), ({"price": 2.589e-42}, "price"),
                       ({"price": -1}, "price"), ({"price": True}, "price"),
                       ({"price": "12a"}, "price"), ({"price": 10**14}, "price"),
                       ({"price": "39900"}, "price"), ({"price": 39900.0}, "price"),
                       ({"duration_min": 3}, "duration_min"),
                       ({"duration_min": 60.0}, "duration_min"),
                       ({"category_id": 2**31}, "category_id"),
                       ({"store_ids": []}, "store_ids"),
                       ({"name": " "}, "name"), ({"image_url": "x" * 501}, "image_url")):
        errors = errors_of(world.post("/api/v1/services", "owner", json={**body, **bad}))
        assert field in errors, (bad, errors)
    for bad, field in (({"category_id": 999}, "category_id"), ({"store_ids": [999]}, "store_ids")):
        unknown = world.post("/api/v1/services", "owner", json={**body, **bad})  # state: 404
        assert unknown.status_code == 404 and field in unknown.json["errors"], bad
    assert world.count(Service) == before

    resp = world.post("/api/v1/services", "owner", json={**body, "price": 39900})
    assert resp.status_code == 201, resp.json
    made = resp.json
    assert made["price"] == 39900 and made["category"] == "Hair" and made["published"] is True
    assert [o["store_id"] for o in made["offers"]] == [ids["north"], ids["south"]]
    url = f"/api/v1/services/{made['id']}"

    assert world.patch(url, "mgr_n", json={"name": "Nope"}).status_code == 403
    assert world.patch(url, json={"name": "Nope"}).status_code == 401
    assert "price" in errors_of(world.patch(url, "owner", json={"price": 0.5}))
    assert world.patch(url, "owner", json={}).status_code == 422
    changed = world.patch(url, "owner", json={"name": "Colour & gloss", "price": 45000,
                                              "category_id": None, "image_url": None})
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Colour & gloss" and changed.json["category_id"] is None
    assert changed.json["price"] == 45000
    # a per-service override of the store's policy is set, then cleared with null
    assert world.patch(url, "owner", json={"no_show_fee_percent": 50}).status_code == 200
    with world.app.app_context():
        from core.extensions import db

        assert db.session.get(Service, made["id"]).no_show_fee_percent == 50
    cleared = world.patch(url, "owner", json={"no_show_fee_percent": None})
    assert cleared.status_code == 200, cleared.json
    with world.app.app_context():
        assert db.session.get(Service, made["id"]).no_show_fee_percent is None

    assert world.post(url + "/unpublish", "mgr_n").status_code == 403
    assert world.post(url + "/unpublish", "owner").json["published"] is False
    assert world.get(url).status_code == 404
    assert world.get(url, "mgr_n").status_code == 200  # offered at their store
    assert world.post(url + "/publish", "owner").json["published"] is True
    assert world.get(url).status_code == 200
    assert world.post(url + "/archive", "owner").status_code == 404
    with world.app.app_context():
        from core.extensions import db

        actors = {e.actor for e in db.session.query(AuditEntry).filter_by(
            entity_type="services", entity_id=str(made["id"]))}
        assert actors == {f"user:{ids['user_owner']}"}


def test_store_price_override(world: World) -> None:
    ids = world.ids
    url = f"/api/v1/services/{ids['cut']}/stores/{ids['north']}"
    assert world.put(url, json={"price_override": 15000}).status_code == 401
    for who in ("desk_n", "mgr_s", "ann", "bo"):
        assert world.put(url, who, json={"price_override": 15000}).status_code == 403, who
    assert world.put(f"/api/v1/services/{ids['cut']}/stores/{ids['east']}", "mgr_n",
                     json={}).status_code == 404
    assert world.put(f"/api/v1/services/{ids['secret']}/stores/{ids['north']}", "mgr_n",
                     json={}).status_code == 404  # unpublished, not theirs
    for bad in (-5, 1.5, "x", True):
        assert "price_override" in errors_of(world.put(url, "mgr_n",
                                                       json={"price_override": bad}))
    resp = world.put(url, "mgr_n", json={"price_override": 15000})
    assert resp.status_code == 200
    assert resp.json["offers"] == [{"store_id": ids["north"], "price_override": 15000,
                                    "price": 15000}]
    # a new offer at south by its manager, at the base price
    south = f"/api/v1/services/{ids['cut']}/stores/{ids['south']}"
    offers = world.put(south, "mgr_s", json={}).json["offers"]
    assert [(o["store_id"], o["price"]) for o in offers] == [(ids["north"], 15000),
                                                            (ids["south"], 12800)]
    assert world.delete(south, "mgr_n").status_code == 403
    assert world.delete(south, "mgr_s").status_code == 204
    assert world.delete(south, "mgr_s").status_code == 404
    assert world.count(StoreServiceOffer) == 2  # cut@north, secret@south


def test_categories(world: World) -> None:
    listed = world.get("/api/v1/service-categories").json
    assert [c["name"] for c in listed["items"]] == ["Hair"] and listed["total"] == 1
    assert world.post("/api/v1/service-categories", json={"name": "Nails"}).status_code == 401
    assert world.post("/api/v1/service-categories", "mgr_n",
                      json={"name": "Nails"}).status_code == 403
    assert "name" in errors_of(world.post("/api/v1/service-categories", "owner",
                                          json={"name": ""}))
    assert "position" in errors_of(world.post("/api/v1/service-categories", "owner",
                                              json={"name": "Nails", "position": -1}))
    made = world.post("/api/v1/service-categories", "owner",
                      json={"name": "Nails", "position": -0})
    assert made.status_code == 201
    dup = world.post("/api/v1/service-categories", "owner", json={"name": "Nails"})
    assert dup.status_code == 409 and "name" in dup.json["errors"]
    url = f"/api/v1/service-categories/{made.json['id']}"
    assert world.patch(url, "mgr_n", json={"name": "Nail art"}).status_code == 403
    assert world.patch(url, "owner", json={"name": "Hair"}).status_code == 409
    assert world.patch(url, "owner", json={"name": "Nail art", "position": 2}
                       ).json == {"id": made.json["id"], "name": "Nail art", "position": 2}
    assert world.patch("/api/v1/service-categories/999", "owner",
                       json={"name": "X"}).status_code == 404
    assert world.count(ServiceCategory) == 2
