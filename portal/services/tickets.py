"""Every change to a ticket goes through this module.

Each public function checks the actor's rights and the transition table, applies the change, appends its
``TicketEvent`` rows, bumps ``Ticket.version`` once and flushes. A stale ``expected_version`` raises ``Conflict`` and
writes nothing. What must follow a change (SLA clocks, routing, outbox notifications, index updates) is run by
``portal.services.effects.ticket_changed`` in the same transaction.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from portal.extensions import db
from portal.models import (
    CUSTOMER_STATUS_TRANSITIONS,
    STATUS_TRANSITIONS,
    Category,
    Channel,
    EventKind,
    Priority,
    Role,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    User,
    utcnow,
)
from portal.params import bad_text, parse_id, single_line
from portal.services import effects, escalation
from portal.services.changes import SYSTEM, FieldChange, SystemActor, TicketChange
from portal.services.errors import Conflict, Forbidden, ValidationFailed

SUBJECT_MAX = 200
BODY_MAX = 50_000
EDITABLE_FIELDS = ("status", "priority", "category", "tier", "assignee")


# --------------------------------------------------------------------------- creation


def create_ticket(
    actor: User,
    *,
    subject: str,
    description: str,
    category: str | None = None,
    priority: str | Priority = Priority.medium,
    channel: str | Channel = Channel.web,
    requester: User | None = None,
) -> Ticket:
    """File a ticket. Customers file for themselves within their organization and may only choose the priorities
    in ``CUSTOMER_PRIORITIES``; staff may file on behalf of a customer (``requester``)."""
    errors: dict[str, str] = {}
    subject = _clean_text(single_line(subject) if isinstance(subject, str) else subject, "subject", SUBJECT_MAX, errors)
    description = _clean_text(description, "description", BODY_MAX, errors)
    category_obj = _parse_category(category, errors) if category not in (None, "") else None
    priority_obj = _parse_enum(Priority, priority, "priority", errors)
    channel_obj = _parse_enum(Channel, channel, "channel", errors)
    if actor.is_customer:
        requester = actor
        if priority_obj is not None and priority_obj.value not in current_app.config["CUSTOMER_PRIORITIES"]:
            errors["priority"] = "Choose low, medium or high; call the hotline for an outage."
    elif requester is None:
        requester = actor
    if errors:
        raise ValidationFailed("The ticket could not be filed.", errors)
    now = utcnow()
    ticket = Ticket(
        subject=subject,
        description=description,
        category=category_obj,
        priority=priority_obj,
        status=Status.new,
        tier=Tier.l1,
        channel=channel_obj,
        requester=requester,
        organization_id=requester.organization_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    db.session.add(ticket)
    db.session.flush()
    _add_event(ticket, actor, EventKind.created, body=description)
    db.session.flush()
    effects.ticket_changed(TicketChange("created", ticket, actor, [], event=None))
    return ticket


# --------------------------------------------------------------------------- conversation


def reply_to_ticket(
    actor: User, ticket: Ticket, body: str, *, internal: bool = False, status: str | None = None
) -> TicketEvent | Ticket:
    """Add a public reply (or, for staff, an internal note). Returns the event, or the follow-up ticket when a
    customer replies to a closed ticket. A customer reply reopens a solved or pending ticket; the first public staff
    reply records the first response and opens a new ticket. Staff may set a status in the same step."""
    errors: dict[str, str] = {}
    body = _clean_text(body, "body", BODY_MAX, errors)
    if errors:
        raise ValidationFailed("The reply is empty.", errors)
    if internal and not actor.is_staff:
        raise Forbidden("Only staff can add internal notes.")
    if status and not actor.is_staff:
        raise Forbidden("Customers cannot set a status with a reply.")
    if ticket.status is Status.closed and not internal:
        if actor.is_staff:
            raise ValidationFailed("This ticket is closed.", {"body": "Closed tickets take no replies."})
        return _create_follow_up(actor, ticket, body)
    changes: list[FieldChange] = []
    kind = EventKind.internal_note if internal else EventKind.public_reply
    event = _add_event(ticket, actor, kind, body=body)
    if not internal:
        if actor.is_staff:
            if ticket.first_response_at is None:
                ticket.first_response_at = event.created_at
            if ticket.status is Status.new and not status:
                changes.append(_set_status(actor, ticket, Status.open, staff_rule=True))
        elif ticket.status in (Status.solved, Status.pending):
            changes.append(_set_status(actor, ticket, Status.open, staff_rule=True))
    if status:
        new_status = _parse_enum(Status, status, "status", errors)
        if errors:
            raise ValidationFailed("Unknown status.", errors)
        if new_status is not ticket.status:
            changes.append(_set_status(actor, ticket, new_status))
    field_events = [
        _add_event(ticket, actor, EventKind.field_change, field=c.field, old=c.old, new=c.new, new_user_id=c.new_id)
        for c in changes
    ]
    _bump(ticket, [event, *field_events])
    _flush(ticket, ticket.version - 1)
    effects.ticket_changed(TicketChange("note" if internal else "reply", ticket, actor, changes, event=event))
    return event


def _create_follow_up(actor: User, closed: Ticket, body: str) -> Ticket:
    follow_up = create_ticket(
        actor,
        subject=f"Re: {closed.subject}"[:SUBJECT_MAX],
        description=body,
        category=closed.category.slug if closed.category else None,
        priority=closed.priority if closed.priority.value in current_app.config["CUSTOMER_PRIORITIES"] else "high",
        channel=closed.channel,
    )
    follow_up.follow_up_of_id = closed.id
    db.session.flush()
    return follow_up


# --------------------------------------------------------------------------- field changes


def update_ticket(actor: User, ticket: Ticket, *, expected_version: int, **fields: Any) -> list[FieldChange]:
    """Change several fields at once (status, priority, category, tier, assignee) against ``expected_version``.
    Values are the public spellings: enum values, the category slug, the assignee's id (or None). Returns the
    changes made; unchanged values make no event and no new version."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown fields.", dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    expected_version = check_version(ticket, expected_version)
    applier = {
        "status": _apply_status,
        "priority": _apply_priority,
        "category": _apply_category,
        "tier": _apply_tier,
        "assignee": _apply_assignee,
    }
    errors: dict[str, str] = {}
    changes: list[FieldChange] = []
    for name in EDITABLE_FIELDS:
        if name in fields:
            try:
                change = applier[name](actor, ticket, fields[name])
            except ValidationFailed as exc:
                errors.update(exc.fields or {name: exc.message})
                continue
            if change is not None:
                changes.append(change)
    if errors:
        raise ValidationFailed("Some changes are not allowed.", errors)
    if changes:
        events = [
            _add_event(ticket, actor, EventKind.field_change, field=c.field, old=c.old, new=c.new, new_user_id=c.new_id)
            for c in changes
        ]
        _bump(ticket, events)
        _flush(ticket, expected_version)
        effects.ticket_changed(TicketChange("fields", ticket, actor, changes))
    return changes


