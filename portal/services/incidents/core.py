"""Incidents: who may do what, declaration (with its checklist, components, organizations and tickets), the state
machine with per-state instants and optimistic concurrency, ticket links, updates written once (the request only
writes the update, its event and outbox rows; ``workers.incidents`` fans it out), resolution (optionally solving
the linked tickets in the workers), and the reads the pages and the banner use.

Every change appends an ``IncidentEvent`` (the timeline the post-mortem is built from).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from portal.extensions import db
from portal.models import (
    INCIDENT_TRANSITIONS,
    OPEN_STATUSES,
    Component,
    ComponentState,
    Incident,
    IncidentComponent,
    IncidentEvent,
    IncidentKind,
    IncidentOrganization,
    IncidentSeverity,
    IncidentState,
    IncidentTicket,
    IncidentUpdate,
    Organization,
    Role,
    SpikeAlert,
    Ticket,
    User,
    format_reference,
    utcnow,
)
from portal.params import bad_text, parse_id, single_line
from portal.services import audit, outbox
from portal.services.access import get_ticket_for
from portal.services.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from portal.services.incidents import checklists
from portal.services.webhooks import events as webhook_events

TITLE_MAX = 200
BODY_MAX = 20_000
VIEWERS = frozenset({Role.agent, Role.senior_agent, Role.manager, Role.admin})
MANAGERS = frozenset({Role.senior_agent, Role.manager, Role.admin})  # declare, change state, post updates
STATE_AT = {
    IncidentState.identified: "identified_at",
    IncidentState.monitoring: "monitoring_at",
    IncidentState.resolved: "resolved_at",
}


class IncidentConflict(ServiceError):
    """The incident changed since the version the caller saw (409); nothing was written."""

    status_code = 409
    code = "version_conflict"

    def __init__(self, message: str):
        super().__init__(message, {"version": message})


# --------------------------------------------------------------------------- rights


def can_view(user: Any) -> bool:
    """Staff of every tier see incidents and link tickets to them (L1 agents are often the first to notice)."""
    return bool(getattr(user, "is_authenticated", False)) and user.role in VIEWERS


def can_manage(user: Any) -> bool:
    """Senior agents, managers and admins declare, change state, tick steps and post updates."""
    return bool(getattr(user, "is_authenticated", False)) and user.role in MANAGERS


def can_edit_templates(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.role is Role.admin


def _require_manage(actor: User) -> None:
    if not can_manage(actor):
        raise Forbidden("Only senior agents, managers and admins can do this.")


def _require_view(actor: User) -> None:
    if not can_view(actor):
        raise NotFound("No such incident.")


# --------------------------------------------------------------------------- open-incidents cache


_OPEN_CACHE: dict[str, float | bool] = {"at": -1e9, "value": False}
OPEN_CACHE_SECONDS = 5.0


def open_incidents_exist() -> bool:
    """Whether any incident is open: answered from a short process-wide cache (reset by this process's own
    declarations and resolutions), so a page with no open incident costs no query for the banner."""
    now = time.monotonic()
    if now - float(_OPEN_CACHE["at"]) < OPEN_CACHE_SECONDS:
        return bool(_OPEN_CACHE["value"])
    value = db.session.scalar(select(Incident.id).where(Incident.state != IncidentState.resolved).limit(1)) is not None
    _OPEN_CACHE.update(at=now, value=value)
    return value


def forget_open_cache() -> None:
    _OPEN_CACHE.update(at=-1e9, value=False)


# --------------------------------------------------------------------------- helpers


def _event(incident: Incident, kind: str, actor: User | None, detail: str = "", at: datetime | None = None) -> None:
    db.session.add(
        IncidentEvent(
            incident_id=incident.id, kind=kind, detail=detail, actor_id=actor.id if actor else None, at=at or utcnow()
        )
    )


def _text(
    value: object, name: str, limit: int, errors: dict[str, str], *, one_line: bool = False, required: bool = True
) -> str:
    text = value if isinstance(value, str) else ""
    text = (single_line(text) if one_line else text.replace("\r\n", "\n")).strip()
    if not text:
        if required:
            errors[name] = "This field is required."
    elif len(text) > limit:
        errors[name] = f"At most {limit} characters."
    elif bad_text(text):
        errors[name] = "Remove the control characters (or invalid characters) from this text."
    return text


def _enum(enum_cls, value: object, name: str, errors: dict[str, str]):
    try:
        return enum_cls(value)
    except ValueError:
        errors[name] = "Choose one of: " + ", ".join(m.value.replace("_", " ") for m in enum_cls) + "."
        return None


def check_version(incident: Incident, expected: object) -> None:
    try:
        number = int(expected)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationFailed("A version is required.", {"version": "Reload the incident and try again."}) from None
    if number != incident.version:
        raise IncidentConflict(
            f"{incident.reference} was changed by someone else meanwhile (version {number} → {incident.version}). "
            "The page now shows the current state; check it and try again."
        )


def _flush(incident: Incident) -> None:
    reference = incident.reference
    try:
        db.session.flush()
    except StaleDataError:
        raise IncidentConflict(
            f"{reference} was changed by someone else at the same moment. Reload and try again."
        ) from None


def reminder_interval() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("INCIDENT_UPDATE_REMINDER_MINUTES", 60)))


def get_incident(actor: User, incident_id: object) -> Incident:
    _require_view(actor)
    incident = db.session.get(Incident, parse_id(incident_id) or 0)
    if incident is None:
        raise NotFound("No such incident.")
    return incident


def staff_choices() -> list[User]:
    return [
        u
        for u in db.session.scalars(
            select(User).where(User.role.in_([Role.senior_agent, Role.manager, Role.admin])).order_by(User.name)
        )
        if u.is_active
    ]


def active_components() -> list[Component]:
    return list(
        db.session.scalars(
            select(Component).where(Component.is_active.is_(True)).order_by(Component.position, Component.name)
        )
    )


def organization_choices() -> list[Organization]:
    return list(db.session.scalars(select(Organization).order_by(Organization.name)))


# --------------------------------------------------------------------------- declaration


@dataclass
class Declaration:
    kind: str = "outage"
    severity: str = "major"
    title: str = ""
    summary: str = ""
    commander_id: object = None
    public: bool | None = None  # None: the kind's default (outage public, security / data loss not)
    all_organizations: bool = True
    organization_ids: list = field(default_factory=list)
    components: dict = field(default_factory=dict)  # component id -> impact value
    ticket_refs: list = field(default_factory=list)
    spike_id: object = None


def tickets_for_declaration(actor: User, refs: list, spike_id: int | None) -> list[Ticket]:
    """The tickets the declare form starts with: ``?ticket=`` references the actor may read, a spike's tickets."""
    tickets: list[Ticket] = []
    for ref in refs:
        try:
            ticket = get_ticket_for(actor, ref)
        except NotFound:
            continue
        if ticket not in tickets:
            tickets.append(ticket)
    spike = db.session.get(SpikeAlert, spike_id) if spike_id else None
    if spike is not None:
        ids = [i for i in spike.ticket_ids or [] if isinstance(i, int)]
        tickets.extend(
            t
            for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id))
            if t not in tickets
        )
    return tickets


