"""Webhook delivery: one ``webhook.deliver`` outbox row runs one attempt of one delivery.

The attempt is claimed (the delivery goes to ``sending``, an attempt row is written) and committed before the
POST, so a confirmed delivery (a 2xx answer) is never sent again, and a worker killed before the answer leaves a
``sending`` claim that is taken over once it is older than ``DELIVERY_UNCERTAIN_AFTER`` and re-sent with the same
``X-Webhook-Id``: at least once with a stable id, which receivers that dedupe by it see once.

Retries (network errors, 5xx, 429 with its Retry-After) are scheduled on the delivery (``next_attempt_at``);
``webhook_retries`` — every 30 s on the periodic schedule — hands the due ones, and uncertain claims, to the
outbox again. Other 4xx answers, refused URLs and the last allowed attempt make the delivery ``dead``.
"""

from __future__ import annotations

import http.client
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from flask import current_app
from sqlalchemy import insert, or_, select, update

from portal.extensions import db
from portal.models import utcnow
from portal.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookSubscription
from portal.services import outbox
from portal.services.webhooks import events, signing, urls
from workers.context import job_context
from workers.registry import handler
from workers.senders import DeliveryInProgress

MAX_RETRY_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    uuid: str
    attempt_id: int
    number: int
    url: str
    secret: str
    payload: dict


@dataclass(frozen=True)
class _Outcome:
    state: str  # delivered, retry or dead
    status: int | None = None
    error: str = ""
    excerpt: str = ""
    duration_ms: int | None = None
    retry_after: str | None = None


@handler(events.DELIVER_KIND)
def deliver(payload: dict[str, Any], message_id: int) -> None:
    claim = _claim(payload["delivery"], payload.get("trigger", "auto"), payload.get("after"))
    if claim is None:
        return
    outcome = _send(claim)
    _settle(claim, outcome)


def _uncertain_after() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("DELIVERY_UNCERTAIN_AFTER", 300)))


def _claim(delivery_uuid: str, trigger: str, after: int | None) -> _Claim | None:
    """Take the next attempt of the delivery, or None when there is nothing to send (delivered, dead, paused, a
    later attempt already ran). A fresh claim held by another run raises ``DeliveryInProgress`` (retried later)."""
    now = utcnow()
    with db.engine.begin() as conn:
        row = conn.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.state,
                WebhookDelivery.attempts,
                WebhookDelivery.claimed_at,
                WebhookDelivery.payload,
                WebhookDelivery.event_type,
                WebhookSubscription.url,
                WebhookSubscription.secret,
                WebhookSubscription.active,
            )
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.uuid == delivery_uuid)
        ).first()
        if row is None or row.state in ("delivered", "dead"):
            return None
        if after is not None and row.attempts != after:
            return None  # a retry scheduled after attempt ``after``, but another attempt ran since
        if row.state == "sending":
            if row.claimed_at is not None and now - row.claimed_at < _uncertain_after():
                raise DeliveryInProgress(f"webhook delivery {delivery_uuid} is being sent")
            trigger = "takeover"
        if not row.active and row.event_type != events.PING:
            conn.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == row.id, WebhookDelivery.state == row.state)
                .values(state="dead", last_error="The subscription is paused.", next_attempt_at=None)
            )
            return None
        number = row.attempts + 1
        taken = conn.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == row.id,
                WebhookDelivery.state == row.state,
                WebhookDelivery.attempts == row.attempts,
            )
            .values(state="sending", attempts=number, claimed_at=now, next_attempt_at=None)
        ).rowcount
        if taken != 1:
            raise DeliveryInProgress(f"webhook delivery {delivery_uuid} was claimed by another run")
        if trigger == "takeover":
            conn.execute(
                update(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == row.id, WebhookAttempt.outcome == "sending")
                .values(outcome="unknown", error="The worker stopped before the answer was recorded.")
            )
        attempt_id = conn.execute(
            insert(WebhookAttempt)
            .values(delivery_id=row.id, number=number, trigger=trigger, started_at=now, outcome="sending")
            .returning(WebhookAttempt.id)
        ).scalar_one()
    return _Claim(row.id, delivery_uuid, attempt_id, number, row.url, row.secret, row.payload)


