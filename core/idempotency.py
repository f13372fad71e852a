"""``Idempotency-Key`` for every call that moves money or creates a booking.

A client that did not hear the answer (a timeout, a double tap, a retrying proxy) sends
the request again with the same key; it must get the first answer, and the effect must
happen once — also when the copies arrive at the same moment.

The protocol:

* A key belongs to one caller for one operation (``scope``): another caller's identical
  key is their own. The request's fingerprint (method, path with its ids, caller, body
  as canonical JSON) is stored with it; the same key with another fingerprint is 422
  :class:`KeyReused` on the field ``Idempotency-Key``.
* **Claim first.** ``INSERT … ON CONFLICT DO NOTHING`` of a ``running`` row, in its own
  short transaction, before the effect: exactly one request wins the key, and nobody
  collides on the unique index (NOTES trap 21).
* The winner runs the effect. Its reply is stored by the ``before_commit`` hook of the
  service, in the **same transaction as the effect**: "it happened" and "the reply is
  known" commit together or not at all. A domain error (4xx) is the reply too (a retry
  gets the same refusal); an unexpected error (5xx) releases the claim, so a retry runs
  the effect afresh. A claim left ``running`` longer than
  ``FULIAN_IDEMPOTENCY_STALE_SECONDS`` (default 60) belongs to a process that died and is
  taken over; should its owner still be alive, its commit finds the claim gone and
  rolls back (:class:`ClaimLost`).
* The losers poll the row (20 ms, growing to 250 ms) for up to
  ``FULIAN_IDEMPOTENCY_WAIT_SECONDS`` (default 10) and replay the winner's reply byte for
  byte with ``Idempotent-Replayed: true``; without a reply by then, 409 "still being
  processed" with ``Retry-After``. Never a 500.

Use it in a view (or a plugin's view) around a service that opens its own write
transaction and takes a ``before_commit`` callback::

    from core.idempotency import idempotent, json_reply

    @blp.post("/orders/<id:order_id>/payments")
    def pay(data, order_id):
        ...  # permission checks first: a refusal here is not remembered
        return idempotent("orders.pay", lambda remember: orders.pay(
            order_id, "cash", data["amount"],
            before_commit=lambda payment: remember(json_reply(PaymentOut().dump(payment)))))

``remember(response)`` must be called inside the effect's transaction; ``idempotent``
returns that response (or the replay). Without the header the effect simply runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Response, current_app, g, request
from flask import json as flask_json
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from werkzeug.exceptions import HTTPException

from .db import WRITE_OPTION, utcnow
from .errors import FulianError, ValidationFailed
from .extensions import db
from .models.idempotency import DONE, RUNNING, IdempotencyRecord
from .web.errors import problem

log = logging.getLogger(__name__)
MAX_KEY = 128
HEADER = "Idempotency-Key"
POLL_FIRST, POLL_MOST = 0.02, 0.25
#: seconds a client told "still being processed" should wait before retrying
RETRY_AFTER = 1
TABLE = IdempotencyRecord.__table__
Remember = Callable[[Response], None]


class KeyReused(ValidationFailed):
    status = 422


class ClaimLost(Exception):
    """The claim was taken over while the effect ran (this process was presumed dead):
    raised inside the effect's transaction so that it rolls back."""


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationFailed(_l("The Idempotency-Key header must be 1-128 printable "
                                  "characters."),
                               field_errors={HEADER: [_l("Invalid value.")]})
    return key


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def fingerprint(caller: str) -> str:
    """What makes this request the one the key was first used for."""
    body = request.get_json(silent=True)
    return request_hash({"method": request.method, "path": request.path, "caller": caller,
                         "body": body if body is not None else request.get_data(as_text=True)})


def caller_of_request() -> str:
    """The identity keys are scoped to: the authenticated user of the request."""
    user = g.get("user")
    return f"user:{user.id}" if user is not None else "anonymous"


def json_reply(data: Any, status: int = 201) -> Response:
    """A JSON reply to remember (and return)."""
    return Response(flask_json.dumps(data), status=status, mimetype="application/json")


