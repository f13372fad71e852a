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
* **Only public targets.** A webhook is a request our server makes to a URL an admin
  typed: pointed at ``127.0.0.1``, the office network or the cloud metadata service
  (``169.254.169.254``) it would reach systems the admin cannot. Such targets (loopback,
  private, CGNAT, link-local, unique-local, multicast, reserved, unspecified, their
  IPv4-mapped IPv6 forms, and metadata host names) are refused when the subscription is
  made (422 on ``url``) and again at every delivery, because DNS may answer differently
  later: the name is resolved, every address checked, and the connection opened to the
  checked address itself (TLS still verifies the certificate against the host name), so a
  rebinding DNS server cannot swap the address in between. A refused delivery fails at
  once, without retries. ``FULIAN_WEBHOOK_ALLOWED_NETWORKS`` (CIDRs) lets an operator
  allow an intranet system on purpose, such as a brand's ERP on 10.x.
* **Nothing of the answer is kept** but its status code: ``last_error`` says
  ``HTTP 500 Internal Server Error`` (the standard phrase, not the receiver's) or the
  class of the network error, so the delivery log cannot be used to read another
  system's pages.
* **At most one sender per attempt.** A ``deliver`` job carries the attempt count it was
  scheduled for and claims the delivery with a conditional ``UPDATE`` before posting, so a
  replay racing a scheduled retry cannot post twice for the same attempt.
* **Nothing stays pending for good.** The core's periodic :func:`sweep_pending` gives a
  job again to every pending delivery whose attempt is :data:`SWEEP_AFTER` overdue: its
  job was lost (a Redis flushed before jobs were rows) or its worker died mid-post (the
  claim leaves ``next_attempt_at`` at the attempt's start). A job that still turns up
  finds its attempt taken and does nothing.

``attempts`` counts the posts made, successful or not: a delivery accepted at once shows
``attempts == 1``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update

from . import jobs
from . import validation as v
from .db import utcnow, write_transaction
from .errors import Conflict, NotFound, ValidationFailed
from .extensions import db
from .models import Booking, Customer, Store, WebhookDelivery, WebhookSubscription

__all__ = [
    "EVENTS", "MAX_ATTEMPTS", "TIMEOUT_SECONDS", "TargetRefused", "address_problem",
    "backoff", "booking_data", "check_target", "create_subscription", "customer_data",
    "deactivate_subscription", "deliver",
    "delete_subscription", "deliveries_for", "get_delivery", "get_subscription",
    "list_subscriptions", "record", "record_booking", "record_customer", "replay", "sign",
    "sweep_pending", "verify_signature",
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
ERROR_EXCERPT = 500  # characters of last_error at most
USER_AGENT = "Fulian-Webhooks/1"
JOB = "core.webhooks:deliver"
SWEEP_EVERY_SECONDS = 60
#: a pending delivery this late for its attempt lost its job: the sweep schedules it again
SWEEP_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 500


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


# ------------------------------------------------------------------- target checks

#: host names of cloud metadata services: refused whatever they resolve to
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal", "metadata.tencentyun.com", "metadata.azure.internal",
})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach.

    ``str()`` is the reason without the address (it goes into the delivery log, which
    admins read); ``address`` is for the server log.
    """

    def __init__(self, reason: str, address: str | None = None) -> None:
        super().__init__(reason)
        self.address = address


def _resolve(host: str, port: int) -> list[str]:
    """Every IPv4/IPv6 address ``host`` resolves to now, in the resolver's order (an IP
    literal resolves to itself). Network errors (``socket.gaierror``) propagate. Tests
    replace this function to play a DNS server that changes its answers."""
    found: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in found:
            found.append(str(sockaddr[0]))
    return found


def _allowed_networks() -> list[_IPNetwork]:
    """``FULIAN_WEBHOOK_ALLOWED_NETWORKS`` of the current app (a list, or a
    comma-separated string from an override); malformed entries are logged and skipped."""
    raw = current_app.config.get("FULIAN_WEBHOOK_ALLOWED_NETWORKS") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    networks: list[_IPNetwork] = []
    for item in raw:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            log.warning("FULIAN_WEBHOOK_ALLOWED_NETWORKS: ignoring %r", text)
    return networks


def _embedded_ipv4(ip: _IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries and may be routed to: IPv4-mapped
    (``::ffff:127.0.0.1``), 6to4, Teredo and NAT64."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _kind(ip: _IPAddress) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _CGNAT:
        return "shared (CGNAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def address_problem(address: str, allowed: list[_IPNetwork] | None = None) -> str | None:
    """Why webhooks may not post to ``address`` (``"loopback"``, ``"private"``, ...), or
    ``None`` when it is a public address or inside one of the ``allowed`` networks
    (default: ``FULIAN_WEBHOOK_ALLOWED_NETWORKS``)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    except ValueError:
        return "invalid"
    if allowed is None:
        allowed = _allowed_networks()
    candidates: list[_IPAddress] = [*_embedded_ipv4(ip), ip]
    if any(c in net for c in candidates for net in allowed if c.version == net.version):
        return None
    for candidate in candidates:
        kind = _kind(candidate)
        if kind is not None:
            return kind
    return None


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _checked_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to for ``host``, every one of them checked; raises
    :class:`TargetRefused` if any is refused and ``OSError`` if the name does not
    resolve. ``localhost`` names are loopback without asking DNS (RFC 6761)."""
    host = host.lower().rstrip(".")
    if host in METADATA_HOSTS:
        raise TargetRefused("target refused: cloud metadata host name", host)
    if host == "localhost" or host.endswith(".localhost"):
        addresses = ["127.0.0.1", "::1"]
    elif _literal(host):
        addresses = [host]
    else:
        addresses = _resolve(host, port)
    if not addresses:
        raise socket.gaierror(f"{host} has no address")
    allowed = _allowed_networks()
    for address in addresses:
        kind = address_problem(address, allowed)
        if kind is not None:
            raise TargetRefused(f"target refused: {kind} address (an operator can allow "
                                f"intranet networks with FULIAN_WEBHOOK_ALLOWED_NETWORKS)",
                                address)
    return addresses


def check_target(url: str) -> None:
    """Raise ValidationFailed (422 on ``url``) if ``url`` points at an address webhooks may
    not reach. A name that does not resolve yet is accepted: every delivery checks again.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # "[8E5]" has the shape of an IPv6 literal but is none
        raise ValidationFailed(_l("The input is not valid."), field_errors={"url": [
            gettext("Give an http:// or https:// URL with a host name.")]}) from None
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        _checked_addresses(host, port)
    except TargetRefused as exc:
        if host.lower().rstrip(".") in METADATA_HOSTS:
            message = gettext("Webhooks cannot be sent to a cloud metadata service.")
        elif _literal(host):
            message = gettext("Webhooks cannot be sent to a loopback, private, link-local "
                              "or other non-public address. If this is an intranet system "
                              "on purpose, ask the operator to allow its network.")
        else:
            message = gettext("This host name resolves to a loopback, private, link-local "
                              "or other non-public address, where webhooks cannot be sent. "
                              "If this is an intranet system on purpose, ask the operator "
                              "to allow its network.")
        log.info("webhook target %s refused (%s)", url, exc.address)
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"url": [message]}) from None
    except (OSError, ValueError, UnicodeError):
        return  # not resolvable now (or not at all): the delivery will say so


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
    """Subscribe ``url`` to ``events``; raises ValidationFailed (422) for a bad URL (or one
    whose host is not a public address, see :func:`check_target`), an unknown event or a
    malformed secret. Without ``secret`` one is generated; it is on the
    returned object, which is the only time the API shows it."""
    values = v.load(SubscriptionSchema(), {"url": url, "events": list(events or []),
                                           "secret": secret})
    check_target(values["url"])
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


