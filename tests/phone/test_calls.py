"""Logging phone calls: the caller found by number or address, the ticket created or updated through the ticket
service, a reached customer as a public reply (first response) and anything else as an internal note."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, EventKind, Role, Status, Ticket, TicketEvent
from portal.models.phone import CallOutcome, PhoneCall
from tests.conftest import csrf_token, login


@pytest.fixture
def people(make_org, make_user):
    org = make_org(region="EMEA")
    caller = make_user(
        Role.customer, organization=org, name="Dana Caller", email="dana@org.test", phone="+442079460000"
    )
    agent = make_user(Role.agent, name="Alex Agent")
    return caller, agent


def _post_new(client, caller, **fields):
    data = {
        "csrf_token": csrf_token(client, "/agent/calls/new"),
        "caller": str(caller.id),
        "ticket": "new",
        "subject": "Cannot export the report",
        "priority": "medium",
        "direction": "inbound",
        "number": "+44 20 7946 0000",
        "duration": "4:05",
        "outcome": "answered",
        "summary": "Walked through the export settings; the file now downloads.",
        "notes": "Customer sounded annoyed about the earlier outage.",
    }
    data.update(fields)
    return client.post("/agent/calls", data={k: v for k, v in data.items() if v is not None})


def test_lookup_by_number_finds_the_caller_and_every_duplicate(client, people, make_user):
    caller, agent = people
    other = make_user(Role.customer, name="Sam Switchboard", phone="+442079460000")
    login(client, agent)
    page = client.get("/agent/calls/new", query_string={"q": "+44 (0)20 7946-0000"})
    assert page.status_code == 200
    assert "Dana Caller" in page.text and "Sam Switchboard" in page.text
    assert "2 customers have this number" in page.text
    assert f"caller={other.id}" in page.text


def test_lookup_by_email_preselects_the_single_caller(client, people):
    caller, agent = people
    login(client, agent)
    page = client.get("/agent/calls/new", query_string={"q": "DANA@org.test"})
    assert "The call with Dana Caller" in page.text
    assert f'name="caller" type="hidden" value="{caller.id}"' in page.text


def test_lookup_of_a_bad_number_says_so(client, people):
    _caller, agent = people
    login(client, agent)
    page = client.get("/agent/calls/new", query_string={"q": "020 7946 0000"})
    assert "international form" in page.text and "The call with" not in page.text


def test_answered_call_creates_a_phone_ticket_with_a_public_reply(app, client, people):
    caller, agent = people
    login(client, agent)
    response = _post_new(client, caller, customer_answered="y")
    assert response.status_code == 303, response.text
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.channel is Channel.phone and ticket.requester_id == caller.id
    assert ticket.first_response_at is not None and ticket.status is Status.open
    call = db.session.scalars(select(PhoneCall)).one()
    assert call.created_ticket and call.customer_answered and call.duration_seconds == 245
    assert call.number == "+442079460000" and call.outcome is CallOutcome.answered and call.agent_id == agent.id
    event = db.session.get(TicketEvent, call.event_id)
    assert event.kind is EventKind.public_reply and event.author_id == agent.id
    assert ticket.first_response_at == event.created_at
    assert "the file now downloads" in event.body
    assert response.headers["Location"].endswith(f"/agent/tickets/{ticket.reference}#event-{event.id}")

    customer = app.test_client()
    login(customer, caller)
    seen = customer.get(f"/portal/tickets/{ticket.reference}")
    assert seen.status_code == 200
    assert "the file now downloads" in seen.text
    assert "sounded annoyed" not in seen.text  # the internal notes stay with the staff


def test_unanswered_call_is_an_internal_note_the_customer_cannot_see(app, client, people):
    caller, agent = people
    login(client, agent)
    response = _post_new(client, caller, outcome="voicemail", summary="", notes="Left a voicemail about the export.")
    assert response.status_code == 303, response.text
    ticket = db.session.scalars(select(Ticket)).one()
    call = db.session.scalars(select(PhoneCall)).one()
    event = db.session.get(TicketEvent, call.event_id)
    assert event.kind is EventKind.internal_note
    assert ticket.first_response_at is None and ticket.status is Status.new
    customer = app.test_client()
    login(customer, caller)
    seen = customer.get(f"/portal/tickets/{ticket.reference}")
    assert seen.status_code == 200 and "Left a voicemail" not in seen.text


def test_call_on_an_existing_ticket_of_the_caller(client, people, make_ticket):
    caller, agent = people
    ticket = make_ticket(caller, subject="Scope 2 import")
    version = ticket.version
    login(client, agent)
    page = client.get("/agent/calls/new", query_string={"q": "+442079460000"})
    assert ticket.reference in page.text
    response = _post_new(client, caller, ticket=ticket.reference, subject="", customer_answered="y")
    assert response.status_code == 303, response.text
    assert db.session.scalar(select(db.func.count()).select_from(Ticket)) == 1
    db.session.refresh(ticket)
    assert ticket.version > version and ticket.first_response_at is not None
    call = db.session.scalars(select(PhoneCall)).one()
    assert call.ticket_id == ticket.id and not call.created_ticket


def test_a_ticket_of_someone_else_is_refused(client, people, make_user, make_ticket):
    caller, agent = people
    stranger_ticket = make_ticket(make_user(Role.customer))
    login(client, agent)
    response = _post_new(client, caller, ticket=stranger_ticket.reference, customer_answered="y")
    assert response.status_code == 422
    assert "not one of this caller" in response.text
    assert db.session.scalars(select(PhoneCall)).first() is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"number": "020 7946 0000"}, "international form"),
        ({"duration": "-3"}, "cannot be negative"),
        ({"duration": "-1:30"}, "cannot be negative"),
        ({"duration": "soon"}, "mm:ss"),
        ({"outcome": "busy", "customer_answered": "y"}, "Nobody answered"),
        ({"summary": "", "customer_answered": "y"}, "Summarize the call"),
        ({"subject": ""}, "subject"),
    ],
)
def test_validation_errors_keep_what_was_typed(client, people, fields, message):
    caller, agent = people
    login(client, agent)
    response = _post_new(client, caller, **{"notes": "Typed notes stay put.", **fields})
    assert response.status_code == 422
    assert message in response.text
    assert "Typed notes stay put." in response.text
    assert 'aria-invalid="true"' in response.text
    assert db.session.scalars(select(PhoneCall)).first() is None
    assert db.session.scalars(select(Ticket)).first() is None


def test_ticket_page_box_logs_a_call_with_htmx(client, people, make_ticket):
    caller, agent = people
    ticket = make_ticket(caller)
    login(client, agent)
    page = client.get(f"/agent/tickets/{ticket.reference}")
    assert 'id="ticket-calls"' in page.text and "Log a call" in page.text
    response = client.post(
        f"/agent/tickets/{ticket.reference}/calls",
        data={
            "call-csrf_token": csrf_token(client),
            "call-direction": "outbound",
            "call-number": "",
            "call-duration": "2.5",
            "call-outcome": "no_answer",
            "call-notes": "Rang twice, nobody picked up.",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    assert 'id="timeline"' in response.text and 'hx-swap-oob="true"' in response.text
    assert "Rang twice, nobody picked up." in response.text
    assert "Call logged." in response.text
    call = db.session.scalars(select(PhoneCall)).one()
    assert call.number == "+442079460000"  # the caller's number on file
    assert call.duration_seconds == 150 and call.caller_id == caller.id
    assert f'id="call-{call.id}"' in response.text


def test_ticket_page_box_shows_errors_in_place(client, people, make_ticket):
    caller, agent = people
    ticket = make_ticket(caller)
    login(client, agent)
    response = client.post(
        f"/agent/tickets/{ticket.reference}/calls",
        data={
            "call-csrf_token": csrf_token(client),
            "call-direction": "inbound",
            "call-number": "+44 20 ABC",
            "call-duration": "-5",
            "call-outcome": "answered",
            "call-summary": "Kept summary",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "cannot be negative" in response.text and "international form" in response.text
    assert "Kept summary" in response.text and "+44 20 ABC" in response.text
    assert db.session.scalars(select(PhoneCall)).first() is None


def test_remember_number_saves_it_on_a_caller_without_one(client, make_user, make_ticket):
    caller = make_user(Role.customer)
    agent = make_user(Role.agent)
    ticket = make_ticket(caller)
    login(client, agent)
    client.post(
        f"/agent/tickets/{ticket.reference}/calls",
        data={
            "call-csrf_token": csrf_token(client),
            "call-direction": "inbound",
            "call-number": "+1 (555) 010-2030",
            "call-outcome": "answered",
            "call-customer_answered": "y",
            "call-summary": "Explained the invoice.",
            "call-remember_number": "y",
        },
    )
    db.session.refresh(caller)
    assert caller.phone == "+15550102030"


def test_calls_list_filters_by_agent_and_outcome(client, people, make_user, make_ticket):
    caller, agent = people
    other_agent = make_user(Role.agent, name="Other Agent")
    ticket = make_ticket(caller)
    from portal.services import phone as phone_service

    phone_service.log_call(agent, caller=None, ticket=ticket, direction="inbound", outcome="busy", notes="line busy")
    phone_service.log_call(
        other_agent, caller=None, ticket=ticket, direction="outbound", outcome="voicemail", notes="vm"
    )
    db.session.commit()
    login(client, agent)
    everything = client.get("/agent/calls")
    assert everything.status_code == 200 and "Busy" in everything.text and "Voicemail" in everything.text
    mine = client.get("/agent/calls", query_string={"agent": agent.id})
    assert "Busy" in mine.text and "<td>Voicemail</td>" not in mine.text
    voicemails = client.get("/agent/calls", query_string={"outcome": "voicemail"})
    assert "<td>Voicemail</td>" in voicemails.text and "<td>Busy</td>" not in voicemails.text


@pytest.mark.parametrize("path", ["/agent/calls", "/agent/calls/new"])
def test_customers_and_anonymous_cannot_reach_the_call_pages(client, people, path):
    caller, _agent = people
    assert client.get(path).status_code == 302  # to the sign-in page
    login(client, caller)
    assert client.get(path).status_code == 403


def test_customers_cannot_log_calls(client, people, make_ticket):
    caller, _agent = people
    ticket = make_ticket(caller)
    anonymous = client.post(f"/agent/tickets/{ticket.reference}/calls", data={})
    assert anonymous.status_code in (302, 400)
    login(client, caller)
    token = csrf_token(client)
    response = client.post(
        f"/agent/tickets/{ticket.reference}/calls",
        data={"call-csrf_token": token, "call-direction": "inbound", "call-outcome": "answered", "call-notes": "x"},
    )
    assert response.status_code == 403
    response = client.post(
        "/agent/calls",
        data={"csrf_token": token, "caller": str(caller.id), "ticket": "new", "subject": "x", "outcome": "answered"},
    )
    assert response.status_code == 403
    assert db.session.scalars(select(PhoneCall)).first() is None


def test_the_service_refuses_customers(people, make_ticket):
    from portal.services import phone as phone_service
    from portal.services.errors import Forbidden

    caller, _agent = people
    ticket = make_ticket(caller)
    with pytest.raises(Forbidden):
        phone_service.log_call(caller, caller=caller, ticket=ticket, direction="inbound", outcome="answered", notes="x")