def replay(record: Any) -> Response:
    """A stored reply, byte for byte, marked as a replay."""
    resp = Response(record.body, status=record.status, content_type=record.content_type)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def _reused() -> KeyReused:
    return KeyReused(_l("This Idempotency-Key was already used for a different request."),
                     field_errors={HEADER: [_l("Use a new key for a new request.")]})


def idempotent(scope: str, effect: Callable[[Remember], Any], *,
               caller: str | None = None) -> Response:
    """Run ``effect(remember)`` at most once per ``Idempotency-Key`` of the request and
    return its reply (see the module's documentation). ``scope`` names the operation
    (``"orders.pay"``); ``caller`` defaults to the request's user."""
    header = request.headers.get(HEADER)
    if header is None:
        return _run(effect)
    key = check_key(header)
    who = caller if caller is not None else caller_of_request()
    digest = fingerprint(who)
    if not _claims_on():
        return _unclaimed(scope, who, key, digest, effect)
    config = current_app.config
    deadline = time.monotonic() + config["FULIAN_IDEMPOTENCY_WAIT_SECONDS"]
    stale = timedelta(seconds=config["FULIAN_IDEMPOTENCY_STALE_SECONDS"])
    pause, found = POLL_FIRST, None
    while True:
        # a claim first; then, while another request holds the key, only look at it
        found = (_claim(scope, who, key, digest, stale) if found is None
                 else _look(scope, who, key, digest, stale))
        if isinstance(found, Claim):
            reply = found.run(effect)
            if reply is not None:
                return reply
        elif found is not None and found.state == DONE:
            return replay(found)
        if time.monotonic() >= deadline:
            return _still_running()
        time.sleep(pause)
        pause = min(pause * 1.5, POLL_MOST)


def _run(effect: Callable[[Remember], Any],
         store: Callable[[Response], None] | None = None) -> Response:
    """Run the effect; ``store`` keeps its reply inside the effect's transaction."""
    replies: list[Response] = []

    def remember(reply: Response) -> None:
        if store is not None:
            store(reply)
        replies.append(reply)

    effect(remember)
    if not replies:
        raise RuntimeError("the effect did not remember its reply")
    return replies[-1]


@dataclass
class Claim:
    """This request's hold on a key: only it may run the effect and finish the row."""

    id: int
    token: str

    def run(self, effect: Callable[[Remember], Any]) -> Response | None:
        """The reply of the effect, stored with it; None when the claim was lost."""
        try:
            return _run(effect, self._store)
        except ClaimLost:
            return None
        except (FulianError, HTTPException) as exc:
            status = exc.status if isinstance(exc, FulianError) else exc.code or 500
            if status >= 500 or status == 429:  # not the request's fault: it may run again
                self._release()
                raise
            reply = current_app.make_response(current_app.handle_user_exception(exc))
            with _write() as conn:
                return reply if conn.execute(self._finish(reply)).rowcount else None
        except BaseException:
            self._release()
            raise

    def _store(self, reply: Response) -> None:
        if not db.session.execute(self._finish(reply)).rowcount:
            raise ClaimLost

    def _finish(self, reply: Response) -> Any:
        now = utcnow()
        return (update(TABLE).where(TABLE.c.id == self.id, TABLE.c.claim == self.token,
                                    TABLE.c.state == RUNNING)
                .values(state=DONE, status=reply.status_code,
                        body=reply.get_data(as_text=True), content_type=reply.content_type,
                        completed_at=now))

    def _release(self) -> None:
        """Give the key back after an unexpected error, so that a retry runs again."""
        try:
            with _write() as conn:
                conn.execute(delete(TABLE).where(TABLE.c.id == self.id,
                                                 TABLE.c.claim == self.token,
                                                 TABLE.c.state == RUNNING))
        except Exception:  # the database may be the failure: the claim then goes stale
            log.warning("could not release idempotency claim %s", self.id, exc_info=True)