class _PinnedHTTP(http.client.HTTPConnection):
    """Opens its socket to an address checked beforehand, never to a fresh DNS answer.
    ``http.client`` follows no redirects: a 3xx is an answer to log (a signed POST must
    not turn into a GET elsewhere)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


def _tls_context() -> ssl.SSLContext:
    """Certificates checked against the system's CAs and the host name (tests trust
    their own CA here)."""
    return ssl.create_default_context()


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, the certificate verified against the host name (SNI
    and hostname check use ``host``, not the address)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_tls_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = self._context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url``; return the status code (the body is never read).

    Raises :class:`TargetRefused` for a refused target and ``OSError`` for network
    errors. The addresses are tried in the resolver's order until one accepts the
    connection; the request is sent once, on that connection only.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"refusing to post to {url!r}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    failure: OSError | None = None
    for address in _checked_addresses(host, port):
        conn = kind(host, port, address, TIMEOUT_SECONDS)
        try:
            try:
                conn.connect()
            except OSError as exc:  # next address (e.g. no IPv6 route): nothing was sent
                failure = exc
                continue
            conn.request("POST", target, body=body, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()
    raise failure or OSError(f"no address to connect to for {host}")


#: a fixed description per network error class: exception texts (which may quote the
#: other side) stay out of ``last_error``, which admins read; the server log has them
_NETWORK_ERRORS = {
    "TimeoutError": "timed out",
    "ConnectionRefusedError": "connection refused",
    "ConnectionResetError": "connection reset",
    "gaierror": "host name not resolved",
    "SSLCertVerificationError": "TLS certificate not trusted",
    "RemoteDisconnected": "closed the connection without answering",
}


def _http_error(code: int) -> str:
    """``HTTP 500 Internal Server Error``: the standard phrase, not the receiver's."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _network_error(exc: BaseException) -> str:
    name = type(exc).__name__
    what = _NETWORK_ERRORS.get(name)
    return f"{name}: {what}" if what else name


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
            .values(attempts=expected + 1, next_attempt_at=utcnow())  # see sweep_pending
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
    detail = ""  # for the server log only
    refused = False
    try:
        code = _post(url, raw, headers)
        if not 200 <= code < 300:
            error = _http_error(code)
    except TargetRefused as exc:  # no retry: the next attempt would be refused too
        error, refused = str(exc)[:ERROR_EXCERPT], True
        log.warning("webhook delivery %s to %s refused: %s resolves to %s", delivery_id,
                    url, urlsplit(url).hostname, exc.address)
    except Exception as exc:  # timeouts, refused connections, DNS, TLS ...
        error = _network_error(exc)[:ERROR_EXCERPT]
        detail = f" ({exc})"

    with write_transaction() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return  # the subscription was deleted meanwhile
        row.last_status_code = code
        if error is None:
            row.status = "delivered"
            row.delivered_at = utcnow()
            row.next_attempt_at = None
            row.last_error = None
            return
        row.last_error = error
        log.warning("webhook delivery %s (%s to %s) failed, attempt %d of %d: %s%s",
                    delivery_id, event, url, attempts, MAX_ATTEMPTS, error, detail)
        if row.attempts != attempts or row.status != "pending":
            return  # another job claimed a newer attempt meanwhile: it owns the schedule
        if refused or attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            row.next_attempt_at = None
            log.warning("webhook delivery %s gave up after %d attempts%s", delivery_id,
                        attempts, " (target refused)" if refused else "")
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


