"""Provisioning the organisation: stores, staff, services, users."""

from __future__ import annotations

from datetime import date

import click
from flask_babel import gettext as _

from core.errors import ValidationFailed

from .base import echo_table, with_app


def _money(amount: int, currency: str = "") -> str:
    return f"{amount / 100:.2f}{(' ' + currency) if currency else ''}"


# ------------------------------------------------------------------------ stores
@click.group()
def store() -> None:
    """Stores of the brand."""


@store.command("create")
@click.option("--code", required=True, help="Short unique code, e.g. xuhui.")
@click.option("--name", required=True)
@click.option("--timezone", help="IANA zone (default: the brand's).")
@click.option("--address", default="")
@click.option("--phone")
@click.option("--hours", help='Opening hours, e.g. "mon-fri 09:00-21:00; sat,sun 10:00-18:00".')
@with_app
def store_create(code: str, name: str, timezone: str | None, address: str, phone: str | None,
                 hours: str | None) -> None:
    """Create a store."""
    from core.org.brand import get_brand
    from core.org.stores import create_store

    tz = timezone or get_brand().timezone
    row = create_store({"code": code, "name": name, "timezone": tz, "address": address,
                        "phone": phone}, hours=hours)
    click.echo(_("Store %(code)s created (id %(id)d).", code=row.code, id=row.id))


@store.command("list")
@with_app
def store_list() -> None:
    """List stores with their hours."""
    from core.org.hours import format_hours
    from core.org.stores import list_stores

    rows = list_stores()
    if not rows:
        click.echo(_("No stores yet. Create one with: fulian store create --code C --name N"))
        return
    echo_table(["id", "code", _("Name"), _("Status"), _("Time zone"), _("Hours")], [
        [s.id, s.code, s.name, s.status, s.timezone,
         format_hours([(h.weekday, h.opens_min, h.closes_min) for h in s.opening_hours])]
        for s in rows
    ])


def _parse_holiday(value: str) -> tuple[date, str]:
    day, _sep, name = value.partition(":")
    try:
        return date.fromisoformat(day.strip()), name.strip()
    except ValueError as exc:
        raise ValidationFailed(_("Not a valid date: %(value)s (use YYYY-MM-DD).",
                                 value=day)) from exc


@store.command("update")
@click.argument("ref")
@click.option("--code")
@click.option("--name")
@click.option("--timezone")
@click.option("--address")
@click.option("--phone")
@click.option("--status", type=click.Choice(["active", "closed"]))
@click.option("--hours")
@click.option("--holiday", multiple=True, help="Closed day, YYYY-MM-DD[:name]; repeatable.")
@with_app
def store_update(ref: str, code: str | None, name: str | None, timezone: str | None,
                 address: str | None, phone: str | None, status: str | None,
                 hours: str | None, holiday: tuple[str, ...]) -> None:
    """Change a store (REF is its id or code)."""
    from core.org.stores import update_store

    holidays = [_parse_holiday(h) for h in holiday]
    row = update_store(ref, {"code": code, "name": name, "timezone": timezone,
                             "address": address, "phone": phone, "status": status},
                       hours=hours, holidays=holidays)
    click.echo(_("Store %(code)s updated.", code=row.code))


# ------------------------------------------------------------------------- staff
@click.group()
def staff() -> None:
    """Staff members and their profiles."""


@staff.command("add")
@click.option("--name", required=True)
@click.option("--email")
@click.option("--phone")
@click.option("--password", help="Lets the staff member log in (min. 8 characters).")
@click.option("--store", "stores", multiple=True, required=True, help="Store id or code.")
@click.option("--service", "services", multiple=True, help="Service id or name.")
@click.option("--title", default="")
@click.option("--level", default="")
@click.option("--bio", default="")
@click.option("--speciality", "specialities", multiple=True)
@with_app
def staff_add(name: str, email: str | None, phone: str | None, password: str | None,
              stores: tuple[str, ...], services: tuple[str, ...], title: str, level: str,
              bio: str, specialities: tuple[str, ...]) -> None:
    """Add a staff member to one or more stores."""
    from core.org.staff import add_staff

    row = add_staff({"name": name, "email": email, "phone": phone, "password": password},
                    {"title": title, "level": level, "bio": bio,
                     "specialities": list(specialities)},
                    stores=list(stores), services=list(services))
    click.echo(_("Staff member %(name)s added (id %(id)d).", name=row.display_name, id=row.id))