def _claim(scope: str, caller: str, key: str, digest: str, stale: timedelta
           ) -> Claim | Any:
    """Our new claim on the key, or else what :func:`_look` finds."""
    token = secrets.token_hex(16)
    now = utcnow()
    with _write() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        new_id = conn.execute(insert(TABLE).values(
            scope=scope, caller=caller, key=key, request_hash=digest, state=RUNNING,
            claim=token, created_at=now, claimed_at=now,
        ).on_conflict_do_nothing(index_elements=["scope", "caller", "key"])
            .returning(TABLE.c.id)).scalar()
    if new_id is not None:
        return Claim(new_id, token)
    return _look(scope, caller, key, digest, stale)


def _look(scope: str, caller: str, key: str, digest: str, stale: timedelta) -> Claim | Any:
    """The row another request holds (None if it was released meanwhile); a stale
    claim is taken over (our Claim); another fingerprint is 422."""
    now = utcnow()
    with db.engine.connect() as conn:
        row = conn.execute(select(TABLE).where(TABLE.c.scope == scope, TABLE.c.caller ==
                                               caller, TABLE.c.key == key)).first()
    if row is not None and row.request_hash != digest:
        raise _reused()
    if row is None or row.state == DONE or row.claimed_at > now - stale:
        return row
    token = secrets.token_hex(16)
    with _write() as conn:  # its process died: take it over, unless someone else did
        taken = conn.execute(update(TABLE).where(
            TABLE.c.id == row.id, TABLE.c.state == RUNNING, TABLE.c.claim == row.claim
        ).values(claim=token, claimed_at=now)).rowcount
    if taken:
        log.warning("took over the stale idempotency claim %s (%s)", row.id, scope)
        return Claim(row.id, token)
    return None


@contextmanager
def _write() -> Iterator[Any]:
    """A short write transaction on a connection of its own: the request's session (its
    rows, its open read) is left alone, and the claim is visible to others at once."""
    with db.engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _still_running() -> Response:
    resp = problem(409, _("Conflict"), detail=_(
        "This request is still being processed. Please retry it in a moment."))
    resp.headers["Retry-After"] = str(RETRY_AFTER)
    return resp


def _claims_on() -> bool:
    """Always, except where a test switches claims off to show what they prevent."""
    config = current_app.config
    return config.get("FULIAN_ENV") != "test" or str(
        config.get("FULIAN_IDEMPOTENCY_CLAIMS", "1")).lower() not in ("0", "false")


def _unclaimed(scope: str, caller: str, key: str, digest: str,
               effect: Callable[[Remember], Any]) -> Response:
    """The former look-up-then-insert (tests only): concurrent copies both miss the
    look-up and collide on the unique index when they store their reply."""
    row = db.session.execute(select(TABLE).where(
        TABLE.c.scope == scope, TABLE.c.caller == caller, TABLE.c.key == key)).first()
    if row is not None:
        if row.request_hash != digest:
            raise _reused()
        return replay(row)

    def store(reply: Response) -> None:
        db.session.execute(TABLE.insert().values(
            scope=scope, caller=caller, key=key, request_hash=digest, state=DONE,
            status=reply.status_code, body=reply.get_data(as_text=True),
            content_type=reply.content_type, created_at=utcnow(), claimed_at=utcnow()))

    return _run(effect, store)


# --- the one-time form tokens of the pages (core.web.once) and the booking API until it
# moves to :func:`idempotent`: a reply looked up, and stored in the effect's transaction.

def lookup(scope: str, key: str, digest: str) -> IdempotencyRecord | None:
    """The stored reply for this key, or None; KeyReused if the request differs."""
    record = db.session.scalars(select(IdempotencyRecord).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.caller == "",
        IdempotencyRecord.key == key)).first()
    if record is not None and record.request_hash != digest:
        raise _reused()
    return record


def remember(scope: str, key: str, digest: str, status: int, body: str,
             content_type: str = "application/json") -> None:
    """Store a reply inside the caller's (the effect's) transaction."""
    db.session.add(IdempotencyRecord(scope=scope, key=key, request_hash=digest,
                                     status=status, body=body, content_type=content_type,
                                     state=DONE, completed_at=utcnow()))
