"""Helpers shared by the set-up pages of the back office (stores, services, staff,
roster, plugins, brand).

The set-up pages are for people who *administer* stores (``policy.admin_store_ids``):
store managers for their stores, owners and brand admins for all. A front desk is a
back-office user too but may not change set-up, so these pages answer 403 for them; a
record of a store the user does not administer answers 404 so that its existence does
not leak. Writes are attributed to the page user in the audit log, as the API does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from babel.numbers import get_currency_precision
from flask import abort, render_template
from flask_babel import gettext as _

from ...auth import policy
from ...errors import ValidationFailed
from ...extensions import db
from ...models import Store, User
from ..context import current_brand
from ..session import back_office, page_user

F = TypeVar("F", bound=Callable[..., Any])


def user() -> User:
    """The logged-in user (the guards below ran first, so there is one)."""
    found = page_user()
    assert found is not None
    return found


def administers_any(who: User | None) -> bool:
    ids = policy.admin_store_ids(who)
    return ids is None or bool(ids)


def setup_page(view: F) -> F:
    """Back-office login, then: the user administers at least one store (else 403)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not administers_any(page_user()):
            abort(403)
        return view(*args, **kwargs)

    return back_office(wrapper)  # type: ignore[return-value]


def brand_page(view: F) -> F:
    """Back-office login, then: owner or brand admin (else 403)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not policy.is_brand_admin(page_user()):
            abort(403)
        return view(*args, **kwargs)

    return back_office(wrapper)  # type: ignore[return-value]


def require_brand_admin() -> None:
    """A brand-level change (catalogue, new store) inside a set-up page: 403 otherwise."""
    if not policy.is_brand_admin(page_user()):
        abort(403)


def administered_stores(include_closed: bool = True) -> list[Store]:
    """Stores the user administers, by id."""
    return policy.stores_of(page_user(), administered=True, active_only=not include_closed)


def administered_store(store_id: int) -> Store:
    """The store if the user administers it, else 404."""
    store = db.session.get(Store, store_id)
    if store is None or not policy.administers(page_user(), store.id):
        abort(404)
    return store


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("is_brand_admin", policy.is_brand_admin(page_user()))
    return render_template(template, face="admin", **context), status


def status_of(*forms: Any) -> int:
    """422 when one of the re-rendered forms failed, else 200."""
    return 422 if any(f is not None and not f.ok for f in forms) else 200


def to_int(value: Any) -> Any:
    """A typed number as int; blank as None; anything else unchanged for the schema to
    refuse with its own translated message."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def currency_precision() -> int:
    brand = current_brand()
    return get_currency_precision((brand.currency if brand is not None else None) or "CNY")


def parse_money(text: str, field: str, *, required: bool = True) -> int | None:
    """A price typed in major units ("128.50") as integer minor units (12850), exactly:
    Decimal, never float; more decimals than the currency has are refused."""
    text = (text or "").strip().replace(",", "").replace("¥", "").replace("￥", "")
    if not text:
        if required:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                field: [_("Missing data for required field.")]})
        return None
    precision = currency_precision()
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ValidationFailed(_("The input is not valid."), field_errors={
            field: [_("Enter an amount like 128.50.")]})
    if value < 0:
        raise ValidationFailed(_("The input is not valid."), field_errors={
            field: [_("The amount cannot be negative.")]})
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > precision:
        raise ValidationFailed(_("The input is not valid."), field_errors={
            field: [_("Use at most %(n)d decimal places.", n=precision)]})
    minor = int(value.scaleb(precision))
    if minor > 10**13:
        raise ValidationFailed(_("The input is not valid."), field_errors={
            field: [_("The amount is too large.")]})
    return minor


def format_major(minor: int | None) -> str:
    """Minor units as the text a person would type back ("128.50")."""
    if minor is None:
        return ""
    precision = currency_precision()
    return f"{Decimal(int(minor)).scaleb(-precision):.{precision}f}"


def clock(minutes: int | None) -> str:
    if minutes is None:
        return ""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_clock(text: str, field: str) -> int:
    """``HH:MM`` (00:00-24:00) as minutes since midnight; a field error otherwise."""
    from ... import validation as v

    text = (text or "").strip()
    if not v.valid_clock.regex.match(text):
        raise ValidationFailed(_("The input is not valid."), field_errors={
            field: [_("Use a time like 09:30 (00:00 to 24:00).")]})
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def rename_fields(exc: ValidationFailed, names: dict[str, str]) -> ValidationFailed:
    """The service's field names as the form's field names."""
    return ValidationFailed(exc.message, field_errors={
        names.get(k, k): m for k, m in exc.field_errors.items()})
