"""Tokens: password login (staff, admins) or SMS code (customers), revocation of one
token or of everything the caller holds. Every login, failure, code and logout is
audited with the client address (:func:`core.audit.record_event`)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_babel import gettext
from flask_smorest import Blueprint

from ..audit import acting_as, record_event
from ..auth import sessions, sms, tokens
from ..db import write_transaction
from ..validation import phone_field
from .common import PUBLIC, one_of_body, require_user

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Authentication")


class PasswordLoginSchema(ma.Schema):
    login = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254),
                             metadata={"description": "email or phone"})
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256))


class CodeLoginSchema(ma.Schema):
    phone = phone_field(required=True)
    code = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9]{6}$"))


class LoginSchema(ma.Schema):
    """Either ``login`` + ``password`` (staff, admins) or ``phone`` + ``code`` (customers,
    after POST /auth/sms-code). Documented as ``oneOf`` of the two shapes."""

    login = ma.fields.String(validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(validate=ma.validate.Length(min=1, max=256))
    phone = phone_field()
    code = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{6}$"))

    @ma.validates_schema
    def _one_method(self, data: dict[str, Any], **_kw: Any) -> None:
        if {"login", "password"} <= data.keys() and not data.keys() & {"phone", "code"}:
            return
        if {"phone", "code"} <= data.keys() and not data.keys() & {"login", "password"}:
            return
        raise ma.ValidationError(gettext("Give either login and password, or phone and "
                                         "code."), "_schema")


class SmsCodeIn(ma.Schema):
    phone = phone_field(required=True)


class SmsCodeOut(ma.Schema):
    expires_in = ma.fields.Integer(metadata={"description": "seconds"})


class TokenSchema(ma.Schema):
    token = ma.fields.String()
    token_type = ma.fields.String()
    expires_at = ma.fields.DateTime()


@blp.post("/token")
@blp.doc(**PUBLIC)
@blp.arguments(LoginSchema, description="login + password, or phone + code")
@blp.doc(**one_of_body(PasswordLogin=PasswordLoginSchema, CodeLogin=CodeLoginSchema))
@blp.response(201, TokenSchema)
def create_token(data: dict[str, Any]) -> dict[str, Any]:
    """Exchange a login and password (or a phone and SMS code) for a bearer token.

    Tokens last 12 hours and are stored hashed. Five wrong passwords for one login
    (known or not, so the answer does not reveal which accounts exist) lock it for 15
    minutes: 429 with ``Retry-After``; the endpoint is rate limited per client. A
    ``phone`` that cannot exist in its country's numbering plan is 422 on ``phone``."""
    method = "sms" if "phone" in data else "password"
    try:
        if method == "sms":
            user = sms.login_with_code(data["phone"], data["code"])
        else:
            user = tokens.login(data["login"], data["password"])
    except tokens.AuthenticationFailed as exc:
        sessions.audit_failed_login("api", method, data.get("phone") or data.get("login"),
                                    exc)
        raise
    token, expires = tokens.issue_token(user)
    sessions.audit_api_login(user, method)
    return {"token": token, "token_type": "Bearer", "expires_at": expires}


@blp.post("/sms-code")
@blp.doc(**PUBLIC)
@blp.arguments(SmsCodeIn)
@blp.response(202, SmsCodeOut)
def sms_code(data: dict[str, Any]) -> dict[str, Any]:
    """Send a 6-digit login code to a phone (valid 5 minutes, 5 attempts).

    Rate limited per client and per phone number: one code a minute, five an hour and
    ten a day per number, whichever client asks (429 with ``Retry-After``). Any valid
    number gets a code, so the answer does not reveal whether an account exists; a
    number that cannot exist in its country's numbering plan is 422 on ``phone``."""
    expires_in = sms.request_code(data["phone"])
    sessions.audit_sms_code("api", data["phone"])
    return {"expires_in": expires_in}


@blp.delete("/token")
@blp.response(204)
def revoke_token() -> None:
    """Revoke the token used for this request."""
    user = require_user()
    if tokens.revoke(request.headers["Authorization"][7:].strip()):
        record_event("logout", user.id, {"channel": "api"},
                     actor=(user.id, f"user:{user.id}"), commit=True)


@blp.delete("/tokens")
@blp.response(204)
def revoke_all() -> None:
    """Log out everywhere: revoke every token of the caller (this one included) and end
    all their page sessions, e.g. after losing a phone."""
    user = require_user()
    with acting_as(user.id, f"user:{user.id}"), write_transaction():
        sessions.end_all(user.id, "logout_everywhere")