def default_public(kind: IncidentKind) -> bool:
    return kind is IncidentKind.outage


def declare(actor: User, form: Declaration) -> Incident:
    """Declare an incident: checklist copied from the kind's procedure, components with their impact, the affected
    organizations (all or chosen), the tickets it was declared from (a ticket, a spike) linked."""
    _require_manage(actor)
    errors: dict[str, str] = {}
    kind = _enum(IncidentKind, form.kind, "kind", errors)
    severity = _enum(IncidentSeverity, form.severity, "severity", errors)
    title = _text(form.title, "title", TITLE_MAX, errors, one_line=True)
    summary = _text(form.summary, "summary", BODY_MAX, errors, required=False)
    commander = actor
    if form.commander_id not in (None, ""):
        commander = db.session.get(User, parse_id(form.commander_id) or 0)
        if commander is None or not commander.is_staff or not commander.is_active:
            errors["commander_id"] = "Choose an active member of staff."
    components: list[tuple[Component, ComponentState]] = []
    for raw_id, raw_impact in (form.components or {}).items():
        component = db.session.get(Component, parse_id(raw_id) or 0)
        impact = _enum(ComponentState, raw_impact, "components", errors)
        if component is None or not component.is_active:
            errors["components"] = "Choose active components."
        elif impact in (ComponentState.operational, ComponentState.maintenance):
            errors["components"] = "An affected component is degraded, partially or fully out."
        elif impact is not None:
            components.append((component, impact))
    organizations: list[Organization] = []
    if not form.all_organizations:
        for raw in form.organization_ids or []:
            org = db.session.get(Organization, parse_id(raw) or 0)
            if org is None:
                errors["organization_ids"] = "Unknown organization."
            elif org not in organizations:
                organizations.append(org)
        if not organizations and not form.ticket_refs and not form.spike_id:
            errors["organization_ids"] = "Choose the affected organizations, or all of them."
    tickets: list[Ticket] = []
    for ref in form.ticket_refs or []:
        try:
            ticket = get_ticket_for(actor, ref)
        except NotFound:
            errors["tickets"] = f"Unknown ticket {single_line(str(ref))[:30]}."
            continue
        if ticket not in tickets:
            tickets.append(ticket)
    spike = None
    if form.spike_id not in (None, ""):
        spike = db.session.get(SpikeAlert, parse_id(form.spike_id) or 0)
        if spike is None:
            errors["spike"] = "Unknown spike alert."
        else:
            known = {t.id for t in tickets}
            ids = [int(i) for i in spike.ticket_ids or [] if isinstance(i, int) and i not in known]
            tickets.extend(db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)))
    if errors:
        raise ValidationFailed("The incident was not declared.", errors)
    now = utcnow()
    incident = Incident(
        kind=kind,
        severity=severity,
        title=title,
        summary=summary,
        state=IncidentState.investigating,
        commander_id=commander.id,
        declared_by_id=actor.id,
        source_ticket_id=tickets[0].id if tickets and form.ticket_refs else None,
        all_organizations=bool(form.all_organizations),
        public=default_public(kind) if form.public is None else bool(form.public),
        declared_at=now,
        reminders_sent=0,
        next_reminder_at=now + reminder_interval(),
    )
    db.session.add(incident)
    db.session.flush()
    _event(incident, "declared", actor, f"{kind.label}, {severity.label}: {title}", now)
    if commander.id != actor.id:
        _event(incident, "commander", actor, commander.name, now)
    for component, impact in components:
        db.session.add(IncidentComponent(incident_id=incident.id, component_id=component.id, impact=impact))
    for org in organizations:
        db.session.add(IncidentOrganization(incident_id=incident.id, organization_id=org.id))
    checklists.copy_to(incident)
    db.session.flush()
    _link(actor, incident, tickets, now)
    if spike is not None and spike.incident_id is None:
        spike.incident_id = incident.id
    db.session.flush()
    audit.record("incident.declared", target=incident, target_label=f"{incident.reference} {title}", actor=actor)
    forget_open_cache()
    return incident