def sweep_pending(now: datetime | None = None) -> int:
    """Periodic job (``core.resend_webhooks``): schedule again every pending delivery whose
    attempt is more than :data:`SWEEP_AFTER` overdue (its job was lost, or its worker died
    while posting); one whose last attempt never reported is failed. Returns how many
    deliveries it touched."""
    now = now or utcnow()
    table = WebhookDelivery.__table__.c
    overdue = (table.status == "pending", or_(
        table.next_attempt_at <= now - SWEEP_AFTER,
        and_(table.next_attempt_at.is_(None), table.created_at <= now - SWEEP_AFTER)))
    if db.session.scalar(select(table.id).where(*overdue).limit(1)) is None:
        return 0
    with write_transaction() as session:
        ids = list(session.scalars(select(table.id).where(*overdue).order_by(table.id)
                                   .limit(SWEEP_BATCH)))
        given_up = session.execute(
            update(WebhookDelivery.__table__)
            .where(table.id.in_(ids), table.attempts >= MAX_ATTEMPTS, *overdue)
            .values(status="failed", next_attempt_at=None,
                    last_error="the last attempt never reported back")).rowcount
        again = session.execute(
            update(WebhookDelivery.__table__).where(table.id.in_(ids), *overdue)
            .values(next_attempt_at=now).returning(table.id, table.attempts)).all()
        for delivery_id, attempts in again:
            jobs.enqueue(JOB, delivery_id, attempts)
    log.warning("webhook deliveries overdue: %d scheduled again, %d given up", len(again),
                given_up)
    return len(again) + given_up
