"""Page sessions that really end: server-side rows behind the cookie, idle timeout and
absolute lifetime on a movable clock, logout killing copies of the cookie, and
:func:`end_all` on password change, role removal, deactivation and "log out everywhere"
ending page sessions and API tokens alike. Cookie flags in production and test mode."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.auth import sessions
from core.db import utcnow
from core.extensions import db
from core.models import ApiToken, AuditEntry, WebSession
from core.org.stores import create_store
from core.org.users import deactivate_user, revoke_role, set_password
from tests.core.factories import PASSWORD, bearer, make_user

OWNER = "o@example.com"


class Clock:
    """The time :mod:`core.auth.sessions` sees; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> Any:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sessions, "utcnow", clock)
    return clock


@pytest.fixture
def owner(app: Any) -> int:
    with app.app_context():
        return make_user(OWNER, "owner").id


def csrf(client: Any, url: str = "/login", **kwargs: Any) -> str:
    html = client.get(url, **kwargs).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def page_login(client: Any, login: str = OWNER, password: str = PASSWORD,
               **kwargs: Any) -> Any:
    token = csrf(client, **kwargs)
    return client.post("/login", data={"login": login, "password": password,
                                       "csrf_token": token}, **kwargs)


def page_logout(client: Any) -> Any:
    return client.post("/logout", data={"csrf_token": csrf(client, "/admin/")})


def logged_in(client: Any) -> bool:
    """Whether the back office opens (else it redirects to the login page)."""
    status = client.get("/admin/").status_code
    assert status in (200, 302), status
    return status == 200


def api_token(client: Any, login: str = OWNER, password: str = PASSWORD) -> str:
    resp = client.post("/api/v1/auth/token", json={"login": login, "password": password})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["token"]


def api_works(client: Any, token: str) -> bool:
    status = client.get("/api/v1/me", headers=bearer(token)).status_code
    assert status in (200, 401), status
    return status == 200


def cookie_data(app: Any, client: Any) -> dict[str, Any]:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def rows(app: Any) -> list[WebSession]:
    with app.app_context():
        found = list(db.session.scalars(select(WebSession).order_by(WebSession.id)))
        for row in found:
            db.session.expunge(row)
        return found


# --- the session row behind the cookie ------------------------------------------------------


def test_login_stores_a_session_row_and_the_cookie_only_its_random_id(app, owner):
    client = app.test_client()
    resp = page_login(client, headers={"User-Agent": "TestBrowser/1.0 " + "x" * 400})
    assert resp.status_code == 302
    data = cookie_data(app, client)
    assert set(data) - {"csrf_token", "_permanent", "_flashes"} == {"sid"}
    (row,) = rows(app)
    assert row.user_id == owner and row.ended_at is None
    assert row.token_hash == hashlib.sha256(data["sid"].encode()).hexdigest()
    assert data["sid"] not in row.token_hash
    assert row.ip == "127.0.0.1"
    assert row.user_agent.startswith("TestBrowser/1.0") and len(row.user_agent) == 255
    assert logged_in(client)


def test_a_second_login_gets_a_new_session_id(app, owner):
    """Fixation: the id a client had before logging in is not the one after."""
    client = app.test_client()
    page_login(client)
    first = cookie_data(app, client)["sid"]
    page_login(client)
    assert cookie_data(app, client)["sid"] != first
    assert len(rows(app)) == 2


def test_logout_kills_a_copy_of_the_cookie(app, owner):
    alice = app.test_client()
    page_login(alice)
    thief = app.test_client()
    thief.set_cookie("session", alice.get_cookie("session").value)
    assert logged_in(alice) and logged_in(thief)
    assert page_logout(alice).status_code == 302
    assert not logged_in(alice)
    assert not logged_in(thief)  # the copy taken before the logout is worthless
    (row,) = rows(app)
    assert row.ended_at is not None and row.end_reason == "logout"


def test_a_forged_or_unknown_session_id_is_nobody(app, owner):
    client = app.test_client()
    page_login(client)
    serializer = app.session_interface.get_signing_serializer(app)
    client.set_cookie("session", serializer.dumps({"sid": "guessed-id", "uid": owner}))
    assert not logged_in(client)


# --- idle timeout and absolute lifetime ------------------------------------------------------


def test_idle_timeout_ends_the_session(app, owner, clock):
    client = app.test_client()
    page_login(client)
    clock.move(minutes=100)
    assert logged_in(client)  # used: the idle clock starts again
    clock.move(minutes=119)
    assert logged_in(client)
    clock.move(minutes=121)
    assert not logged_in(client)
    (row,) = rows(app)
    assert row.end_reason == "idle"
    clock.move(minutes=-200)  # an ended session stays ended
    assert not logged_in(client)