def change_status(actor: User, ticket: Ticket, status: str, *, expected_version: int) -> list[FieldChange]:
    return update_ticket(actor, ticket, expected_version=expected_version, status=status)


def change_priority(actor: User, ticket: Ticket, priority: str, *, expected_version: int) -> list[FieldChange]:
    return update_ticket(actor, ticket, expected_version=expected_version, priority=priority)


def assign_ticket(actor: User, ticket: Ticket, assignee_id: int | None, *, expected_version: int) -> list[FieldChange]:
    return update_ticket(actor, ticket, expected_version=expected_version, assignee=assignee_id)


def mark_solved(actor: User, ticket: Ticket, *, expected_version: int) -> list[FieldChange]:
    """The requester (or staff) confirms the problem is solved."""
    return change_status(actor, ticket, Status.solved.value, expected_version=expected_version)


def reopen_ticket(actor: User, ticket: Ticket, *, expected_version: int) -> list[FieldChange]:
    return change_status(actor, ticket, Status.open.value, expected_version=expected_version)


def escalate_ticket(
    actor: User | None,
    ticket: Ticket,
    *,
    to_tier: str | Tier,
    reason: str,
    external_ref: str | None = None,
    expected_version: int,
) -> FieldChange:
    """Move ``ticket`` one tier up (L1 → L2 → manager → engineering) with a reason from that step's list and,
    for engineering, an optional external issue reference. ``actor`` None is the system (the SLA sweep's rules).
    Writes a tier event whose body is the reason, bumps the version once and emits ``notify.escalation``."""
    expected_version = check_version(ticket, expected_version)
    tier, label, ref = escalation.check_escalation(actor, ticket, to_tier, reason, external_ref)
    change = FieldChange("tier", ticket.tier.value, tier.value)
    old, ticket.tier = ticket.tier, tier
    body = label + (f" · external issue {ref}" if ref else "")
    event = _add_event(
        ticket, actor or SYSTEM, EventKind.field_change, body=body, field="tier", old=old.value, new=tier.value
    )
    _bump(ticket, [event])
    _flush(ticket, expected_version)
    escalation.emit_escalation(ticket, old, tier, reason, actor, ref)
    effects.ticket_changed(TicketChange("escalation", ticket, actor or SYSTEM, [change], event=event))
    return change


