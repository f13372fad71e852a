"""Webhook subscriptions and their delivery log (owner and brand admins only)."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from .. import webhooks
from ..auth import policy
from ..models import User, WebhookDelivery, WebhookSubscription
from .common import Forbidden, audited, require_user

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks",
                description="Webhooks: signed event posts to integrators")


class SubscriptionOut(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    active = ma.fields.Boolean()
    created_at = ma.fields.AwareDateTime(format="iso")


class SubscriptionCreatedOut(SubscriptionOut):
    secret = ma.fields.String(metadata={"description": "shown only in this response; signs "
                                                       "every delivery (HMAC-SHA256)"})


class DeliveryOut(ma.Schema):
    id = ma.fields.Integer()
    subscription_id = ma.fields.Integer()
    event = ma.fields.String()
    delivery_id = ma.fields.String(metadata={"description": "X-Fulian-Delivery header and "
                                                            "payload id"})
    status = ma.fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = ma.fields.Integer(metadata={"description": "posts made so far"})
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True, metadata={
        "description": "why the last attempt failed: `HTTP 500 Internal Server Error`, a "
                       "network error class, or `target refused: ...` for a target that is "
                       "not a public address. The receiver's answer is never shown."})
    created_at = ma.fields.AwareDateTime(format="iso")
    next_attempt_at = ma.fields.AwareDateTime(format="iso", allow_none=True)
    delivered_at = ma.fields.AwareDateTime(format="iso", allow_none=True)
    payload = ma.fields.Dict()


class DeliveriesQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


def _admin() -> User:
    user = require_user()
    if not policy.is_brand_admin(user):
        raise Forbidden(_l("Only the brand owner and brand admins manage webhooks."))
    return user


def _sub_dict(sub: WebhookSubscription) -> dict[str, Any]:
    return {"id": sub.id, "url": sub.url, "events": list(sub.events or []),
            "active": sub.active, "created_at": sub.created_at}


# Older releases kept "HTTP <code>: <response excerpt>" for a failed delivery; the
# excerpt of another system's answer must not be shown, so only the status is.
_OLD_HTTP_ERROR = re.compile(r"^(HTTP [0-9]{3}):")


def _public_error(text: str | None) -> str | None:
    if text is None:
        return None
    old = _OLD_HTTP_ERROR.match(text)
    return old.group(1) if old else text


def _delivery_dict(row: WebhookDelivery) -> dict[str, Any]:
    payload = row.payload or {}
    return {"id": row.id, "subscription_id": row.subscription_id, "event": row.event,
            "delivery_id": str(payload.get("id", "")), "status": row.status,
            "attempts": row.attempts, "last_status_code": row.last_status_code,
            "last_error": _public_error(row.last_error), "created_at": row.created_at,
            "next_attempt_at": row.next_attempt_at, "delivered_at": row.delivered_at,
            "payload": payload}


@blp.get("")
@blp.response(200, SubscriptionOut(many=True))
def list_subscriptions() -> list[dict[str, Any]]:
    """Every subscription, active or not (secrets are never listed)."""
    _admin()
    return [_sub_dict(s) for s in webhooks.list_subscriptions()]


@blp.post("")
@blp.arguments(webhooks.SubscriptionSchema)
@blp.response(201, SubscriptionCreatedOut)
@audited
def create_subscription(data: dict[str, Any]) -> dict[str, Any]:
    """Subscribe a URL to events (``"*"`` for all). The signing secret is generated unless
    given and is returned only here: store it now.

    The URL's host must be a public address: a host that is, or resolves to, a loopback,
    private, link-local, unique-local, CGNAT, multicast or reserved address, or a cloud
    metadata name, gets a 422 on `url` (the operator may allow intranet networks with
    `FULIAN_WEBHOOK_ALLOWED_NETWORKS`). Every delivery checks again."""
    _admin()
    sub = webhooks.create_subscription(data["url"], data["events"], data.get("secret"))
    return {**_sub_dict(sub), "secret": sub.secret}


@blp.delete("/<id:subscription_id>")
@blp.response(204)
@audited
def deactivate_subscription(subscription_id: int) -> None:
    """Stop deliveries to a subscription. Its delivery log is kept."""
    _admin()
    webhooks.deactivate_subscription(subscription_id)


@blp.get("/<id:subscription_id>/deliveries")
@blp.arguments(DeliveriesQuery, location="query")
@blp.response(200, DeliveryOut(many=True))
def deliveries(query: dict[str, Any], subscription_id: int) -> list[dict[str, Any]]:
    """The delivery log of a subscription, newest first: status, attempts, the last HTTP
    status code and error."""
    _admin()
    rows = webhooks.deliveries_for(subscription_id, limit=query["limit"])
    return [_delivery_dict(r) for r in rows]


@blp.post("/deliveries/<id:delivery_id>/replay")
@blp.response(202, DeliveryOut)
@audited
def replay(delivery_id: int) -> dict[str, Any]:
    """Send a delivery again now (any status). 409 if its subscription is deactivated."""
    _admin()
    row = webhooks.replay(delivery_id)
    return _delivery_dict(row)
