"""Incident jobs: an update fanned out to linked tickets, contacts and Slack (in chunks, each idempotent);
resolution solving and escalation of the linked tickets; update reminders (the periodic sweep and its emails).

Payloads: incident.update {update_id} (the planner); incident.tickets {op: reply|solve|escalate, update_id |
incident_id, ticket_ids, actor_id, message}; incident.emails {update_id, user_ids}; incident.resolve {incident_id,
actor_id, message}; incident.escalate {incident_id, actor_id}; incident.reminder {incident_id, number, managers}.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import Incident, IncidentEvent, IncidentUpdate, User, utcnow
from portal.services.incidents import fanout
from portal.services.incidents.reminders import run_reminders
from workers.context import job_context
from workers.notify import _email, _managers, _slack
from workers.registry import handler
from workers.runner import PermanentFailure


def _incident(incident_id: Any) -> Incident:
    incident = db.session.get(Incident, int(incident_id))
    if incident is None:
        raise PermanentFailure(f"incident {incident_id} does not exist")
    return incident


def _update(update_id: Any) -> IncidentUpdate:
    update = db.session.get(IncidentUpdate, int(update_id))
    if update is None:
        raise PermanentFailure(f"incident update {update_id} does not exist")
    return update


def _actor(actor_id: Any) -> User | None:
    return db.session.get(User, int(actor_id)) if actor_id else None


def _urls(incident: Incident) -> tuple[str, str]:
    base = current_app.config["PORTAL_URL"].rstrip("/")
    return f"{base}/status", f"{base}/ops/incidents/{incident.id}"


@handler("incident.update")
def update_planned(payload: dict[str, Any], message_id: int) -> None:
    """Split the update into chunk jobs (once) and post it to Slack (once for this row)."""
    update = _update(payload["update_id"])
    incident = _incident(update.incident_id)
    _status, staff_url = _urls(incident)
    # the post first: its delivery record commits on its own connection, which must not wait behind this job's
    # writes (SQLite has one writer); a retry finds it sent and only plans what was not planned
    _slack(
        message_id,
        f"{incident.reference} {incident.title} ({incident.severity.label}, {update.state.label}): {update.body[:500]}",
        (staff_url, incident.reference),
    )
    fanout.plan_update(update)


@handler("incident.tickets")
def tickets_chunk(payload: dict[str, Any], message_id: int) -> None:
    ids = [int(i) for i in payload.get("ticket_ids") or []]
    op = payload.get("op")
    if op == "reply":
        fanout.reply_chunk(_update(payload["update_id"]), ids)
    elif op == "solve":
        actor = _actor(payload.get("actor_id"))
        if actor is None:
            raise PermanentFailure("the resolving user no longer exists")
        fanout.solve_chunk(_incident(payload["incident_id"]), actor, str(payload.get("message") or ""), ids)
    elif op == "escalate":
        fanout.escalate_chunk(_incident(payload["incident_id"]), _actor(payload.get("actor_id")), ids)
    else:
        raise PermanentFailure(f"unknown incident ticket operation {op!r}")


@handler("incident.emails")
def emails_chunk(payload: dict[str, Any], message_id: int) -> None:
    """One email per contact of this chunk, each sent once for this row (``senders.deliver``)."""
    update = _update(payload["update_id"])
    incident = _incident(update.incident_id)
    status_url, _staff = _urls(incident)
    ids = [int(i) for i in payload.get("user_ids") or []]
    users = db.session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id))
    for user in users:
        if not user.is_active or not user.is_customer:
            continue
        _email(
            message_id,
            "incident.update",
            user,
            "incident_update",
            f"[{incident.reference}] {update.state.label}: {incident.title}",
            incident=incident,
            update=update,
            status_url=status_url,
        )


@handler("incident.resolve")
def resolve_planned(payload: dict[str, Any], message_id: int) -> None:
    incident = _incident(payload["incident_id"])
    count = fanout.plan_tickets(
        incident,
        "solve",
        {"actor_id": payload.get("actor_id"), "message": payload.get("message", "")},
        key=str(incident.id),
    )
    _record_once(incident, "solve_planned", f"{count} linked open tickets to solve")


@handler("incident.escalate")
def escalate_planned(payload: dict[str, Any], message_id: int) -> None:
    incident = _incident(payload["incident_id"])
    count = fanout.plan_tickets(incident, "escalate", {"actor_id": payload.get("actor_id")}, key=str(message_id))
    _record_once(incident, "escalate_planned", f"{count} linked open tickets to escalate (job {message_id})")


def _record_once(incident: Incident, kind: str, detail: str) -> None:
    seen = db.session.scalar(
        select(IncidentEvent.id).where(
            IncidentEvent.incident_id == incident.id, IncidentEvent.kind == kind, IncidentEvent.detail == detail
        )
    )
    if seen is None:
        db.session.add(IncidentEvent(incident_id=incident.id, kind=kind, detail=detail))


@handler("incident.reminder")
def reminder(payload: dict[str, Any], message_id: int) -> None:
    """Remind the commander that an update is due; from the third missed interval the managers too."""
    incident = _incident(payload["incident_id"])
    if not incident.is_open:
        return
    number = int(payload.get("number") or 1)
    recipients = [incident.commander] + (_managers() if payload.get("managers") else [])
    _status, staff_url = _urls(incident)
    seen: set[int] = set()
    for user in recipients:
        if user is None or user.id in seen or not user.is_active:
            continue
        seen.add(user.id)
        _email(
            message_id,
            "incident.reminder",
            user,
            "incident_reminder",
            f"[{incident.reference}] Update due: {incident.title}",
            incident=incident,
            number=number,
            incident_url=staff_url,
            minutes=int(current_app.config.get("INCIDENT_UPDATE_REMINDER_MINUTES", 60)),
        )


def incident_reminders():
    """Remind commanders (and then managers) of open incidents without a recent update (every minute)."""
    with job_context():
        sent = run_reminders(utcnow())
        db.session.commit()
        return sent
