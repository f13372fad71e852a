"""Wallet (paid add-on): stored-value cards with bonus, spent as a tender at checkout;
punch cards; points; member tiers by spend with a discount on every quote.

Everything reaches the core through hooks: its models and migration branch, its
translations (``translations/``, extracted by ``scripts/i18n-update``), its API
blueprint, its tender (``fulian_account_tenders``) and its member-centre section.
Disabled, all of that disappears and the data (and ledger balances) stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import url_for
from flask_babel import gettext
from markupsafe import Markup, escape

from core.sdk import PluginMeta, hookimpl
from core.sdk.types import AccountTender, Section
from core.sdk.web import money

from . import (
    blueprints,
    checkout,
    models,  # noqa: F401 - registers the tables
    pages,  # noqa: F401 - its routes join the admin blueprint
    pages_setup,  # noqa: F401 - its routes join the admin blueprint
    points,
    punch,
    service,
    tiers,
)
from .api import blp

meta = PluginMeta(name="wallet", title="Wallet: stored value", version="0.1.0", paid=True,
                  core=">=0.1,<0.2",
                  description="Stored-value cards with bonus, spent at checkout.")


@hookimpl
def fulian_translation_dirs() -> list[str]:
    return [str(Path(__file__).resolve().parent / "translations")]


@hookimpl
def fulian_register_blueprints(app: Any) -> list[Any]:
    return [blp, blueprints.admin, blueprints.customer]


@hookimpl
def fulian_menu_items(face: str, user: Any) -> list[dict[str, Any]]:
    if face != "admin":
        return []
    return [{"label": gettext("Wallet"), "endpoint": "wallet_admin.index", "order": 35}]


@hookimpl
def fulian_account_tenders() -> list[AccountTender]:
    return [service.WalletTender()]


@hookimpl
def fulian_price_adjustments(quote: Any) -> list[dict[str, Any]]:
    covered = punch.adjustments(quote)
    return covered or tiers.adjustments(quote)  # a visit on a card gets no tier discount


@hookimpl
def fulian_booking_event(booking: Any, event: str) -> None:
    punch.on_booking_event(booking, event)
    if event == "completed":
        points.earn(booking)
    elif event in punch.RELEASE:
        points.give_back(booking)


@hookimpl
def fulian_periodic_jobs() -> list[tuple[str, int, Any]]:
    return [("wallet.expire_punch_cards", 3600, punch.expire_cards)]


@hookimpl
def fulian_order_paid(order: Any) -> None:
    service.deliver(order)


@hookimpl
def fulian_checkout_sections(order: Any, customer: Any, face: str) -> list[dict[str, Any]]:
    return checkout.sections(order, face)


@hookimpl
def fulian_customer_sections(customer: Any, face: str) -> list[Section]:
    now = service.balances(customer.id)
    rows = "".join(
        f"<tr><th scope=\"row\">{escape(checkout.KINDS.get(r['kind'], r['kind']))}</th>"
        f"<td>{escape(money(r['change']))}</td></tr>"
        for r in service.statement(customer.id, limit=5))
    html = Markup(
        '<div class="wallet-card"><p class="big-time">{total}</p>'
        '<p class="muted">{split}</p><table class="receipt">{rows}</table>{more}</div>'
    ).format(total=money(now["total"]),
             split=gettext("Paid in %(principal)s · bonus %(bonus)s",
                           principal=money(now["principal"]), bonus=money(now["bonus"])),
             rows=Markup(rows), more=Markup(
                 '<p class="actions"><a class="button button-small" href="{}">{}</a> '
                 '<a href="{}">{}</a></p>').format(
                 url_for("wallet_customer.top_up"), gettext("Top up online"),
                 url_for("wallet_customer.statement"), gettext("Full statement"))
             if face == "customer" else "")
    sections = [{"key": "wallet", "title": gettext("Stored value"), "html": html,
                 "order": 10}]
    cards = [c for c in punch.cards_of(customer.id) if punch.is_live(c)]
    if cards:
        items = Markup("").join(
            Markup("<li>{}: {}</li>").format(
                c.expires_at.date().isoformat(),
                gettext("%(left)d of %(total)d visits left", left=c.uses_left,
                        total=c.uses_total)) for c in cards)
        sections.append({"key": "punch", "title": gettext("Punch cards"), "order": 15,
                         "html": Markup("<ul>{}</ul>").format(items)})
    owned = points.balance(customer.id)
    if owned:
        sections.append({"key": "points", "title": gettext("Points"), "order": 18,
                         "html": Markup("<p><b>{}</b></p>").format(
                             gettext("%(points)d points", points=owned))})
    tier = tiers.tier_of(customer.id)
    if tier is not None:
        sections.append({"key": "tier", "title": gettext("Member tier"), "order": 20,
                         "html": Markup("<p><b>{}</b> · {}</p>").format(
                             tier.name, gettext("%(percent)d%% off every booking",
                                                percent=tier.discount_percent))})
    return sections
