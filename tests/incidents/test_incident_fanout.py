"""An update written once and fanned out by the workers: one public reply per linked open ticket and one email per
affected contact even when the jobs run twice; unaffected organizations get nothing; the request itself writes only
the update, its event and outbox rows. Escalation and resolution through the ticket service; update reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    EventKind,
    Incident,
    IncidentEvent,
    IncidentStep,
    OutboxMessage,
    Status,
    Ticket,
    TicketEvent,
    Tier,
)
from portal.services import incidents as service
from portal.services import tickets as ticket_service
from portal.services.incidents.reminders import run_reminders
from tests.incidents.conftest import rerun, run_jobs

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _declare(actor, **kwargs) -> Incident:
    values = {"kind": "outage", "severity": "critical", "title": "Reporting is down", **kwargs}
    incident = service.declare(actor, service.Declaration(**values))
    db.session.commit()
    return incident


def _replies(ticket_id: int, author_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.kind == EventKind.public_reply,
            TicketEvent.author_id == author_id,
        )
    )


def test_an_update_reaches_each_ticket_and_contact_exactly_once(cast, make_ticket, smtp, login_as):
    t1, t2 = make_ticket(cast.a1, subject="Charts empty"), make_ticket(cast.a2, subject="Export fails")
    solved = make_ticket(cast.a1, subject="Old one")
    ticket_service.change_status(cast.manager, solved, "solved", expected_version=solved.version)
    db.session.commit()
    incident = _declare(
        cast.manager,
        all_organizations=False,
        organization_ids=[cast.acme.id],
        ticket_refs=[t1.reference, t2.reference, solved.reference],
    )
    run_jobs()
    smtp.messages.clear()
    client, token = login_as(cast.manager)
    response = client.post(
        f"/ops/incidents/{incident.id}/updates",
        data={
            "csrf_token": token,
            "body": "Database failover in progress.",
            "state": "identified",
            "version": incident.version,
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Update posted" in response.text
    # the request wrote the update and its outbox rows only: no reply yet
    assert _replies(t1.id, cast.manager.id) == 0
    kinds = set(db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.status == "pending")))
    assert {"incident.update", "status.incident_update"} <= kinds and "incident.tickets" not in kinds
    run_jobs()
    for ticket in (t1, t2):
        assert _replies(ticket.id, cast.manager.id) == 1
        body = db.session.scalar(
            select(TicketEvent.body).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.public_reply
            )
        )
        assert "Database failover in progress." in body and incident.reference in body
    assert _replies(solved.id, cast.manager.id) == 0  # only open tickets get the reply
    incident_mail = [m for m in smtp.messages if incident.reference in m["Subject"] and "Identified" in m["Subject"]]
    assert [m["To"] for m in incident_mail] == [cast.a3.email]  # a1, a2 hear it as their ticket's reply
    assert incident_mail[0]["Auto-Submitted"] == "auto-generated"
    assert not smtp.to(cast.b1.email)
    assert len(smtp.to(cast.a1.email)) == 1 and len(smtp.to(cast.a2.email)) == 1  # the ticket-reply emails
    before = len(smtp.messages)
    # every job of the fan-out runs again (a retry after a lost completion): nothing is sent or written twice
    rerun(["incident.update", "incident.tickets", "incident.emails"])
    assert _replies(t1.id, cast.manager.id) == 1 and _replies(t2.id, cast.manager.id) == 1
    assert len(smtp.messages) == before
    assert db.session.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.kind == "fanout")) == 1


def test_an_all_organizations_update_emails_every_customer(cast, smtp):
    incident = _declare(cast.manager)
    service.post_update(cast.manager, incident, "Investigating slow pages.")
    db.session.commit()
    run_jobs()
    recipients = sorted(m["To"] for m in smtp.messages)
    assert recipients == sorted(u.email for u in (cast.a1, cast.a2, cast.a3, cast.b1))


def test_the_escalate_step_raises_linked_open_tickets_to_engineering(cast, make_ticket, login_as):
    tickets = [make_ticket(cast.a1, subject=f"Broken {n}") for n in range(2)]
    incident = _declare(cast.senior, ticket_refs=[t.reference for t in tickets])
    step = db.session.scalar(
        select(IncidentStep).where(IncidentStep.incident_id == incident.id, IncidentStep.action == "escalate")
    )
    client, token = login_as(cast.senior)
    response = client.post(f"/ops/incidents/{incident.id}/steps/{step.id}/run", data={"csrf_token": token})
    assert response.status_code == 303
    run_jobs()
    for ticket in tickets:
        ticket = db.session.get(Ticket, ticket.id)
        assert ticket.tier is Tier.engineering
        tiers = db.session.scalars(
            select(TicketEvent.new_value)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.field == "tier")
            .order_by(TicketEvent.id)
        ).all()
        assert tiers == ["L2", "manager", "engineering"]
        ref = db.session.scalar(
            select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id, TicketEvent.new_value == "engineering")
        )
        assert incident.reference in ref
    assert db.session.get(IncidentStep, step.id).done_by_id == cast.senior.id
    rerun(["incident.escalate", "incident.tickets"])
    assert db.session.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.field == "tier")) == 6


def test_resolving_solves_the_linked_tickets_once_through_the_ticket_service(cast, make_ticket, login_as):
    open_one, other = make_ticket(cast.a1, subject="A"), make_ticket(cast.a2, subject="B")
    closed = make_ticket(cast.a1, subject="C")
    ticket_service.change_status(cast.manager, closed, "solved", expected_version=closed.version)
    db.session.commit()
    incident = _declare(cast.manager, ticket_refs=[open_one.reference, other.reference, closed.reference])
    client, token = login_as(cast.manager)
    response = client.post(
        f"/ops/incidents/{incident.id}/state",
        data={
            "csrf_token": token,
            "state": "resolved",
            "version": incident.version,
            "solve": "1",
            "final_message": "Fixed: the report servers are back.",
        },
    )
    assert response.status_code == 303
    run_jobs()
    rerun(["incident.resolve", "incident.tickets"])
    for ticket in (open_one, other):
        ticket = db.session.get(Ticket, ticket.id)
        assert ticket.status is Status.solved
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id, TicketEvent.body == "Fixed: the report servers are back.")
            )
            == 1
        )
        assert (
            db.session.scalar(
                select(TicketEvent.new_value)
                .where(TicketEvent.ticket_id == ticket.id, TicketEvent.field == "status")
                .order_by(TicketEvent.id.desc())
            )
            == "solved"
        )
    untouched = db.session.get(Ticket, closed.id)
    assert _replies(untouched.id, cast.manager.id) == 0
    incident = db.session.get(Incident, incident.id)
    assert incident.resolved_at is not None and incident.next_reminder_at is None
    page = client.get(f"/ops/incidents/{incident.id}").text
    assert "Resolved" in page and "Post update" not in page and "solve requested" in page
    listing = client.get("/ops/incidents").text
    assert incident.reference in listing


def test_reminders_commander_once_per_interval_then_managers_and_reset_by_an_update(app, cast, make_user, smtp):
    other_manager = make_user("manager")
    with time_machine.travel(START, tick=False) as clock:
        incident = _declare(cast.manager, commander_id=cast.senior.id)
        clock.move_to(START + timedelta(minutes=59))
        assert run_reminders(datetime.now(UTC)) == 0
        clock.move_to(START + timedelta(minutes=61))
        assert run_reminders(datetime.now(UTC)) == 1
        db.session.commit()
        clock.move_to(START + timedelta(minutes=90))  # a second sweep in the same interval
        assert run_reminders(datetime.now(UTC)) == 0
        db.session.commit()
        run_jobs()
        assert [m["To"] for m in smtp.messages] == [cast.senior.email]
        clock.move_to(START + timedelta(minutes=121))
        run_reminders(datetime.now(UTC))
        db.session.commit()
        run_jobs()
        assert len(smtp.messages) == 2 and not smtp.to(cast.manager.email)
        clock.move_to(START + timedelta(minutes=181))  # two reminders passed unanswered: the managers too
        run_reminders(datetime.now(UTC))
        db.session.commit()
        run_jobs()
        assert len(smtp.to(cast.senior.email)) == 3
        assert len(smtp.to(cast.manager.email)) == 1 and len(smtp.to(other_manager.email)) == 1
        rerun(["incident.reminder"])
        assert len(smtp.messages) == 5
        incident = db.session.get(Incident, incident.id)
        service.post_update(cast.senior, incident, "Still on it.")
        db.session.commit()
        incident = db.session.get(Incident, incident.id)
        assert incident.reminders_sent == 0
        assert incident.next_reminder_at.replace(tzinfo=None) == (START + timedelta(minutes=241)).replace(tzinfo=None)
        clock.move_to(START + timedelta(minutes=242))
        run_reminders(datetime.now(UTC))
        db.session.commit()
        smtp.messages.clear()
        run_jobs()
        # the count starts again: the commander alone
        assert [m["To"] for m in smtp.messages if "Update due" in m["Subject"]] == [cast.senior.email]


def test_an_update_posts_to_slack_once_and_a_public_incident_feeds_the_status_page(
    app, cast, monkeypatch, slack_receiver
):
    monkeypatch.setitem(
        app.config, "SLACK_WEBHOOK_URL", f"http://127.0.0.1:{slack_receiver.server_port}/services/T/B/x"
    )
    monkeypatch.setitem(app.config, "SLACK_ALLOWED_HOSTS", ("127.0.0.1",))
    public = _declare(cast.manager, title="Public outage")
    private = _declare(cast.manager, kind="security", title="Token leak")
    update = service.post_update(cast.manager, public, "Looking into it.")
    service.post_update(cast.manager, private, "Rotating keys.")
    db.session.commit()
    status_rows = db.session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.kind == "status.incident_update")
    ).all()
    assert status_rows == [{"update_id": update.id}]  # the security incident is not public
    run_jobs()
    rerun(["incident.update"])
    texts = [body.get("text", "") for body in slack_receiver.received]
    assert sum("Public outage" in t for t in texts) == 1 and sum("Token leak" in t for t in texts) == 1


def test_an_update_needs_a_body_and_an_open_incident(cast):
    import pytest

    from portal.services.errors import ValidationFailed

    incident = _declare(cast.manager)
    with pytest.raises(ValidationFailed):
        service.post_update(cast.manager, incident, "   ")
    service.change_state(cast.manager, incident, "resolved", expected_version=incident.version)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        service.post_update(cast.manager, incident, "Too late")
