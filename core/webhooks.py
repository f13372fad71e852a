"""Outgoing webhooks: integrators subscribe a URL to events and receive signed JSON posts.

How it works:

* **Outbox.** :func:`record` runs inside the transaction of the change it reports and
  writes one :class:`WebhookDelivery` per matching active subscription, then enqueues a
  :func:`deliver` job for each. Jobs are dispatched only after that transaction commits
  (:mod:`core.jobs`), so a rolled-back booking is never announced and the job always finds
  its row.
* **Signature.** Every post carries ``X-Fulian-Timestamp`` (unix seconds) and
  ``X-Fulian-Signature: sha256=<hex>``, the HMAC-SHA256 with the subscription's secret of
  ``f"{timestamp}.{body}"``. Receivers check it with :func:`verify_signature` (or the same
  few lines in their own language) and refuse stale timestamps, which stops replays.
* **Retries.** A non-2xx answer, a timeout or a connection error counts as a failed
  attempt; the delivery is retried after :func:`backoff` (60 s, 120 s, ... capped at one
  hour) until :data:`MAX_ATTEMPTS` attempts were made, then it is ``failed``. Admins can
  :func:`replay` any delivery.
* **At most one sender per attempt.** A ``deliver`` job carries the attempt count it was
  scheduled for and claims the delivery with a conditional ``UPDATE`` before posting, so a
  replay racing a scheduled retry cannot post twice for the same attempt.

``attempts`` counts the posts made, successful or not: a delivery accepted at once shows
``attempts == 1``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from . import jobs
from . import validation as v
from .db import utcnow, write_transaction
from .errors import Conflict, NotFound
from .extensions import db
from .models import Booking, Customer, Store, WebhookDelivery, WebhookSubscription

__all__ = [
    "EVENTS", "MAX_ATTEMPTS", "TIMEOUT_SECONDS", "backoff", "booking_data",
    "create_subscription", "customer_data", "deactivate_subscription", "deliver",
    "delete_subscription", "deliveries_for", "get_delivery", "get_subscription",
    "list_subscriptions", "record", "record_booking", "record_customer", "replay", "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = (
    "booking.created", "booking.confirmed", "booking.declined", "booking.cancelled",
    "booking.rescheduled", "booking.completed", "booking.no_show", "booking.reassigned",
    "booking.deposit_paid",
    "customer.created",
)
ALL_EVENTS = "*"
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP = timedelta(hours=1)
SIGNATURE_TOLERANCE = 300
ERROR_EXCERPT = 500  # characters of a failed response or exception kept in last_error
USER_AGENT = "Fulian-Webhooks/1"
JOB = "core.webhooks:deliver"


# ------------------------------------------------------------------------- signatures


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Fulian-Signature`` value: ``sha256=`` + hex HMAC of ``"{timestamp}.{body}"``."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    message = str(timestamp).encode("ascii") + b"." + raw
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: int | str, body: bytes | str, signature: str,
                     *, tolerance: int = SIGNATURE_TOLERANCE,
                     now: datetime | float | None = None) -> bool:
    """Whether ``signature`` (the ``X-Fulian-Signature`` header) is valid for ``body`` and
    ``timestamp`` (the ``X-Fulian-Timestamp`` header) and the timestamp is within
    ``tolerance`` seconds of ``now`` (default: the current time). Compares in constant time.
    """
    try:
        stamp = int(str(timestamp).strip())
    except (TypeError, ValueError):
        return False
    if now is None:
        current = time.time()
    elif isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = float(now)
    if abs(current - stamp) > tolerance:
        return False
    if not isinstance(signature, str):
        return False
    expected = sign(secret, stamp, body)
    return hmac.compare_digest(expected.encode("ascii"),
                               signature.strip().encode("ascii", "replace"))


# --------------------------------------------------------------------- subscriptions


_PORT = (r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]"
         r"|6553[0-5]))?")
_valid_url = v.rule(r"^https?://([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
                     r"|\[[0-9A-Fa-f:.]{2,45}\])" + _PORT + r"([/?#][!-~]*)?$",
                     _l("Give an http:// or https:// URL with a host name."))
_valid_event = ma.validate.OneOf((*EVENTS, ALL_EVENTS), error=str(_l(
    "Unknown event; use one of the documented names or \"*\".")))
_valid_secret = v.rule(r"^[!-~]{16,64}$",
                        _l("A secret is 16 to 64 printable ASCII characters without spaces."))


def _distinct(values: list[str]) -> None:
    if len(set(values)) != len(values):
        raise ma.ValidationError(gettext("Each event may be listed only once."))


class SubscriptionSchema(ma.Schema):
    """A new subscription; also the API's request body."""

    url = ma.fields.String(required=True, validate=[v.length(500), _valid_url],
                           metadata={"description": "http(s) URL that receives the posts"})
    events = ma.fields.List(ma.fields.String(validate=_valid_event), required=True,
                            validate=[ma.validate.Length(min=1, max=len(EVENTS) + 1, error=str(
                                _l("Subscribe to at least one event."))), _distinct],
                            metadata={"description": "event names, or \"*\" for all",
                                      "uniqueItems": True})
    secret = ma.fields.String(load_default=None, allow_none=True, validate=_valid_secret,
                              metadata={"description": "omit to have one generated"})