@staff.command("list")
@click.option("--store", help="Only this store (id or code).")
@with_app
def staff_list(store: str | None) -> None:
    """List staff members."""
    from core.org.staff import list_staff

    rows = list_staff(store)
    if not rows:
        click.echo(_("No staff yet. Add one with: fulian staff add --name N --store S"))
        return
    echo_table(["id", _("Name"), _("Title"), _("Stores"), _("Services")], [
        [s.id, s.display_name, s.title, ",".join(x.code for x in s.stores),
         len(s.services)] for s in rows
    ])


# ---------------------------------------------------------------------- services
@click.group()
def service() -> None:
    """Bookable services."""


@service.command("add")
@click.option("--name", required=True)
@click.option("--duration", required=True, type=int, help="Minutes.")
@click.option("--price", required=True, help="Minor units (fen/cents), e.g. 12800 = 128.00.")
@click.option("--category")
@click.option("--buffer-before", type=int, default=0, show_default=True)
@click.option("--buffer-after", type=int, default=0, show_default=True)
@click.option("--description", default="")
@click.option("--store", "stores", multiple=True, help="Offered at (default: all active).")
@click.option("--unpublished", is_flag=True, help="Create hidden from customers.")
@with_app
def service_add(name: str, duration: int, price: str, category: str | None,
                buffer_before: int, buffer_after: int, description: str,
                stores: tuple[str, ...], unpublished: bool) -> None:
    """Add a service."""
    from core.catalog.services import add_service
    from core.validation import minor_units

    row = add_service({"name": name, "duration_min": duration,
                       "price": minor_units(price, "price"),
                       "buffer_before_min": buffer_before, "buffer_after_min": buffer_after,
                       "description": description, "published": not unpublished},
                      category=category, stores=list(stores))
    click.echo(_("Service %(name)s added (id %(id)d).", name=row.name, id=row.id))


@service.command("list")
@click.option("--store", help="Only services offered at this store.")
@with_app
def service_list(store: str | None) -> None:
    """List services."""
    from core.catalog.services import list_services
    from core.org.brand import get_brand

    rows = list_services(store)
    if not rows:
        click.echo(_("No services yet. Add one with: fulian service add --name N "
                     "--duration 60 --price 12800"))
        return
    currency = get_brand().currency
    echo_table(["id", _("Name"), _("Category"), _("Minutes"), _("Price"), _("Published")], [
        [s.id, s.name, s.category.name if s.category else "", s.duration_min,
         _money(s.price, currency), _("yes") if s.published else _("no")] for s in rows
    ])


# ------------------------------------------------------------------------- users
@click.group()
def user() -> None:
    """Accounts that log in to the back office."""


@user.command("create")
@click.option("--name", required=True)
@click.option("--email")
@click.option("--phone")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--role", required=True,
              type=click.Choice(["owner", "brand_admin", "store_manager", "front_desk", "staff"]))
@click.option("--store", "stores", multiple=True, help="For store roles; repeatable.")
@with_app
def user_create(name: str, email: str | None, phone: str | None, password: str, role: str,
                stores: tuple[str, ...]) -> None:
    """Create a user with a role."""
    from core.org.users import create_user

    row = create_user({"name": name, "email": email, "phone": phone, "password": password},
                      role=role, stores=list(stores))
    click.echo(_("User %(name)s created (id %(id)d).", name=row.name, id=row.id))


@user.command("set-password")
@click.argument("ref")
@click.option("--password", required=True, prompt=True, hide_input=True,
              confirmation_prompt=True)
@with_app
def user_set_password(ref: str, password: str) -> None:
    """Set the password of a user (REF: id, email or phone)."""
    from core.org.users import set_password

    row = set_password(ref, password)
    click.echo(_("Password of %(name)s changed.", name=row.name))


@user.command("remove-role")
@click.argument("ref")
@click.option("--role", required=True,
              type=click.Choice(["owner", "brand_admin", "store_manager", "front_desk", "staff"]))
@click.option("--store", "stores", multiple=True,
              help="Only at this store (id or code); repeatable. Default: everywhere.")
@with_app
def user_remove_role(ref: str, role: str, stores: tuple[str, ...]) -> None:
    """Take a role from a user (REF: id, email or phone); ends their sessions and tokens."""
    from core.org.users import find_user, revoke_role

    removed = revoke_role(ref, role, list(stores))
    click.echo(_("Role %(role)s removed from %(name)s (%(n)d assignment(s)); their "
                 "sessions and tokens have ended.", role=role,
                 name=find_user(ref).name or ref, n=len(removed)))


@user.command("deactivate")
@click.argument("ref")
@with_app
def user_deactivate(ref: str) -> None:
    """Switch a user's account off (REF: id, email or phone); ends their sessions and
    tokens. Their data and history stay."""
    from core.org.users import deactivate_user

    row = deactivate_user(ref)
    click.echo(_("%(name)s deactivated; their sessions and tokens have ended.",
                 name=row.name or ref))
