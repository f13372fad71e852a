"""Starting an online payment at its provider: the step between "a pending payment was
committed" and "the customer pays".

It runs outside any database transaction (the provider is called over the network) and
keeps the provider's answer on the payment, so that reloading the pay page, or a
mini-program asking twice, opens no second prepay order; when two requests ask at once,
the first answer stored wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import update

from ..db import utcnow, write_transaction
from ..errors import RuleViolation
from ..extensions import db
from ..models import Order, Payment
from . import events
from .providers import Checkout, PayContext, external_url, installed, notify_url

#: how long a customer has to pay once the provider opened the payment
PAY_WINDOW = timedelta(minutes=30)


def begin(payment: Payment, order: Order, *, user_agent: str = "", client_ip: str = "",
          channel: str | None = None) -> Checkout:
    """How to pay ``payment``: the stored answer, or a new one from its provider."""
    if payment.status != "pending":
        raise RuleViolation(_("This payment is no longer waiting to be paid."))
    if payment.checkout:
        return Checkout.from_dict(payment.checkout)
    provider = installed()[payment.provider]
    context = PayContext(
        channel=provider.choose_channel(user_agent, channel or payment.channel,
                                        payment.payer),
        notify_url=notify_url(payment.provider),
        return_url=external_url("pay.page", ref=payment.external_ref),
        client_ip=client_ip, user_agent=user_agent[:300], openid=payment.payer,
        description=(", ".join(line.description for line in order.lines)
                     or _("Order %(id)s", id=order.id))[:120],
        expires_at=_expires_at(order))
    checkout = provider.start(payment, context)
    with write_transaction() as session:
        session.execute(update(Payment).where(
            Payment.id == payment.id, Payment.checkout.is_(None)
        ).values(checkout=checkout.as_dict(), channel=checkout.channel))
    db.session.expire(payment)
    return Checkout.from_dict(payment.checkout or checkout.as_dict())


def _expires_at(order: Order) -> datetime:
    """The provider's usual window, cut to what the order's receivers of
    :data:`core.finance.events.payment_deadline` allow (a held booking: the end of its
    hold plus the grace given to a customer caught paying)."""
    limit = utcnow() + PAY_WINDOW
    other = events.deadline_of(order)
    return limit if other is None else min(limit, other)
