"""The audit log endpoint: brand roles only, filters, newest first, and API writes
attributed to the calling user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.core.api.resources_world import BACKENDS, World, errors_of, world_fixture


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def test_audit_log_filters_and_attribution(world: World) -> None:
    ids = world.ids
    assert world.get("/api/v1/audit").status_code == 401
    for who in ("mgr_n", "desk_n", "ann", "bo"):
        assert world.get("/api/v1/audit", who).status_code == 403, who

    start = datetime.now(UTC)
    north = f"/api/v1/stores/{ids['north']}"
    assert world.patch(north, "mgr_n", json={"name": "North 2"}).status_code == 200
    assert world.post(f"/api/v1/customers/{ids['cy']}/notes", "desk_n",
                      json={"body": "hello"}).status_code == 201

    everything = world.get("/api/v1/audit?per_page=100", "owner").json
    assert everything["total"] > 10
    seen = [e["id"] for e in everything["items"]]
    assert seen == sorted(seen, reverse=True)  # newest first
    assert {e["actor"] for e in everything["items"]} >= {"test", f"user:{ids['user_mgr_n']}"}

    store = world.get(f"/api/v1/audit?entity_type=stores&entity_id={ids['north']}",
                      "owner").json
    latest = store["items"][0]
    assert latest["action"] == "update" and latest["actor_user_id"] == ids["user_mgr_n"]
    assert latest["before"] == {"name": "Store north"} and latest["after"] == {"name": "North 2"}

    mine = world.get(f"/api/v1/audit?actor_user_id={ids['user_desk_n']}", "owner").json
    assert [(e["entity_type"], e["action"]) for e in mine["items"]] == [
        ("customer_notes", "create")]
    since = quote(start.isoformat())
    recent = world.get(f"/api/v1/audit?since={since}", "owner").json
    assert recent["total"] == 2
    assert world.get(f"/api/v1/audit?until={since}", "owner").json["total"] == \
        everything["total"] - 2

    for query, field in (("since=yesterday", "since"), ("since=2030-01-01T00:00:00", "since"),
                         (f"since={since}&until={since}", "until"),
                         ("actor_user_id=0", "actor_user_id"),
                         ("until=9999-12-31T23:59:59-12:00", "until"),
                         ("since=0001-01-01T00:00:00%2B14:00", "since"),
                         ("entity_type=" + "x" * 65, "entity_type")):
        assert field in errors_of(world.get(f"/api/v1/audit?{query}", "owner")), query
