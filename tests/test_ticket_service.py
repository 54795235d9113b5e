"""The ticket services: transitions, events, versions, rights."""

import pytest

from portal.extensions import db
from portal.models import EventKind, Status, Ticket, TicketEvent
from portal.services import tickets as svc
from portal.services.errors import Conflict, Forbidden, ValidationFailed


@pytest.fixture
def people(make_org, make_user):
    org = make_org("Demo", "demo.test")
    return {
        "customer": make_user("customer", organization=org),
        "agent": make_user("agent"),
        "senior": make_user("senior_agent"),
    }


def events_of(ticket):
    return db.session.scalars(
        db.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).all()


def test_create_ticket_records_creation_and_reference(people, make_ticket):
    ticket = make_ticket(people["customer"], subject="Scope 3 import fails")
    assert ticket.reference == f"ESG-{ticket.id:06d}"
    assert ticket.status is Status.new and ticket.version == 1
    assert ticket.organization_id == people["customer"].organization_id
    assert ticket.created_at.tzinfo is not None
    [event] = events_of(ticket)
    assert event.kind is EventKind.created and event.author_id == people["customer"].id


def test_create_validates_input(people):
    with pytest.raises(ValidationFailed) as exc:
        svc.create_ticket(people["customer"], subject="  ", description="", category="nope", priority="urgent")
    assert set(exc.value.fields) == {"subject", "description", "category", "priority"}


def test_customer_cannot_file_critical(people):
    with pytest.raises(ValidationFailed) as exc:
        svc.create_ticket(
            people["customer"], subject="Down", description="All down", category="technical", priority="critical"
        )
    assert "priority" in exc.value.fields


def test_field_changes_write_events_and_bump_version_once(people, make_ticket):
    ticket = make_ticket(people["customer"])
    agent = people["agent"]
    changes = svc.update_ticket(agent, ticket, expected_version=1, status="open", priority="high", assignee=agent.id)
    db.session.commit()
    assert {c.field for c in changes} == {"status", "priority", "assignee"}
    assert ticket.version == 2
    field_events = [e for e in events_of(ticket) if e.kind is EventKind.field_change]
    assert {(e.field, e.old_value, e.new_value) for e in field_events} == {
        ("status", "new", "open"),
        ("priority", "medium", "high"),
        ("assignee", None, agent.name),
    }
    assert all(e.ticket_version == 2 and e.author_id == agent.id for e in field_events)


def test_unchanged_values_make_no_event(people, make_ticket):
    ticket = make_ticket(people["customer"])
    assert svc.update_ticket(people["agent"], ticket, expected_version=1, priority="medium") == []
    assert ticket.version == 1


def test_stale_version_is_refused_and_writes_nothing(people, make_ticket):
    ticket = make_ticket(people["customer"])
    svc.change_priority(people["agent"], ticket, "high", expected_version=1)
    db.session.commit()
    with pytest.raises(Conflict):
        svc.change_status(people["senior"], ticket, "pending", expected_version=1)
    db.session.rollback()
    fresh = db.session.get(Ticket, ticket.id)
    assert fresh.status is Status.new and fresh.version == 2


def test_transition_table_is_enforced(people, make_ticket):
    ticket = make_ticket(people["customer"])
    agent = people["agent"]
    svc.change_status(agent, ticket, "solved", expected_version=1)
    svc.change_status(agent, ticket, "closed", expected_version=2)
    with pytest.raises(ValidationFailed):
        svc.change_status(agent, ticket, "open", expected_version=3)
    assert ticket.closed_at is not None


def test_customer_may_only_solve_and_reopen(people, make_ticket):
    customer = people["customer"]
    ticket = make_ticket(customer)
    with pytest.raises(ValidationFailed):
        svc.change_status(customer, ticket, "pending", expected_version=1)
    for field, value in (
        ("priority", "high"),
        ("tier", "L2"),
        ("assignee", people["agent"].id),
        ("category", "account"),
    ):
        with pytest.raises(Forbidden):
            svc.update_ticket(customer, ticket, expected_version=1, **{field: value})
    db.session.rollback()
    ticket = db.session.get(Ticket, ticket.id)
    svc.mark_solved(customer, ticket, expected_version=1)
    assert ticket.status is Status.solved and ticket.solved_at is not None
    svc.reopen_ticket(customer, ticket, expected_version=2)
    assert ticket.status is Status.open and ticket.solved_at is None


def test_unknown_field_is_refused(people, make_ticket):
    ticket = make_ticket(people["customer"])
    with pytest.raises(ValidationFailed) as exc:
        svc.update_ticket(people["agent"], ticket, expected_version=1, organization=5)
    assert "organization" in exc.value.fields


def test_first_public_staff_reply_opens_and_records_first_response(people, make_ticket):
    ticket = make_ticket(people["customer"])
    svc.reply_to_ticket(people["agent"], ticket, "Internal: check logs", internal=True)
    assert ticket.first_response_at is None and ticket.status is Status.new
    event = svc.reply_to_ticket(people["agent"], ticket, "We are looking into it.")
    assert ticket.first_response_at == event.created_at
    assert ticket.status is Status.open


def test_customer_reply_reopens_solved_and_pending(people, make_ticket):
    ticket = make_ticket(people["customer"])
    svc.change_status(people["agent"], ticket, "pending", expected_version=1)
    svc.reply_to_ticket(people["customer"], ticket, "Here is the file you asked for.")
    assert ticket.status is Status.open
    svc.change_status(people["agent"], ticket, "solved", expected_version=ticket.version)
    svc.reply_to_ticket(people["customer"], ticket, "Still broken.")
    assert ticket.status is Status.open


def test_customer_cannot_add_internal_note(people, make_ticket):
    ticket = make_ticket(people["customer"])
    with pytest.raises(Forbidden):
        svc.reply_to_ticket(people["customer"], ticket, "psst", internal=True)


def test_reply_to_closed_ticket_opens_linked_follow_up(people, make_ticket):
    ticket = make_ticket(people["customer"])
    svc.change_status(people["agent"], ticket, "solved", expected_version=1)
    svc.change_status(people["agent"], ticket, "closed", expected_version=2)
    follow_up = svc.reply_to_ticket(people["customer"], ticket, "It happened again.")
    assert isinstance(follow_up, Ticket)
    assert follow_up.follow_up_of_id == ticket.id and follow_up.status is Status.new
    assert ticket.status is Status.closed


def test_staff_reply_can_set_status(people, make_ticket):
    ticket = make_ticket(people["customer"])
    svc.reply_to_ticket(people["agent"], ticket, "Please send the export.", status="pending")
    assert ticket.status is Status.pending and ticket.version == 2