def create_subscription(url: str, events: list[str], secret: str | None = None
                        ) -> WebhookSubscription:
    """Subscribe ``url`` to ``events``; raises ValidationFailed (422) for a bad URL, an
    unknown event or a malformed secret. Without ``secret`` one is generated; it is on the
    returned object, which is the only time the API shows it."""
    values = v.load(SubscriptionSchema(), {"url": url, "events": list(events or []),
                                           "secret": secret})
    with write_transaction() as session:
        sub = WebhookSubscription(url=values["url"], events=list(values["events"]),
                                  secret=values["secret"] or secrets.token_hex(32),
                                  active=True)
        session.add(sub)
    return sub


def list_subscriptions(*, include_inactive: bool = True) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if not include_inactive:
        query = query.where(WebhookSubscription.active.is_(True))
    return list(db.session.scalars(query))


def get_subscription(subscription_id: int) -> WebhookSubscription:
    sub = db.session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise NotFound(_l("No webhook subscription %(id)s.", id=subscription_id))
    return sub


def deactivate_subscription(subscription_id: int) -> WebhookSubscription:
    """Stop sending to a subscription; its delivery log is kept and pending deliveries are
    given up when their job runs. Idempotent."""
    with write_transaction() as session:
        sub = session.get(WebhookSubscription, subscription_id)
        if sub is None:
            raise NotFound(_l("No webhook subscription %(id)s.", id=subscription_id))
        sub.active = False
    return sub


def delete_subscription(subscription_id: int) -> None:
    """Remove a subscription and its delivery log for good."""
    with write_transaction() as session:
        sub = session.get(WebhookSubscription, subscription_id)
        if sub is None:
            raise NotFound(_l("No webhook subscription %(id)s.", id=subscription_id))
        session.execute(WebhookDelivery.__table__.delete()
                        .where(WebhookDelivery.subscription_id == subscription_id))
        session.delete(sub)


def deliveries_for(subscription_id: int, limit: int = 50) -> list[WebhookDelivery]:
    """The newest deliveries of a subscription first."""
    get_subscription(subscription_id)
    return list(db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.id.desc()).limit(limit)))