def test_last_seen_is_written_at_most_once_a_minute(app, owner, clock):
    client = app.test_client()
    page_login(client)
    (row,) = rows(app)
    started = row.last_seen_at
    clock.move(seconds=30)
    assert logged_in(client)
    assert rows(app)[0].last_seen_at == started  # no write per request
    clock.move(seconds=31)
    assert logged_in(client)
    assert rows(app)[0].last_seen_at == clock.now


def test_absolute_lifetime_ends_even_a_busy_session(make_app, clock):
    app = make_app(FULIAN_SESSION_MAX_HOURS=3, FULIAN_SESSION_IDLE_MINUTES=60)
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=3)
    with app.app_context():
        make_user(OWNER, "owner")
    client = app.test_client()
    page_login(client)
    for _ in range(3):  # busy: a request every 50 minutes, never idle
        clock.move(minutes=50)
        assert logged_in(client)
    clock.move(minutes=50)  # 200 minutes in: past the 3 hours
    assert not logged_in(client)
    assert rows(app)[0].end_reason == "expired"


def test_session_settings_have_defaults_and_are_checked(app):
    assert app.config["FULIAN_SESSION_IDLE_MINUTES"] == 120
    assert app.config["FULIAN_SESSION_MAX_HOURS"] == 168
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=168)
    from core.config import load_config

    for bad in ({"FULIAN_SESSION_IDLE_MINUTES": 0}, {"FULIAN_SESSION_MAX_HOURS": 0}):
        with pytest.raises(ValueError, match="at least 1"):
            load_config({"INSTANCE_PATH": app.config["INSTANCE_PATH"], **bad})


# --- end_all: everything a user holds ------------------------------------------------------


def _holding(app: Any, login: str, password: str = PASSWORD) -> tuple[Any, Any, str]:
    """A logged-in browser, a copy of its cookie, and an API token of the same user."""
    browser = app.test_client()
    assert page_login(browser, login, password).status_code == 302
    copy = app.test_client()
    copy.set_cookie("session", browser.get_cookie("session").value)
    token = api_token(app.test_client(), login, password)
    assert logged_in(browser) and logged_in(copy) and api_works(app.test_client(), token)
    return browser, copy, token


def _all_ended(app: Any, user_id: int, reason: str) -> None:
    with app.app_context():
        sessions_left = db.session.scalars(select(WebSession).where(
            WebSession.user_id == user_id, WebSession.ended_at.is_(None))).all()
        tokens_left = db.session.scalars(select(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))).all()
        assert sessions_left == [] and tokens_left == []
        assert {r.end_reason for r in db.session.scalars(select(WebSession).where(
            WebSession.user_id == user_id))} == {reason}
        event = db.session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "auth", AuditEntry.action == "sessions_ended")
            .order_by(AuditEntry.id.desc())).first()
        assert event is not None and event.entity_id == str(user_id)
        assert event.after["reason"] == reason and event.after["api_tokens"] >= 1


def test_password_change_ends_page_sessions_and_api_tokens(app, owner):
    browser, copy, token = _holding(app, OWNER)
    with app.app_context():
        set_password(OWNER, "a-new-password-1")
    assert not logged_in(browser) and not logged_in(copy)
    assert not api_works(app.test_client(), token)
    _all_ended(app, owner, "password_changed")
    browser, _copy, token = _holding(app, OWNER, "a-new-password-1")  # the new one works


def test_role_removal_ends_everything_and_the_user_comes_back_with_what_remains(app, owner):
    with app.app_context():
        create_store({"code": "s1", "name": "S1", "timezone": "Asia/Shanghai"})
        create_store({"code": "s2", "name": "S2", "timezone": "Asia/Shanghai"})
        mgr = make_user("m@example.com", "store_manager", ["s1", "s2"]).id
    browser, copy, token = _holding(app, "m@example.com")
    with app.app_context():
        removed = revoke_role("m@example.com", "store_manager", ["s2"])
        assert [r.role for r in removed] == ["store_manager"]
    assert not logged_in(browser) and not logged_in(copy)
    assert not api_works(app.test_client(), token)
    _all_ended(app, mgr, "role_removed")
    token = api_token(app.test_client(), "m@example.com")
    me = app.test_client().get("/api/v1/me", headers=bearer(token)).get_json()
    with app.app_context():
        from core.org.stores import get_store

        s1 = get_store("s1").id
    assert [(r["role"], r["store_id"]) for r in me["roles"]] == [("store_manager", s1)]


