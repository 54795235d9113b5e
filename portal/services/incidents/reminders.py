"""Update reminders for open incidents (the guide asks for hourly updates during an outage).

Reading of the rule: the interval is ``INCIDENT_UPDATE_REMINDER_MINUTES``, counted from the last update (or from the
declaration while there is none). Each interval that passes without an update is one missed interval and earns one
reminder: the first and second go to the commander; from the third on (two reminders having passed unanswered) the
managers are alerted too. ``Incident.next_reminder_at`` holds the end of the current interval and
``reminders_sent`` the reminders since the last update; a new update resets the count and starts a new interval
(``core.post_update``). A sweep that runs late sends one reminder and moves on to the next interval still ahead,
never a burst. Each reminder is an outbox row whose dedupe key names the incident, the interval's anchor and the
reminder's number, so two sweeps (or a retried one) never remind twice for the same interval; the incident's
version column makes two concurrent sweeps conflict rather than both count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Incident, IncidentEvent, IncidentState
from portal.services import outbox
from portal.services.incidents.core import reminder_interval

MANAGERS_FROM = 3  # the reminder number from which the managers are alerted too


def run_reminders(now: datetime, limit: int = 200) -> int:
    """Remind for every open incident whose interval has run out; returns how many reminders were written."""
    due = db.session.scalars(
        select(Incident)
        .where(
            Incident.state != IncidentState.resolved,
            Incident.next_reminder_at.is_not(None),
            Incident.next_reminder_at <= now,
        )
        .order_by(Incident.next_reminder_at)
        .limit(limit)
    ).all()
    interval = reminder_interval()
    sent = 0
    for incident in due:
        anchor = incident.last_update_at or incident.declared_at
        number = incident.reminders_sent + 1
        managers = number >= MANAGERS_FROM
        outbox.emit(
            "incident.reminder",
            {"incident_id": incident.id, "number": number, "managers": managers},
            dedupe_key=f"incident.reminder:{incident.id}:{anchor.isoformat()}:{number}",
        )
        db.session.add(
            IncidentEvent(
                incident_id=incident.id,
                kind="reminder",
                detail=f"No update for {number} interval(s): commander reminded"
                + (", managers alerted" if managers else ""),
                at=now,
            )
        )
        incident.reminders_sent = number
        following = incident.next_reminder_at + interval
        while following <= now:
            following += interval
        incident.next_reminder_at = following
        sent += 1
    db.session.flush()
    return sent
