"""Run one outbox row: claim it, dispatch its handler, record the outcome (done, retry later, failed).

The claim is a compare-and-set on ``attempts`` in its own transaction, so two runners never both start the same
attempt; the outcome is written only by the runner that holds that attempt. Handlers must be idempotent — the ones
that send (email, Slack) record each send in ``notification_deliveries`` before sending (once when confirmed; a send
cut by a crash is retried with the same Message-ID once uncertain, see ``workers.senders.deliver``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow
from workers.registry import dispatch

RUNNABLE = (OutboxStatus.pending, OutboxStatus.enqueued)


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help (e.g. the ticket is gone): the row fails at once."""


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at one hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def process(message_id: int) -> str:
    """Run outbox row ``message_id`` once if it is due. Returns done, retry, failed or skipped."""
    claimed = _claim(message_id)
    if claimed is None:
        return "skipped"
    kind, payload, attempt = claimed
    try:
        dispatch(kind, payload, message_id)
        db.session.commit()
    except Exception as exc:  # recorded on the row; retried with backoff or failed for the admins
        db.session.rollback()
        permanent = isinstance(exc, (PermanentFailure, LookupError))
        return _record_failure(message_id, attempt, exc, permanent)
    _finish(message_id, attempt, status=OutboxStatus.done)
    return "done"


def _claim(message_id: int) -> tuple[str, dict[str, Any], int] | None:
    now = utcnow()
    with db.engine.begin() as conn:
        row = conn.execute(
            select(
                OutboxMessage.kind,
                OutboxMessage.payload,
                OutboxMessage.attempts,
                OutboxMessage.status,
                OutboxMessage.available_at,
            ).where(OutboxMessage.id == message_id)
        ).first()
        if row is None or row.status not in RUNNABLE or row.available_at > now:
            return None
        claimed = conn.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status.in_(RUNNABLE),
                OutboxMessage.attempts == row.attempts,
            )
            .values(attempts=row.attempts + 1, status=OutboxStatus.enqueued, enqueued_at=now)
        ).rowcount
    return (row.kind, row.payload, row.attempts + 1) if claimed == 1 else None


def _finish(message_id: int, attempt: int, *, status: OutboxStatus, **values: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.attempts == attempt,
                OutboxMessage.status == OutboxStatus.enqueued,
            )
            .values(status=status, processed_at=utcnow() if status is not OutboxStatus.pending else None, **values)
        )


def _record_failure(message_id: int, attempt: int, exc: Exception, permanent: bool) -> str:
    error = f"{exc.__class__.__name__}: {exc}"[:2000]
    if permanent or attempt >= current_app.config["JOBS_MAX_ATTEMPTS"]:
        _finish(message_id, attempt, status=OutboxStatus.failed, last_error=error)
        current_app.logger.error("outbox %s failed for good after %s attempts: %s", message_id, attempt, error)
        return "failed"
    _finish(
        message_id, attempt, status=OutboxStatus.pending, last_error=error, available_at=utcnow() + backoff(attempt)
    )
    current_app.logger.warning("outbox %s attempt %s failed, retrying later: %s", message_id, attempt, error)
    return "retry"


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Claim:
    """An outbox row claimed by ``claim_due``: this runner holds attempt ``attempt`` of row ``message_id``."""

    message_id: int
    payload: dict[str, Any]
    attempt: int


