"""Who hears about a ticket change (outbox rows only; workers/notify.py sends) and per-user preferences."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationPreference, Priority, Role, TicketParticipant, User, utcnow
from portal.models.notifications import PREFERENCE_FIELDS
from portal.services import routing
from portal.services.changes import TicketChange, is_quiet
from portal.services.outbox import emit


def ticket_changed(change: TicketChange) -> None:
    """The notification step of ``effects.ticket_changed``: public staff reply → the requester; status change →
    the requester; new assignee → the assignee; a ticket filed as (or raised to) critical → the team's Slack channel
    and the senior agents on shift."""
    ticket, actor = change.ticket, change.actor
    if is_quiet(db.session, ticket.id):
        return
    staff_reply = change.kind == "reply" and change.event is not None and actor.is_staff
    # a customer's public reply reaches the people copied on the ticket (never its author; the desk sees it anyway)
    copied_reply = (
        change.kind == "reply" and change.event is not None and not actor.is_staff and _has_participants(ticket)
    )
    if staff_reply or copied_reply:
        emit(
            "notify.ticket_reply",
            {"ticket_id": ticket.id, "event_id": change.event.id, "actor_id": actor.id},
            dedupe_key=f"notify.ticket_reply:{change.event.id}",
        )
    status = change.changed("status")
    if status and not staff_reply and actor.id != ticket.requester_id:
        emit(
            "notify.ticket_status",
            {"ticket_id": ticket.id, "old": status.old, "new": status.new, "actor_id": actor.id},
            dedupe_key=f"notify.ticket_status:{ticket.id}:{ticket.version}",
        )
    assigned = change.changed("assignee") or (change.kind == "created" and ticket.assignee_id)
    if assigned and ticket.assignee_id and ticket.assignee_id != actor.id:
        emit(
            "notify.assignment",
            {"ticket_id": ticket.id, "assignee_id": ticket.assignee_id, "actor_id": actor.id},
            dedupe_key=f"notify.assignment:{ticket.id}:{ticket.version}:{ticket.assignee_id}",
        )
    if critical_alert_due(change):
        on_shift_seniors = routing.on_shift_staff(Role.senior_agent, ticket.updated_at or utcnow())
        key = f"critical:{ticket.id}" if change.kind == "created" else f"critical:{ticket.id}:{ticket.version}"
        emit(
            "notify.critical_alert",
            {"ticket_id": ticket.id, "user_ids": [u.id for u in on_shift_seniors]},
            dedupe_key=key,
        )


def _has_participants(ticket) -> bool:
    return (
        db.session.scalar(select(TicketParticipant.id).where(TicketParticipant.ticket_id == ticket.id).limit(1))
        is not None
    )


def critical_alert_due(change: TicketChange) -> bool:
    """The one rule for critical alerts: a ticket filed as critical, or raised to critical, alerts the team (the
    Slack channel and the senior agents on shift)."""
    if change.ticket.priority is not Priority.critical:
        return False
    raised = change.changed("priority")
    return change.kind == "created" or (raised is not None and raised.new == Priority.critical.value)


# --------------------------------------------------------------------------- preferences


def preferences_for(user: User) -> NotificationPreference:
    """The user's saved preferences, or the defaults (everything on) unsaved."""
    saved = db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    return saved or NotificationPreference(user_id=user.id, **{name: True for name, _ in PREFERENCE_FIELDS})


def save_preferences(user: User, values: Mapping[str, bool]) -> NotificationPreference:
    """Store the user's choices (unknown names are ignored). Flushes."""
    prefs = preferences_for(user)
    for name, _label in PREFERENCE_FIELDS:
        if name in values:
            setattr(prefs, name, bool(values[name]))
    prefs.updated_at = utcnow()
    db.session.add(prefs)
    db.session.flush()
    return prefs


# What each role can receive (customers get ticket updates only).
STAFF_ONLY_PREFERENCES = frozenset({"email_assignments", "email_sla_alerts", "email_escalations", "email_handover"})


def preference_rows(user: User) -> list[tuple[str, str, bool]]:
    """(name, label, on) of every preference ``user`` may set: the profile page renders these."""
    prefs = preferences_for(user)
    return [
        (name, label, bool(getattr(prefs, name)))
        for name, label in PREFERENCE_FIELDS
        if user.is_staff or name not in STAFF_ONLY_PREFERENCES
    ]


def wants_email(user: User, preference: str) -> bool:
    return bool(user.email) and user.is_active and getattr(preferences_for(user), preference)
