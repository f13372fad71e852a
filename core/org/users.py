"""User accounts and their roles. Passwords are only ever stored as argon2id hashes.

This module is the one writer of passwords, roles and the active flag; whatever takes
something away (a password change, a removed role, a deactivation) also ends every page
session and API token of the user (:func:`core.auth.sessions.end_all`)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from .. import phones
from .. import validation as v
from ..auth.passwords import MIN_LENGTH, hash_password
from ..auth.sessions import end_all
from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import BRAND_ROLES, ROLES, RoleAssignment, User
from .stores import get_store

STAFF_ROLES = tuple(r for r in ROLES if r != "customer")


class UserSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[v.not_blank, v.length(120)])
    email = ma.fields.Email(allow_none=True)
    phone = ma.fields.String(allow_none=True, validate=v.valid_phone)
    password = ma.fields.String(allow_none=True)
    locale = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(["zh_CN", "en"]))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            _l("The password is too short."),
            field_errors={"password": [_l("At least %(n)d characters.", n=MIN_LENGTH)]},
        )


def find_user(ref: str | int) -> User:
    """A user by id, email or phone."""
    user = None
    if isinstance(ref, int) or (str(ref).isdigit() and len(str(ref)) < 10):
        user = db.session.get(User, int(ref))
    if user is None:
        phone = phones.lookup_key(str(ref))  # any spelling of the number
        user = db.session.scalars(
            select(User).where(or_(User.email == str(ref).strip().lower(),
                                   User.phone == (phone or str(ref))))
        ).first()
    if user is None:
        raise NotFound(_l("No user %(ref)s.", ref=ref))
    return user


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    values = v.load(UserSchema(), {k: val for k, val in data.items() if val is not None})
    if not values.get("email") and not values.get("phone"):
        raise ValidationFailed(_l("A user needs an email address or a phone number."),
                               field_errors={"email": [_l("Give an email or a phone.")]})
    if values.get("email"):
        values["email"] = values["email"].lower()
    if values.get("phone"):
        # E.164: a login by phone must find the user however the number is typed
        values["phone"] = phones.normalise(values["phone"])
    if values.get("password") is not None:
        check_password_strength(values["password"])
    return values


def new_user(values: dict[str, Any]) -> User:
    """Build (not commit) a user from validated values; caller holds the transaction."""
    conditions = []
    if values.get("email"):
        conditions.append(User.email == values["email"])
    if values.get("phone"):
        conditions.append(User.phone == values["phone"])
    if conditions and db.session.scalars(select(User.id).where(or_(*conditions))).first():
        raise Conflict(_l("A user with this email or phone already exists."),
                       field_errors={"email": [_l("Already taken.")]})
    password = values.pop("password", None)
    user = User(**values, password_hash=hash_password(password) if password else None)
    db.session.add(user)
    return user


def check_role(role: str) -> None:
    if role not in STAFF_ROLES:
        raise ValidationFailed(_l("Unknown role %(role)s.", role=role),
                               field_errors={"role": [_l("One of: %(roles)s",
                                                         roles=", ".join(STAFF_ROLES))]})


def grant(user: User, role: str, store_refs: list[str] | None) -> None:
    check_role(role)
    if role in BRAND_ROLES:
        if store_refs:
            raise ValidationFailed(_l("The %(role)s role covers the whole brand; do not give "
                                      "stores.", role=role))
        targets: list[int | None] = [None]
    else:
        if not store_refs:
            raise ValidationFailed(_l("The %(role)s role needs at least one store.", role=role),
                                   field_errors={"store": [_l("Missing data for required "
                                                              "field.")]})
        targets = [get_store(ref).id for ref in store_refs]
    for store_id in targets:
        if not any(r.role == role and r.store_id == store_id for r in user.roles):
            user.roles.append(RoleAssignment(role=role, store_id=store_id))


def create_user(data: dict[str, Any], role: str | None = None,
                stores: list[str] | None = None) -> User:
    values = _validated(data)
    if role is not None:
        check_role(role)
    with write_transaction():
        user = new_user(values)
        if role:
            grant(user, role, stores)
    return user


def set_password(ref: str | int, password: str) -> User:
    """Set a user's password and end every page session and API token they hold: a
    password is changed because someone else may know it, and whoever logged in with
    the old one must not stay in."""
    check_password_strength(password)
    with write_transaction():
        user = find_user(ref)
        user.password_hash = hash_password(password)
        end_all(user.id, "password_changed")
    return user


def _label(user: User) -> str:
    return user.name or user.email or user.phone or f"#{user.id}"


def _keep_an_owner(user: User) -> None:
    """Refuse to take the last active owner away: nobody could administer the brand
    (or give the role back) any more."""
    others = db.session.scalars(
        select(RoleAssignment.id).join(User, User.id == RoleAssignment.user_id).where(
            RoleAssignment.role == "owner", RoleAssignment.user_id != user.id,
            User.is_active.is_(True))).first()
    if others is None:
        raise Conflict(_l("%(name)s is the last owner; make someone else owner first.",
                          name=_label(user)))


def revoke_role(user_ref: str | int, role: str,
                store_refs: list[str] | None = None) -> list[RoleAssignment]:
    """Take ``role`` from a user: at the given stores, or everywhere when none are given.

    The user's page sessions and API tokens end with it (:func:`end_all`): what they
    were allowed to do was decided when they logged in, so they log in again with the
    roles that remain. The deleted assignments are audited by the flush listener.
    Returns the assignments removed; refuses (changing nothing) a role the user does
    not hold and the last owner.
    """
    check_role(role)
    if role in BRAND_ROLES and store_refs:
        raise ValidationFailed(_l("The %(role)s role covers the whole brand; do not give "
                                  "stores.", role=role))
    with write_transaction():
        user = find_user(user_ref)
        held = [r for r in user.roles if r.role == role]
        removed = held
        if store_refs:
            stores = [get_store(ref) for ref in store_refs]
            for store in stores:
                if not any(r.store_id == store.id for r in held):
                    raise Conflict(_l("%(name)s is not %(role)s at %(store)s.",
                                      name=_label(user), role=role, store=store.code))
            removed = [r for r in held if r.store_id in {s.id for s in stores}]
        if not removed:
            raise Conflict(_l("%(name)s does not have the %(role)s role.",
                              name=_label(user), role=role))
        if role == "owner":
            _keep_an_owner(user)
        for assignment in removed:
            # deleted explicitly: an orphan is only found during the flush, after the
            # audit listener has looked for deletions
            db.session.delete(assignment)
            user.roles.remove(assignment)
        end_all(user.id, "role_removed")
    return removed


def deactivate_user(user_ref: str | int) -> User:
    """Switch an account off: it can no longer log in, and every page session and API
    token it holds ends at once (:func:`end_all`). Its data and history stay."""
    with write_transaction():
        user = find_user(user_ref)
        if not user.is_active:
            raise Conflict(_l("%(name)s is already deactivated.", name=_label(user)))
        if any(r.role == "owner" for r in user.roles):
            _keep_an_owner(user)
        user.is_active = False
        end_all(user.id, "deactivated")
    return user