def _send(claim: _Claim) -> _Outcome:
    body = signing.body_of(claim.payload)
    timestamp = int(time.time())
    headers = signing.headers(claim.uuid, claim.secret, timestamp, body)
    started = time.monotonic()
    try:
        response = urls.post(
            claim.url, body, headers, timeout=float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", 10))
        )
    except urls.UnsafeUrl as exc:
        return _Outcome("dead", error=f"Refused: {exc}", duration_ms=_ms(started))
    except (LookupError, OSError, http.client.HTTPException) as exc:  # network trouble: worth another try
        return _Outcome("retry", error=f"{exc.__class__.__name__}: {exc}"[:500], duration_ms=_ms(started))
    except Exception as exc:  # anything else (a malformed answer...) is recorded on the attempt, never left "sending"
        current_app.logger.exception("webhook delivery %s: unexpected error", claim.uuid)
        return _Outcome("retry", error=f"{exc.__class__.__name__}: {exc}"[:500], duration_ms=_ms(started))
    status = response.status
    if 200 <= status < 300:
        state, error = "delivered", ""
    elif status == 429 or status >= 500:
        state, error = "retry", f"HTTP {status}"
    else:
        state, error = "dead", f"HTTP {status}" + (" (redirect without a usable Location)" if status < 400 else "")
    return _Outcome(state, status, error, response.excerpt, response.duration_ms, response.retry_after)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def retry_delay(number: int, retry_after: str | None = None) -> timedelta:
    """After attempt ``number``: the Retry-After the receiver asked for, else the schedule's next delay with ±10 %
    jitter (so receivers coming back are not hit by every sender at once)."""
    asked = _retry_after(retry_after)
    if asked is not None:
        return min(asked, MAX_RETRY_AFTER)
    schedule = [
        int(s) for s in str(current_app.config.get("WEBHOOK_RETRY_SCHEDULE", "60")).split(",") if s.strip()
    ] or [60]
    base = schedule[min(number, len(schedule)) - 1]
    return timedelta(seconds=base * random.uniform(0.9, 1.1))


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(timedelta(0), when - utcnow()) if when.tzinfo else None


def _settle(claim: _Claim, outcome: _Outcome) -> None:
    """Record the attempt and the delivery's new state (only while this run still holds the claim)."""
    now = utcnow()
    state = outcome.state
    if state == "retry" and claim.number >= int(current_app.config.get("WEBHOOK_MAX_ATTEMPTS", 8)):
        state = "dead"
    values: dict[str, Any] = {
        "last_status": outcome.status,
        "last_error": outcome.error[:500],
        "next_attempt_at": None,
    }
    if state == "delivered":
        values["delivered_at"] = now
    elif state == "retry":
        values["next_attempt_at"] = now + retry_delay(claim.number, outcome.retry_after)
    with db.engine.begin() as conn:
        conn.execute(
            update(WebhookAttempt)
            .where(WebhookAttempt.id == claim.attempt_id)
            .values(
                finished_at=now,
                duration_ms=outcome.duration_ms,
                status_code=outcome.status,
                outcome=state,
                error=outcome.error[:500],
                response_excerpt=outcome.excerpt,
            )
        )
        conn.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claim.delivery_id,
                WebhookDelivery.state == "sending",
                WebhookDelivery.attempts == claim.number,
            )
            .values(state="retrying" if state == "retry" else state, **values)
        )
    if state != "delivered":
        current_app.logger.warning(
            "webhook delivery %s attempt %s: %s", claim.uuid, claim.number, outcome.error or state
        )


# --------------------------------------------------------------------------- the periodic hand-over


def hand_over_due(now: datetime | None = None, limit: int = 500) -> int:
    """Outbox rows for deliveries whose retry is due and for claims left uncertain by a stopped worker. Flushes;
    the caller commits. Returns how many rows were written."""
    now = now or utcnow()
    uncertain = now - _uncertain_after()
    due = db.session.execute(
        select(WebhookDelivery.uuid, WebhookDelivery.state, WebhookDelivery.attempts)
        .where(
            or_(
                (WebhookDelivery.state == "retrying") & (WebhookDelivery.next_attempt_at <= now),
                (WebhookDelivery.state == "sending") & (WebhookDelivery.claimed_at <= uncertain),
            )
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
    ).all()
    for row in due:
        why = "retry" if row.state == "retrying" else "takeover"
        outbox.emit(
            events.DELIVER_KIND,
            {"delivery": row.uuid, "after": row.attempts},
            dedupe_key=f"webhook:{row.uuid}:{why}:{row.attempts}",
        )
    db.session.flush()
    return len(due)


def webhook_retries():
    """Due webhook retries and uncertain sends back to the outbox (every 30 s)."""
    with job_context():
        count = hand_over_due()
        db.session.commit()
        return count