def assign_by_system(ticket: Ticket, assignee: User | None) -> FieldChange | None:
    """Routing's own reassignment outside a user's change (e.g. shift hand-over): author None (System), one new
    version, the usual effects."""
    if (assignee.id if assignee else None) == ticket.assignee_id:
        return None
    change = FieldChange(
        "assignee",
        ticket.assignee.name if ticket.assignee else None,
        assignee.name if assignee else None,
        assignee.id if assignee else None,
    )
    expected = ticket.version
    ticket.assignee = assignee
    event = _add_event(
        ticket,
        SYSTEM,
        EventKind.field_change,
        field="assignee",
        old=change.old,
        new=change.new,
        new_user_id=change.new_id,
    )
    _bump(ticket, [event])
    _flush(ticket, expected)
    effects.ticket_changed(TicketChange("fields", ticket, SYSTEM, [change], event=event))
    return change


def allowed_statuses(actor: User, ticket: Ticket) -> list[Status]:
    """The statuses ``actor`` may move ``ticket`` to, in display order (the UI's choices)."""
    table = STATUS_TRANSITIONS if actor.is_staff else CUSTOMER_STATUS_TRANSITIONS
    return [s for s in Status if s in table[ticket.status]]


def check_version(ticket: Ticket, expected_version: Any) -> int:
    """The caller's version as an integer, when it is the ticket's current one; else ``Conflict`` (a missing or
    malformed version is a ``ValidationFailed``)."""
    try:
        expected = int(expected_version)
    except (TypeError, ValueError):
        raise ValidationFailed("A version is required.", {"version": "Send the ticket version you last saw."}) from None
    if expected != ticket.version:
        raise Conflict(
            f"{ticket.reference} was changed by someone else (version {expected} → {ticket.version}).",
            ticket_id=ticket.id,
            expected_version=expected,
            current_version=ticket.version,
        )
    return expected


def events_since(ticket: Ticket, version: int, *, include_internal: bool) -> list[TicketEvent]:
    """What changed after ``version``: shown to a user whose edit was refused with 409."""
    stmt = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.ticket_version > version)
        .order_by(TicketEvent.id)
    )
    if not include_internal:
        stmt = stmt.where(TicketEvent.kind != EventKind.internal_note)
    return list(db.session.scalars(stmt))


# --------------------------------------------------------------------------- appliers (no version, no flush)


def _apply_status(actor: User, ticket: Ticket, value: Any) -> FieldChange | None:
    errors: dict[str, str] = {}
    status = _parse_enum(Status, value, "status", errors)
    if errors:
        raise ValidationFailed("Unknown status.", errors)
    if status is ticket.status:
        return None
    return _set_status(actor, ticket, status)


def _set_status(actor: User, ticket: Ticket, status: Status, *, staff_rule: bool = False) -> FieldChange:
    table = STATUS_TRANSITIONS if (actor.is_staff or staff_rule) else CUSTOMER_STATUS_TRANSITIONS
    if status not in table[ticket.status]:
        raise ValidationFailed(
            f"A ticket cannot go from {ticket.status.short_label} to {status.short_label}.",
            {"status": f"Not allowed from {ticket.status.short_label}."},
        )
    old = ticket.status
    ticket.status = status
    now = utcnow()
    if status is Status.solved:
        ticket.solved_at = now
    elif status is Status.closed:
        ticket.closed_at = now
    elif old is Status.solved:
        ticket.solved_at = None
    return FieldChange("status", old.value, status.value)