def claim_due(
    kind: str, *, limit: int = 500, exclude: Collection[int] = (), max_attempts: int | None = None
) -> list[Claim]:
    """Claim up to ``limit`` due rows of ``kind`` (pending or enqueued, ``available_at`` passed; oldest first) for a
    handler that does their work together with its own row (the index worker: one index commit for many changes).

    Each row is claimed with the compare-and-set of ``_claim`` (attempts + 1 where attempts still has the value read),
    so a row another runner claimed in between is left to it and no attempt runs twice. The claims are one
    transaction, the rows updated in id order (the relay marks rows in one statement too: the same lock order).
    ``max_attempts`` leaves out rows that already had more attempts (a row that failed runs alone, so a row that
    always fails cannot take others down with it). The caller ends every claim with ``finish_claims`` or
    ``fail_claims``; a claim left open (the worker killed) is handed over again by the relay once stale, and the
    row's own job, finding it claimed or done, skips it."""
    now = utcnow()
    query = (
        select(OutboxMessage.id, OutboxMessage.payload, OutboxMessage.attempts)
        .where(
            OutboxMessage.kind == kind,
            OutboxMessage.status.in_(RUNNABLE),
            OutboxMessage.available_at <= now,
        )
        .order_by(OutboxMessage.available_at, OutboxMessage.id)
        .limit(limit)
    )
    if exclude:
        query = query.where(OutboxMessage.id.not_in(list(exclude)))
    if max_attempts is not None:
        query = query.where(OutboxMessage.attempts <= max_attempts)
    claims: list[Claim] = []
    with db.engine.begin() as conn:
        for row in sorted(conn.execute(query).all(), key=lambda r: r.id):
            claimed = conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.status.in_(RUNNABLE),
                    OutboxMessage.attempts == row.attempts,
                )
                .values(attempts=row.attempts + 1, status=OutboxStatus.enqueued, enqueued_at=now)
            ).rowcount
            if claimed == 1:
                claims.append(Claim(row.id, row.payload, row.attempts + 1))
    return claims


def finish_claims(claims: Iterable[Claim]) -> None:
    """Mark claimed rows done (as ``process`` does after its handler): only rows whose attempt is still ours."""
    claims = list(claims)
    if not claims:
        return
    now = utcnow()
    with db.engine.begin() as conn:
        for claim in claims:
            conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == claim.message_id,
                    OutboxMessage.attempts == claim.attempt,
                    OutboxMessage.status == OutboxStatus.enqueued,
                )
                .values(status=OutboxStatus.done, processed_at=now)
            )


def fail_claims(claims: Iterable[Claim], exc: Exception) -> None:
    """Record ``exc`` on every claimed row as ``process`` does for its own row: retried with backoff, or failed for
    good after ``JOBS_MAX_ATTEMPTS`` (or at once for a ``PermanentFailure``)."""
    permanent = isinstance(exc, (PermanentFailure, LookupError))
    for claim in claims:
        _record_failure(claim.message_id, claim.attempt, exc, permanent)


def due_ids(limit: int = 500) -> list[int]:
    """Rows a relay must (re)hand over: pending and due, or enqueued so long ago that their job is presumed lost."""
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["JOBS_STALE_AFTER"])
    pending = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.pending, OutboxMessage.available_at <= now)
        .order_by(OutboxMessage.available_at, OutboxMessage.id)
        .limit(limit)
    )
    lost = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.enqueued, OutboxMessage.enqueued_at <= stale)
        .order_by(OutboxMessage.enqueued_at)
        .limit(limit)
    )
    ids = list(db.session.scalars(pending)) + list(db.session.scalars(lost))
    return ids + [i for i in uncertain_ids(limit) if i not in set(ids)]


def uncertain_ids(limit: int = 500) -> list[int]:
    """Enqueued rows with a send still ``sending`` after ``DELIVERY_UNCERTAIN_AFTER``: their job died mid-send (the
    delivery is retried, with the same Message-ID, when the row runs again)."""
    from portal.models import NotificationDelivery

    cutoff = utcnow() - timedelta(seconds=float(current_app.config.get("DELIVERY_UNCERTAIN_AFTER", 300)))
    claimed = func.coalesce(NotificationDelivery.claimed_at, NotificationDelivery.created_at)
    query = (
        select(OutboxMessage.id)
        .join(NotificationDelivery, NotificationDelivery.outbox_id == OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.enqueued,
            NotificationDelivery.state == "sending",
            claimed <= cutoff,
        )
        .group_by(OutboxMessage.id)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def enqueued_ids(limit: int = 5000) -> list[int]:
    """Every row handed to a runner and not finished (after a Redis outage: their jobs may be gone with it)."""
    query = select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.enqueued).order_by(OutboxMessage.id)
    return list(db.session.scalars(query.limit(limit)))
