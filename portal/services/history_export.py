"""Exporting ticket history in the import's own format (JSON Lines, ``docs/import.md``).

``ticket_line`` gives one stored ticket as the line that ``portal.services.history_import`` would import: its
creation (priority and category as they were then, read back from the first change of each), every timeline event
in order (by instant, then id) with its author's email — ``null`` for the System — and the ratings of its answered
satisfaction surveys. An escalation's reason code is recovered from the label its event body carries; a tier
change without a reason (an agent's direct edit, the routing rule by category) is the portal's own ``tier`` event.
Exporting an imported ticket gives back the line it came from (up to spelling: instants in UTC with ``Z``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Category, CsatSurvey, EventKind, Organization, Status, Ticket, TicketEvent, User
from portal.services.escalation import REASONS, SYSTEM_REASONS
from portal.services.sla import iso

BATCH = 500
EXTERNAL_ISSUE = " · external issue "
REASON_CODES = {label: code for labels in (*REASONS.values(), SYSTEM_REASONS) for code, label in labels.items()}
KNOWN_CODES = frozenset(REASON_CODES.values())
SOLVED_STATES = (Status.solved.value, Status.closed.value)


def ticket_line(ticket: Ticket) -> dict[str, Any]:
    """The import line of one stored ticket."""
    return ticket_lines([ticket])[0]


def ticket_lines(tickets: Sequence[Ticket]) -> list[dict[str, Any]]:
    """The import lines of several tickets, with a few queries for all of them."""
    ids = [t.id for t in tickets]
    events: dict[int, list] = {i: [] for i in ids}
    for row in db.session.execute(
        select(
            TicketEvent.ticket_id,
            TicketEvent.kind,
            TicketEvent.author_id,
            TicketEvent.body,
            TicketEvent.field,
            TicketEvent.old_value,
            TicketEvent.new_value,
            TicketEvent.new_user_id,
            TicketEvent.created_at,
        )
        .where(TicketEvent.ticket_id.in_(ids))
        .order_by(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id)
    ):
        events[row.ticket_id].append(row)
    ratings: dict[int, list] = {i: [] for i in ids}
    for survey in db.session.execute(
        select(CsatSurvey.ticket_id, CsatSurvey.cycle, CsatSurvey.rating, CsatSurvey.comment, CsatSurvey.rated_at)
        .where(CsatSurvey.ticket_id.in_(ids), CsatSurvey.rating.is_not(None), CsatSurvey.rated_at.is_not(None))
        .order_by(CsatSurvey.ticket_id, CsatSurvey.rated_at, CsatSurvey.cycle)
    ):
        ratings[survey.ticket_id].append(survey)
    user_ids = {t.requester_id for t in tickets} | {
        i for rows in events.values() for r in rows for i in (r.author_id, r.new_user_id) if i is not None
    }
    users = {u.id: u for u in db.session.execute(select(User.id, User.email, User.name).where(User.id.in_(user_ids)))}
    org_ids = {t.organization_id for t in tickets if t.organization_id is not None}
    orgs = dict(
        db.session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))).all()
    )
    categories = dict(db.session.execute(select(Category.id, Category.slug)).all())
    staff_by_name = _staff_by_name(events)
    return [_line(t, events[t.id], ratings[t.id], users, orgs, categories, staff_by_name) for t in tickets]


def iter_lines(batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Every ticket's line, in id order, a batch at a time."""
    last = 0
    while True:
        tickets = list(db.session.scalars(select(Ticket).where(Ticket.id > last).order_by(Ticket.id).limit(batch)))
        if not tickets:
            return
        yield from ticket_lines(tickets)
        last = tickets[-1].id


def _staff_by_name(events: dict[int, list]) -> dict[str, str]:
    """Emails of assignees by name, for assignee events older than the id they now carry."""
    names = {r.new_value for rows in events.values() for r in rows if r.field == "assignee" and r.new_user_id is None}
    names.discard(None)
    if not names:
        return {}
    return dict(db.session.execute(select(User.name, User.email).where(User.name.in_(names))).all())


