"""Each fact reaches a subscribed receiver as a signed POST: tickets created, updated and solved (through the
ticket services), an SLA breach found by the sweep (controlled clock), an incident update, a satisfaction rating.
Internal notes announce nothing and their text never leaves; without a matching subscription nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import CsatSurvey, OutboxMessage, Role
from portal.models.webhooks import WebhookDelivery
from portal.services import csat, sla_sweep
from portal.services import tickets as ticket_service
from portal.services.incidents import core as incident_core
from tests.conftest import login
from tests.webhooks.conftest import assert_signed, create_subscription, run_jobs

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_ticket_created_updated_and_solved_arrive_signed(app, subscribed, receiver, make_org, make_user, make_ticket):
    _sid, secret = subscribed
    org = make_org("Acme Renewables")
    customer = make_user(Role.customer, organization=org, email="ines@acme.test")
    agent = make_user(Role.agent)
    ticket = make_ticket(customer, subject="Scope 3 import <fails> & stops", priority="high")
    ticket_service.update_ticket(agent, ticket, expected_version=ticket.version, priority="critical")
    db.session.commit()
    ticket_service.reply_to_ticket(agent, ticket, "Fixed on our side.", status="solved")
    db.session.commit()
    run_jobs()

    assert receiver.types() == ["ticket.created", "ticket.updated", "ticket.solved"]
    for record in receiver.received:
        assert_signed(record, secret)
    created, updated, solved = (r.json for r in receiver.received)
    data = created["data"]["ticket"]
    assert data["reference"] == ticket.reference and data["subject"] == "Scope 3 import <fails> & stops"
    assert data["organization"] == "Acme Renewables" and data["requester"] == {"email": "ines@acme.test"}
    assert data["priority"] == "high" and data["url"].endswith(f"/agent/tickets/{ticket.reference}")
    assert created["created_at"].endswith("Z") and datetime.fromisoformat(created["created_at"].replace("Z", "+00:00"))
    assert {"field": "priority", "old": "high", "new": "critical"} in updated["data"]["change"]["fields"]
    assert solved["data"]["ticket"]["status"] == "solved"
    assert len({r.id for r in receiver.received}) == 3  # one id per delivery
    db.session.expire_all()
    assert set(db.session.scalars(select(WebhookDelivery.state))) == {"delivered"}


def test_internal_notes_never_leave(app, subscribed, receiver, make_user, make_ticket):
    customer, agent = make_user(Role.customer), make_user(Role.agent)
    ticket = make_ticket(customer)
    ticket_service.reply_to_ticket(agent, ticket, "SECRET-NOTE: the customer's CFO is difficult", internal=True)
    db.session.commit()
    ticket_service.reply_to_ticket(agent, ticket, "ANOTHER-NOTE solving", internal=True, status="solved")
    db.session.commit()
    run_jobs()
    assert receiver.types() == ["ticket.created", "ticket.solved"]  # the plain note announced nothing
    for record in receiver.received:
        assert b"NOTE" not in record.body


def test_sla_breach_from_the_sweep(app, subscribed, receiver, make_user, make_ticket):
    _sid, secret = subscribed
    customer = make_user(Role.customer)
    with time_machine.travel(T0, tick=False):
        ticket = make_ticket(customer, priority="critical", actor=make_user(Role.agent))
    run_jobs()
    receiver.received.clear()
    later = T0 + timedelta(hours=6)
    with time_machine.travel(later, tick=False):
        stats = sla_sweep.run_sweep(later)
        db.session.commit()
        assert stats["breached"] >= 1
        run_jobs()
    assert "sla.at_risk" in receiver.types()  # crossed on the way to the breach, recorded and sent once
    breaches = [r for r in receiver.received if r.json["type"] == "sla.breached"]
    assert {r.json["data"]["sla"]["target"] for r in breaches} >= {"first_response"}
    assert all(r.json["data"]["ticket"]["reference"] == ticket.reference for r in breaches)
    for record in breaches:
        assert_signed(record, secret)
    with time_machine.travel(later + timedelta(minutes=1), tick=False):  # the sweep again: nothing new
        sla_sweep.run_sweep(later + timedelta(minutes=1))
        db.session.commit()
    count = len(receiver.received)
    run_jobs()
    assert len([r for r in receiver.received[count:] if r.json["type"] == "sla.breached"]) == 0


def test_incident_update_arrives(app, subscribed, receiver, admin):
    _sid, secret = subscribed
    incident = incident_core.declare(
        admin, incident_core.Declaration(kind="outage", severity="critical", title="Reporting is down")
    )
    db.session.commit()
    incident_core.post_update(
        admin, incident, "We are rolling back the deployment.", state="identified", expected_version=incident.version
    )
    db.session.commit()
    run_jobs()
    updates = [r for r in receiver.received if r.json["type"] == "incident.updated"]
    assert len(updates) == 1
    assert_signed(updates[0], secret)
    data = updates[0].json["data"]
    assert data["incident"]["title"] == "Reporting is down" and data["incident"]["state"] == "identified"
    assert data["update"]["body"] == "We are rolling back the deployment."


def test_csat_rating_arrives(app, subscribed, receiver, make_user, make_ticket):
    _sid, secret = subscribed
    customer, agent = make_user(Role.customer), make_user(Role.agent)
    ticket = make_ticket(customer)
    ticket_service.reply_to_ticket(agent, ticket, "Done.", status="solved")
    db.session.commit()
    survey = db.session.scalar(select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id))
    csat.rate(survey, 4, "Quick and friendly", datetime.now(UTC), "portal")
    db.session.commit()
    run_jobs()
    ratings = [r for r in receiver.received if r.json["type"] == "csat.received"]
    assert len(ratings) == 1
    assert_signed(ratings[0], secret)
    assert ratings[0].json["data"]["rating"]["value"] == 4
    assert ratings[0].json["data"]["ticket"]["reference"] == ticket.reference


def test_only_the_chosen_events_and_nothing_without_a_subscription(
    app, client, admin, receiver, allow_local, make_user, make_ticket
):
    customer = make_user(Role.customer)
    make_ticket(customer)  # no subscription at all: no delivery rows, no outbox rows of ours
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert db.session.scalar(select(func.count()).where(OutboxMessage.kind == "webhook.deliver")) == 0
    login(client, admin)
    create_subscription(client, receiver.url(), chosen=["ticket.solved"])
    agent = make_user(Role.agent)
    ticket = make_ticket(customer)
    ticket_service.reply_to_ticket(agent, ticket, "Done.", status="solved")
    db.session.commit()
    run_jobs()
    assert receiver.types() == ["ticket.solved"]


def test_a_paused_subscription_gets_nothing(app, client, admin, receiver, allow_local, make_user, make_ticket):
    login(client, admin)
    sid, _secret = create_subscription(client, receiver.url())
    token = client.get(f"/admin/webhooks/{sid}").text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        f"/admin/webhooks/{sid}",
        data={"url": receiver.url(), "description": "CRM", "events": ["ticket.created"], "csrf_token": token},
    )
    assert response.status_code == 303
    make_ticket(make_user(Role.customer))
    run_jobs()
    assert receiver.received == []


def test_without_subscribers_a_transaction_asks_once(app, make_user, make_ticket):
    """The hooks cost one query on webhook_subscriptions per transaction, however many facts it records."""
    from sqlalchemy import event

    customer, agent = make_user(Role.customer), make_user(Role.agent)
    tickets = [make_ticket(customer, subject=f"Import {n}") for n in range(3)]
    asked: list[str] = []

    def count(conn, cursor, statement, *args):
        if "FROM webhook_subscriptions" in statement:
            asked.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for ticket in tickets:
            ticket_service.update_ticket(agent, ticket, expected_version=ticket.version, priority="high")
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(asked) == 1