def test_deactivation_ends_everything_and_refuses_new_logins(app, owner):
    with app.app_context():
        create_store({"code": "s1", "name": "S1", "timezone": "Asia/Shanghai"})
        desk = make_user("d@example.com", "front_desk", ["s1"]).id
    browser, copy, token = _holding(app, "d@example.com")
    with app.app_context():
        deactivate_user("d@example.com")
    assert not logged_in(browser) and not logged_in(copy)
    assert not api_works(app.test_client(), token)
    _all_ended(app, desk, "deactivated")
    assert page_login(app.test_client(), "d@example.com").status_code == 422
    assert app.test_client().post("/api/v1/auth/token", json={
        "login": "d@example.com", "password": PASSWORD}).status_code == 401


def test_the_last_owner_can_be_neither_removed_nor_deactivated(app, owner):
    from core.errors import Conflict

    with app.app_context():
        with pytest.raises(Conflict, match="last owner"):
            revoke_role(OWNER, "owner")
        with pytest.raises(Conflict, match="last owner"):
            deactivate_user(OWNER)
        make_user("o2@example.com", "owner")
        revoke_role(OWNER, "owner")  # now there is another owner
        with pytest.raises(Conflict, match="does not have the owner role"):
            revoke_role(OWNER, "owner")


def test_log_out_everywhere_ends_every_token_and_page_session(app, owner):
    browser, copy, token = _holding(app, OWNER)
    other = api_token(app.test_client())
    client = app.test_client()
    assert client.delete("/api/v1/auth/tokens").status_code == 401
    assert client.delete("/api/v1/auth/tokens", headers=bearer(token)).status_code == 204
    assert not api_works(client, token) and not api_works(client, other)
    assert not logged_in(browser) and not logged_in(copy)
    _all_ended(app, owner, "logout_everywhere")
    with app.app_context():
        event = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "sessions_ended")).one()
        assert event.actor == f"user:{owner}" and event.ip == "127.0.0.1"
        assert event.after == {"reason": "logout_everywhere", "web_sessions": 1,
                               "api_tokens": 2}
    assert client.delete("/api/v1/auth/tokens", headers=bearer(token)).status_code == 401


def test_end_all_joins_the_callers_transaction(app, owner):
    """Nothing ends when the change that called for it rolls back."""
    _browser, _copy, token = _holding(app, OWNER)
    from core.db import write_transaction

    with app.app_context():
        with pytest.raises(RuntimeError), write_transaction():
            sessions.end_all(owner, "password_changed")
            raise RuntimeError("the password change failed")
    assert api_works(app.test_client(), token)
    assert rows(app)[0].ended_at is None


# --- cookie flags ---------------------------------------------------------------------------


def _set_cookie(resp: Any) -> str:
    (header,) = [v for k, v in resp.headers.items() if k == "Set-Cookie"
                 and v.startswith("session=")]
    return header


def test_cookie_flags_in_production(make_app):
    app = make_app(FULIAN_ENV="production", SECRET_KEY="production-secret-" + "k" * 32)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.app_context():
        make_user(OWNER, "owner")
    client = app.test_client()
    # over HTTPS Flask-WTF also wants a same-origin Referer, as a browser sends it
    resp = page_login(client, base_url="https://shop.example.com",
                      headers={"Referer": "https://shop.example.com/login"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    flags = [part.strip() for part in _set_cookie(resp).split(";")]
    assert "Secure" in flags and "HttpOnly" in flags and "SameSite=Lax" in flags
    assert any(part.startswith("Expires=") for part in flags)  # the absolute lifetime


def test_cookie_flags_in_test_mode(app, owner):
    resp = page_login(app.test_client())
    flags = [part.strip() for part in _set_cookie(resp).split(";")]
    assert "HttpOnly" in flags and "SameSite=Lax" in flags
    assert "Secure" not in flags  # a demo on plain http://localhost must still log in


# --- the migration ---------------------------------------------------------------------------


def test_migration_c0010_goes_up_and_down(make_app):
    import flask_migrate
    from sqlalchemy import inspect

    from core import dbmigrate

    app = make_app(migrate=False)
    with app.app_context():
        dbmigrate.upgrade("c0010")
        assert "web_sessions" in inspect(db.engine).get_table_names()
        assert "ip" in {c["name"] for c in inspect(db.engine).get_columns("audit_log")}
        flask_migrate.downgrade(revision="c0009")
        db.engine.dispose()
        assert "web_sessions" not in inspect(db.engine).get_table_names()
        assert "ip" not in {c["name"] for c in inspect(db.engine).get_columns("audit_log")}
        dbmigrate.upgrade("c0010")
        assert "web_sessions" in inspect(db.engine).get_table_names()
