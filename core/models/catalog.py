"""What a store sells: service categories, services and per-store offers."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db


class ServiceCategory(db.Model):
    __tablename__ = "service_categories"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Service(db.Model):
    """A bookable service. Durations in minutes; ``price`` in minor units (fen/cents).

    Buffers keep the staff member busy before/after without being sold as service time.
    """

    __tablename__ = "services"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_categories.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(String(500))
    duration_min: Mapped[int] = mapped_column(Integer)
    buffer_before_min: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_min: Mapped[int] = mapped_column(Integer, default=0)
    price: Mapped[int] = mapped_column(BigInteger)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    # Overrides of the store's money policy (None = the store's percent).
    deposit_percent: Mapped[int | None] = mapped_column(SmallInteger)
    late_cancel_fee_percent: Mapped[int | None] = mapped_column(SmallInteger)
    no_show_fee_percent: Mapped[int | None] = mapped_column(SmallInteger)

    category: Mapped[ServiceCategory | None] = relationship()
    offers: Mapped[list[StoreServiceOffer]] = relationship(
        back_populates="service", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("duration_min > 0 and duration_min <= 1440", name="duration"),
        CheckConstraint("buffer_before_min >= 0 and buffer_after_min >= 0", name="buffers"),
        CheckConstraint("price >= 0", name="price"),
    )


class StoreServiceOffer(db.Model):
    """A service offered at a store, optionally at a store-specific price."""

    __tablename__ = "store_service_offers"
    __audited__ = True

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[int] = mapped_column(
        ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    price_override: Mapped[int | None] = mapped_column(BigInteger)

    service: Mapped[Service] = relationship(back_populates="offers")

    __table_args__ = (
        CheckConstraint("price_override is null or price_override >= 0", name="price"),
    )
