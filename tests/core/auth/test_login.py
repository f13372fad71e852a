"""Logins: password + lockout, SMS codes (hashed, short-lived, attempt-limited), tokens
(expiring, revocable), rate limits on the login and SMS endpoints."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.auth import sms, tokens
from core.db import utcnow, write_transaction
from core.extensions import db
from core.models import ApiToken, Customer, SmsCode, SmsMessage, User
from core.org.users import create_user

PHONE = "13900001111"
E164 = "+8613900001111"  # how the number is stored and keyed


def _last_code(phone: str = E164) -> str:
    text = db.session.scalars(select(SmsMessage.text).where(SmsMessage.phone == phone)
                              .order_by(SmsMessage.id.desc())).first()
    return re.search(r"\b(\d{6})\b", text).group(1)


def test_sms_code_is_hashed_and_first_login_creates_the_customer(ctx):
    assert sms.request_code(PHONE) == 300
    code = _last_code()
    row = db.session.scalars(select(SmsCode)).one()
    assert code not in row.code_hash and len(row.code_hash) == 64
    user = sms.login_with_code(PHONE, code)
    assert {r.role for r in user.roles} == {"customer"}
    customer = db.session.scalars(select(Customer).where(Customer.phone == E164)).one()
    assert customer.user_id == user.id and user.phone == E164
    # one login per code
    with pytest.raises(tokens.AuthenticationFailed):
        sms.login_with_code(PHONE, code)
    # a second login (a minute later, the number spelled otherwise) reuses the account
    later = utcnow() + timedelta(seconds=61)
    sms.request_code("+86 139 0000 1111", now=later)
    assert sms.login_with_code("139-0000-1111", _last_code(), now=later).id == user.id
    assert db.session.query(User).filter(User.phone == E164).count() == 1


def test_sms_code_expires(ctx):
    sms.request_code(PHONE)
    code = _last_code()
    with write_transaction() as session:
        row = session.scalars(select(SmsCode)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(tokens.AuthenticationFailed, match="wrong or expired"):
        sms.login_with_code(PHONE, code)


def test_sms_code_attempts_are_limited(ctx):
    sms.request_code(PHONE)
    code = _last_code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(sms.MAX_ATTEMPTS):
        with pytest.raises(tokens.AuthenticationFailed):
            sms.login_with_code(PHONE, wrong)
    assert db.session.scalars(select(SmsCode.attempts)).one() == sms.MAX_ATTEMPTS
    with pytest.raises(tokens.AuthenticationFailed):  # even the right code is refused now
        sms.login_with_code(PHONE, code)


def test_new_code_voids_the_old_one(ctx):
    sms.request_code(PHONE)
    old = _last_code()
    later = utcnow() + timedelta(seconds=61)  # one code a minute per number
    sms.request_code(PHONE, now=later)
    new = _last_code()
    if old != new:
        with pytest.raises(tokens.AuthenticationFailed):
            sms.login_with_code(PHONE, old, now=later)
    assert sms.login_with_code(PHONE, new, now=later)


def test_password_lockout_after_five_failures(ctx):
    create_user({"name": "O", "email": "o@example.com", "password": "right-pass"},
                role="owner")
    now = utcnow()
    for _ in range(tokens.MAX_FAILURES):
        with pytest.raises(tokens.AuthenticationFailed, match="Wrong login"):
            tokens.login("o@example.com", "wrong", now=now)
    with pytest.raises(tokens.AccountLocked):  # locked even with the right password
        tokens.login("O@example.com ", "right-pass", now=now + timedelta(minutes=14))
    later = now + tokens.LOCKOUT + timedelta(seconds=1)
    assert tokens.login("o@example.com", "right-pass", now=later).email == "o@example.com"


def test_unknown_user_and_wrong_password_look_the_same(ctx):
    create_user({"name": "O", "email": "o@example.com", "password": "right-pass"},
                role="owner")
    with pytest.raises(tokens.AuthenticationFailed) as a:
        tokens.login("nobody@example.com", "x")
    with pytest.raises(tokens.AuthenticationFailed) as b:
        tokens.login("o@example.com", "x")
    assert str(a.value) == str(b.value)


def test_token_expiry_and_revocation(app):
    client = app.test_client()
    with app.app_context():
        user = create_user({"name": "O", "email": "o@example.com", "password": "right-pass"},
                           role="owner")
        token, _ = tokens.issue_token(user)
        stale, _ = tokens.issue_token(user, ttl=timedelta(seconds=-1))
        stored = db.session.scalars(select(ApiToken.token_hash)).all()
        assert token not in stored  # only hashes are stored
    me = {"Authorization": f"Bearer {token}"}
    resp = client.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {stale}"})
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    assert client.delete("/api/v1/auth/token", headers=me).status_code == 204
    assert client.delete("/api/v1/auth/token", headers=me).status_code == 401


def test_login_endpoint_and_rate_limits(app):
    client = app.test_client()
    with app.app_context():
        create_user({"name": "O", "email": "o@example.com", "password": "right-pass"},
                    role="owner")
    ok = client.post("/api/v1/auth/token",
                     json={"login": "o@example.com", "password": "right-pass"})
    assert ok.status_code == 201 and ok.get_json()["token_type"] == "Bearer"
    bad = client.post("/api/v1/auth/token", json={"login": "o@example.com", "password": "x"})
    assert bad.status_code == 401 and bad.mimetype == "application/problem+json"
    mixed = client.post("/api/v1/auth/token", json={"login": "a", "code": "123456"})
    assert mixed.status_code == 422
    # SMS: one code per phone a minute, whatever the client and however it is spelled
    first = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    again = client.post("/api/v1/auth/sms-code", json={"phone": "+86 139 0000 1111"})
    assert first.status_code == 202 and again.status_code == 429
    assert again.mimetype == "application/problem+json" and int(again.headers["Retry-After"]) > 0
    # per client: 5 a minute across phones
    statuses = [client.post("/api/v1/auth/sms-code", json={"phone": f"1390000{i:04d}"}
                            ).status_code for i in range(6)]
    assert 429 in statuses
    bad_phone = client.post("/api/v1/auth/sms-code", json={"phone": "not a phone"})
    assert bad_phone.status_code in (422, 429)
