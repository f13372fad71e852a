"""Who can work when: weekly availability, dated overrides, time-off, coverage rules and
the weekly roster generated from them (智能排班).

Wall-clock minutes since local midnight for everything a person types per weekday or
per day (so 09:00 stays 09:00 across daylight-saving changes); UTC instants for time-off,
which is a real stretch of time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, utcnow
from ..extensions import db

_MINUTES = "start_min >= 0 and end_min <= 1440 and start_min < end_min"


class WeeklyAvailability(db.Model):
    """A person's usual working interval on a weekday at a store (several = breaks)."""

    __tablename__ = "weekly_availability"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_profiles.id", ondelete="CASCADE"),
                                          index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_min: Mapped[int] = mapped_column(SmallInteger)
    end_min: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (
        CheckConstraint("weekday between 0 and 6", name="weekday"),
        CheckConstraint(_MINUTES, name="interval"),
    )


class AvailabilityOverride(db.Model):
    """A dated exception to the weekly template: these intervals replace that day's, or
    ``available=False`` (no interval) marks the day off."""

    __tablename__ = "availability_overrides"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_profiles.id", ondelete="CASCADE"),
                                          index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    start_min: Mapped[int | None] = mapped_column(SmallInteger)
    end_min: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        CheckConstraint("(available and start_min is not null and end_min is not null and "
                        + _MINUTES + ") or (not available)", name="interval"),
    )


class TimeOff(db.Model):
    """Time a person is away (whole or part days), as UTC instants."""

    __tablename__ = "time_off"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_profiles.id", ondelete="CASCADE"),
                                          index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="approved")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("start_at < end_at", name="interval"),
        CheckConstraint("status in ('requested','approved','rejected')", name="status"),
    )


class CoverageRule(db.Model):
    """How many people a store needs at a time (optionally able to perform a service)."""

    __tablename__ = "coverage_rules"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    start_min: Mapped[int] = mapped_column(SmallInteger)
    end_min: Mapped[int] = mapped_column(SmallInteger)
    min_staff: Mapped[int] = mapped_column(SmallInteger)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))

    __table_args__ = (
        CheckConstraint("weekday is null or weekday between 0 and 6", name="weekday"),
        CheckConstraint(_MINUTES, name="interval"),
        CheckConstraint("min_staff between 1 and 100", name="min_staff"),
    )


class Roster(db.Model):
    """A store's roster for one ISO week: a draft until a manager publishes it."""

    __tablename__ = "rosters"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    shifts: Mapped[list[RosterShift]] = relationship(
        back_populates="roster", cascade="all, delete-orphan",
        order_by="(RosterShift.day, RosterShift.staff_id)",
    )

    __table_args__ = (
        UniqueConstraint("store_id", "week_start", name="uq_rosters_store_week"),
        CheckConstraint("status in ('draft','published')", name="status"),
    )


class RosterShift(db.Model):
    __tablename__ = "roster_shifts"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("rosters.id", ondelete="CASCADE"),
                                           index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_profiles.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    start_min: Mapped[int] = mapped_column(SmallInteger)
    end_min: Mapped[int] = mapped_column(SmallInteger)

    roster: Mapped[Roster] = relationship(back_populates="shifts")

    __table_args__ = (
        UniqueConstraint("roster_id", "staff_id", "day", name="uq_roster_shifts_staff_day"),
        CheckConstraint(_MINUTES, name="interval"),
    )
