"""Abuse limits that must not leak who has an account: SMS codes per number (counted in
the database, on the API and the page), password lockout per login identifier for known
and unknown identifiers alike."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.auth import sms, tokens
from core.db import utcnow
from core.extensions import db
from core.models import AuthFailure, SmsCode
from core.org.users import create_user
from tests.web.conftest import csrf_token, post_form

PHONE = "13900002222"
E164 = "+8613900002222"


# ------------------------------------------------------------------------- SMS codes


def test_codes_per_number_one_a_minute_five_an_hour_ten_a_day(ctx) -> None:
    t0 = utcnow()
    assert sms.request_code(PHONE, now=t0) == 300
    with pytest.raises(sms.TooManyCodes) as caught:  # the same number spelled otherwise
        sms.request_code("+86 139-0000-2222", now=t0 + timedelta(seconds=30))
    assert caught.value.status == 429 and caught.value.retry_after == 30
    assert "30 seconds" in str(caught.value) and list(caught.value.field_errors) == ["phone"]
    for minute in range(1, 5):
        sms.request_code(PHONE, now=t0 + timedelta(seconds=61 * minute))
    with pytest.raises(sms.TooManyCodes) as caught:  # five in the hour
        sms.request_code(PHONE, now=t0 + timedelta(seconds=61 * 5))
    assert caught.value.retry_after == 3600 - 61 * 5
    assert "minutes" in str(caught.value)
    second_hour = t0 + timedelta(seconds=3601)
    for minute in range(5):
        sms.request_code(PHONE, now=second_hour + timedelta(seconds=61 * minute))
    third_hour = t0 + timedelta(seconds=2 * 3601)
    with pytest.raises(sms.TooManyCodes) as caught:  # ten in the day
        sms.request_code(PHONE, now=third_hour)
    assert caught.value.retry_after == 86400 - 2 * 3601
    assert sms.request_code(PHONE, now=t0 + timedelta(days=1, seconds=1)) == 300
    # another number has its own budget
    assert sms.request_code("13900003333", now=t0 + timedelta(seconds=30)) == 300
    assert sorted(db.session.scalars(select(SmsCode.phone).distinct())) \
        == ["+8613900002222", "+8613900003333"]


def test_the_limit_does_not_tell_whether_an_account_exists(ctx) -> None:
    create_user({"name": "Known", "phone": "13900004444", "password": "long-pass-1"})
    t0 = utcnow()
    answers = []
    for phone in ("13900004444", "13900005555"):  # an account, no account
        assert sms.request_code(phone, now=t0) == 300
        with pytest.raises(sms.TooManyCodes) as caught:
            sms.request_code(phone, now=t0 + timedelta(seconds=1))
        answers.append((caught.value.status, str(caught.value), caught.value.retry_after))
    assert answers[0] == answers[1]


def test_api_sms_code_limit_holds_without_the_rate_limiter(make_app, monkeypatch) -> None:
    # Flask-Limiter off (as when its Redis is unreachable): the database still counts
    app = make_app(RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert client.post("/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 202
    again = client.post("/api/v1/auth/sms-code", json={"phone": "0086 139 0000 2222"})
    assert again.status_code == 429 and again.mimetype == "application/problem+json"
    assert 0 < int(again.headers["Retry-After"]) <= 60
    assert list(again.get_json()["errors"]) == ["phone"]
    stranger = client.post("/api/v1/auth/sms-code", json={"phone": "13900006666"})
    assert stranger.status_code == 202  # a number without an account: the same answers
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(sms, "utcnow", lambda: later)
    assert client.post("/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 202


def test_page_login_limits_codes_per_number_and_shows_the_form(make_app, monkeypatch) -> None:
    app = make_app(RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert post_form(client, "/me/login", {"phone": PHONE}).status_code == 200
    again = post_form(client, "/me/login", {"phone": "+86 139 0000 2222"})
    html = again.get_data(as_text=True)
    assert again.status_code == 429 and 0 < int(again.headers["Retry-After"]) <= 60
    assert 'id="f-phone"' in html and "Too many codes for this number" in html
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(sms, "utcnow", lambda: later)
    sent = post_form(client, "/me/login", {"phone": PHONE})
    assert sent.status_code == 200 and 'id="f-code"' in sent.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(SmsCode).filter(SmsCode.phone == E164).count() == 2


def test_page_code_sending_is_limited_per_client(make_app) -> None:
    app = make_app()  # Flask-Limiter on (memory storage)
    client = app.test_client()
    token = csrf_token(client, "/me/login")  # one page view: the page has its own limit
    statuses = [client.post("/me/login", data={"phone": f"1390000{i:04d}",
                                               "csrf_token": token}).status_code
                for i in range(6)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    # entering a code is not sending one: that step still answers
    resp = client.post("/me/login", data={"phone": "13900000000", "step": "code",
                                          "code": "000000", "csrf_token": token})
    assert resp.status_code == 422


# ---------------------------------------------------------------------- lockout


def _fail(login: str, times: int, now) -> None:
    for _ in range(times):
        with pytest.raises(tokens.AuthenticationFailed, match="Wrong login"):
            tokens.login(login, "wrong-password", now=now)


def test_unknown_and_known_logins_lock_alike(ctx) -> None:
    create_user({"name": "O", "email": "o@example.com", "password": "right-pass"},
                role="owner")
    now = utcnow()
    locked = []
    for login in ("o@example.com", "nobody@example.com"):
        _fail(login, tokens.MAX_FAILURES, now)
        with pytest.raises(tokens.AccountLocked) as caught:
            tokens.login(login, "right-pass", now=now + timedelta(seconds=1))
        locked.append((caught.value.status, str(caught.value), caught.value.retry_after))
    assert locked[0] == locked[1] and locked[0][0] == 429
    # only keyed hashes are stored, never the identifier
    rows = db.session.scalars(select(AuthFailure)).all()
    assert len(rows) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", r.key_hash) for r in rows)
    # the lock ends; a success clears the counter
    later = now + tokens.LOCKOUT + timedelta(seconds=2)
    assert tokens.login("o@example.com", "right-pass", now=later).email == "o@example.com"
    _fail("o@example.com", tokens.MAX_FAILURES - 1, later)
    assert tokens.login("o@example.com", "right-pass", now=later).email == "o@example.com"


def test_failures_count_per_number_in_any_spelling_within_the_window(ctx) -> None:
    create_user({"name": "P", "phone": "13800138001", "password": "right-pass"})
    now = utcnow()
    _fail("138 0013 8001", 3, now)
    _fail("+86 138-0013-8001", 1, now)
    # a failure after the window starts the count again
    _fail("0086 13800138001", 1, now + tokens.FAILURE_WINDOW + timedelta(seconds=1))
    fresh = now + tokens.FAILURE_WINDOW + timedelta(seconds=2)
    assert tokens.login("13800138001", "right-pass", now=fresh).phone == "+8613800138001"
    _fail("13800138001", tokens.MAX_FAILURES, fresh)
    with pytest.raises(tokens.AccountLocked):
        tokens.login("+8613800138001", "right-pass", now=fresh)


def test_api_and_page_lockouts_look_the_same_for_unknown_ids(app) -> None:
    with app.app_context():
        create_user({"name": "O", "email": "o@example.com", "password": "right-pass"},
                    role="owner")
    client = app.test_client()
    answers = []
    for login in ("o@example.com", "ghost@example.com"):
        for _ in range(tokens.MAX_FAILURES):
            resp = client.post("/api/v1/auth/token", json={"login": login, "password": "x"})
            assert resp.status_code == 401
        resp = client.post("/api/v1/auth/token",
                           json={"login": login, "password": "right-pass"})
        body = resp.get_json()
        answers.append((resp.status_code, body["title"], body["detail"],
                        "Retry-After" in resp.headers))
    assert answers[0] == answers[1] and answers[0][0] == 429 and answers[0][3]

    pages = []
    for login in ("o@example.com", "ghost@example.com"):  # already locked above
        resp = post_form(client, "/login", {"login": login, "password": "right-pass"})
        html = resp.get_data(as_text=True)
        pages.append((resp.status_code, "Too many failed logins" in html))
    assert pages[0] == pages[1] == (422, True)
