"""The runner, retries and failures, the admin page, preferences, the Slack allow-list and the embedded mode —
in this process, with the real SMTP server and Slack receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationPreference, OutboxMessage, OutboxStatus, Role, utcnow
from portal.services import notifications
from portal.services import tickets as ticket_service
from portal.services.outbox import emit
from tests.conftest import csrf_token, login
from tests.ops.conftest import wait_for
from workers import embedded, registry, runner
from workers.inline import run_pending


@pytest.fixture
def flaky_handler():
    calls = []

    @registry.handler("test.flaky")
    def flaky(payload, message_id):
        calls.append(message_id)
        if payload.get("fail"):
            raise RuntimeError("upstream said no")

    yield calls
    registry.HANDLERS.pop("test.flaky", None)


def _row(message_id):
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def test_failures_back_off_then_fail_for_good_and_an_admin_retries(app, client, monkeypatch, make_user, flaky_handler):
    monkeypatch.setitem(app.config, "JOBS_MAX_ATTEMPTS", 3)
    message = emit("test.flaky", {"fail": True})
    db.session.commit()
    assert run_pending() == 0
    row = _row(message.id)
    assert row.status is OutboxStatus.pending and row.attempts == 1 and "upstream said no" in row.last_error
    assert row.available_at > utcnow() + timedelta(seconds=20)  # backoff: not due again yet
    assert run_pending() == 0 and len(flaky_handler) == 1
    for _ in range(2):
        row.available_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        run_pending()
        row = _row(message.id)
    assert row.status is OutboxStatus.failed and row.attempts == 3 and len(flaky_handler) == 3

    login(client, make_user(Role.admin))
    page = client.get("/admin/outbox")
    assert page.status_code == 200 and "upstream said no" in page.text and f"job {message.id}" in page.text
    row.payload = {"fail": False}
    db.session.commit()
    response = client.post(
        f"/admin/outbox/{message.id}/retry", data={"csrf_token": csrf_token(client, "/admin/outbox")}
    )
    assert response.status_code == 303
    assert _row(message.id).status is OutboxStatus.pending
    assert run_pending() == 1 and _row(message.id).status is OutboxStatus.done
    again = client.post(f"/admin/outbox/{message.id}/retry", data={"csrf_token": csrf_token(client, "/admin/outbox")})
    assert again.status_code == 303 and _row(message.id).status is OutboxStatus.done


def test_outbox_admin_is_for_admins_and_managers_only(client, make_user):
    assert client.get("/admin/outbox").status_code == 302
    login(client, make_user(Role.agent))
    assert client.get("/admin/outbox").status_code == 403
    assert client.post("/admin/outbox/1/retry", data={"csrf_token": csrf_token(client)}).status_code == 403


def test_a_row_runs_once_even_if_handed_over_twice(flaky_handler):
    message = emit("test.flaky", {})
    db.session.commit()
    assert runner.process(message.id) == "done"
    assert runner.process(message.id) == "skipped"
    assert flaky_handler == [message.id]


def test_unknown_kind_fails_at_once():
    message = emit("nobody.handles.this", {})
    db.session.commit()
    run_pending()
    row = _row(message.id)
    assert row.status is OutboxStatus.failed and row.attempts == 1 and "no handler" in row.last_error


def test_change_notifications_follow_preferences(make_org, make_user, make_ticket, jobs_config, smtp_server):
    _controller, mailbox = smtp_server
    customer = make_user(Role.customer, organization=make_org())
    quiet = make_user(Role.customer, organization=customer.organization)
    agent, other = make_user(Role.agent), make_user(Role.agent)
    notifications.save_preferences(quiet, {"email_ticket_updates": False})
    db.session.commit()
    loud_ticket, quiet_ticket = make_ticket(customer), make_ticket(quiet)
    for ticket in (loud_ticket, quiet_ticket):
        ticket_service.reply_to_ticket(agent, ticket, "We are on it.")
        ticket_service.update_ticket(
            agent, ticket, expected_version=ticket.version, status="pending", assignee=other.id
        )
    db.session.commit()
    run_pending()
    subjects = sorted(m["Subject"] for m in mailbox.to(customer.email))
    assert len(subjects) == 2 and subjects[0].startswith(f"[{loud_ticket.reference}] New reply")
    assert "Status pending" in subjects[1]
    assert mailbox.to(quiet.email) == []
    assigned = mailbox.to(other.email)
    assert len(assigned) == 2 and all("Assigned to you" in m["Subject"] for m in assigned)


def test_sla_breach_and_escalation_reach_assignee_managers_and_slack(
    make_org, make_user, make_ticket, jobs_config, smtp_server, slack_receiver
):
    _controller, mailbox = smtp_server
    customer = make_user(Role.customer, organization=make_org())
    agent, manager = make_user(Role.agent), make_user(Role.manager)
    ticket = make_ticket(customer, priority="high")
    ticket_service.assign_ticket(manager, ticket, agent.id, expected_version=ticket.version)
    emit("notify.sla_breach", {"ticket_id": ticket.id, "target": "first_response", "due_at": utcnow().isoformat()})
    emit(
        "notify.escalation",
        {
            "ticket_id": ticket.id,
            "from_tier": "L1",
            "to_tier": "L2",
            "reason": "integration",
            "actor_id": agent.id,
            "external_ref": None,
        },
    )
    db.session.commit()
    run_pending()
    assert sorted(m["Subject"].split("] ")[1].split(":")[0] for m in mailbox.to(manager.email)) == [
        "Escalated to L2",
        "SLA breached (first response)",
    ]
    assert len(mailbox.to(agent.email)) == 3  # assignment (by the manager), breach, escalation
    assert len(slack_receiver.received) == 2


def test_slack_only_to_allowed_hosts(app, monkeypatch, make_org, make_user, make_ticket, jobs_config, slack_receiver):
    monkeypatch.setitem(app.config, "SLACK_ALLOWED_HOSTS", ("hooks.slack.com",))
    customer = make_user(Role.customer, organization=make_org())
    make_ticket(customer, actor=make_user(Role.agent), priority="critical")
    run_pending()
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "notify.critical_alert"))
    assert row.status is OutboxStatus.failed and "SLACK_ALLOWED_HOSTS" in row.last_error
    assert slack_receiver.received == []


def test_profile_saves_notification_preferences(app, client, make_user):
    agent = make_user(Role.agent)
    login(client, agent)
    page = client.get("/profile")
    assert 'id="pref-email_sla_alerts"' in page.text and "checked" in page.text
    response = client.post("/profile/notifications", data={"csrf_token": csrf_token(client), "email_assignments": "1"})
    assert response.status_code == 303
    prefs = db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == agent.id))
    assert prefs.email_assignments and not prefs.email_sla_alerts and not prefs.email_ticket_updates
    assert client.post("/profile/notifications", data={}).status_code in (303, 400)
    other = app.test_client()
    login(other, make_user(Role.customer))
    customer_page = other.get("/profile")
    assert "pref-email_ticket_updates" in customer_page.text and "pref-email_sla_alerts" not in customer_page.text


def test_embedded_mode_delivers_after_commit_without_redis(
    app, client, make_org, make_user, make_ticket, jobs_config, smtp_server
):
    _controller, mailbox = smtp_server
    embedded.start(app, scheduler=False)  # what the first request does (jobs_config stops it after the test)
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    ticket = make_ticket(customer)
    login(client, agent)
    token = csrf_token(client, f"/agent/tickets/{ticket.reference}")
    client.post(f"/agent/tickets/{ticket.reference}/replies", data={"body": "Fixed in 2.4", "csrf_token": token})
    wait_for(lambda: mailbox.to(customer.email))
    wait_for(lambda: _row_kind_done("notify.ticket_reply"))
    assert len(mailbox.to(customer.email)) == 1


def _row_kind_done(kind):
    db.session.expire_all()
    return db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.kind == kind)) is OutboxStatus.done


def test_escalation_email_and_slack_show_the_reason_label_not_its_code(
    make_org, make_user, make_ticket, jobs_config, smtp_server, slack_receiver
):
    _controller, mailbox = smtp_server
    customer = make_user(Role.customer, organization=make_org())
    agent, manager = make_user(Role.agent), make_user(Role.manager)
    ticket = make_ticket(customer)
    ticket_service.escalate_ticket(
        agent, ticket, to_tier="L2", reason="data_corruption", expected_version=ticket.version
    )
    db.session.commit()
    run_pending()  # what a worker would do with the rows handed over at commit
    wait_for(lambda: _row_kind_done("notify.escalation"))
    (mail,) = [m for m in mailbox.to(manager.email) if "Escalated" in m["Subject"]]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Reason: Data corruption" in text and "data_corruption" not in text
    posted = [r["text"] for r in slack_receiver.received if "Escalated" in r["text"]]
    assert len(posted) == 1 and "reason: Data corruption" in posted[0]
