"""The plugin contract: every extension point Fulian offers, and nothing else.

A plugin is a module (or object) registered under the ``fulian.plugins`` entry-point group
that carries a :class:`core.plugins.PluginMeta` named ``meta`` and implements some of the
hooks below, decorated with :data:`hookimpl`::

    from core.sdk import PluginMeta, hookimpl

    meta = PluginMeta(name="hello", title="Hello", version="1.0")

    @hookimpl
    def fulian_menu_items(face, user):
        return [{"label": "Hello", "endpoint": "hello.index"}]

Rules every hook shares:

* Only **enabled** plugins are called (enablement is per deployment, in the database, and
  paid plugins also need a valid licence). A disabled plugin is invisible: no hooks, no
  menus, its routes answer 404, its tables and data stay.
* No hook is ``firstresult`` unless its docstring says so; the core collects the list of
  non-``None`` results in plugin registration order.
* Hooks run inside the Flask application context. Hooks called "in the transaction" must
  not commit; hooks called "after commit" must not expect to roll back the change.
* User-facing strings returned by hooks must already be translated (``gettext``) or lazy
  (``lazy_gettext``).

This module is the versioned public API: changing a signature is a breaking change.
Every hookspec here has a caller in the core. Planned, not yet offered (so not declared):
bookable resources (rooms, beds, class seats) taking part in availability with a
database-level no-overlap guarantee, for the beauty and fitness packs; it will arrive
together with the availability-engine change that calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # names in signatures only: the contract imports nothing at run time
    from collections.abc import Callable

    import click
    from flask import Blueprint, Flask
    from markupsafe import Markup
    from marshmallow import Schema

    from .booking.draft import BookingDraft
    from .finance.pricing import Quote
    from .finance.providers import PaymentProvider
    from .models import Booking, BrandSettings, Customer, Order, User
    from .plugin_types import AccountTender, MenuItem, PriceAdjustment, Section
    from .sms import SmsProvider

PROJECT = "fulian"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- setup


@hookspec
def fulian_register_blueprints(app: Flask) -> list[Blueprint] | None:
    """Return the Flask blueprints (web pages and API) this plugin adds.

    Called once by the app factory, for plugins enabled at start-up. The core registers
    them and remembers their owner, so that when the plugin is disabled later its routes
    answer 404 at once; enabling a plugin mounts its routes at the next start of the
    app servers. API blueprints should use the URL prefix ``/api/v1/<plugin>``.

    Example::

        @hookimpl
        def fulian_register_blueprints(app):
            return [web_bp, api_bp]
    """


@hookspec
def fulian_translation_dirs() -> list[str] | None:
    """Return directories holding this plugin's gettext catalogues (domain ``messages``).

    Called by the Babel setup of the app factory and by ``fulian i18n compile``. They are
    merged over the core catalogue, so a plugin may also retranslate a core string.

    Example::

        @hookimpl
        def fulian_translation_dirs():
            return [str(Path(__file__).parent / "translations")]
    """


@hookspec
def fulian_settings_schema() -> tuple[str, Schema] | None:
    """Return ``(section_title, marshmallow_schema_instance)``: this plugin's settings.

    The core then offers, for the enabled plugin, a back-office page
    (``/admin/plugins/<name>/settings``, owners and brand admins, linked from the plugin
    list) and ``GET``/``PUT /api/v1/plugins/<name>/settings``; both validate with the
    schema (refusals per field: the form again, or problem+json 422) and store the dumped
    values per deployment (table ``plugin_settings``, audited). The plugin reads them
    with :func:`core.plugins.plugin_settings`, which fills in each field's
    ``load_default``. ``section_title`` (translated) heads the page.

    The page renders ``String``, ``Integer`` and ``Boolean`` fields, and a choice for a
    field validated by ``OneOf``; ``metadata["label"]`` (translated; default: the field
    name) labels it and ``metadata["description"]`` explains it. Give every field a
    ``load_default`` (or make it ``required``). Called whenever the settings are shown,
    saved or read, also while the plugin is disabled (by :func:`plugin_settings` and
    ``on_enable``): return the schema and do nothing else.

    Example::

        class PointsSettings(ma.Schema):
            points_per_yuan = ma.fields.Integer(
                load_default=1, validate=ma.validate.Range(min=0, max=100),
                metadata={"label": lazy_gettext("Points per yuan"),
                          "description": lazy_gettext("Earned on every paid order.")})
            rounding = ma.fields.String(
                load_default="down", validate=ma.validate.OneOf(["down", "nearest"]),
                metadata={"label": lazy_gettext("Rounding")})

        @hookimpl
        def fulian_settings_schema():
            return (lazy_gettext("Points"), PointsSettings())
    """


@hookspec
def fulian_cli_commands(group: click.Group) -> None:
    """Add click commands to the ``fulian`` command group (``group.add_command(cmd)``).

    Called when the CLI starts, for enabled plugins only.

    Example::

        @click.command("points-expire")
        def expire_points():
            click.echo(gettext("%(n)d points expired.", n=expire_old_points()))

        @hookimpl
        def fulian_cli_commands(group):
            group.add_command(expire_points)
    """


@hookspec
def fulian_periodic_jobs() -> list[tuple[str, int, Callable[[], Any]]] | None:
    """Return ``(name, every_seconds, callable)`` periodic tasks.

    The job scheduler (in process, or ``fulian worker``) runs each ``callable()`` in the
    app context every ``every_seconds``; ``name`` must be unique across plugins.

    Example::

        @hookimpl
        def fulian_periodic_jobs():
            return [("wallet.expire_punch_cards", 3600, expire_punch_cards)]
    """


@hookspec
def fulian_demo_data(brand: BrandSettings) -> None:
    """Add demo records for this plugin after ``fulian demo`` created the core demo brand.

    ``brand`` is the :class:`core.models.BrandSettings` row; write with the core services
    (or the plugin's own) inside the caller's transaction; do not commit.

    Example::

        @hookimpl
        def fulian_demo_data(brand):
            db.session.add(GiftCardDesign(name=f"{brand.name} gift card"))
    """


# ----------------------------------------------------------------------- templates


@hookspec
def fulian_menu_items(face: str, user: User | None) -> list[MenuItem] | None:
    """Return menu entries for a face: ``"customer"``, ``"staff"`` or ``"admin"``.

    ``user`` is the logged-in :class:`core.models.User` or ``None``. Each entry is a dict
    with ``label`` (translated), ``endpoint`` (a Flask endpoint) or ``url``, and optional
    ``order`` (int, default 100) and ``icon``.

    Example::

        @hookimpl
        def fulian_menu_items(face, user):
            if face == "admin":
                return [{"label": gettext("Gift cards"), "endpoint": "giftcards.admin",
                         "order": 60}]
            return None
    """


@hookspec
def fulian_template_slot(name: str, context: dict[str, Any]) -> Markup | str | None:
    """Return an HTML fragment for the named slot, or ``None`` to add nothing.

    Core templates call ``{{ slot("home.after_services") }}``; the fragments of all
    enabled plugins are joined in order. Return :class:`markupsafe.Markup` (or escape user
    data yourself): the string is inserted as is. Slots of the core (and what
    ``context`` holds): ``head`` and ``body.end`` (every page), ``home.hero``
    (``brand``), ``home.after_services`` (``brand``, ``stores``, ``services``),
    ``customer.staff_profile`` (``staff``: a staff member's public page) and
    ``staff_performance`` (``staff``, ``months``: the staff app's performance page).

    Example::

        @hookimpl
        def fulian_template_slot(name, context):
            if name == "home.after_services":
                return Markup("<p class='promo'>{}</p>").format(gettext("Gift cards!"))
            return None
    """


@hookspec
def fulian_customer_sections(customer: Customer, face: str) -> list[Section] | None:
    """Return sections for a customer's profile page.

    ``face`` is ``"customer"`` (member centre) or ``"admin"`` (CRM). Each section is a
    dict with ``key``, ``title`` (translated), ``html`` (Markup) and optional ``order``.

    Example::

        @hookimpl
        def fulian_customer_sections(customer, face):
            html = render_template("giftcards/section.html", customer=customer, face=face)
            return [{"key": "giftcards", "title": gettext("Gift cards"),
                     "html": Markup(html), "order": 20}]
    """


@hookspec
def fulian_checkout_sections(order: Order, customer: Customer | None, face: str
                             ) -> list[Section] | None:
    """Return sections for the checkout of a booking's order (before the tenders).

    ``face`` is ``"customer"`` (the customer paying their booking online) or ``"admin"``
    (the desk, on the booking's back-office page). Each section is a dict with ``key``,
    ``title`` (translated), ``html`` (Markup; forms carry ``csrf_token()`` and post to
    the plugin's own routes, which check the viewer's relation to the order and return
    to the page they came from) and optional ``order``. Used for what changes the price
    at checkout, e.g. redeeming points or not using a punch card.

    Example::

        @hookimpl
        def fulian_checkout_sections(order, customer, face):
            if customer is None:
                return None
            html = render_template("points/redeem.html", order=order, face=face)
            return [{"key": "points", "title": gettext("Redeem points"),
                     "html": Markup(html)}]
    """


@hookspec
def fulian_dashboard_widgets(scope: dict[str, Any]) -> list[Section] | None:
    """Return widgets for the back-office dashboard.

    ``scope`` has ``user`` and ``store_ids`` (the stores the viewer may see). Each widget
    is a dict with ``key``, ``title``, ``html`` and optional ``order``; widgets must only
    show data of ``store_ids``.

    Example::

        @hookimpl
        def fulian_dashboard_widgets(scope):
            sold = cards_sold_today(scope["store_ids"])
            return [{"key": "giftcards", "title": gettext("Gift cards sold today"),
                     "html": Markup("<p>{}</p>").format(sold), "order": 30}]
    """


# ----------------------------------------------------------------------- commerce


@hookspec
def fulian_price_adjustments(quote: Quote) -> list[PriceAdjustment] | None:
    """Return price adjustments for a quote.

    ``quote`` exposes ``lines`` (each with ``amount`` in minor units), ``customer`` and
    ``store``. Each adjustment is ``{"source": plugin_name, "label": translated,
    "amount": signed_int_minor_units, "order": int}``; the pricing pipeline applies them
    by ``order`` and records each one so a receipt explains the total.

    Example::

        @hookimpl
        def fulian_price_adjustments(quote):
            if quote.customer is None or "vip" not in (quote.customer.tags or []):
                return None
            off = sum(line.amount for line in quote.lines) // 10
            return [{"source": "vip", "label": gettext("VIP: 10% off"),
                     "amount": -off, "order": 20}]
    """


@hookspec
def fulian_order_paid(order: Order) -> None:
    """An order has just been paid in full, inside the paying transaction: deliver what
    it sold that is not a booking (stored value bought online, ...), e.g. by posting to
    the ledger. Called once per order; raising rolls the payment back (the provider's
    notification is then answered as an error and retried).

    Example::

        @hookimpl
        def fulian_order_paid(order):
            for top_up in TopUp.query.filter_by(order_id=order.id):
                credit_card(top_up)  # posts to the ledger; does not commit
    """


@hookspec
def fulian_account_tenders() -> list[AccountTender] | None:
    """Return tenders paid from an account the brand keeps for the customer (stored
    value, points, ...), settled at once at checkout.

    Each object has ``code`` and ``label`` (translated) and two methods giving ledger
    legs ``(account_code, signed_minor_units)`` (positive = debit):
    ``legs(order, amount)`` for a payment of ``amount`` — everything except the store's
    revenue credit, which the core adds; they sum to ``amount`` (the customer's
    accounts debited, plus any balanced settlement pair between stores) — and
    ``refund_legs(order, payment, amount)`` for refunding ``amount`` of that payment —
    everything except the store's refunds debit; they sum to ``-amount``. Accounts that
    may not go negative make a payment fail with 409 when the balance is short; the
    plugin registers its account purposes with ``core.finance.ledger.register_purpose``.
    A tender may also offer ``available(order)``: how much the order's customer can pay
    with it now; checkout pages offer only tenders that have it and a positive amount.

    Example (plugins/wallet's ``WalletTender`` is a complete one)::

        class GiftCardTender:
            code = "giftcard"
            label = lazy_gettext("Gift card")

            def legs(self, order, amount):
                return [(f"customer:{order.customer_id}:giftcard", amount)]

            def refund_legs(self, order, payment, amount):
                return [(f"customer:{order.customer_id}:giftcard", -amount)]

            def available(self, order):
                return card_balance(order.customer_id)

        @hookimpl
        def fulian_account_tenders():
            return [GiftCardTender()]
    """


@hookspec
def fulian_payment_providers() -> list[PaymentProvider] | None:
    """Return online payment providers: instances of
    :class:`core.finance.providers.PaymentProvider` subclasses.

    The core drives each payment through the provider's lifecycle — ``start`` (after the
    pending payment is committed), ``verify`` and ``acknowledge`` (its notifications, at
    ``/api/v1/payments/<code>/notify``), ``query`` (lost notifications), ``refund`` and
    ``query_refund``, ``close``, ``statement`` — and adds what every provider needs:
    freshness and replay checks, settling at most once, the ledger. A provider whose
    ``readiness()`` lists problems is not offered to customers, and keeps a production
    deployment from starting. Called whenever the providers are looked up.

    Example (plugins/wechatpay, plugins/alipay are complete ones)::

        @hookimpl
        def fulian_payment_providers():
            return [UnionPayProvider()]
    """


@hookspec
def fulian_sms_providers() -> list[SmsProvider] | None:
    """Return SMS providers: instances of :class:`core.sms.SmsProvider` subclasses,
    with ``code``, ``readiness()`` and ``send(message: OutgoingSms) -> SmsReceipt``.

    ``FULIAN_SMS_PROVIDER`` chooses one by ``code``; :func:`core.sms.send` calls it
    outside any transaction and records the outbox row. Demo and test deployments also
    have the built-in ``dev`` provider, which only logs.

    Example (plugins/tencent_sms is a complete one)::

        @hookimpl
        def fulian_sms_providers():
            return [AliyunSmsProvider()]
    """


# ------------------------------------------------------------------------ bookings


@hookspec
def fulian_validate_booking(draft: BookingDraft) -> list[str] | str | None:
    """Veto a booking before it is written: return translated reason(s), or ``None``.

    Called by the booking service inside its write transaction, once the slot is known
    to be free, with a :class:`core.sdk.services.BookingDraft` (``store``, ``service``,
    ``staff``, ``customer``, ``start_at``, ``end_at``, ``source``, ``note``; read-only).
    Any reason from any plugin refuses the booking with HTTP 422 and nothing is written,
    not even a new customer record.

    Example::

        @hookimpl
        def fulian_validate_booking(draft):
            if draft.source == "online" and any(t.tag == "blocked"
                                                for t in draft.customer.tags):
                return gettext("This customer may not book online.")
    """


@hookspec
def fulian_booking_event(booking: Booking, event: str) -> None:
    """React to a booking lifecycle event after its transaction committed.

    ``event`` is one of ``created``, ``confirmed``, ``declined``, ``cancelled``,
    ``rescheduled``, ``completed``, ``no_show``, ``reassigned`` and ``deposit_paid`` (an
    online booking held for its deposit became pending or confirmed). Slow work belongs in a job
    (:func:`core.jobs.enqueue`), not here.

    Example::

        @hookimpl
        def fulian_booking_event(booking, event):
            if event == "confirmed":
                jobs.enqueue(send_reminder, booking.id,
                             at=booking.start_at - timedelta(hours=2))
    """
