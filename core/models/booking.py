"""Bookings and their status history.

``start_at``/``end_at`` are the service time the customer sees; ``block_start``/
``block_end`` add the buffers and are what the staff member is busy for, so the overlap
guard (issue 3) works on the blocked range.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, utcnow
from ..extensions import db

BOOKING_STATUSES = ("awaiting_deposit", "pending", "confirmed", "completed", "cancelled",
                    "declined", "no_show")
#: statuses that hold the staff member's time (an unpaid deposit holds it for a while)
ACTIVE_STATUSES = ("awaiting_deposit", "pending", "confirmed")
BOOKING_SOURCES = ("online", "walk_in", "phone")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a desk


def new_booking_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


class Booking(db.Model):
    __tablename__ = "bookings"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_profiles.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    block_start: Mapped[datetime] = mapped_column(UTCDateTime)
    block_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(16), default="online")
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    #: Short code printed as the check-in QR code and typed by staff to complete.
    code: Mapped[str] = mapped_column(String(12), unique=True, default=new_booking_code)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    history: Mapped[list[BookingStatusChange]] = relationship(
        back_populates="booking", cascade="all, delete-orphan", order_by="BookingStatusChange.id"
    )

    __table_args__ = (
        CheckConstraint(
            "status in ('awaiting_deposit','pending','confirmed','completed','cancelled',"
            "'declined','no_show')",
            name="status",
        ),
        CheckConstraint("source in ('online','walk_in','phone')", name="source"),
        CheckConstraint("start_at < end_at and block_start <= start_at and end_at <= block_end",
                        name="times"),
        CheckConstraint("price >= 0", name="price"),
        Index("ix_bookings_staff_block", "staff_id", "block_start", "block_end"),
        # the hold sweep (core.booking.service.expire_overdue) runs every minute: it reads
        # the few held bookings, never the whole table
        Index("ix_bookings_held_since", "created_at",
              sqlite_where=text("status = 'awaiting_deposit'"),
              postgresql_where=text("status = 'awaiting_deposit'")),
    )


class BookingStatusChange(db.Model):
    """One transition of a booking's lifecycle: who, when, why."""

    __tablename__ = "booking_status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    booking: Mapped[Booking] = relationship(back_populates="history")
