"""End to end with real parts: a request commits, the relay hands the outbox rows to a private Redis, a real RQ
worker process runs them and the local SMTP server / Slack receiver get exactly one message each."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import NotificationDelivery, OutboxMessage, OutboxStatus, Role
from portal.models.notifications import NotificationDeliveryEvent
from tests.conftest import csrf_token, login
from tests.ops.conftest import kill_worker, run_worker_burst, start_worker
from workers.relay import relay_due


def _agent_reply(client, agent, ticket, body="Please re-upload the file; we fixed the parser."):
    login(client, agent)
    token = csrf_token(client, f"/agent/tickets/{ticket.reference}")
    response = client.post(f"/agent/tickets/{ticket.reference}/replies", data={"body": body, "csrf_token": token})
    assert response.status_code < 400, response.text
    client.post("/logout", data={"csrf_token": token})


def _statuses(kind):
    db.session.expire_all()
    return [m.status for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))]


def test_agent_public_reply_sends_exactly_one_threaded_email(
    client, make_org, make_user, make_ticket, rq_config, smtp_server
):
    _controller, mailbox = smtp_server
    org = make_org()
    customer = make_user(Role.customer, organization=org)
    agent = make_user(Role.agent, name="Emily Davis")
    ticket = make_ticket(customer)
    _agent_reply(client, agent, ticket)
    assert _statuses("notify.ticket_reply") == [OutboxStatus.enqueued]  # handed to Redis right after the commit

    run_worker_burst(rq_config)
    run_worker_burst(rq_config)  # a second worker and the relay find nothing more to do
    assert relay_due() == 0

    mails = mailbox.to(customer.email)
    assert len(mails) == 1
    mail = mails[0]
    assert f"[{ticket.reference}]" in mail["Subject"]
    assert mail["In-Reply-To"] == mail["References"] == f"<ticket-{ticket.reference}@support.test>"
    assert mail["Message-ID"].endswith("@support.test>") and mail["Message-ID"] != mail["In-Reply-To"]
    assert "we fixed the parser" in mail.get_body(("plain",)).get_content()
    assert "Emily Davis" in mail.get_body(("html",)).get_content()
    assert _statuses("notify.ticket_reply") == [OutboxStatus.done]


def test_internal_note_sends_no_email(client, make_org, make_user, make_ticket, rq_config, smtp_server):
    _controller, mailbox = smtp_server
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    ticket = make_ticket(customer)
    login(client, agent)
    token = csrf_token(client, f"/agent/tickets/{ticket.reference}")
    client.post(
        f"/agent/tickets/{ticket.reference}/replies",
        data={"body": "Customer uses an old browser", "internal": "y", "csrf_token": token},
    )
    run_worker_burst(rq_config)
    assert mailbox.to(customer.email) == []


def test_critical_ticket_posts_exactly_one_escaped_slack_message(
    make_org, make_user, make_ticket, rq_config, slack_receiver
):
    customer = make_user(Role.customer, organization=make_org(name="Acme <Renewables> & Co"))
    agent = make_user(Role.senior_agent)
    ticket = make_ticket(customer, actor=agent, priority="critical", subject="Reports <script> & exports down")
    run_worker_burst(rq_config)
    run_worker_burst(rq_config)
    assert len(slack_receiver.received) == 1
    text = slack_receiver.received[0]["text"]
    assert ticket.reference in text
    assert "Reports &lt;script&gt; &amp; exports down" in text and "<script>" not in text
    assert "Acme &lt;Renewables&gt; &amp; Co" in text


def test_redis_down_keeps_rows_then_each_notification_is_delivered_once(
    client, make_org, make_user, make_ticket, rq_config, redis_up, smtp_server, slack_receiver
):
    _controller, mailbox = smtp_server
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.senior_agent)
    redis_up.kill()
    ticket = make_ticket(customer)
    critical = make_ticket(customer, actor=agent, priority="critical", subject="Everything is down")
    _agent_reply(client, agent, ticket)  # the page still answers although Redis is gone
    assert set(_statuses("notify.ticket_reply") + _statuses("notify.critical_alert")) == {OutboxStatus.pending}

    redis_up.start()  # same port
    assert relay_due() >= 2
    assert relay_due() == 0  # already enqueued: never twice
    run_worker_burst(rq_config)
    assert relay_due() == 0
    run_worker_burst(rq_config)
    assert len(mailbox.to(customer.email)) == 1
    assert len(slack_receiver.received) == 1 and critical.reference in slack_receiver.received[0]["text"]
    assert _statuses("notify.ticket_reply") == _statuses("notify.critical_alert") == [OutboxStatus.done]


def test_worker_killed_mid_send_is_resent_once_with_the_same_message_id(
    client, app, monkeypatch, make_org, make_user, make_ticket, rq_config, smtp_server
):
    _controller, mailbox = smtp_server
    mailbox.stall_first = True  # the SMTP server holds the first message: the worker sits inside the job
    monkeypatch.setitem(app.config, "DELIVERY_UNCERTAIN_AFTER", 1)  # a controlled, short uncertain timeout
    first_customer = make_user(Role.customer, organization=make_org())
    second_customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    first, second = make_ticket(first_customer), make_ticket(second_customer)
    _agent_reply(client, agent, first, body="First answer")
    _agent_reply(client, agent, second, body="Second answer")

    worker = start_worker(rq_config)
    try:
        assert mailbox.stalled.wait(60), "the worker never reached the SMTP server"
    finally:
        kill_worker(worker)  # SIGKILL to the worker and its work horse, mid-send (inside the SMTP dialogue)
    db.session.expire_all()
    stuck = db.session.scalar(select(NotificationDelivery))
    assert stuck.state == "sending" and stuck.message_id == mailbox.cut[0]  # the Message-ID was stored at claim time

    assert relay_due() == 0  # not uncertain yet: nothing is re-sent before the timeout
    time.sleep(1.1)  # the uncertain timeout (1 s)
    assert relay_due() == 1  # the killed row, re-run because its send is uncertain (JOBS_STALE_AFTER not reached)
    run_worker_burst(rq_config)
    relay_due()
    run_worker_burst(rq_config)

    first_mails = mailbox.to(first_customer.email)
    assert len(first_mails) == 2  # cut inside the SMTP dialogue (received, never confirmed), then re-sent once
    assert first_mails[0]["Message-ID"] == first_mails[1]["Message-ID"] == mailbox.cut[0]  # shown once by clients
    assert len(mailbox.to(second_customer.email)) == 1  # the next worker delivered the other one exactly once
    assert _statuses("notify.ticket_reply") == [OutboxStatus.done, OutboxStatus.done]
    db.session.expire_all()
    rows = {d.recipient: d for d in db.session.scalars(select(NotificationDelivery))}
    assert {r: d.state for r, d in rows.items()} == {first_customer.email: "sent", second_customer.email: "sent"}
    assert rows[first_customer.email].attempts == 2 and rows[second_customer.email].attempts == 1
    history = db.session.scalars(
        select(NotificationDeliveryEvent.event)
        .where(NotificationDeliveryEvent.delivery_id == rows[first_customer.email].id)
        .order_by(NotificationDeliveryEvent.id)
    ).all()
    assert history == ["claimed", "taken_over", "sent"]
    assert db.session.scalar(select(func.count(NotificationDelivery.id))) == 2
