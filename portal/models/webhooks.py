"""Outgoing webhooks: the admins' subscriptions (a URL, the events it wants, a signing secret), one delivery per
event and subscription (its id is the ``X-Webhook-Id`` of every attempt), and each attempt's outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow

# Delivery states: pending (waiting for its first attempt), sending (claimed by a worker, outcome not yet known),
# retrying (failed, another attempt is scheduled), delivered (a 2xx answer) and dead (given up on).
DELIVERY_STATES = ("pending", "sending", "retrying", "delivered", "dead")


class WebhookSubscription(Base):
    """A URL told about the ``events`` it chose, signed with ``secret`` (ours, shown once, rotatable)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    secret_rotated_at: Mapped[datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan", passive_deletes=True
    )


class WebhookDelivery(Base):
    """One event for one subscription. ``uuid`` is stable across retries and redeliveries (receivers dedupe by it);
    ``payload`` is the event as it was when it happened."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)  # the retry hand-over reads it
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")

    subscription: Mapped[WebhookSubscription] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan", passive_deletes=True, order_by="WebhookAttempt.id"
    )

    __table_args__ = (Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),)


class WebhookAttempt(Base):
    """One POST of a delivery (or its refusal by the URL guard): when, how long, the answer and its first bytes."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(12), default="auto")  # auto, redeliver or takeover
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    status_code: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(12), default="sending")  # sending, delivered, retry, dead
    error: Mapped[str] = mapped_column(String(500), default="")
    response_excerpt: Mapped[str] = mapped_column(Text, default="")

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")