# --------------------------------------------------------------------------- links


def _link(actor: User, incident: Incident, tickets: list[Ticket], now: datetime | None = None) -> int:
    """Link ``tickets`` not linked yet; an incident for chosen organizations gains the tickets' organizations."""
    if not tickets:
        return 0
    now = now or utcnow()
    ids = [t.id for t in tickets]
    linked = set(
        db.session.scalars(
            select(IncidentTicket.ticket_id).where(
                IncidentTicket.incident_id == incident.id, IncidentTicket.ticket_id.in_(ids)
            )
        )
    )
    new = [t for t in tickets if t.id not in linked]
    for ticket in new:
        db.session.add(
            IncidentTicket(incident_id=incident.id, ticket_id=ticket.id, linked_by_id=actor.id, linked_at=now)
        )
    if new:
        refs = ", ".join(t.reference for t in new[:20]) + (f" and {len(new) - 20} more" if len(new) > 20 else "")
        _event(incident, "linked", actor, refs, now)
    if not incident.all_organizations:
        org_ids = {t.organization_id for t in new if t.organization_id}
        present = set(
            db.session.scalars(
                select(IncidentOrganization.organization_id).where(IncidentOrganization.incident_id == incident.id)
            )
        )
        for org_id in sorted(org_ids - present):
            db.session.add(IncidentOrganization(incident_id=incident.id, organization_id=org_id))
    db.session.flush()
    return len(new)


