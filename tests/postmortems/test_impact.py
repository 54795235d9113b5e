"""A post-mortem's impact figures equal the portal's own facts, on a hand-made history: tickets whose SLA clocks
breach before, during and after the incident (recorded by the SLA sweep), linked and not linked, and organizations
with and without customers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    ComponentState,
    IncidentOrganization,
    IncidentState,
    IncidentTicket,
    Organization,
    Role,
    Ticket,
)
from portal.services import sla_sweep
from portal.services import tickets as ticket_service
from portal.services.incidents import postmortem
from tests.status.conftest import add_incident

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DECLARED, RESOLVED = T0 + timedelta(hours=1), T0 + timedelta(hours=5)


class Clock:
    now = T0


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(ticket_service, "utcnow", lambda: c.now)
    return c


def _ticket(clock, agent, customer, at: datetime, subject: str) -> Ticket:
    clock.now = at
    ticket = ticket_service.create_ticket(
        agent, subject=subject, description="Reports fail.", priority="critical", requester=customer
    )
    db.session.commit()
    return ticket


def _sweep_every_five_minutes(start: datetime, end: datetime) -> None:
    at = start
    while at <= end:
        sla_sweep.run_sweep(at)
        db.session.commit()
        at += timedelta(minutes=5)


def _facts(incident) -> tuple[int, int]:
    """The breaches of the incident's linked tickets inside [declared, resolved], read off the tickets."""
    linked = db.session.scalars(
        select(Ticket)
        .join(IncidentTicket, IncidentTicket.ticket_id == Ticket.id)
        .where(IncidentTicket.incident_id == incident.id)
    ).all()
    inside = [
        [at for at in (t.first_response_breached_at, t.resolution_breached_at) if at and DECLARED <= at <= RESOLVED]
        for t in linked
    ]
    return sum(len(i) for i in inside), sum(1 for i in inside if i)


def test_impact_equals_the_tickets_own_facts(clock, components, make_org, make_user):
    acme, globex = make_org("Acme"), make_org("Globex")
    make_org("Initech")  # no customers: not affected by an "all organizations" incident
    customer, other = make_user(Role.customer, organization=acme), make_user(Role.customer, organization=globex)
    agent = make_user(Role.agent)
    make_user(Role.agent, organization=make_org("Staff only"))  # staff of an organization do not make it a customer
    before = _ticket(clock, agent, customer, T0 - timedelta(days=1), "Breached the day before")
    early = _ticket(clock, agent, customer, T0, "First response breached before, resolution during")
    during = _ticket(clock, agent, other, T0 + timedelta(hours=2), "First response during, resolution after")
    answered = _ticket(clock, agent, customer, T0, "Answered in time, resolution during")
    clock.now = T0 + timedelta(minutes=5)
    ticket_service.reply_to_ticket(agent, answered, "Looking into it.")
    db.session.commit()
    unlinked = _ticket(clock, agent, customer, T0 + timedelta(hours=1), "Not linked: never counted")
    _sweep_every_five_minutes(T0 - timedelta(days=1), T0 - timedelta(hours=19))
    _sweep_every_five_minutes(T0, T0 + timedelta(hours=7))
    db.session.expire_all()
    assert unlinked.first_response_breached_at is not None  # it did breach, inside the window
    assert before.resolution_breached_at < DECLARED
    assert early.first_response_breached_at < DECLARED <= early.resolution_breached_at <= RESOLVED
    assert DECLARED <= during.first_response_breached_at <= RESOLVED < during.resolution_breached_at
    assert answered.first_response_breached_at is None

    incident = add_incident(
        "Reports fail",
        [(components["Reporting"], ComponentState.major_outage)],
        state=IncidentState.resolved,
        declared_at=DECLARED,
        resolved_at=RESOLVED,
    )
    for ticket in (before, early, during, answered):
        db.session.add(IncidentTicket(incident_id=incident.id, ticket_id=ticket.id, linked_at=DECLARED))
    db.session.commit()

    facts = postmortem.impact(incident)
    breaches, breached_tickets = _facts(incident)
    assert (facts["sla_breaches"], facts["sla_breached_tickets"]) == (breaches, breached_tickets) == (3, 3)
    assert facts["linked_tickets"] == 4
    assert facts["duration_seconds"] == 4 * 3600 and facts["duration"] == "4 h 0 min"
    customers_orgs = set(
        db.session.scalars(
            select(Organization.name).where(
                Organization.id.in_(select(Ticket.organization_id)) | Organization.name.in_(["Acme", "Globex"])
            )
        )
    )
    assert facts["all_organizations"] and facts["organizations"] == 2 == len(customers_orgs)
    assert facts["organization_names"] == ["Acme", "Globex"]

    # named organizations instead of "all"
    incident.all_organizations = False
    db.session.add(IncidentOrganization(incident_id=incident.id, organization_id=globex.id))
    db.session.commit()
    assert postmortem.impact(incident)["organization_names"] == ["Globex"]
