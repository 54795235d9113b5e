"""Hand-made desks for the report page tests: staff, tickets with explicit instants, their events, SLA facts and
ratings, written through the models so that every expected number is worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import (
    Category,
    CsatSurvey,
    EventKind,
    Priority,
    Role,
    Status,
    SurveyState,
    Ticket,
    TicketEvent,
    Tier,
)


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


@pytest.fixture
def march(desk, people):
    """Five tickets: two solved in the month (one reopened and solved again), one escalated and breached, one new
    and unassigned, one filed in February and solved on 1 March; three ratings."""
    agent, senior = people["agent"], people["senior"]
    technical = db.session.scalar(db.select(Category).where(Category.slug == "technical"))
    data = db.session.scalar(db.select(Category).where(Category.slug == "data"))
    t1 = desk.ticket(at(2, 9), "medium", category_id=technical.id)
    desk.assign(t1, at(2, 9, 5), agent, agent)
    desk.reply(t1, at(2, 9, 30), agent)
    desk.status(t1, at(2, 10), agent, "new", "solved")
    desk.facts(t1, "first_response", achieved=at(2, 9, 30))
    desk.facts(t1, "resolution", achieved=at(2, 10))
    desk.rating(t1, at(3, 8), 5)

    t2 = desk.ticket(at(5, 9), "high", category_id=data.id)
    desk.assign(t2, at(5, 9, 1), senior, senior)
    desk.reply(t2, at(5, 11), senior)
    desk.status(t2, at(6, 9), senior, "new", "solved")
    desk.status(t2, at(7, 9), desk.customer, "solved", "open")
    desk.reply(t2, at(7, 10), senior)
    desk.status(t2, at(8, 9), senior, "open", "solved")
    desk.facts(t2, "first_response", breached=at(5, 10), priority="high")
    desk.facts(t2, "resolution", achieved=at(8, 9))
    desk.rating(t2, at(9, 8), 2)

    t3 = desk.ticket(at(10, 9), "critical", category_id=technical.id)
    desk.assign(t3, at(10, 9, 1), agent, agent)
    desk.reply(t3, at(10, 9, 10), agent)
    desk.event(t3, at(10, 10), "field_change", agent, "tier", "L1", "L2")
    desk.status(t3, at(10, 10, 5), agent, "new", "open")
    desk.facts(t3, "first_response", achieved=at(10, 9, 10))
    desk.facts(t3, "resolution", breached=at(10, 13), priority="critical")

    desk.ticket(at(20, 9), "low")

    t5 = desk.ticket(datetime(2026, 2, 27, 9, 0, tzinfo=UTC), "medium", category_id=data.id)
    desk.assign(t5, datetime(2026, 2, 27, 9, 1, tzinfo=UTC), agent, agent)
    desk.reply(t5, datetime(2026, 2, 27, 9, 20, tzinfo=UTC), agent)
    desk.status(t5, at(1, 9), agent, "new", "solved")
    desk.facts(t5, "first_response", achieved=datetime(2026, 2, 27, 9, 20, tzinfo=UTC))
    desk.facts(t5, "resolution", achieved=at(1, 9))
    desk.rating(t5, at(1, 12), 4)
    db.session.commit()
    return {"t1": t1, "t2": t2, "t3": t3, "t5": t5}
