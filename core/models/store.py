"""Stores with their weekly opening hours and dated exceptions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, utcnow
from ..extensions import db

STORE_STATUSES = ("active", "closed")


class Store(db.Model):
    __tablename__ = "stores"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Booking policy (minutes unless named otherwise).
    acceptance_required: Mapped[bool] = mapped_column(Boolean, default=False)
    acceptance_timeout_min: Mapped[int] = mapped_column(Integer, default=60)
    acceptance_timeout_action: Mapped[str] = mapped_column(String(16), default="decline")
    cancel_window_min: Mapped[int] = mapped_column(Integer, default=120)
    reschedule_window_min: Mapped[int] = mapped_column(Integer, default=120)
    slot_step_min: Mapped[int] = mapped_column(SmallInteger, default=15)
    min_notice_min: Mapped[int] = mapped_column(Integer, default=60)
    horizon_days: Mapped[int] = mapped_column(SmallInteger, default=60)
    # Money policy (percent of the order's total; services may override the percents).
    deposit_percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    late_cancel_window_min: Mapped[int] = mapped_column(Integer, default=1440)
    late_cancel_fee_percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    no_show_fee_percent: Mapped[int] = mapped_column(SmallInteger, default=0)

    opening_hours: Mapped[list[OpeningHours]] = relationship(
        back_populates="store", cascade="all, delete-orphan", order_by="OpeningHours.weekday"
    )
    holidays: Mapped[list[StoreHoliday]] = relationship(
        back_populates="store", cascade="all, delete-orphan", order_by="StoreHoliday.day"
    )

    __table_args__ = (
        CheckConstraint("status in ('active','closed')", name="status"),
        CheckConstraint("acceptance_timeout_action in ('decline','reassign')",
                        name="timeout_action"),
        CheckConstraint("slot_step_min in (5, 10, 15, 20, 30, 60)", name="slot_step"),
        CheckConstraint("horizon_days between 1 and 365", name="horizon"),
    )


class OpeningHours(db.Model):
    """One opening interval on a weekday (0=Monday), in local minutes since midnight.

    Several rows per weekday express a lunch break; wall-clock minutes (not UTC) keep the
    opening time identical on both sides of a daylight-saving change.
    """

    __tablename__ = "store_opening_hours"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    opens_min: Mapped[int] = mapped_column(SmallInteger)
    closes_min: Mapped[int] = mapped_column(SmallInteger)

    store: Mapped[Store] = relationship(back_populates="opening_hours")

    __table_args__ = (
        CheckConstraint("weekday between 0 and 6", name="weekday"),
        CheckConstraint("opens_min >= 0 and closes_min <= 1440 and opens_min < closes_min",
                        name="interval"),
    )


class StoreHoliday(db.Model):
    """A dated exception: closed all day, or open only for special hours."""

    __tablename__ = "store_holidays"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(120), default="")
    closed: Mapped[bool] = mapped_column(Boolean, default=True)
    opens_min: Mapped[int | None] = mapped_column(SmallInteger)
    closes_min: Mapped[int | None] = mapped_column(SmallInteger)

    store: Mapped[Store] = relationship(back_populates="holidays")

    __table_args__ = (UniqueConstraint("store_id", "day", name="uq_store_holidays_store_day"),)
