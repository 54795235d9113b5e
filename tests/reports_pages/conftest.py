"""Hand-made desks for the report page tests: staff, tickets with explicit instants, their events, SLA facts and
ratings, written through the models so that every expected number is worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import CsatSurvey, EventKind, Priority, Role, Status, SurveyState, Ticket, TicketEvent, Tier


def at(day: int, hour: int = 0, minute: int = 0, *, month: int = 3, year: int = 2026) -> datetime:
    """An instant in UTC (March 2026 by default)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Desk:
    """Writes tickets and their timelines as the services would have recorded them."""

    def __init__(self, make_user):
        self.make_user = make_user
        self.customer = make_user(Role.customer, name="Dana Customer")

    def ticket(self, created: datetime, priority: str = "medium", status: str = "new", **columns) -> Ticket:
        ticket = Ticket(
            subject=columns.pop("subject", f"Ticket created {created:%m-%d %H:%M}"),
            description="…",
            requester=self.customer,
            priority=Priority(priority),
            status=Status(status),
            tier=Tier(columns.pop("tier", "L1")),
            created_at=created,
            updated_at=created,
            **columns,
        )
        db.session.add(ticket)
        db.session.flush()
        self.event(ticket, created, EventKind.created, self.customer)
        return ticket

    def event(self, ticket, instant, kind, author=None, field=None, old=None, new=None, new_user=None):
        event = TicketEvent(
            ticket_id=ticket.id,
            kind=EventKind(kind),
            author_id=author.id if author is not None else None,
            field=field,
            old_value=old,
            new_value=new,
            new_user_id=new_user.id if new_user is not None else None,
            created_at=instant,
        )
        db.session.add(event)
        db.session.flush()
        return event

    def reply(self, ticket, instant, author):
        return self.event(ticket, instant, EventKind.public_reply, author)

    def status(self, ticket, instant, author, old, new):
        ticket.status = Status(new)
        return self.event(ticket, instant, EventKind.field_change, author, "status", old, new)

    def assign(self, ticket, instant, author, user):
        ticket.assignee_id = user.id
        return self.event(ticket, instant, EventKind.field_change, author, "assignee", None, user.name, user)

    def facts(self, ticket, target, *, achieved=None, breached=None, priority=None, due=None, risk=None):
        """The clock engine's facts of one target, as it would have stored them."""
        setattr(ticket, f"{target}_achieved_at", achieved)
        setattr(ticket, f"{target}_breached_at", breached)
        setattr(ticket, f"{target}_breach_priority", priority if breached else None)
        setattr(ticket, f"{target}_decided_at", breached or achieved)
        setattr(ticket, f"{target}_due", due)
        setattr(ticket, f"{target}_risk_at", risk)
        db.session.flush()

    def rating(self, ticket, instant, rating, cycle=1):
        survey = CsatSurvey(
            ticket_id=ticket.id,
            requester_id=self.customer.id,
            cycle=cycle,
            state=SurveyState.answered,
            offered_at=instant - timedelta(hours=1),
            expires_at=instant + timedelta(days=14),
            rating=rating,
            rated_at=instant,
        )
        db.session.add(survey)
        db.session.flush()
        return survey


@pytest.fixture
def desk(make_user) -> Desk:
    return Desk(make_user)


@pytest.fixture
def people(make_user):
    """One of each role (the agent on the EMEA shift, with a zone of their own)."""
    from portal.models import ShiftRegion

    return {
        "customer": make_user(Role.customer, name="Carla Customer"),
        "agent": make_user(Role.agent, name="Alex Agent", shift_region=ShiftRegion.emea, timezone="Europe/London"),
        "senior": make_user(Role.senior_agent, name="Sam Senior", shift_region=ShiftRegion.emea),
        "manager": make_user(Role.manager, name="Mia Manager", timezone="Europe/Berlin"),
        "admin": make_user(Role.admin, name="Ada Admin"),
    }
