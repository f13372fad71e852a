"""Accounts and their store-scoped roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, utcnow
from ..extensions import db

ROLES = ("owner", "brand_admin", "store_manager", "front_desk", "staff", "customer")
#: Roles that hold for the whole brand; the others are granted per store.
BRAND_ROLES = ("owner", "brand_admin")


class User(db.Model):
    """A person who logs in. ``password_hash`` is argon2id; never shown or audited."""

    __tablename__ = "users"
    __audited__ = True
    __audit_exclude__ = ("password_hash",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(10))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class RoleAssignment(db.Model):
    """A role held by a user; ``store_id`` is NULL for brand-wide roles."""

    __tablename__ = "role_assignments"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    store_id: Mapped[int | None] = mapped_column(
        ForeignKey("stores.id", ondelete="CASCADE"), index=True
    )

    user: Mapped[User] = relationship(back_populates="roles")

    __table_args__ = (
        UniqueConstraint("user_id", "role", "store_id", name="uq_role_assignments_user_role_store"),
        CheckConstraint(
            "role in ('owner','brand_admin','store_manager','front_desk','staff','customer')",
            name="role",
        ),
    )


class ApiToken(db.Model):
    """A bearer token for the API. Only its SHA-256 is stored: a database leak does not
    leak usable tokens. Expiring and revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthFailure(db.Model):
    """Failed password logins counted per login identifier, known or not.

    Counting on the user row locked only accounts that exist, so the lockout itself told
    an attacker which e-mails and phones have accounts. Here every identifier tried
    (normalised: lower-case e-mail, E.164 phone) has a counter and locks alike. Only an
    HMAC of the identifier (keyed with the deployment's secret) is stored: the table is
    not a list of who tried to log in as whom.
    """

    __tablename__ = "auth_failures"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: failures since ``window_start``; the count restarts once the window has passed
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