def link_tickets(actor: User, incident: Incident, refs: list) -> int:
    """Link tickets by reference or id (from the ticket page, or the queue's bulk action). Returns how many were
    new."""
    _require_view(actor)
    if not incident.is_open:
        raise ValidationFailed("This incident is resolved.", {"tickets": "Resolved incidents take no new tickets."})
    tickets: list[Ticket] = []
    for ref in refs:
        value = int(ref) if isinstance(ref, str) and ref.isascii() and ref.isdigit() else ref
        try:
            tickets.append(get_ticket_for(actor, value))
        except NotFound:
            raise ValidationFailed("Unknown ticket.", {"tickets": "Choose tickets from the queue."}) from None
    if not tickets:
        raise ValidationFailed("Choose tickets.", {"tickets": "Tick at least one ticket."})
    return _link(actor, incident, tickets)


def unlink_ticket(actor: User, incident: Incident, ticket_id: object) -> None:
    _require_view(actor)
    row = db.session.scalar(
        select(IncidentTicket).where(
            IncidentTicket.incident_id == incident.id, IncidentTicket.ticket_id == (parse_id(ticket_id) or 0)
        )
    )
    if row is None:
        raise NotFound("That ticket is not linked.")
    ticket = db.session.get(Ticket, row.ticket_id)
    db.session.delete(row)
    _event(incident, "unlinked", actor, ticket.reference if ticket else str(row.ticket_id))
    db.session.flush()


# --------------------------------------------------------------------------- state


def _move(actor: User, incident: Incident, new: IncidentState, now: datetime) -> None:
    if new is incident.state:
        raise ValidationFailed("Nothing changed.", {"state": f"The incident is already {new.label.lower()}."})
    if new not in INCIDENT_TRANSITIONS[incident.state]:
        raise ValidationFailed(
            f"An incident cannot go from {incident.state.label} to {new.label}.",
            {"state": f"Not allowed from {incident.state.label.lower()}."},
        )
    old = incident.state
    incident.state = new
    attr = STATE_AT.get(new)
    if attr is not None:
        setattr(incident, attr, now)
    if new is IncidentState.resolved:
        incident.next_reminder_at = None
    _event(incident, "state", actor, f"{old.label} → {new.label}", now)
    forget_open_cache()


def change_state(
    actor: User,
    incident: Incident,
    state: object,
    *,
    expected_version: object,
    solve_tickets: bool = False,
    final_message: str = "",
) -> None:
    """Move the incident along ``INCIDENT_TRANSITIONS``. Resolving may solve the linked open tickets with a final
    public message: the solving runs in the workers (``incident.resolve``), each ticket once."""
    _require_manage(actor)
    check_version(incident, expected_version)
    errors: dict[str, str] = {}
    new = _enum(IncidentState, state, "state", errors)
    message = ""
    if solve_tickets:
        if new is not IncidentState.resolved:
            errors["solve"] = "Tickets are solved only when the incident is resolved."
        message = _text(final_message, "final_message", BODY_MAX, errors)
    if errors:
        raise ValidationFailed("The state was not changed.", errors)
    now = utcnow()
    _move(actor, incident, new, now)
    if solve_tickets:
        _event(incident, "solve_requested", actor, "Linked open tickets solved with a final message", now)
    _flush(incident)
    if new is IncidentState.resolved:
        audit.record("incident.resolved", target=incident, target_label=incident.reference, actor=actor)
    if solve_tickets:
        outbox.emit(
            "incident.resolve",
            {"incident_id": incident.id, "actor_id": actor.id, "message": message},
            dedupe_key=f"incident.resolve:{incident.id}",
        )


def set_commander(actor: User, incident: Incident, commander_id: object, *, expected_version: object) -> None:
    _require_manage(actor)
    check_version(incident, expected_version)
    commander = db.session.get(User, parse_id(commander_id) or 0)
    if commander is None or not commander.is_staff or not commander.is_active:
        raise ValidationFailed("Unknown commander.", {"commander_id": "Choose an active member of staff."})
    if commander.id != incident.commander_id:
        incident.commander_id = commander.id
        _event(incident, "commander", actor, commander.name)
        _flush(incident)


# --------------------------------------------------------------------------- updates