def get_delivery(delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(_l("No webhook delivery %(id)s.", id=delivery_id))
    return delivery


# --------------------------------------------------------------------------- payloads


def booking_data(booking: Booking, tz: ZoneInfo | None = None) -> dict[str, Any]:
    """What a ``booking.*`` event says; times are store-local ISO 8601 with offset."""
    if tz is None:
        store = db.session.get(Store, booking.store_id)
        tz = ZoneInfo(store.timezone if store is not None else "UTC")
    return {
        "id": booking.id, "code": booking.code, "store_id": booking.store_id,
        "staff_id": booking.staff_id, "service_id": booking.service_id,
        "customer_id": booking.customer_id, "status": booking.status,
        "start_at": booking.start_at.astimezone(tz).isoformat(),
        "end_at": booking.end_at.astimezone(tz).isoformat(),
        "price": booking.price, "currency": booking.currency,
    }


def customer_data(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "phone": customer.phone, "name": customer.name,
            "source": customer.source}


# ----------------------------------------------------------------------------- outbox


def _wants(sub: WebhookSubscription, event: str) -> bool:
    events = sub.events or []
    return event in events or ALL_EVENTS in events


def record(event: str, payload: dict[str, Any]) -> None:
    """Queue ``event`` with ``payload`` (its ``data``) for every active subscription that
    wants it. Call inside the transaction of the change; nothing is sent unless it commits.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    session = db.session()
    subs = [s for s in session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)) if _wants(s, event)]
    if not subs:
        return
    created_at = utcnow().isoformat()
    data = json.loads(json.dumps(payload, default=str))  # plain JSON, frozen now
    rows = []
    for sub in subs:
        body = {"id": uuid.uuid4().hex, "event": event, "created_at": created_at,
                "data": data}
        row = WebhookDelivery(subscription_id=sub.id, event=event, payload=body,
                              status="pending", attempts=0)
        session.add(row)
        rows.append(row)
    session.flush()
    for row in rows:
        jobs.enqueue(JOB, row.id, 0)


def record_booking(event: str, booking: Booking) -> None:
    """:func:`record` for a booking event (``booking.created`` etc.)."""
    record(event, booking_data(booking))


def record_customer(customer: Customer, event: str = "customer.created") -> None:
    """:func:`record` for a customer event; flushes first so the new row has its id."""
    if customer.id is None:
        db.session.flush()
    record(event, customer_data(customer))


# --------------------------------------------------------------------------- delivery


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed post: 60 s, 120 s, 240 s, ... at most 1 h."""
    return min(timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** attempts), BACKOFF_CAP)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to log, not to follow (a signed POST would become a GET)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST; return (status code, response excerpt). Network errors raise OSError."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"refusing to post to {url!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as resp:
            return resp.status, resp.read(ERROR_EXCERPT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        try:
            text = exc.read(ERROR_EXCERPT).decode("utf-8", "replace")
        except OSError:
            text = ""
        finally:
            exc.close()
        return exc.code, text


def deliver(delivery_id: int, attempt: int | None = None) -> None:
    """Job: post one delivery. ``attempt`` is the attempt count the job was scheduled for;
    a job whose delivery has moved on (delivered, failed, or already tried again by a
    replay) does nothing."""
    table = WebhookDelivery.__table__.c
    with write_transaction() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None or row.status != "pending":
            return
        expected = row.attempts if attempt is None else attempt
        claimed = session.execute(
            update(WebhookDelivery.__table__)
            .where(table.id == delivery_id, table.status == "pending",
                   table.attempts == expected)
            .values(attempts=expected + 1, next_attempt_at=None)
        ).rowcount
        if claimed != 1:
            return  # another job made this attempt
        sub = session.get(WebhookSubscription, row.subscription_id)
        if sub is None or not sub.active:
            session.execute(update(WebhookDelivery.__table__).where(table.id == delivery_id)
                            .values(status="failed", attempts=expected,
                                    last_error="subscription deactivated"))
            return
        url, secret = sub.url, sub.secret
        event, payload = row.event, row.payload
    attempts = expected + 1

    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    raw = body.encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Fulian-Event": event,
        "X-Fulian-Delivery": str(payload.get("id", delivery_id)),
        "X-Fulian-Timestamp": str(timestamp),
        "X-Fulian-Signature": sign(secret, timestamp, raw),
    }
    code: int | None = None
    error: str | None = None
    try:
        code, text = _post(url, raw, headers)
        if not 200 <= code < 300:
            error = f"HTTP {code}: {text}".strip()[:ERROR_EXCERPT]
    except Exception as exc:  # timeouts, refused connections, DNS, TLS ...
        error = f"{type(exc).__name__}: {exc}"[:ERROR_EXCERPT]

    with write_transaction() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return  # the subscription was deleted meanwhile
        row.last_status_code = code
        if error is None:
            row.status = "delivered"
            row.delivered_at = utcnow()
            row.last_error = None
            return
        row.last_error = error
        log.warning("webhook delivery %s (%s to %s) failed, attempt %d of %d: %s",
                    delivery_id, event, url, attempts, MAX_ATTEMPTS, error)
        if row.attempts != attempts or row.status != "pending":
            return  # another job claimed a newer attempt meanwhile: it owns the schedule
        if attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            row.next_attempt_at = None
            log.warning("webhook delivery %s gave up after %d attempts", delivery_id,
                        attempts)
            return
        wait = backoff(attempts)
        row.next_attempt_at = utcnow() + wait
        jobs.enqueue(JOB, delivery_id, attempts, delay=wait)


def replay(delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now, whatever its status (409 if the subscription is off).
    A failed replay is retried with backoff while attempts remain."""
    with write_transaction() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise NotFound(_l("No webhook delivery %(id)s.", id=delivery_id))
        sub = session.get(WebhookSubscription, row.subscription_id)
        if sub is None or not sub.active:
            raise Conflict(_l("The subscription of this delivery is deactivated."))
        row.status = "pending"
        row.next_attempt_at = utcnow()
        row.delivered_at = None
        jobs.enqueue(JOB, row.id, row.attempts)
    return row
