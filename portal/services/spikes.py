"""Ticket spikes: similar tickets arriving together, which may be an incident nobody has declared yet.

Within the last ``SPIKE_WINDOW_MINUTES`` (read through ``ix_tickets_created_at``), tickets are similar when they
name the same component, or share a category and subject terms (the search analyzer's terms: lower-cased, stop
words dropped, stemmed — "Import failing" and "imports fail" share ``import`` and ``fail``). A group reaching
``SPIKE_THRESHOLD`` is one ``SpikeAlert`` and one notice (email and Slack) to the senior agents on shift and the
managers, with the tickets listed and a link that declares an incident with them linked.

A spike is alerted once however long it grows: a later scan's group that shares a ticket with an alert of the same
kind (same component, or same category) continues that alert, whose ticket list grows. A separate spike later on
(no ticket in common: the window has moved past the first one) is a new alert. Components under a running
maintenance window are skipped (their tickets are expected).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, url_for
from sqlalchemy import select
from werkzeug.routing import BuildError

from portal.extensions import db
from portal.models import Role, SpikeAlert, Ticket, User, utcnow
from portal.models.incidents import Maintenance, MaintenanceComponent
from portal.search.analysis import text_analyzer
from portal.services import audit, routing
from portal.services.errors import Forbidden, NotFound
from portal.services.outbox import emit

RECENT_ALERTS = timedelta(days=2)  # alerts a new group may continue
OVERLAP = 0.5  # two terms describe one spike when this share of the smaller ticket set has both


@dataclass
class Group:
    kind: str  # "component" or "terms"
    category_id: int | None
    component_id: int | None
    terms: list[str] = field(default_factory=list)
    ticket_ids: set[int] = field(default_factory=set)

    def key(self) -> str:
        first = min(self.ticket_ids)
        if self.kind == "component":
            return f"component:{self.component_id}:{first}"
        return f"terms:{self.category_id or 0}:{'+'.join(self.terms)}:{first}"[:200]


def suppressed_components(at: datetime) -> set[int]:
    """Components under a running maintenance window (the status page's own answer when it is there)."""
    try:
        from portal.services.status.maintenance import suppressed_components as from_status
    except ImportError:
        from_status = None
    if from_status is not None:
        return set(from_status(at))
    rows = db.session.scalars(
        select(MaintenanceComponent.component_id)
        .join(Maintenance, Maintenance.id == MaintenanceComponent.maintenance_id)
        .where(Maintenance.starts_at <= at, Maintenance.ends_at > at, Maintenance.cancelled_at.is_(None))
    )
    return set(rows)


_analyzer = None


def subject_terms(subject: str) -> set[str]:
    """The search analyzer's terms of a subject (identifier parts included, the whole identifier too)."""
    global _analyzer
    if _analyzer is None:
        _analyzer = text_analyzer()
    return {t.text for t in _analyzer(subject or "", mode="index") if len(t.text) >= 2 and not t.text.isdigit()}


def find_groups(now: datetime, threshold: int, window: timedelta) -> list[Group]:
    """The groups of similar tickets created in ``(now - window, now]`` that reach ``threshold``."""
    rows = db.session.execute(
        select(Ticket.id, Ticket.subject, Ticket.category_id, Ticket.component_id).where(
            Ticket.created_at > now - window, Ticket.created_at <= now
        )
    ).all()
    suppressed = suppressed_components(now)
    rows = [r for r in rows if r.component_id is None or r.component_id not in suppressed]
    groups: list[Group] = []

    by_component: dict[int, set[int]] = defaultdict(set)
    for r in rows:
        if r.component_id is not None:
            by_component[r.component_id].add(r.id)
    for component_id, ids in sorted(by_component.items()):
        if len(ids) >= threshold:
            groups.append(Group("component", None, component_id, [], ids))
    covered = [g.ticket_ids for g in groups]

    by_category: dict[int | None, list] = defaultdict(list)
    for r in rows:
        by_category[r.category_id].append(r)
    for category_id, tickets in by_category.items():
        if len(tickets) < threshold:
            continue
        postings: dict[str, set[int]] = defaultdict(set)
        for r in tickets:
            for term in subject_terms(r.subject):
                postings[term].add(r.id)
        frequent = sorted(
            ((term, ids) for term, ids in postings.items() if len(ids) >= threshold),
            key=lambda item: (-len(item[1]), item[0]),
        )
        merged: list[Group] = []
        for term, ids in frequent:
            home = next(
                (g for g in merged if len(g.ticket_ids & ids) >= OVERLAP * min(len(g.ticket_ids), len(ids))), None
            )
            if home is None:
                merged.append(Group("terms", category_id, None, [term], set(ids)))
            else:
                home.terms.append(term)
                home.ticket_ids |= ids
        for group in merged:
            group.terms.sort()
            if any(group.ticket_ids <= ids for ids in covered):
                continue  # the same tickets already make a component spike
            groups.append(group)
    return groups


def _continues(group: Group, alerts: Iterable[SpikeAlert]) -> SpikeAlert | None:
    for alert in alerts:
        same_kind = (
            alert.component_id == group.component_id
            if group.kind == "component"
            else alert.component_id is None and alert.category_id == group.category_id
        )
        if same_kind and group.ticket_ids & set(alert.ticket_ids or []):
            return alert
    return None


def managers() -> list[User]:
    return [
        u for u in db.session.scalars(select(User).where(User.role == Role.manager).order_by(User.id)) if u.is_active
    ]


def recipients(now: datetime) -> list[int]:
    """Who hears of a spike: the senior agents on shift and the managers (ids, each once)."""
    seen: list[int] = []
    for user in [*routing.on_shift_staff(Role.senior_agent, now), *managers()]:
        if user.is_active and user.id not in seen:
            seen.append(user.id)
    return seen


def scan(now: datetime | None = None) -> list[SpikeAlert]:
    """The periodic spike scan: record new spikes (each with one notice) and grow the ongoing ones. Returns the
    new alerts. The caller commits."""
    now = now or utcnow()
    threshold = max(2, int(current_app.config["SPIKE_THRESHOLD"]))
    window = timedelta(minutes=max(1, int(current_app.config["SPIKE_WINDOW_MINUTES"])))
    groups = find_groups(now, threshold, window)
    if not groups:
        return []
    recent = list(db.session.scalars(select(SpikeAlert).where(SpikeAlert.detected_at >= now - RECENT_ALERTS)))
    created: list[SpikeAlert] = []
    for group in groups:
        existing = _continues(group, recent)
        if existing is not None:
            grown = sorted(set(existing.ticket_ids or []) | group.ticket_ids)
            if grown != list(existing.ticket_ids or []):
                existing.ticket_ids = grown  # a new list: the JSON column sees the change
            continue
        key = group.key()
        if db.session.scalar(select(SpikeAlert.id).where(SpikeAlert.key == key)) is not None:
            continue
        alert = SpikeAlert(
            key=key,
            category_id=group.category_id,
            component_id=group.component_id,
            terms=" ".join(group.terms)[:300],
            ticket_ids=sorted(group.ticket_ids),
            detected_at=now,
        )
        db.session.add(alert)
        db.session.flush()
        emit("spike.alert", {"spike_id": alert.id, "user_ids": recipients(now)}, dedupe_key=f"spike:{alert.id}")
        recent.append(alert)
        created.append(alert)
    return created


# --------------------------------------------------------------------------- the ops page


def open_alerts(limit: int = 50) -> list[SpikeAlert]:
    """Spikes nobody has dismissed or declared an incident for yet, newest first."""
    return list(
        db.session.scalars(
            select(SpikeAlert)
            .where(SpikeAlert.dismissed_at.is_(None), SpikeAlert.incident_id.is_(None))
            .order_by(SpikeAlert.detected_at.desc(), SpikeAlert.id.desc())
            .limit(limit)
        )
    )


def may_manage(user: User) -> bool:
    return user.role in (Role.manager, Role.admin)


def dismiss(actor: User, spike_id: int) -> SpikeAlert:
    """Mark a spike as not an incident. Flushes."""
    if not may_manage(actor):
        raise Forbidden("Only managers and admins can dismiss spike alerts.")
    alert = db.session.get(SpikeAlert, spike_id)
    if alert is None:
        raise NotFound("No such spike alert.")
    if alert.dismissed_at is None:
        alert.dismissed_at, alert.dismissed_by_id = utcnow(), actor.id
        audit.record(
            "spike.dismissed",
            target=alert,
            target_type="spike_alert",
            target_label=f"Spike {alert.id}: {alert.terms or 'component'} ({len(alert.ticket_ids or [])} tickets)",
            actor=actor,
        )
        db.session.flush()
    return alert


def declare_incident_path(spike_id: int) -> str:
    """Where "Declare incident" goes: the incidents blueprint's new-incident page with the spike's tickets
    (``/ops/incidents/new?spike=<id>``)."""
    for endpoint in ("incidents.new", "incidents.new_incident", "incidents.declare"):
        try:
            return url_for(endpoint, spike=spike_id)
        except BuildError:
            continue
    return f"/ops/incidents/new?spike={spike_id}"


def tickets_of(alert: SpikeAlert) -> list[Ticket]:
    ids = list(alert.ticket_ids or [])
    if not ids:
        return []
    return list(db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)))
