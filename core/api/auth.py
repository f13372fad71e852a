"""Tokens for staff and admins: password login, revocation."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint

from ..auth import tokens
from .common import require_user

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Authentication")


class LoginSchema(ma.Schema):
    login = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254),
                             metadata={"description": "email or phone"})
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256))


class TokenSchema(ma.Schema):
    token = ma.fields.String()
    token_type = ma.fields.String()
    expires_at = ma.fields.DateTime()


@blp.post("/token")
@blp.arguments(LoginSchema)
@blp.response(201, TokenSchema)
def create_token(data: dict[str, Any]) -> dict[str, Any]:
    """Exchange a login and password for a bearer token (12 hours)."""
    user = tokens.login(data["login"], data["password"])
    token, expires = tokens.issue_token(user)
    return {"token": token, "token_type": "Bearer", "expires_at": expires}


@blp.delete("/token")
@blp.response(204)
def revoke_token() -> None:
    """Revoke the token used for this request."""
    require_user()
    tokens.revoke(request.headers["Authorization"][7:].strip())
