"""Post-mortems of resolved incidents: a Markdown document from a template (Summary, Impact, Timeline, Root cause,
What went well, Action items) whose Impact figures are computed from the portal (``impact``) and whose Timeline is
generated from the incident's events; edited by managers and senior agents (optimistic concurrency on the
version), read by every member of staff; draft → published, internal or also public on the status page (rendered
through ``portal.markdown``'s sanitizer). Action items have a title and an owner (staff) and may become an
engineering ticket, filed and escalated through the ticket service by the actor and linked back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from portal.extensions import db
from portal.models import (
    Incident,
    IncidentEvent,
    IncidentOrganization,
    IncidentState,
    IncidentTicket,
    Organization,
    PostMortem,
    PostMortemAction,
    PostMortemState,
    Role,
    Ticket,
    Tier,
    User,
    utcnow,
)
from portal.services import audit
from portal.services import tickets as ticket_service
from portal.services.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from portal.services.escalation import NEXT_TIER, can_escalate

EDITORS = frozenset({Role.senior_agent, Role.manager})
BODY_MAX = 100_000
TITLE_MAX = 200
# The reason given at each step up to engineering when an action item becomes an engineering ticket.
ENGINEERING_PATH_REASONS = {Tier.l2: "technical_complexity", Tier.manager: "system_wide_issue", Tier.engineering: "bug"}


class PostMortemConflict(ServiceError):
    """Someone saved the post-mortem since the version the editor started from; nothing was written."""

    status_code = 409
    code = "version_conflict"


def can_read(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_staff and user.is_active)


def can_edit(user: Any) -> bool:
    return can_read(user) and user.role in EDITORS


def _require_edit(actor: User) -> None:
    if not can_edit(actor):
        raise Forbidden("Only managers and senior agents edit post-mortems.")


def get_incident(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("No such incident.")
    return incident


def for_incident(incident: Incident) -> PostMortem | None:
    return db.session.scalar(select(PostMortem).where(PostMortem.incident_id == incident.id))


def list_post_mortems(limit: int = 200) -> list[tuple[PostMortem, Incident]]:
    return list(
        db.session.execute(
            select(PostMortem, Incident)
            .join(Incident, Incident.id == PostMortem.incident_id)
            .order_by(PostMortem.updated_at.desc(), PostMortem.id.desc())
            .limit(limit)
        ).tuples()
    )


def resolved_without_post_mortem(limit: int = 50) -> list[Incident]:
    return list(
        db.session.scalars(
            select(Incident)
            .outerjoin(PostMortem, PostMortem.incident_id == Incident.id)
            .where(Incident.state == IncidentState.resolved, PostMortem.id.is_(None))
            .order_by(Incident.resolved_at.desc(), Incident.id.desc())
            .limit(limit)
        )
    )


# --------------------------------------------------------------------------- facts


def _window(incident: Incident) -> tuple[datetime, datetime]:
    return incident.declared_at, incident.resolved_at or utcnow()


def format_duration(seconds: int) -> str:
    minutes = max(0, seconds) // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts)


def impact(incident: Incident) -> dict[str, Any]:
    """The incident's impact from the portal's own facts:

    - ``linked_tickets``: tickets linked to the incident;
    - ``organizations`` / ``organization_names``: the organizations named, or for an incident affecting all of
      them, every organization with at least one customer account;
    - ``duration_seconds``: declared → resolved (→ now while open);
    - ``sla_breaches``: breach facts of the linked tickets (first response, resolution) whose instant falls in
      [declared_at, resolved_at]; ``sla_breached_tickets``: how many tickets those are."""
    start, end = _window(incident)
    ticket_ids = list(
        db.session.scalars(select(IncidentTicket.ticket_id).where(IncidentTicket.incident_id == incident.id))
    )
    if incident.all_organizations:
        names = list(
            db.session.scalars(
                select(Organization.name)
                .where(
                    Organization.id.in_(
                        select(User.organization_id).where(
                            User.role == Role.customer, User.organization_id.is_not(None)
                        )
                    )
                )
                .order_by(func.lower(Organization.name))
            )
        )
    else:
        names = list(
            db.session.scalars(
                select(Organization.name)
                .join(IncidentOrganization, IncidentOrganization.organization_id == Organization.id)
                .where(IncidentOrganization.incident_id == incident.id)
                .order_by(func.lower(Organization.name))
            )
        )
    breaches = 0
    breached_tickets = 0
    if ticket_ids:
        for first, resolution in db.session.execute(
            select(Ticket.first_response_breached_at, Ticket.resolution_breached_at).where(
                Ticket.id.in_(ticket_ids),
                or_(
                    Ticket.first_response_breached_at.between(start, end),
                    Ticket.resolution_breached_at.between(start, end),
                ),
            )
        ):
            inside = [at for at in (first, resolution) if at is not None and start <= at <= end]
            breaches += len(inside)
            breached_tickets += 1 if inside else 0
    duration = int((end - start).total_seconds())
    return {
        "linked_tickets": len(ticket_ids),
        "organizations": len(names),
        "organization_names": names,
        "all_organizations": bool(incident.all_organizations),
        "declared_at": start,
        "resolved_at": incident.resolved_at,
        "duration_seconds": duration,
        "duration": format_duration(duration),
        "sla_breaches": breaches,
        "sla_breached_tickets": breached_tickets,
    }


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def timeline(incident: Incident) -> list[dict[str, Any]]:
    """The incident's events in order, with who did each."""
    rows = db.session.execute(
        select(IncidentEvent, User.name)
        .outerjoin(User, User.id == IncidentEvent.actor_id)
        .where(IncidentEvent.incident_id == incident.id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    )
    return [
        {"at": event.at, "kind": event.kind, "detail": event.detail, "actor": name or "System"} for event, name in rows
    ]


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def template_body(incident: Incident) -> str:
    """The starting document: the facts filled in, the rest for the authors."""
    facts = impact(incident)
    events = timeline(incident)
    lines = [
        f"# Post-mortem: {incident.reference} {_one_line(incident.title)}",
        "",
        "## Summary",
        "",
        _one_line(incident.summary) or "_What happened, in two or three sentences._",
        "",
        "## Impact",
        "",
        f"- Duration: {facts['duration']} (declared {_utc(facts['declared_at'])}"
        + (f", resolved {_utc(facts['resolved_at'])})" if facts["resolved_at"] else ", not resolved)"),
        f"- Linked tickets: {facts['linked_tickets']}",
        f"- Affected organizations: {facts['organizations']}" + (" (all)" if facts["all_organizations"] else ""),
        f"- SLA breaches during the incident: {facts['sla_breaches']} (on {facts['sla_breached_tickets']} tickets)",
        "",
        "## Timeline",
        "",
        "All times UTC.",
        "",
    ]
    lines += [f"- {_utc(e['at'])} — {e['kind']}: {_one_line(e['detail'])} ({e['actor']})" for e in events] or [
        "- _No events recorded._"
    ]
    lines += [
        "",
        "## Root cause",
        "",
        "_Why it happened._",
        "",
        "## What went well",
        "",
        "_What helped._",
        "",
        "## Action items",
        "",
        "_Listed below the document, each with an owner; an item can become an engineering ticket._",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- changes


def create(actor: User, incident: Incident) -> PostMortem:
    """The post-mortem of a resolved incident (once; a second call returns the existing one)."""
    _require_edit(actor)
    existing = for_incident(incident)
    if existing is not None:
        return existing
    if incident.state is not IncidentState.resolved:
        raise ValidationFailed(
            "Resolve the incident first.", {"incident": "Only a resolved incident has a post-mortem."}
        )
    now = utcnow()
    post_mortem = PostMortem(
        incident_id=incident.id, body=template_body(incident), author_id=actor.id, created_at=now, updated_at=now
    )
    db.session.add(post_mortem)
    db.session.flush()
    return post_mortem


def _check_version(post_mortem: PostMortem, expected_version: Any) -> None:
    try:
        expected = int(str(expected_version))
    except (TypeError, ValueError):
        expected = -1
    if expected != post_mortem.version:
        raise PostMortemConflict(
            "Someone saved this post-mortem since you opened it: nothing was saved. Reload it and apply your change "
            "again.",
            {"version": f"The post-mortem is at version {post_mortem.version}."},
        )


def _flush() -> None:
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise PostMortemConflict("Someone saved this post-mortem at the same moment: nothing was saved.") from None


def save(actor: User, post_mortem: PostMortem, *, body: str, expected_version: Any) -> PostMortem:
    _require_edit(actor)
    _check_version(post_mortem, expected_version)
    body = (body or "").replace("\r\n", "\n")
    if not body.strip():
        raise ValidationFailed("The post-mortem was not saved.", {"body": "The document cannot be empty."})
    if len(body) > BODY_MAX:
        raise ValidationFailed("The post-mortem was not saved.", {"body": f"At most {BODY_MAX} characters."})
    post_mortem.body = body
    post_mortem.updated_at = utcnow()
    _flush()
    return post_mortem


def publish(actor: User, post_mortem: PostMortem, *, public: bool, expected_version: Any) -> PostMortem:
    """Publish (internally, or also on the public status page when ``public``); a published one may be made public
    or internal again the same way."""
    _require_edit(actor)
    _check_version(post_mortem, expected_version)
    incident = db.session.get(Incident, post_mortem.incident_id)
    if public and not incident.public:
        raise ValidationFailed(
            "This incident is not on the status page.", {"public": "Only a public incident's post-mortem is public."}
        )
    before = {"state": post_mortem.state.value, "public": post_mortem.public}
    now = utcnow()
    post_mortem.state = PostMortemState.published
    post_mortem.public = bool(public)
    post_mortem.published_at = post_mortem.published_at or now
    post_mortem.updated_at = now
    audit.record(
        "postmortem.published",
        target_type="post_mortems",
        target_id=post_mortem.id,
        target_label=incident.reference,
        before=before,
        after={"state": "published", "public": bool(public)},
        actor=actor,
    )
    _flush()
    return post_mortem


def actions(post_mortem: PostMortem) -> list[PostMortemAction]:
    return list(
        db.session.scalars(
            select(PostMortemAction)
            .where(PostMortemAction.post_mortem_id == post_mortem.id)
            .order_by(PostMortemAction.id)
        )
    )


def _staff(owner_id: Any) -> User | None:
    text = str(owner_id or "").strip()
    if not text:
        return None
    owner = db.session.get(User, int(text)) if text.isascii() and text.isdigit() and len(text) < 10 else None
    if owner is None or not owner.is_staff or not owner.is_active:
        raise ValidationFailed("The action item was not added.", {"owner_id": "Choose an active member of staff."})
    return owner


def add_action(actor: User, post_mortem: PostMortem, *, title: str, owner_id: Any = None) -> PostMortemAction:
    _require_edit(actor)
    title = _one_line(title)
    if not title or len(title) > TITLE_MAX:
        raise ValidationFailed(
            "The action item was not added.", {"title": f"Give the item a title of at most {TITLE_MAX} characters."}
        )
    owner = _staff(owner_id)
    item = PostMortemAction(
        post_mortem_id=post_mortem.id, title=title, owner_id=owner.id if owner else None, created_at=utcnow()
    )
    db.session.add(item)
    db.session.flush()
    return item


def get_action(post_mortem: PostMortem, action_id: int) -> PostMortemAction:
    item = db.session.get(PostMortemAction, action_id)
    if item is None or item.post_mortem_id != post_mortem.id:
        raise NotFound("No such action item.")
    return item


def set_done(actor: User, item: PostMortemAction, done: bool) -> PostMortemAction:
    _require_edit(actor)
    item.done_at = (item.done_at or utcnow()) if done else None
    db.session.flush()
    return item


def make_engineering_ticket(actor: User, post_mortem: PostMortem, item: PostMortemAction) -> Ticket:
    """File a ticket for the action item (by the actor, through the ticket service) and raise it to engineering
    one tier at a time; a step the actor's role may not take (manager → engineering for a senior agent) is taken
    by the system, as for the automatic rules. Once per item."""
    _require_edit(actor)
    if item.ticket_id is not None:
        ticket = db.session.get(Ticket, item.ticket_id)
        if ticket is not None:
            return ticket
    incident = db.session.get(Incident, post_mortem.incident_id)
    owner = f"Owner: {item.owner.name}.\n" if item.owner else ""
    ticket = ticket_service.create_ticket(
        actor,
        subject=f"{incident.reference} action: {item.title}"[:200],
        description=(
            f"Action item from the post-mortem of {incident.reference} {incident.title}.\n{owner}\n{item.title}"
        ),
        priority="high",
    )
    while ticket.tier is not Tier.engineering:
        step = NEXT_TIER[ticket.tier]
        by = actor if can_escalate(actor, ticket) else None
        ticket_service.escalate_ticket(
            by, ticket, to_tier=step, reason=ENGINEERING_PATH_REASONS[step], expected_version=ticket.version
        )
    item.ticket_id = ticket.id
    db.session.flush()
    return ticket
