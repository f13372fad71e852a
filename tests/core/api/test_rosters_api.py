"""Rosters over HTTP: a store manager generates, reads, adjusts and publishes a week;
front desks only read it, managers of other stores cannot even see it; availability follows the
published roster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import Roster
from core.models.system import AuditEntry
from core.org.stores import create_store
from core.scheduling.schedules import add_coverage
from tests.core.factories import (
    add_person,
    bearer,
    iso_week,
    make_shop,
    make_user,
    next_monday,
    token_for,
)

PROBLEM = "application/problem+json"
H = 60


@dataclass
class World:
    app: Any
    client: Any
    store_id: int
    other_store_id: int
    service_id: int
    ann: int
    bea: int
    monday: date
    week: str
    tokens: dict[str, str]
    users: dict[str, int]

    def url(self, tail: str = "", store_id: int | None = None, week: str | None = None
            ) -> str:
        return (f"/api/v1/stores/{store_id or self.store_id}/rosters/{week or self.week}"
                f"{tail}")

    def call(self, method: str, who: str | None, tail: str = "", **kw: Any) -> Any:
        headers = {**(bearer(self.tokens[who]) if who else {}), **kw.pop("headers", {})}
        return self.client.open(self.url(tail, kw.pop("store_id", None),
                                         kw.pop("week", None)),
                                method=method, headers=headers, **kw)


@pytest.fixture
def world(app: Any) -> World:
    with app.app_context():
        shop = make_shop()
        bea = add_person("Bea", "bea@example.com", ["main"], [shop.service])
        north = create_store({"code": "north", "name": "North", "timezone": "Asia/Shanghai"},
                             hours="mon-sun 09:00-21:00")
        add_coverage("main", "mon-fri 10:00-18:00", 1)
        users = {
            "manager": make_user("boss@example.com", "store_manager", ["main"]),
            "owner": make_user("owner@example.com", "owner"),
            "desk": make_user("desk@example.com", "front_desk", ["main"]),
            "manager_north": make_user("boss@north.example.com", "store_manager", ["north"]),
        }
        monday = next_monday(shop.store)
        return World(app=app, client=app.test_client(), store_id=shop.store.id,
                     other_store_id=north.id, service_id=shop.service.id,
                     ann=shop.staff.id, bea=bea.id, monday=monday, week=iso_week(monday),
                     tokens={name: token_for(user) for name, user in users.items()},
                     users={name: user.id for name, user in users.items()})


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    return body


def _slot_starts(world: World, day: date, staff_id: int | None = None) -> list[str]:
    query = {"service_id": world.service_id, "date_from": day.isoformat(),
             "date_to": day.isoformat()}
    if staff_id:
        query["staff_id"] = staff_id
    response = world.client.get(f"/api/v1/stores/{world.store_id}/availability",
                                query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [s["start"][11:16] for s in response.get_json()["slots"]]


def test_manager_generates_reads_adjusts_and_publishes(world: World) -> None:
    _problem(world.call("GET", "manager"), 404)  # nothing generated yet
    response = world.call("POST", "manager", "/generate", json={})
    assert response.status_code == 200, response.get_data(as_text=True)
    roster = response.get_json()
    assert (roster["status"], roster["week_start"], roster["store_id"]) == (
        "draft", world.monday.isoformat(), world.store_id)
    assert roster["gaps"] == []
    assert roster["shifts"]
    assert {s["staff_id"] for s in roster["shifts"]} <= {world.ann, world.bea}
    assert all(600 <= s["start_min"] < s["end_min"] <= 1080 for s in roster["shifts"])
    assert world.call("GET", "manager").get_json() == roster

    # Remove Monday's cover: a gap with an explanation in words.
    for shift in [s for s in roster["shifts"] if s["day"] == world.monday.isoformat()]:
        response = world.call("PUT", "manager", "/shifts", json={
            "staff_id": shift["staff_id"], "day": shift["day"], "start_min": None})
        assert response.status_code == 200, response.get_data(as_text=True)
    gaps = response.get_json()["gaps"]
    assert [(g["day"], g["start"], g["end"], g["required"], g["scheduled"]) for g in gaps] == [
        (0, 10 * H, 18 * H, 1, 0)]
    assert gaps[0]["explanation"].startswith("Mon 10:00-18:00 needs 1, 0 scheduled")
    zh = world.call("GET", "manager", headers={"Accept-Language": "zh-CN"})
    assert zh.get_json()["gaps"][0]["explanation"].startswith("周一 10:00-18:00 需要 1 人")

    # Ann takes 12:00-16:00 on Monday; publish; availability follows the roster.
    response = world.call("PUT", "manager", "/shifts", json={
        "staff_id": world.ann, "day": world.monday.isoformat(), "start_min": 12 * H,
        "end_min": 16 * H})
    assert response.status_code == 200
    assert [(g["start"], g["end"]) for g in response.get_json()["gaps"]] == [
        (10 * H, 12 * H), (16 * H, 18 * H)]
    assert _slot_starts(world, world.monday)[0] == "09:00"  # still a draft
    response = world.call("POST", "manager", "/publish")
    assert response.status_code == 200
    assert response.get_json()["status"] == "published"
    starts = _slot_starts(world, world.monday)
    assert starts[0] == "12:00" and starts[-1] == "14:45"
    assert _slot_starts(world, world.monday, world.bea) == []
    assert _slot_starts(world, world.monday + timedelta(days=5)) == []  # weekend: no shifts
    with world.app.app_context():
        assert db.session.get(Roster, roster["id"]).status == "published"
        # Every write is attributed to the manager in the audit log.
        actors = {(e.action, e.actor_user_id, e.actor) for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == "rosters"))}
        manager = world.users["manager"]
        assert actors == {("create", manager, f"user:{manager}"),
                          ("update", manager, f"user:{manager}")}


def test_who_may_manage_rosters(world: World) -> None:
    # Front desks read the roster (who is on today) but may not manage it.
    _problem(world.call("POST", "desk", "/generate", json={}), 403)
    with world.app.app_context():
        assert db.session.query(Roster).count() == 0
    world.call("POST", "manager", "/generate", json={})
    resp = world.call("GET", "desk")
    assert resp.status_code == 200 and resp.json["status"] == "draft"
    _problem(world.call("PUT", "desk", "/shifts", json={
        "staff_id": world.ann, "day": world.monday.isoformat(), "start_min": None}), 403)
    _problem(world.call("POST", "desk", "/publish"), 403)
    with world.app.app_context():
        assert db.session.query(Roster).one().status == "draft"
    # A manager of another store does not even see it.
    for method, tail, body in (("POST", "/generate", {}), ("GET", "", None),
                               ("PUT", "/shifts", {"staff_id": world.ann,
                                                   "day": world.monday.isoformat(),
                                                   "start_min": None}),
                               ("POST", "/publish", None)):
        _problem(world.call(method, "manager_north", tail, json=body), 404)
    with world.app.app_context():
        assert db.session.query(Roster).one().status == "draft"
    # ...and their own store is theirs.
    response = world.call("POST", "manager_north", "/generate", json={},
                          store_id=world.other_store_id)
    assert response.status_code == 200
    # The owner may manage every store.
    response = world.call("POST", "owner", "/generate", json={"publish": True})
    assert response.status_code == 200
    assert response.get_json()["status"] == "published"


def test_bad_input_is_404_or_422_never_500(world: World) -> None:
    for store_id in (999999, 2**31, 10**20):
        response = world.call("POST", "owner", "/generate", json={}, store_id=store_id)
        assert response.status_code == 404, (store_id, response.status_code)
    # Bad weeks are 422.
    for week in ("2026-49", "2026-W54", "W10", "next-week", "2026-W00"):
        problem = _problem(world.call("POST", "manager", "/generate", json={}, week=week), 422)
        assert "week" in problem["errors"], week
        _problem(world.call("GET", "manager", week=week), 422)
    # Bad shift bodies are 422.
    world.call("POST", "manager", "/generate", json={})
    outside = (world.monday + timedelta(days=7)).isoformat()
    for body, field in (
        ({"staff_id": world.ann, "day": outside, "start_min": 600, "end_min": 700}, "day"),
        ({"staff_id": world.ann, "day": world.monday.isoformat(), "start_min": 700,
          "end_min": 600}, "end_min"),
        ({"staff_id": world.ann, "day": world.monday.isoformat(), "start_min": 600,
          "end_min": 2000}, "end_min"),
        ({"day": world.monday.isoformat(), "start_min": None}, "staff_id"),
        ({"staff_id": 2**40, "day": world.monday.isoformat()}, "staff_id"),
        ({"staff_id": world.ann, "day": "monday"}, "day"),
    ):
        problem = _problem(world.call("PUT", "manager", "/shifts", json=body), 422)
        assert field in problem["errors"], (body, problem)
    # Anonymous callers: 401.
    _problem(world.call("POST", None, "/generate", json={}), 401)
    _problem(world.call("GET", None), 401)