def _line(ticket, rows, ratings, users, orgs, categories, staff_by_name) -> dict[str, Any]:
    def email(user_id):
        return users[user_id].email if user_id in users else None

    changes = [r for r in rows if r.kind is EventKind.field_change]
    first_priority = next((r for r in changes if r.field == "priority"), None)
    first_category = next((r for r in changes if r.field == "category"), None)
    current_category = categories.get(ticket.category_id) if ticket.category_id else None
    requester = users[ticket.requester_id]
    person: dict[str, Any] = {"email": requester.email, "name": requester.name}
    if ticket.organization_id is not None:
        person["organization"] = orgs[ticket.organization_id]
    events = []
    for row in rows:
        event = _event(row, email, staff_by_name)
        if event is not None:
            events.append((row, event))
    return {
        "external_id": ticket.external_id or ticket.reference,
        "subject": ticket.subject,
        "description": ticket.description,
        "category": first_category.old_value if first_category else current_category,
        "priority": first_priority.old_value if first_priority else ticket.priority.value,
        "channel": ticket.channel.value,
        "requester": person,
        "created_at": iso(ticket.created_at),
        "events": _with_ratings(events, ratings, requester.email),
    }


def _event(row, email, staff_by_name) -> dict[str, Any] | None:
    head = {"at": iso(row.created_at)}
    if row.kind is EventKind.created:
        return None
    if row.kind in (EventKind.public_reply, EventKind.internal_note):
        return head | {
            "type": "reply",
            "author": email(row.author_id),
            "public": row.kind is EventKind.public_reply,
            "body": row.body,
        }
    author = email(row.author_id)
    if row.field in ("status", "priority", "category"):
        return head | {"type": row.field, "author": author, "to": row.new_value}
    if row.field == "assignee":
        to = email(row.new_user_id) if row.new_user_id is not None else staff_by_name.get(row.new_value)
        return head | {"type": "assign", "author": author, "to": to}
    if row.field == "tier":
        if not row.body:
            return head | {"type": "tier", "author": author, "to": row.new_value}
        label, _, ref = row.body.partition(EXTERNAL_ISSUE)
        reason = REASON_CODES.get(label, label)
        event = head | {"type": "escalate", "author": author, "to": row.new_value, "reason": reason}
        if ref:
            event["external_ref"] = ref
        return event
    return None


def _with_ratings(events: list[tuple[Any, dict]], ratings: list, requester_email: str) -> list[dict[str, Any]]:
    """The events with the ratings merged in by instant. A rating goes after the events up to its instant, except
    that at an equal instant it goes before a reopen (leaving solved) once its resolution has happened — the order in
    which the import accepts it."""
    result: list[dict[str, Any]] = []
    pending = list(ratings)
    solves, status = 0, Status.new.value
    for row, event in events:
        while pending and _rating_first(pending[0], row, solves, status):
            result.append(_rating(pending.pop(0), requester_email))
        result.append(event)
        if row.kind is EventKind.field_change and row.field == "status":
            status = row.new_value
            solves += row.new_value == Status.solved.value
    result.extend(_rating(r, requester_email) for r in pending)
    return result


def _rating_first(rating, row, solves: int, status: str) -> bool:
    if rating.rated_at < row.created_at:
        return True
    return (
        rating.rated_at == row.created_at
        and row.kind is EventKind.field_change
        and row.field == "status"
        and status in SOLVED_STATES
        and row.new_value not in SOLVED_STATES
        and solves >= rating.cycle
    )


def _rating(rating, requester_email: str) -> dict[str, Any]:
    event = {"at": iso(rating.rated_at), "type": "csat", "author": requester_email, "rating": rating.rating}
    if rating.comment:
        event["comment"] = rating.comment
    return event