def post_update(
    actor: User,
    incident: Incident,
    body: object,
    *,
    state: object = None,
    expected_version: object = None,
    step_id: object = None,
) -> IncidentUpdate:
    """Write one update (optionally announcing a new state). Only the update, its event and outbox rows are
    written here; the fan-out (ticket replies, emails, Slack) runs in the workers. A new update resets the
    reminder count."""
    _require_manage(actor)
    if not incident.is_open:
        raise ValidationFailed("This incident is resolved.", {"body": "A resolved incident takes no updates."})
    errors: dict[str, str] = {}
    text = _text(body, "body", BODY_MAX, errors)
    new_state = None
    if state not in (None, ""):
        new_state = _enum(IncidentState, state, "state", errors)
    step = None
    if step_id not in (None, ""):
        try:
            step = checklists.get_step(incident, parse_id(step_id) or 0)
        except NotFound:
            errors["body"] = "Unknown checklist step."
    if errors:
        raise ValidationFailed("The update was not posted.", errors)
    now = utcnow()
    if new_state is not None and new_state is not incident.state:
        check_version(incident, expected_version)
        _move(actor, incident, new_state, now)
    update = IncidentUpdate(
        incident_id=incident.id, state=incident.state, body=text, author_id=actor.id, created_at=now
    )
    db.session.add(update)
    incident.last_update_at = now
    incident.reminders_sent = 0
    incident.next_reminder_at = now + reminder_interval() if incident.is_open else None
    _flush(incident)
    _event(incident, "update", actor, f"Update #{update.id} ({update.state.label}): {text[:200]}", now)
    if step is not None:
        checklists.tick(actor, step, True)
    outbox.emit("incident.update", {"update_id": update.id}, dedupe_key=f"incident.update:{update.id}")
    webhook_events.incident_updated(incident, update)  # outgoing webhooks (if subscribed)
    if incident.public:
        outbox.emit(
            "status.incident_update", {"update_id": update.id}, dedupe_key=f"status.incident_update:{update.id}"
        )
    db.session.flush()
    return update


def escalate_linked(actor: User, incident: Incident, step_id: object = None) -> None:
    """The checklist's escalate button: every linked open ticket goes up to engineering, in the workers
    (``incident.escalate``), through the ticket service."""
    _require_manage(actor)
    step = checklists.get_step(incident, parse_id(step_id) or 0) if step_id not in (None, "") else None
    now = utcnow()
    _event(incident, "escalate_requested", actor, "Linked open tickets escalated to engineering", now)
    db.session.flush()
    event_id = db.session.scalar(
        select(func.max(IncidentEvent.id)).where(
            IncidentEvent.incident_id == incident.id, IncidentEvent.kind == "escalate_requested"
        )
    )
    outbox.emit(
        "incident.escalate",
        {"incident_id": incident.id, "actor_id": actor.id, "kind": incident.kind.value},
        dedupe_key=f"incident.escalate:{incident.id}:{event_id}",
    )
    if step is not None:
        checklists.tick(actor, step, True)


# --------------------------------------------------------------------------- reads


def list_incidents(state: str = "", kind: str = "", severity: str = "", limit: int = 200) -> list[Incident]:
    """Open incidents first (newest first), then resolved ones."""
    stmt = select(Incident)
    if state == "open":
        stmt = stmt.where(Incident.state != IncidentState.resolved)
    elif state in {s.value for s in IncidentState}:
        stmt = stmt.where(Incident.state == IncidentState(state))
    if kind in {k.value for k in IncidentKind}:
        stmt = stmt.where(Incident.kind == IncidentKind(kind))
    if severity in {s.value for s in IncidentSeverity}:
        stmt = stmt.where(Incident.severity == IncidentSeverity(severity))
    rows = list(db.session.scalars(stmt.order_by(Incident.id.desc()).limit(limit)))
    return sorted(rows, key=lambda i: (not i.is_open,))


def open_incidents() -> list[Incident]:
    return list(
        db.session.scalars(
            select(Incident).where(Incident.state != IncidentState.resolved).order_by(Incident.id.desc())
        )
    )


@dataclass
class LinkedTicket:
    id: int
    reference: str
    subject: str
    status: Any
    organization: str | None


