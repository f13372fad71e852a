"""Staff profiles: the public face of a user who performs services."""

from __future__ import annotations

import secrets

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .catalog import Service
from .store import Store
from .user import User

staff_stores = Table(
    "staff_stores",
    db.metadata,
    Column("staff_id", ForeignKey("staff_profiles.id", ondelete="CASCADE"), primary_key=True),
    Column("store_id", ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True, index=True),
)

staff_services = Table(
    "staff_services",
    db.metadata,
    Column("staff_id", ForeignKey("staff_profiles.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class StaffProfile(db.Model):
    __tablename__ = "staff_profiles"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(120), default="")
    level: Mapped[str] = mapped_column(String(40), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    photo_url: Mapped[str | None] = mapped_column(String(500))
    specialities: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    max_minutes_week: Mapped[int] = mapped_column(Integer, default=40 * 60)
    min_rest_days: Mapped[int] = mapped_column(Integer, default=1)
    #: Secret part of the personal iCalendar feed URL; rotate to revoke a subscription.
    calendar_token: Mapped[str] = mapped_column(
        String(43), unique=True, default=lambda: secrets.token_urlsafe(32)
    )

    user: Mapped[User] = relationship()
    stores: Mapped[list[Store]] = relationship(secondary=staff_stores, order_by=Store.id)
    services: Mapped[list[Service]] = relationship(secondary=staff_services, order_by=Service.id)
