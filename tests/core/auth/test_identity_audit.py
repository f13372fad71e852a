"""The audit trail of identity events: logins (page and API, password and SMS code),
failed logins (written although the login's transaction rolls back, with the identifier
masked), logouts, SMS code requests and ended sessions, each with the client address;
role changes carry the acting user and the address too; no password or code ever
reaches an audit row."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from core.audit import mask_login, record_event
from core.extensions import db
from core.models import AuditEntry, SmsMessage
from core.org.stores import create_store
from core.org.users import revoke_role
from tests.core.auth.test_sessions import OWNER, csrf, page_login, page_logout
from tests.core.factories import PASSWORD, bearer, make_user

PHONE = "13900001111"
WRONG = "Wrong-Secret-Passw0rd"
CLIENT = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def owner(app: Any) -> int:
    with app.app_context():
        return make_user(OWNER, "owner").id


def auth_events(app: Any, action: str | None = None) -> list[AuditEntry]:
    with app.app_context():
        query = select(AuditEntry).where(AuditEntry.entity_type == "auth")
        if action:
            query = query.where(AuditEntry.action == action)
        found = list(db.session.scalars(query.order_by(AuditEntry.id)))
        for row in found:
            db.session.expunge(row)
        return found


def everything_audited(app: Any) -> str:
    with app.app_context():
        return json.dumps([[r.before, r.after, r.entity_id, r.actor]
                           for r in db.session.scalars(select(AuditEntry))])


def last_code(app: Any, phone: str = PHONE) -> str:
    with app.app_context():
        text = db.session.scalars(select(SmsMessage.text).order_by(SmsMessage.id.desc())
                                  ).first()
    return re.search(r"\b(\d{6})\b", text).group(1)


def test_masking_keeps_only_what_an_auditor_needs() -> None:
    assert mask_login("Alice.Wong@Example.com") == "A***@Example.com"
    assert mask_login(" 13900001111 ") == "***1111"
    assert mask_login("+86 139-0000-1111") == "***1111"
    assert mask_login("hunter2-typed-in-the-login-box") == "***"
    assert mask_login("") == "" and mask_login(None) == ""


def test_unknown_events_are_refused(ctx) -> None:
    with pytest.raises(ValueError):
        record_event("coffee_break")


def test_page_login_failure_and_logout_are_audited_with_the_address(app, owner):
    client = app.test_client()
    client.environ_base.update(CLIENT)
    assert page_login(client, OWNER, WRONG).status_code == 422
    assert page_login(client).status_code == 302
    assert page_logout(client).status_code == 302
    failed, login, logout = auth_events(app)
    assert failed.action == "login_failed" and failed.entity_id == str(owner)
    assert failed.after == {"channel": "web", "method": "password", "login": "o***@example.com",
                            "reason": "refused"}
    assert login.action == "login" and login.entity_id == str(owner)
    assert login.actor == f"user:{owner}" and login.actor_user_id == owner
    assert login.after == {"channel": "web", "method": "password"}
    assert logout.action == "logout" and logout.actor == f"user:{owner}"
    assert {e.ip for e in (failed, login, logout)} == {"203.0.113.7"}
    assert WRONG not in everything_audited(app) and PASSWORD not in everything_audited(app)


def test_api_logins_and_logout_are_audited(app, owner):
    client = app.test_client()
    assert client.post("/api/v1/auth/token", json={"login": OWNER, "password": WRONG}
                       ).status_code == 401
    assert client.post("/api/v1/auth/token", json={"login": "ghost@example.com",
                                                    "password": WRONG}).status_code == 401
    resp = client.post("/api/v1/auth/token", json={"login": OWNER, "password": PASSWORD},
                       environ_base=CLIENT)
    token = resp.get_json()["token"]
    assert client.delete("/api/v1/auth/token", headers=bearer(token)).status_code == 204
    failed, ghost, login, logout = auth_events(app)
    assert failed.action == ghost.action == "login_failed"
    assert failed.entity_id == str(owner) and ghost.entity_id is None
    assert ghost.after["login"] == "g***@example.com" and ghost.after["channel"] == "api"
    assert login.action == "login" and login.after == {"channel": "api", "method": "password"}
    assert login.ip == "203.0.113.7" and failed.ip == "127.0.0.1"
    assert logout.action == "logout" and logout.after == {"channel": "api"}
    assert logout.actor == f"user:{owner}"
    text = everything_audited(app)
    assert WRONG not in text and PASSWORD not in text and token not in text


def test_sms_codes_and_code_logins_are_audited_without_the_code(app):
    client = app.test_client()
    assert client.post("/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 202
    code = last_code(app)
    wrong = "000000" if code != "000000" else "111111"
    assert client.post("/api/v1/auth/token", json={"phone": PHONE, "code": wrong}
                       ).status_code == 401
    assert client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code}
                       ).status_code == 201
    sent, failed, login = auth_events(app)
    assert sent.action == "sms_code" and sent.after == {"channel": "api", "phone": "***1111"}
    assert failed.action == "login_failed" and failed.after["method"] == "sms"
    assert failed.after["login"] == "***1111"
    assert login.action == "login" and login.after == {"channel": "api", "method": "sms"}
    assert login.entity_id is not None and login.actor == f"user:{login.entity_id}"
    assert all(e.ip == "127.0.0.1" for e in (sent, failed, login))
    assert code not in everything_audited(app).replace(PHONE, "")


def test_page_sms_login_is_audited(app):
    client = app.test_client()
    token = csrf(client, "/me/login")
    assert client.post("/me/login", data={"phone": PHONE, "csrf_token": token}
                       ).status_code == 200
    resp = client.post("/me/login", data={"phone": PHONE, "code": last_code(app),
                                          "step": "code", "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    sent, login = auth_events(app)
    assert sent.action == "sms_code" and sent.after["channel"] == "web"
    assert login.action == "login" and login.after == {"channel": "web", "method": "sms"}


def test_a_failed_login_is_audited_although_its_transaction_rolls_back(app):
    """A code login without any code asked for writes nothing of its own (its
    transaction rolls back), yet the failure is on record."""
    with app.app_context():
        before = db.session.query(AuditEntry).count()
    client = app.test_client()
    assert client.post("/api/v1/auth/token", json={"phone": PHONE, "code": "123456"}
                       ).status_code == 401
    (failed,) = auth_events(app)
    assert failed.action == "login_failed" and failed.after["login"] == "***1111"
    with app.app_context():  # nothing else was written
        assert db.session.query(AuditEntry).count() == before + 1


def test_role_changes_carry_the_actor_and_the_address(app, owner):
    with app.app_context():
        store = create_store({"code": "s1", "name": "S1", "timezone": "Asia/Shanghai"})
        store_id = store.id
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"login": OWNER, "password": PASSWORD}
                        ).get_json()["token"]
    resp = client.post("/api/v1/staff", json={"name": "Dee", "email": "dee@example.com",
                                              "store_ids": [store_id]},
                       headers=bearer(token), environ_base=CLIENT)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    with app.app_context():
        (granted,) = [e for e in db.session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "role_assignments", AuditEntry.action == "create"))
            if e.after["role"] == "staff"]
        assert granted.actor == f"user:{owner}" and granted.ip == "203.0.113.7"
        # outside a request (the CLI, jobs) there is no address
        revoke_role("dee@example.com", "staff")
        removed = db.session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "role_assignments", AuditEntry.action == "delete")
        ).one()
        assert removed.ip is None and removed.before["role"] == "staff"
        ended = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "sessions_ended")).one()
        assert ended.after["reason"] == "role_removed" and ended.ip is None


def test_every_write_in_a_request_records_the_address(app, owner):
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"login": OWNER, "password": PASSWORD}
                        ).get_json()["token"]
    resp = client.post("/api/v1/stores", json={"code": "west", "name": "West",
                                               "timezone": "Asia/Shanghai"},
                       headers=bearer(token), environ_base={"REMOTE_ADDR": "2001:db8::1"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "stores")).one()
        assert entry.ip == "2001:db8::1" and entry.actor == f"user:{owner}"
        # and no address outside a request
        create_store({"code": "east", "name": "East", "timezone": "Asia/Shanghai"})
        assert db.session.scalars(select(AuditEntry.ip).where(
            AuditEntry.entity_type == "stores").order_by(AuditEntry.id.desc())).first() \
            is None


def test_the_audit_api_shows_the_address(app, owner):
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"login": OWNER, "password": PASSWORD}
                        ).get_json()["token"]
    page = client.get("/api/v1/audit?entity_type=auth", headers=bearer(token)).get_json()
    (login,) = page["items"]
    assert login["action"] == "login" and login["ip"] == "127.0.0.1"
