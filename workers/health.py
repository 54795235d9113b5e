"""Health jobs: the periodic health check and spike scan, and their notices (outbox kinds ``health.alert``,
``health.recovered``, ``spike.alert``), each sent once per outbox row by email and Slack.

Payloads: health.alert / health.recovered {check, label, detail, since, alerted_at}; spike.alert {spike_id,
user_ids} (the senior agents on shift and the managers when the spike was detected).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role, SpikeAlert, User
from portal.services import health, spikes
from workers.context import job_context
from workers.notify import _email, _slack
from workers.registry import handler

# --------------------------------------------------------------------------- periodic tasks


SCHEDULER_CHECK_EVERY = 60.0  # seconds between two checks run by `jobs scheduler` itself
_last_scheduler_check: list[float] = []


def health_check(from_scheduler: bool = False):
    """Every check, its verdict recorded; an alert once when something stops, once when it recovers (every 60 s).

    The notices are sent right here, not left to the workers: "the workers stopped" must reach the admins when no
    worker is there to send it (the outbox row and ``senders.deliver`` still make each send happen once, whoever
    runs it). With Redis the check is run by the ``jobs scheduler`` process itself (``scheduler_tick``), for the
    same reason; the copy RQ's cron hands to a worker does nothing."""
    with job_context() as app:
        if app.config.get("REDIS_URL") and not from_scheduler:
            return {"skipped": "run by the scheduler process"}
        emitted = health.run_health_check()
        send_health_notices()
        return emitted


def send_health_notices(limit: int = 20) -> int:
    """Run the due ``health.*`` outbox rows in this process. Returns how many were done."""
    from portal.models import OutboxMessage, OutboxStatus, utcnow
    from workers import runner

    ids = list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.kind.in_(("health.alert", "health.recovered")),
                OutboxMessage.status.in_((OutboxStatus.pending, OutboxStatus.enqueued)),
                OutboxMessage.available_at <= utcnow(),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )
    db.session.commit()
    return sum(1 for message_id in ids if runner.process(message_id) == "done")


def scheduler_tick() -> None:
    """Called by `jobs scheduler` on every loop: the health check at most every ``SCHEDULER_CHECK_EVERY``
    seconds, in this process. Never raises (the schedule goes on whatever the check finds)."""
    import time

    now = time.monotonic()
    if _last_scheduler_check and now - _last_scheduler_check[0] < SCHEDULER_CHECK_EVERY:
        return
    _last_scheduler_check[:] = [now]
    try:
        health_check(from_scheduler=True)
    except Exception:
        current_app.logger.exception("health check in the scheduler failed")


def spike_scan():
    """Similar tickets arriving together: one alert per spike to the on-shift L2 and the managers (every 60 s)."""
    with job_context():
        created = spikes.scan()
        db.session.commit()
        return [alert.id for alert in created]


# --------------------------------------------------------------------------- notices


def _external(endpoint: str, **values: Any) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for(endpoint, _external=True, **values)


def _admins() -> list[User]:
    """The administrators (the managers when there is no administrator), active accounts only."""
    for role in (Role.admin, Role.manager):
        users = [u for u in db.session.scalars(select(User).where(User.role == role).order_by(User.id)) if u.is_active]
        if users:
            return users
    return []


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _health_notice(payload: dict[str, Any], message_id: int, kind: str, recovered: bool) -> None:
    label = payload.get("label") or payload.get("check", "check")
    health_url = _external("health.page")
    subject = f"Recovered: {label}" if recovered else f"Portal health: {label} is failing"
    for user in _admins():  # an alert about the portal itself is not optional
        _email(
            message_id,
            kind,
            user,
            "health_recovered" if recovered else "health_alert",
            subject,
            label=label,
            detail=payload.get("detail", ""),
            since=_when(payload.get("alerted_at") if recovered else payload.get("since")),
            health_url=health_url,
        )
    text = (
        f"Portal health recovered: {label} ({payload.get('detail', '')})"
        if recovered
        else f"Portal health: {label} is failing: {payload.get('detail', '')}"
    )
    _slack(message_id, text, (health_url, "Health page"))


@handler("health.alert")
def health_alert(payload: dict[str, Any], message_id: int) -> None:
    _health_notice(payload, message_id, "health.alert", recovered=False)


@handler("health.recovered")
def health_recovered(payload: dict[str, Any], message_id: int) -> None:
    _health_notice(payload, message_id, "health.recovered", recovered=True)


@handler("spike.alert")
def spike_alert(payload: dict[str, Any], message_id: int) -> None:
    spike = db.session.get(SpikeAlert, int(payload["spike_id"]))
    if spike is None or spike.dismissed_at is not None:
        return  # dismissed (or gone) before the notice went out
    tickets = spikes.tickets_of(spike)
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        ticket_urls = {t.id: url_for("agent.ticket", reference=t.reference, _external=True) for t in tickets}
        base = current_app.config["PORTAL_URL"].rstrip("/")
        declare_path = spikes.declare_incident_path(spike.id)
        declare_url = declare_path if declare_path.startswith("http") else base + declare_path
        health_url = url_for("health.page", _external=True)
    users = [db.session.get(User, int(i)) for i in payload.get("user_ids") or []]
    subject = f"Spike: {len(tickets)} similar tickets" + (f" about “{spike.terms}”" if spike.terms else "")
    for user in users:
        if user is None or not user.is_active:
            continue
        _email(
            message_id,
            "spike.alert",
            user,
            "spike_alert",
            subject,
            spike=spike,
            tickets=tickets,
            ticket_urls=ticket_urls,
            declare_url=declare_url,
            health_url=health_url,
            window=current_app.config["SPIKE_WINDOW_MINUTES"],
        )
    references = ", ".join(t.reference for t in tickets[:20]) + (" …" if len(tickets) > 20 else "")
    _slack(message_id, f"{subject}: {references}. Declare an incident with them?", (declare_url, "Declare incident"))


# --------------------------------------------------------------------------- heartbeats of `flask jobs ...`


def watch_rq_worker(rq_worker, queues: list[str]) -> None:
    """Make an RQ worker write its ``worker:<host>:<pid>`` heartbeat (with its queues) whenever RQ beats — while
    listening and while a job runs — and listen in slices short enough that an idle worker still beats well
    within ``HEALTH_HEARTBEAT_STALE_SECONDS``."""
    from rq.exceptions import StopRequested

    from portal.services import heartbeats

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stale = int(app.config.get("HEALTH_HEARTBEAT_STALE_SECONDS", 120))
    rq_worker.worker_ttl = max(30, min(rq_worker.worker_ttl, stale // 2 + 15))  # RQ listens for ttl - 15 s
    name, detail = heartbeats.worker_name(), ",".join(queues)
    original = rq_worker.heartbeat

    def heartbeat(*args, **kwargs):
        result = original(*args, **kwargs)
        try:
            with app.app_context():
                heartbeats.beat(name, "worker", detail)
        except StopRequested:  # SIGTERM arrived during the heartbeat: the worker must still stop
            raise
        except Exception:  # never let a heartbeat stop the worker (beat logs its own database errors)
            pass
        return result

    rq_worker.heartbeat = heartbeat


def beat_scheduler() -> None:
    """The RQ cron scheduler is alive (``Heartbeat`` "scheduler") and runs the health check; never raises."""
    from portal.services import heartbeats

    with contextlib.suppress(Exception):
        heartbeats.beat("scheduler", "scheduler", "rq cron")
    scheduler_tick()