def linked_tickets(incident: Incident, limit: int = 500) -> tuple[list[LinkedTicket], int]:
    count = (
        db.session.scalar(select(func.count(IncidentTicket.id)).where(IncidentTicket.incident_id == incident.id)) or 0
    )
    rows = db.session.execute(
        select(Ticket.id, Ticket.subject, Ticket.status, Organization.name)
        .join(IncidentTicket, IncidentTicket.ticket_id == Ticket.id)
        .outerjoin(Organization, Organization.id == Ticket.organization_id)
        .where(IncidentTicket.incident_id == incident.id)
        .order_by(Ticket.id)
        .limit(limit)
    ).all()
    return [LinkedTicket(r[0], format_reference(r[0]), r[1], r[2], r[3]) for r in rows], count


def detail(incident: Incident) -> dict[str, Any]:
    tickets, ticket_count = linked_tickets(incident)
    return {
        "incident": incident,
        "steps": checklists.steps_of(incident),
        "updates": list(
            db.session.scalars(
                select(IncidentUpdate)
                .where(IncidentUpdate.incident_id == incident.id)
                .order_by(IncidentUpdate.id.desc())
            )
        ),
        "events": list(
            db.session.scalars(
                select(IncidentEvent).where(IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.id)
            )
        ),
        "tickets": tickets,
        "ticket_count": ticket_count,
        "components": list(
            db.session.scalars(select(IncidentComponent).where(IncidentComponent.incident_id == incident.id))
        ),
        "organizations": list(
            db.session.scalars(
                select(Organization)
                .join(IncidentOrganization, IncidentOrganization.organization_id == Organization.id)
                .where(IncidentOrganization.incident_id == incident.id)
                .order_by(Organization.name)
            )
        ),
        "next_states": [s for s in IncidentState if s in INCIDENT_TRANSITIONS[incident.state]],
    }


def incidents_of_ticket(ticket: Ticket) -> list[Incident]:
    """The open incidents ``ticket`` is linked to (the agent's ticket page)."""
    return list(
        db.session.scalars(
            select(Incident)
            .join(IncidentTicket, IncidentTicket.incident_id == Incident.id)
            .where(IncidentTicket.ticket_id == ticket.id, Incident.state != IncidentState.resolved)
            .order_by(Incident.id.desc())
        )
    )


@dataclass
class BannerItem:
    id: int
    reference: str
    title: str
    state: IncidentState
    severity: IncidentSeverity
    latest: str | None
    latest_at: datetime | None


def banner_for(user: Any) -> list[BannerItem]:
    """Open incidents ``user`` should see at the top of every page: staff all of them (compact); a signed-in
    customer those affecting their organization (all organizations, or theirs named); nobody else anything. One
    query (with the latest update as a correlated subquery), none while no incident is open; cached per request."""
    if not getattr(user, "is_authenticated", False):
        return []
    if has_request_context() and "incident_banner" in g:
        return g.incident_banner
    items: list[BannerItem] = []
    if (user.is_staff or user.is_customer) and open_incidents_exist():
        latest = (
            select(IncidentUpdate.id)
            .where(IncidentUpdate.incident_id == Incident.id)
            .order_by(IncidentUpdate.id.desc())
            .limit(1)
            .correlate(Incident)
            .scalar_subquery()
        )
        stmt = (
            select(
                Incident.id,
                Incident.title,
                Incident.state,
                Incident.severity,
                IncidentUpdate.body,
                IncidentUpdate.created_at,
            )
            .outerjoin(IncidentUpdate, IncidentUpdate.id == latest)
            .where(Incident.state != IncidentState.resolved)
            .order_by(Incident.id.desc())
            .limit(5)
        )
        if user.is_customer:
            affected = exists().where(
                and_(
                    IncidentOrganization.incident_id == Incident.id,
                    IncidentOrganization.organization_id == user.organization_id,
                )
            )
            stmt = stmt.where(
                or_(Incident.all_organizations.is_(True), affected)
                if user.organization_id
                else Incident.all_organizations.is_(True)
            )
        items = [BannerItem(r[0], f"INC-{r[0]:04d}", r[1], r[2], r[3], r[4], r[5]) for r in db.session.execute(stmt)]
    if has_request_context():
        g.incident_banner = items
    return items


def ticket_is_open_filter():
    return Ticket.status.in_(list(OPEN_STATUSES))
