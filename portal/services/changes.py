"""The record of one change to a ticket, as the ticket services pass it to the steps that follow it.

Plain data only: this module imports nothing of the workflow, so every step (SLA clocks, routing, tier time,
notifications) can read a change without importing the services that make one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.models import Ticket, TicketEvent, User


@dataclass(frozen=True)
class FieldChange:
    """One field's old and new public spelling (enum value, category slug, assignee name); for an assignee change
    ``new_id`` is the new assignee's id (the history's record of who it was)."""

    field: str
    old: str | None
    new: str | None
    new_id: int | None = None


@dataclass(frozen=True)
class TicketChange:
    """What one service call did to a ticket: ``kind`` is created, reply, note, fields or escalation."""

    kind: str
    ticket: Ticket
    actor: User | SystemActor
    changes: list[FieldChange]
    event: TicketEvent | None = None

    def changed(self, field: str) -> FieldChange | None:
        return next((c for c in self.changes if c.field == field), None)


class SystemActor:
    """The actor of changes nobody made by hand (routing, hand-over, the SLA sweep's escalations). Its events are
    written with author None; steps that read ``change.actor`` see a staff-like actor without an id."""

    id = None
    name = "System"
    role = None
    is_staff = True
    is_customer = False
    is_admin = False
    tier = None


SYSTEM = SystemActor()


# Tickets whose changes tell nobody, for the session they are made in: a duplicate being merged away is solved and
# closed without the requester hearing "solved" twice or getting a survey for it (they hear about the ticket it was
# merged into).
_QUIET = "changes.quiet_tickets"


@contextmanager
def quietly(session, ticket_id: int) -> Iterator[None]:
    quiet = session.info.setdefault(_QUIET, set())
    quiet.add(ticket_id)
    try:
        yield
    finally:
        quiet.discard(ticket_id)


def is_quiet(session, ticket_id: int) -> bool:
    return ticket_id in session.info.get(_QUIET, ())
