"""The portal's own health: heartbeats of workers, the scheduler and the mailbox poll, and the state of each health
check (so an alert goes out once when something stops and once when it recovers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class Heartbeat(Base):
    """The last sign of life of a running part: ``worker:<host>:<pid>`` (with its queues), ``scheduler``,
    ``mail_poll`` (the last successful poll)."""

    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # worker, scheduler, mail_poll
    detail: Mapped[str] = mapped_column(Text, default="")  # queues served, last result
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class HealthCheck(Base):
    """The latest verdict of one health check, and when its failure and recovery were announced."""

    __tablename__ = "health_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)  # workers, scheduler, outbox_lag, ...
    ok: Mapped[bool] = mapped_column(default=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    since: Mapped[datetime] = mapped_column(default=utcnow)  # when it became what it is
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    alerted_at: Mapped[datetime | None]  # the failure was announced
    recovered_at: Mapped[datetime | None]  # the recovery was announced
