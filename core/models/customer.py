"""Customers (the brand's clients) with tags and notes for CRM."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, utcnow
from ..extensions import db

CUSTOMER_SOURCES = ("online", "walk_in", "phone", "import", "referral")


class Customer(db.Model):
    __tablename__ = "customers"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    source: Mapped[str] = mapped_column(String(16), default="online")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tags: Mapped[list[CustomerTag]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerTag.tag"
    )
    notes: Mapped[list[CustomerNote]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerNote.id"
    )

    __table_args__ = (
        CheckConstraint(
            "source in ('online','walk_in','phone','import','referral')", name="source"
        ),
    )


class CustomerTag(db.Model):
    __tablename__ = "customer_tags"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(40), index=True)

    customer: Mapped[Customer] = relationship(back_populates="tags")

    __table_args__ = (UniqueConstraint("customer_id", "tag", name="uq_customer_tags_customer_tag"),)


class CustomerNote(db.Model):
    __tablename__ = "customer_notes"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="notes")
