"""Server-side page sessions: what makes a signed cookie worth anything.

The cookie only carries a random session id; the row here says whose it is, when it was
last used and whether it has ended. A signed cookie alone cannot be withdrawn before it
expires, so logging out, changing the password or losing a role end the row instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UTCDateTime, utcnow
from ..extensions import db

#: why a session ended (``end_reason``)
END_REASONS = ("logout", "idle", "expired", "password_changed", "role_removed",
               "deactivated", "logout_everywhere")


class WebSession(db.Model):
    """One logged-in browser. Only the SHA-256 of the session id is stored, so a copy of
    the database does not hand out usable cookies (as for API tokens)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    #: the client address at login (IPv6 text is at most 45 characters)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
