"""Read-only queries of the admin mail pages. Lists never load the raw message (up to ``MAIL_RAW_MAX`` bytes per
row): the raw column is deferred, pages are keyset pages on the primary key (``id < before`` / ``id > after``,
``LIMIT size+1``), and the counts per state are bounded ranges of the (state, id) index (``COUNT_CAP``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort
from sqlalchemy import func, or_, select
from sqlalchemy.orm import defer

from portal.blueprints.mail.panel import thread_label
from portal.extensions import db
from portal.models import Attachment, InboundMessage, InboundState, Ticket, TicketEvent, User
from portal.services.mail import pipeline

PAGE_SIZE = 50
COUNT_CAP = 10_000
# The tabs of the list, the quarantine first: it is what needs an admin.
STATE_ORDER = (
    InboundState.quarantined,
    InboundState.received,
    InboundState.processed,
    InboundState.ignored,
    InboundState.discarded,
)


@dataclass
class KeysetPage:
    items: list[InboundMessage]
    older: int | None  # ``before`` of the next (older) page
    newer: int | None  # ``after`` of the previous (newer) page
    is_first: bool


def _without_raw():
    return select(InboundMessage).options(defer(InboundMessage.raw))


def inbox_page(
    state: InboundState | None, reason: str | None, *, before: int | None, after: int | None, size: int
) -> KeysetPage:
    stmt = _without_raw()
    if state is not None:
        stmt = stmt.where(InboundMessage.state == state)
    if reason:
        stmt = stmt.where(InboundMessage.reason == reason)
    if after is not None:  # a page of newer rows: fetched upwards, shown newest first
        rows = list(
            db.session.scalars(stmt.where(InboundMessage.id > after).order_by(InboundMessage.id).limit(size + 1))
        )
        has_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        return KeysetPage(
            items=rows,
            older=rows[-1].id if rows else None,
            newer=rows[0].id if rows and has_newer else None,
            is_first=not has_newer,
        )
    if before is not None:
        stmt = stmt.where(InboundMessage.id < before)
    rows = list(db.session.scalars(stmt.order_by(InboundMessage.id.desc()).limit(size + 1)))
    has_older = len(rows) > size
    rows = rows[:size]
    return KeysetPage(
        items=rows,
        older=rows[-1].id if rows and has_older else None,
        newer=rows[0].id if rows and before is not None else None,
        is_first=before is None,
    )


def state_counts() -> dict[InboundState, int]:
    """Messages per state, each counted up to ``COUNT_CAP + 1`` (shown as "10,000+"): the quarantine's count is
    exact in practice, and the big processed state costs a bounded index range instead of a full scan."""
    capped = [
        select(func.count())
        .select_from(select(InboundMessage.id).where(InboundMessage.state == state).limit(COUNT_CAP + 1).subquery())
        .scalar_subquery()
        .label(state.value)
        for state in STATE_ORDER
    ]
    row = db.session.execute(select(*capped)).one()
    return {state: int(n or 0) for state, n in zip(STATE_ORDER, row, strict=True)}


def quarantine_reason_counts() -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(InboundMessage.reason, func.count())
        .where(InboundMessage.state == InboundState.quarantined)
        .group_by(InboundMessage.reason)
        .order_by(func.count().desc())
    ).all()
    return [(reason, int(n)) for reason, n in rows]


def inbound_or_404(inbound_id: int) -> InboundMessage:
    inbound = db.session.get(InboundMessage, inbound_id, options=[defer(InboundMessage.raw)])
    if inbound is None:
        abort(404)
    return inbound


def snapshot(inbound: InboundMessage) -> dict[str, Any]:
    """What an action changes, for its audit row."""
    return {
        "state": inbound.state.value if inbound.state else None,
        "reason": inbound.reason,
        "outcome": inbound.outcome,
        "ticket_id": inbound.ticket_id,
    }


def flash_values(inbound: InboundMessage) -> dict[str, str]:
    ticket = db.session.get(Ticket, inbound.ticket_id) if inbound.ticket_id else None
    if inbound.state is InboundState.quarantined:
        result = f"quarantined again ({pipeline.REASONS.get(inbound.reason, inbound.reason)})"
    elif inbound.state is InboundState.ignored:
        result = f"ignored ({pipeline.REASONS.get(inbound.reason, inbound.reason)})"
    else:
        result = pipeline.OUTCOMES.get(inbound.outcome, inbound.outcome or inbound.state.label).lower()
        if ticket is not None:
            result += f" on {ticket.reference}"
    return {"result": result}


def message_context(inbound: InboundMessage) -> dict[str, Any]:
    ids = {i for i in (inbound.ticket_id, inbound.suggested_ticket_id) if i}
    tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)))} if ids else {}
    files_filter = [Attachment.inbound_id == inbound.id]
    if inbound.event_id:
        files_filter.append(Attachment.event_id == inbound.event_id)
    files = list(db.session.scalars(select(Attachment).where(or_(*files_filter)).order_by(Attachment.id)))
    quarantined = inbound.state is InboundState.quarantined
    return dict(
        inbound=inbound,
        ticket=tickets.get(inbound.ticket_id),
        suggested=tickets.get(inbound.suggested_ticket_id),
        event=db.session.get(TicketEvent, inbound.event_id) if inbound.event_id else None,
        handled_by=db.session.get(User, inbound.handled_by_id) if inbound.handled_by_id else None,
        files=files,
        reason_label=pipeline.REASONS.get(inbound.reason, inbound.reason),
        thread_label=thread_label(inbound),
        outcome_label=pipeline.OUTCOMES.get(inbound.outcome, inbound.outcome),
        can_reprocess=inbound.state in (InboundState.quarantined, InboundState.received),
        can_release=quarantined and inbound.reason in pipeline.RELEASABLE,
        can_discard=quarantined,
    )
