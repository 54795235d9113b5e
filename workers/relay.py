"""Hand outbox rows to a runner after commit, and again periodically for whatever is left.

With ``REDIS_URL`` the runner is RQ: each row becomes job ``outbox-<id>`` on its queue (notify, index, sweeps,
default); the row is marked ``enqueued`` first and put back to ``pending`` if Redis refuses (``redis.ConnectionError``)
— the periodic relay tries again. Without Redis (the embedded default) the rows go to the in-process runner thread.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select, update

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow

_IDS_KEY = "outbox_ids"
_LIVE_JOB_STATES = {"queued", "started", "scheduled", "deferred"}
JOB_TIMEOUT = 120  # seconds; JOBS_STALE_AFTER must stay above it
_installed = False


def job_id(message_id: int) -> str:
    return f"outbox-{message_id}"


# --------------------------------------------------------------------------- after commit


def install_session_hooks() -> None:
    """Collect the ids of outbox rows flushed as pending in a transaction; hand them over once it commits."""
    global _installed
    if _installed:
        return
    from flask_sqlalchemy.session import Session

    event.listen(Session, "after_flush", _collect)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", lambda session: session.info.pop(_IDS_KEY, None))
    _installed = True


def _collect(session, _flush_context) -> None:
    ids = session.info.setdefault(_IDS_KEY, set())
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, OutboxMessage) and obj.status is OutboxStatus.pending and obj.id is not None:
            ids.add(obj.id)


def _after_commit(session) -> None:
    ids = session.info.pop(_IDS_KEY, None)
    if not ids or not has_app_context() or not current_app.config.get("JOBS_RELAY_ON_COMMIT"):
        return
    try:
        hand_over(sorted(ids))
    except Exception:  # never fail the request that committed: the periodic relay picks the rows up
        current_app.logger.exception("outbox relay after commit failed; rows stay for the periodic relay")


def hand_over(ids: list[int]) -> int:
    """Give ``ids`` to the configured runner now. Returns how many were handed over."""
    if not ids:
        return 0
    if current_app.config.get("REDIS_URL"):
        return enqueue_rows(ids)
    from workers import embedded

    return embedded.submit(current_app._get_current_object(), ids)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- RQ


def redis_connection(url: str | None = None):
    from redis import Redis

    url = url or current_app.config["REDIS_URL"]
    cache = current_app.extensions.setdefault("jobs_redis", {})
    if url not in cache:
        cache[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return cache[url]


def enqueue_rows(
    ids: Iterable[int], *, replace_dead: bool = False, replace_started: Collection[int] | None = None
) -> int:
    """Mark rows enqueued, then enqueue one job per row; on ``redis.ConnectionError`` put them back to pending.

    ``replace_dead`` also takes rows already enqueued (their job is missing, failed or — for the ids in
    ``replace_started``, by default all — still marked started by a worker that died)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    connection = redis_connection()
    rows = _mark_enqueued(list(ids), include_enqueued=replace_dead)
    handed = 0
    try:
        for message_id, queue_name, _marked_at in rows:
            try:
                existing = Job.fetch(job_id(message_id), connection=connection)
            except NoSuchJobError:
                existing = None
            if existing is not None:
                state = existing.get_status(refresh=True)
                dead = (
                    replace_dead and state == "started" and (replace_started is None or message_id in replace_started)
                )
                if state in _LIVE_JOB_STATES and not dead:
                    continue  # the same row is never enqueued twice at once
                existing.delete()
            Queue(queue_name, connection=connection).enqueue(
                "workers.jobs.run_outbox",
                message_id,
                job_id=job_id(message_id),
                job_timeout=JOB_TIMEOUT,
                result_ttl=3600,
                failure_ttl=7 * 86400,
            )
            handed += 1
    except (RedisConnectionError, RedisTimeout) as exc:
        current_app.logger.warning("Redis unavailable (%s): outbox rows stay pending", exc)
        _unmark([m for m, _q, _t in rows], marked_at=rows[0][2] if rows else None)
    return handed


def _mark_enqueued(ids: list[int], *, include_enqueued: bool):
    if not ids:
        return []
    now = utcnow()
    states = [OutboxStatus.pending, OutboxStatus.enqueued] if include_enqueued else [OutboxStatus.pending]
    with db.engine.begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status.in_(states))
            .values(status=OutboxStatus.enqueued, enqueued_at=now)
        )
        rows = conn.execute(
            select(OutboxMessage.id, OutboxMessage.queue).where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.enqueued_at == now,
                OutboxMessage.status == OutboxStatus.enqueued,
            )
        ).all()
    return [(r.id, r.queue, now) for r in rows]


def _unmark(ids: list[int], *, marked_at) -> None:
    if not ids:
        return
    with db.engine.begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.status == OutboxStatus.enqueued,
                OutboxMessage.enqueued_at == marked_at,
            )
            .values(status=OutboxStatus.pending)
        )


# --------------------------------------------------------------------------- periodic


def relay_due(limit: int = 500, *, after_outage: bool = False) -> int:
    """The periodic relay: hand over pending rows that are due, rows enqueued so long ago that their job is presumed
    lost (a worker killed, Redis flushed) and rows whose send is uncertain (a worker killed mid-send: retried with the
    same Message-ID). ``after_outage`` (the scheduler, when Redis is back) also re-enqueues every enqueued row whose
    job is missing from Redis. Returns how many were handed over."""
    from workers import runner

    ids = runner.due_ids(limit)
    dead = set(ids)
    if after_outage and current_app.config.get("REDIS_URL"):
        ids += [i for i in runner.enqueued_ids() if i not in dead]
    db.session.commit()
    if not ids:
        return 0
    if current_app.config.get("REDIS_URL"):
        return enqueue_rows(ids, replace_dead=True, replace_started=dead)
    from workers import inline  # noqa: F401  (embedded: run them here, on the scheduler thread)

    return sum(1 for message_id in sorted(ids) if runner.process(message_id) == "done")


def init_app(app: Flask) -> None:
    install_session_hooks()