def _apply_staff_enum(field: str, enum_cls):
    """An applier for a staff-only enum field (priority, tier)."""

    def apply(actor: User, ticket: Ticket, value: Any) -> FieldChange | None:
        _require_staff(actor, field)
        errors: dict[str, str] = {}
        new = _parse_enum(enum_cls, value, field, errors)
        if errors:
            raise ValidationFailed(f"Unknown {field}.", errors)
        old = getattr(ticket, field)
        if new is old:
            return None
        setattr(ticket, field, new)
        return FieldChange(field, old.value, new.value)

    return apply


_apply_priority = _apply_staff_enum("priority", Priority)
_apply_tier = _apply_staff_enum("tier", Tier)


def _apply_category(actor: User, ticket: Ticket, value: Any) -> FieldChange | None:
    _require_staff(actor, "category")
    errors: dict[str, str] = {}
    category = _parse_category(value, errors) if value not in (None, "") else None
    if errors:
        raise ValidationFailed("Unknown category.", errors)
    if category is ticket.category:
        return None
    old = ticket.category.slug if ticket.category else None
    ticket.category = category
    return FieldChange("category", old, category.slug if category else None)


def _apply_assignee(actor: User, ticket: Ticket, value: Any) -> FieldChange | None:
    _require_staff(actor, "assignee")
    assignee: User | None = None
    if value not in (None, "", 0, "0"):
        assignee_id = parse_id(value)  # an id within the database's range (not a float, a bool or "١٢")
        assignee = db.session.get(User, assignee_id) if assignee_id is not None else None
        if assignee is None or not assignee.is_staff or not assignee.is_active or assignee.role is Role.admin:
            raise ValidationFailed(
                "Unknown assignee.", {"assignee": "Choose an active agent, senior agent or manager."}
            )
    if (assignee.id if assignee else None) == ticket.assignee_id:
        return None
    old = ticket.assignee.name if ticket.assignee else None
    ticket.assignee = assignee
    return FieldChange("assignee", old, assignee.name if assignee else None, assignee.id if assignee else None)


# --------------------------------------------------------------------------- helpers


def _require_staff(actor: User, field: str) -> None:
    if not actor.is_staff:
        raise Forbidden(f"Customers cannot change the {field}.", {field: "Only the support team can change this."})


def _clean_text(value: Any, field: str, limit: int, errors: dict[str, str]) -> str:
    text = (value if isinstance(value, str) else "").replace("\r\n", "\n").strip()
    if not text:
        errors[field] = "This field is required."
    elif len(text) > limit:
        errors[field] = f"At most {limit} characters."
    elif bad_text(text):  # NUL and other control characters, lone surrogates: never stored
        errors[field] = "Remove the control characters (or invalid characters) from this text."
    return text


def _parse_enum(enum_cls, value: Any, field: str, errors: dict[str, str]):
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        errors[field] = "Choose one of: " + ", ".join(m.value for m in enum_cls) + "."
        return None


def _parse_category(value: Any, errors: dict[str, str]) -> Category | None:
    if isinstance(value, Category):
        return value
    category = db.session.scalar(select(Category).where(Category.slug == str(value), Category.is_active.is_(True)))
    if category is None:
        errors["category"] = "Unknown category."
    return category


def _add_event(
    ticket: Ticket,
    actor: User | SystemActor,
    kind: EventKind,
    *,
    body: str = "",
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
    new_user_id: int | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        author_id=actor.id,
        body=body,
        field=field,
        old_value=old,
        new_value=new,
        new_user_id=new_user_id,
        ticket_version=ticket.version,
        created_at=utcnow(),
    )
    db.session.add(event)
    return event


def _bump(ticket: Ticket, events: list[TicketEvent]) -> None:
    ticket.version += 1
    ticket.updated_at = utcnow()
    for event in events:
        event.ticket_version = ticket.version


def _flush(ticket: Ticket, expected_version: int) -> None:
    """Write the change. A concurrent writer that committed the same version first makes the conditional UPDATE
    match no row: that is a ``Conflict``. The message is built from values read before the flush, because after a
    failed flush the session's transaction is aborted and the ticket must not be touched."""
    ticket_id, reference = ticket.id, ticket.reference
    try:
        db.session.flush()
    except StaleDataError:
        raise Conflict(
            f"{reference} was changed by someone else at the same moment.",
            ticket_id=ticket_id,
            expected_version=expected_version,
        ) from None
