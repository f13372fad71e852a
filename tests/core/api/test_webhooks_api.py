"""The webhooks API: owner and brand admins only, validation as problem+json, the
delivery log and replay, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core import jobs
from core.auth.tokens import issue_token
from core.extensions import db
from core.models import AuditEntry, WebhookDelivery, WebhookSubscription
from tests.core.factories import make_shop, make_user
from tests.core.test_webhooks import LOOPBACK_ALLOWED, Receiver, receiver  # noqa: F401

PROBLEM = "application/problem+json"


@pytest.fixture
def app(make_app: Any) -> Any:
    """The test app, allowed to post to the receivers on loopback (refused by default)."""
    return make_app(FULIAN_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK_ALLOWED)


@pytest.fixture
def env(app: Any) -> dict[str, Any]:
    """Data made in its own app context: requests must not share the test's ``g`` or
    session (a pushed app context would be reused by the test client)."""
    with app.app_context():
        shop = make_shop()
        tokens = {}
        for role, stores in (("owner", None), ("brand_admin", None),
                             ("store_manager", [shop.store.code]),
                             ("front_desk", [shop.store.code])):
            user = make_user(f"{role}@example.com", role, stores)
            tokens[role] = issue_token(user)[0]
        shop_ids = {"store_id": shop.store.id, "service_id": shop.service.id,
                    "staff_id": shop.staff.id, "start_at": shop.start.isoformat()}
    return {"app": app, "client": app.test_client(), "shop": shop_ids, "tokens": tokens}


def _h(env: dict[str, Any], role: str | None = "owner") -> dict[str, str]:
    return {"Authorization": f"Bearer {env['tokens'][role]}"} if role else {}


def _create(env: dict[str, Any], url: str = "https://example.com/hook",
            events: list[str] | None = None, role: str = "owner") -> Any:
    return env["client"].post("/api/v1/webhooks", headers=_h(env, role),
                              json={"url": url, "events": events or ["booking.created"]})


def test_anonymous_is_401_and_other_roles_403(env: dict[str, Any]) -> None:
    client = env["client"]
    created = _create(env).json
    calls = [("get", "/api/v1/webhooks", None),
             ("post", "/api/v1/webhooks", {"url": "https://example.com/x",
                                          "events": ["*"]}),
             ("delete", f"/api/v1/webhooks/{created['id']}", None),
             ("get", f"/api/v1/webhooks/{created['id']}/deliveries", None),
             ("post", "/api/v1/webhooks/deliveries/1/replay", None)]
    for method, url, body in calls:
        resp = getattr(client, method)(url, json=body)
        assert resp.status_code == 401, (method, url)
        assert resp.mimetype == PROBLEM
        for role in ("store_manager", "front_desk"):
            resp = getattr(client, method)(url, json=body, headers=_h(env, role))
            assert resp.status_code == 403, (role, method, url, resp.get_data(as_text=True))
            assert resp.mimetype == PROBLEM
            assert resp.json["status"] == 403
    with env["app"].app_context():
        assert db.session.scalar(select(WebhookSubscription.active)) is True  # untouched


@pytest.mark.parametrize("role", ["owner", "brand_admin"])
def test_create_shows_the_secret_once_then_lists_without_it(env: dict[str, Any],
                                                            role: str) -> None:
    resp = _create(env, "http://127.0.0.1:9/x", ["booking.created", "customer.created"],
                   role=role)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.json
    assert len(body["secret"]) == 64
    assert body["url"] == "http://127.0.0.1:9/x"
    assert body["events"] == ["booking.created", "customer.created"]
    assert body["active"] is True
    listed = env["client"].get("/api/v1/webhooks", headers=_h(env, role))
    assert listed.status_code == 200
    assert listed.json == [{k: v for k, v in body.items() if k != "secret"}]
    assert body["secret"] not in listed.get_data(as_text=True)
    with env["app"].app_context():
        entry = db.session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "webhook_subscriptions")).one()
        assert entry.actor.startswith("user:")
        assert body["secret"] not in str(entry.after)  # the audit log never holds it


def test_own_secret_can_be_given(env: dict[str, Any]) -> None:
    resp = env["client"].post("/api/v1/webhooks", headers=_h(env), json={
        "url": "https://example.com/hook", "events": ["*"], "secret": "a-secret-of-20-chars"})
    assert resp.status_code == 201
    assert resp.json["secret"] == "a-secret-of-20-chars"


INVALID = [
    ({"url": "ftp://example.com/x", "events": ["booking.created"]}, "url"),
    ({"url": "javascript:alert(1)", "events": ["booking.created"]}, "url"),
    ({"url": "https://", "events": ["booking.created"]}, "url"),
    ({"events": ["booking.created"]}, "url"),
    ({"url": "https://example.com/x", "events": ["booking.exploded"]}, "events"),
    ({"url": "https://example.com/x", "events": []}, "events"),
    ({"url": "https://example.com/x", "events": "booking.created"}, "events"),
    ({"url": "https://example.com/x"}, "events"),
    ({"url": "https://example.com/x", "events": ["*"], "secret": "tiny"}, "secret"),
]


def test_invalid_input_is_422_problem(env: dict[str, Any]) -> None:
    for body, field in INVALID:
        resp = env["client"].post("/api/v1/webhooks", headers=_h(env), json=body)
        assert resp.status_code == 422, (body, resp.get_data(as_text=True))
        assert resp.mimetype == PROBLEM
        assert resp.json["status"] == 422
        assert field in resp.json["errors"], resp.json
    assert env["client"].get("/api/v1/webhooks", headers=_h(env)).json == []


def test_delete_deactivates_and_keeps_the_log(env: dict[str, Any]) -> None:
    sub = _create(env).json
    client = env["client"]
    assert client.delete(f"/api/v1/webhooks/{sub['id']}", headers=_h(env)).status_code == 204
    assert client.delete(f"/api/v1/webhooks/{sub['id']}", headers=_h(env)).status_code == 204
    [listed] = client.get("/api/v1/webhooks", headers=_h(env)).json
    assert listed["active"] is False
    resp = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=_h(env))
    assert resp.status_code == 200 and resp.json == []
    for url in ("/api/v1/webhooks/999", f"/api/v1/webhooks/{2**31}", "/api/v1/webhooks/0",
                "/api/v1/webhooks/" + "9" * 40):
        resp = client.delete(url, headers=_h(env))
        assert resp.status_code == 404, url
        assert resp.mimetype == PROBLEM


def test_delivery_log_and_replay(env: dict[str, Any], receiver: Receiver) -> None:  # noqa: F811
    client, app, shop = env["client"], env["app"], env["shop"]
    sub = _create(env, receiver.url(), ["booking.created"]).json
    receiver.fail_first = 1
    booked = client.post("/api/v1/bookings", headers=_h(env), json={
        **shop, "customer": {"phone": "13800000001"}, "source": "phone"})
    assert booked.status_code == 201, booked.get_data(as_text=True)
    log = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=_h(env)).json
    assert [(d["event"], d["status"], d["attempts"]) for d in log] == [
        ("booking.created", "pending", 0)]
    jobs.run_pending(app)
    [entry] = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=_h(env)).json
    assert (entry["status"], entry["attempts"], entry["last_status_code"]) == (
        "pending", 1, 500)
    assert entry["last_error"] == "HTTP 500 Internal Server Error"  # not the body
    assert entry["next_attempt_at"] is not None
    assert entry["delivery_id"] == entry["payload"]["id"] == \
        receiver.requests[0].headers["X-Fulian-Delivery"]
    assert entry["payload"]["data"]["id"] == booked.json["id"]
    assert entry["payload"]["data"]["store_id"] == shop["store_id"]

    resp = client.post(f"/api/v1/webhooks/deliveries/{entry['id']}/replay", headers=_h(env))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.json["status"] == "pending"
    jobs.run_pending(app)
    assert len(receiver.requests) == 2
    [entry] = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries?limit=5",
                         headers=_h(env)).json
    assert (entry["status"], entry["attempts"], entry["last_status_code"]) == (
        "delivered", 2, 200)
    assert entry["delivered_at"] is not None

    bad = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries?limit=0", headers=_h(env))
    assert bad.status_code == 422 and bad.mimetype == PROBLEM
    assert client.post("/api/v1/webhooks/deliveries/999/replay",
                       headers=_h(env)).status_code == 404
    assert client.get("/api/v1/webhooks/999/deliveries", headers=_h(env)).status_code == 404
    client.delete(f"/api/v1/webhooks/{sub['id']}", headers=_h(env))
    resp = client.post(f"/api/v1/webhooks/deliveries/{entry['id']}/replay", headers=_h(env))
    assert resp.status_code == 409 and resp.mimetype == PROBLEM


def test_openapi_documents_the_endpoints(env: dict[str, Any]) -> None:
    spec = env["client"].get("/api/v1/openapi.json").json
    paths = spec["paths"]
    assert "/api/v1/webhooks" in paths
    assert set(paths["/api/v1/webhooks"]) >= {"get", "post"}
    assert any(p.endswith("/replay") for p in paths)


def test_targets_that_are_not_public_are_422_on_url(env: dict[str, Any]) -> None:
    for url in ("http://10.0.0.5/hook", "http://169.254.169.254/latest/meta-data/",
                "http://[::1]/hook", "http://localhost/hook",
                "http://metadata.google.internal/"):
        resp = _create(env, url)
        assert resp.status_code == 422, (url, resp.get_data(as_text=True))
        assert resp.mimetype == PROBLEM
        assert list(resp.json["errors"]) == ["url"], resp.json
    assert env["client"].get("/api/v1/webhooks", headers=_h(env)).json == []
    env["app"].config["FULIAN_WEBHOOK_ALLOWED_NETWORKS"] = ["10.0.0.0/8"]
    assert _create(env, "http://10.0.0.5/hook").status_code == 201


def test_the_delivery_log_never_shows_a_response_body(env: dict[str, Any]) -> None:
    """Rows written by older releases kept an excerpt of the receiver's answer."""
    sub = _create(env).json
    with env["app"].app_context():
        db.session.add(WebhookDelivery(subscription_id=sub["id"], event="booking.created",
                                       payload={"id": "x"}, status="failed", attempts=8,
                                       last_status_code=500,
                                       last_error="HTTP 500: <html>internal admin</html>"))
        db.session.commit()
    [entry] = env["client"].get(f"/api/v1/webhooks/{sub['id']}/deliveries",
                                headers=_h(env)).json
    assert entry["last_error"] == "HTTP 500"
