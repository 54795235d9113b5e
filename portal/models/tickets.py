"""Tickets, their categories and their event timeline.

The enums and ``STATUS_TRANSITIONS`` are the one source of truth for the choices the UI offers and the checks the
services make.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import Organization, User, _enum
from portal.models.base import Base, utcnow


class Status(str, enum.Enum):
    new = "new"
    open = "open"
    pending = "pending"
    on_hold = "on_hold"
    solved = "solved"
    closed = "closed"

    @property
    def label(self) -> str:
        return {"on_hold": "On hold", "pending": "Pending (waiting on customer)"}.get(
            self.value, self.value.capitalize()
        )

    @property
    def short_label(self) -> str:
        return "On hold" if self is Status.on_hold else self.value.capitalize()

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = (Status.new, Status.open, Status.pending, Status.on_hold)
# The same set as SQL, for partial indexes; queries must render the IN list with literals to match it.
OPEN_SQL = text("status IN ('new', 'open', 'pending', 'on_hold')")
OPEN_UNASSIGNED_SQL = text("status IN ('new', 'open', 'pending', 'on_hold') AND assignee_id IS NULL")
OPEN_FR_RUNNING_SQL = text("status IN ('new', 'open', 'pending', 'on_hold') AND first_response_at IS NULL")
OPEN_RES_RUNNING_SQL = text("status IN ('new', 'open', 'pending', 'on_hold') AND paused_since IS NULL")

# Allowed status changes for staff. Customers have their own, smaller table.
STATUS_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.new: frozenset({Status.open, Status.pending, Status.on_hold, Status.solved}),
    Status.open: frozenset({Status.pending, Status.on_hold, Status.solved}),
    Status.pending: frozenset({Status.open, Status.on_hold, Status.solved}),
    Status.on_hold: frozenset({Status.open, Status.pending, Status.solved}),
    Status.solved: frozenset({Status.open, Status.closed}),
    Status.closed: frozenset(),
}
CUSTOMER_STATUS_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.new: frozenset({Status.solved}),
    Status.open: frozenset({Status.solved}),
    Status.pending: frozenset({Status.solved}),
    Status.on_hold: frozenset({Status.solved}),
    Status.solved: frozenset({Status.open}),
    Status.closed: frozenset(),
}


class Priority(str, enum.Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Tier(str, enum.Enum):
    l1 = "L1"
    l2 = "L2"
    manager = "manager"
    engineering = "engineering"

    @property
    def label(self) -> str:
        return {"manager": "Manager", "engineering": "Engineering"}.get(self.value, self.value)


class Channel(str, enum.Enum):
    web = "web"
    email = "email"
    api = "api"
    chat = "chat"
    phone = "phone"


class EventKind(str, enum.Enum):
    created = "created"
    public_reply = "public_reply"
    internal_note = "internal_note"
    field_change = "field_change"

    @property
    def is_public(self) -> bool:
        return self is not EventKind.internal_note


REFERENCE_RE = re.compile(r"^\s*(?:([A-Za-z]+)-)?0*([0-9]{1,12})\s*$")  # ASCII digits only


_reference_prefix = "ESG"


def set_reference_prefix(prefix: str) -> None:
    """Called by ``create_app`` with ``TICKET_PREFIX`` (references are formatted on every list row: no proxy
    lookups)."""
    global _reference_prefix
    _reference_prefix = prefix.upper()


def format_reference(ticket_id: int) -> str:
    return f"{_reference_prefix}-{ticket_id:06d}"


def parse_reference(reference: str) -> int | None:
    """``ESG-000123`` (or ``123``) → 123; None when it is not a reference of ours."""
    match = REFERENCE_RE.match(reference or "")
    if not match:
        return None
    prefix = match.group(1)
    if prefix and prefix.upper() != _reference_prefix:
        return None
    number = int(match.group(2))
    return number if number <= 2**31 - 1 else None  # beyond the id column's range: no ticket of ours


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    priority: Mapped[Priority] = mapped_column(_enum(Priority, "priority"), default=Priority.medium)
    status: Mapped[Status] = mapped_column(_enum(Status, "status"), default=Status.new)
    tier: Mapped[Tier] = mapped_column(_enum(Tier, "tier"), default=Tier.l1)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"), default=Channel.web)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None]
    solved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # SLA clock (portal.services.sla): due and at-risk instants, paused time and the next due time for sorting
    # queues. The next instant the sweep must look at is kept apart (``SlaCheck``, ``sla_check_at`` below).
    first_response_due: Mapped[datetime | None]
    first_response_risk_at: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None]
    resolution_risk_at: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(default=0)
    paused_since: Mapped[datetime | None]
    next_due_at: Mapped[datetime | None]
    routing_flagged_at: Mapped[datetime | None]  # routing found nobody on shift: retried at the next shift start
    # SLA facts per target, as the clock engine (portal.services.sla_engine) derives them from the history: the
    # achievement instant (withdrawn by a reopen, for resolution), the breach instant (a fact, never undone), the
    # priority in force at the breach, and the decision instant (breach, else achievement) that reports count by.
    first_response_achieved_at: Mapped[datetime | None]
    first_response_breached_at: Mapped[datetime | None]
    first_response_breach_priority: Mapped[str | None] = mapped_column(String(10))
    first_response_decided_at: Mapped[datetime | None]
    resolution_achieved_at: Mapped[datetime | None]
    resolution_breached_at: Mapped[datetime | None]
    resolution_breach_priority: Mapped[str | None] = mapped_column(String(10))
    resolution_decided_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)  # the id in the help desk it came from
    # the part of the platform it is about (status page components), when the requester or an agent says so
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="SET NULL"))

    category: Mapped[Category | None] = relationship()
    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    organization: Mapped[Organization | None] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan", lazy="raise_on_sql"
    )
    sla_check: Mapped[SlaCheck | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    # Optimistic concurrency: every UPDATE is conditional on the version read (the services bump it once per change),
    # so two writers of one version cannot both win.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    __table_args__ = (
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_assignee_status_id", "assignee_id", "status", "id"),
        Index("ix_tickets_tier_status_id", "tier", "status", "id"),
        Index("ix_tickets_org_status_id", "organization_id", "status", "id"),
        Index("ix_tickets_requester_status_id", "requester_id", "status", "id"),
        Index("ix_tickets_category_status_id", "category_id", "status", "id"),
        Index("ix_tickets_priority_status_id", "priority", "status", "id"),
        Index("ix_tickets_follow_up_of_id", "follow_up_of_id"),
        Index("ix_tickets_organization_id_id", "organization_id", "id"),  # a customer's list, newest first
        # Lists by last update (the customer home's recent tickets, sort=updated): walked in order, never sorted.
        Index("ix_tickets_org_updated_id", "organization_id", "updated_at", "id"),
        Index("ix_tickets_requester_updated_id", "requester_id", "updated_at", "id"),
        Index("ix_tickets_updated_id", "updated_at", "id"),
        # Partial indexes over open tickets only (a few percent of a large desk): the queue's orders and its counts.
        Index("ix_tickets_open_due", "next_due_at", "id", sqlite_where=OPEN_SQL, postgresql_where=OPEN_SQL),
        Index("ix_tickets_open_id", "id", "assignee_id", "tier", sqlite_where=OPEN_SQL, postgresql_where=OPEN_SQL),
        Index(
            "ix_tickets_unassigned_due",
            "next_due_at",
            "id",
            sqlite_where=OPEN_UNASSIGNED_SQL,
            postgresql_where=OPEN_UNASSIGNED_SQL,
        ),
        Index(
            "ix_tickets_open_fr_risk",
            "first_response_risk_at",
            sqlite_where=OPEN_FR_RUNNING_SQL,
            postgresql_where=OPEN_FR_RUNNING_SQL,
        ),
        Index(
            "ix_tickets_open_res_risk",
            "resolution_risk_at",
            sqlite_where=OPEN_RES_RUNNING_SQL,
            postgresql_where=OPEN_RES_RUNNING_SQL,
        ),
        Index("ix_tickets_requester_id_id", "requester_id", "id"),
        Index("ix_tickets_status_next_due_at", "status", "next_due_at"),
        Index("ix_tickets_routing_flagged_at", "routing_flagged_at"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_fr_decided_at", "first_response_decided_at"),
        Index("ix_tickets_res_decided_at", "resolution_decided_at"),
    )

    @property
    def reference(self) -> str:
        return format_reference(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def sla_check_at(self) -> datetime | None:
        """The next instant the SLA sweep must look at this ticket (None: nothing pending). Queries use
        ``SlaCheck.check_at``."""
        return self.sla_check.check_at if self.sla_check is not None else None

    @sla_check_at.setter
    def sla_check_at(self, value: datetime | None) -> None:
        if value is None:
            self.sla_check = None  # the row goes (delete-orphan)
        elif self.sla_check is None:
            self.sla_check = SlaCheck(check_at=value)
        elif self.sla_check.check_at != value:
            self.sla_check.check_at = value


class SlaCheck(Base):
    """The next instant the SLA sweep must look at a ticket: its next threshold not yet recorded on a running
    clock (one row per ticket with one pending; ``sla.settle`` writes it through ``Ticket.sla_check_at``).

    It is a table of its own, not a column of ``tickets``, because the sweep moves it for thousands of tickets an
    hour, most often with nothing else of the ticket changing (an at-risk crossing only moves it on to the breach
    instant): a row of two columns and two indexes is rewritten then, not a ticket row with every index of
    ``tickets``. The sweep finds the due tickets through ``ix_sla_checks_check_at``."""

    __tablename__ = "sla_checks"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    check_at: Mapped[datetime]

    __table_args__ = (Index("ix_sla_checks_check_at", "check_at", "ticket_id"),)


class TicketEvent(Base):
    """One entry of a ticket's timeline: creation, a public reply, an internal note or a field change."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text, default="")
    field: Mapped[str | None] = mapped_column(String(30))
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str | None] = mapped_column(String(200))
    # For assignee changes: the new assignee's id (names are what the timeline shows; reports need who it was).
    new_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ticket_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])

    __table_args__ = (
        Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),
        # Reports read the history by instant: replies, status and tier changes in a period.
        Index("ix_ticket_events_created_at", "created_at"),
    )

    @property
    def is_public(self) -> bool:
        return self.kind.is_public
