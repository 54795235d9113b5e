"""The transactional outbox: rows written with the change they follow, delivered by jobs after commit."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.accounts import _enum
from portal.models.base import Base, utcnow


class OutboxStatus(str, enum.Enum):
    pending = "pending"  # written, not yet handed to a queue
    enqueued = "enqueued"  # handed to RQ (or the in-process runner)
    done = "done"  # the job ran to completion
    failed = "failed"  # gave up after retries; listed for admins with a retry button


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))  # e.g. "notify.ticket_reply", "index.ticket"
    queue: Mapped[str] = mapped_column(String(20), default="default")  # notify, index, sweeps, default
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)  # not before (backoff)
    enqueued_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbox_messages_status_available_at", "status", "available_at"),)
