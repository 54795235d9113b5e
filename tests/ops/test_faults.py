"""Reliability under faults, with real processes where it matters: a send cut by a crash is retried once it is
uncertain, with the same Message-ID / idempotency key; workers and the scheduler ride out a Redis outage; SIGTERM
finishes the job in progress (RQ worker and the embedded runner); the admin outbox page shows each delivery's
history. Timeouts are settings of about a second here (never long sleeps); waits for real processes poll with a
deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationDelivery, OutboxMessage, OutboxStatus, Role, utcnow
from portal.models.notifications import NotificationDeliveryEvent
from portal.services import outbox as outbox_service
from tests.conftest import csrf_token, login
from tests.ops.conftest import ROOT, kill_worker, start_scheduler, start_worker, wait_for, worker_env
from workers import senders
from workers.relay import relay_due


def _replies(client, agent, tickets, body="We fixed the exporter, please try again."):
    """One public agent reply per ticket (one sign-in): each commits a notify.ticket_reply outbox row."""
    login(client, agent)
    for ticket in tickets:
        token = csrf_token(client, f"/agent/tickets/{ticket.reference}")
        response = client.post(
            f"/agent/tickets/{ticket.reference}/replies",
            data={"body": f"{body} ({ticket.reference})", "csrf_token": token},
        )
        assert response.status_code < 400, response.text
    client.post("/logout", data={"csrf_token": csrf_token(client)})


def _customers_with_tickets(make_org, make_user, make_ticket, n):
    org = make_org()
    customers = [make_user(Role.customer, organization=org) for _ in range(n)]
    return customers, [make_ticket(c) for c in customers]


def _outbox_statuses(kind="notify.ticket_reply"):
    db.session.expire_all()
    return Counter(m.status for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def _events(**where):
    db.session.expire_all()
    query = select(NotificationDeliveryEvent.event).order_by(NotificationDeliveryEvent.id)
    for name, value in where.items():
        query = query.where(getattr(NotificationDeliveryEvent, name) == value)
    return list(db.session.scalars(query))


def _row(kind="notify.test"):
    message = outbox_service.emit(kind, {})
    db.session.commit()
    return message.id


def _stop(proc, sig=signal.SIGTERM, timeout=30.0) -> int:
    os.kill(proc.pid, sig)
    return proc.wait(timeout)


# --------------------------------------------------------------------------- the delivery ledger, in process


def test_clean_failure_is_recorded_and_the_retry_sends_once(app):
    outbox_id = _row()
    sent: list[str] = []

    def failing(claim):
        raise OSError("connection refused")

    with pytest.raises(OSError):
        senders.deliver(outbox_id, "email", "a@example.test", failing, message_id="<m1@support.test>")
    key = senders.delivery_key(outbox_id, "email", "a@example.test")  # this delivery's, whatever else runs
    delivery = db.session.scalar(select(NotificationDelivery).where(NotificationDelivery.key == key))
    assert (delivery.state, delivery.attempts, delivery.message_id) == ("failed", 1, "<m1@support.test>")
    assert "OSError: connection refused" in delivery.detail

    def works(claim):
        sent.append(claim.message_id)
        return claim.message_id

    assert senders.deliver(outbox_id, "email", "a@example.test", works, message_id="<m1@support.test>") is True
    assert senders.deliver(outbox_id, "email", "A@example.test", works, message_id="<m1@support.test>") is False
    assert sent == ["<m1@support.test>"]  # a normal retry after a clean failure sends once, never twice
    assert _events(delivery_id=delivery.id) == ["claimed", "failed", "claimed", "sent"]


def test_uncertain_send_is_taken_over_once_with_the_stored_message_id(app, monkeypatch):
    monkeypatch.setitem(app.config, "DELIVERY_UNCERTAIN_AFTER", 300)
    monkeypatch.setattr(senders, "IN_PROGRESS_WAIT", 0)  # no wait for the other run's confirmation
    outbox_id = _row()
    key = senders.delivery_key(outbox_id, "email", "b@example.test")
    claim = senders._claim(key, outbox_id, "email", "b@example.test", "<first@support.test>")  # then the crash
    assert claim is not None and claim[1].message_id == "<first@support.test>"
    sent: list[str] = []

    def send(c):
        sent.append(c.message_id)
        return c.message_id

    with pytest.raises(senders.DeliveryInProgress):  # fresh: maybe still sending elsewhere, the job retries later
        senders.deliver(outbox_id, "email", "b@example.test", send, message_id="<first@support.test>")
    with time_machine.travel(utcnow() + timedelta(seconds=301), tick=False):
        # even if a caller computed another id, the one stored at the first claim is re-used
        assert senders.deliver(outbox_id, "email", "b@example.test", send, message_id="<other@support.test>")
        assert senders.deliver(outbox_id, "email", "b@example.test", send, message_id="<first@support.test>") is False
    assert sent == ["<first@support.test>"]
    delivery = db.session.scalar(select(NotificationDelivery))
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    assert _events() == ["claimed", "taken_over", "sent"]


def test_two_retriers_of_an_uncertain_send_never_both_send(app, monkeypatch):
    """The take-over is a compare-and-set on (state, attempts): a retrier that read the uncertain row, then lost the
    race to another retrier (which took it over and sent), does not send."""
    monkeypatch.setitem(app.config, "DELIVERY_UNCERTAIN_AFTER", 300)
    outbox_id = _row()
    key = senders.delivery_key(outbox_id, "email", "c@example.test")
    senders._claim(key, outbox_id, "email", "c@example.test", "<c@support.test>")
    sent: list[str] = []

    def send(c):
        sent.append(c.message_id)
        return c.message_id

    real_update = senders.update
    raced: list[bool] = []

    def update_after_a_rival(table):
        # the first retrier has read the row (attempt 1, uncertain); before its take-over runs, a rival does it all
        if table is NotificationDelivery and not raced:
            raced.append(True)
            assert senders.deliver(outbox_id, "email", "c@example.test", send, message_id="<c@support.test>")
        return real_update(table)

    monkeypatch.setattr(senders, "update", update_after_a_rival)
    later = time_machine.travel(utcnow() + timedelta(seconds=301), tick=False)
    with later, pytest.raises(senders.DeliveryInProgress, match="claimed by another run"):
        senders.deliver(outbox_id, "email", "c@example.test", send, message_id="<c@support.test>")
    assert raced and sent == ["<c@support.test>"]  # the rival sent once; the loser never did
    assert _events() == ["claimed", "taken_over", "sent"]


def test_slack_retry_carries_the_same_idempotency_key(app, monkeypatch, jobs_config, slack_receiver):
    monkeypatch.setitem(app.config, "DELIVERY_UNCERTAIN_AFTER", 300)
    outbox_id = _row()
    key = senders.delivery_key(outbox_id, "slack", "team")
    senders._claim(key, outbox_id, "slack", "team", "")  # claimed, then the worker died before or during the POST
    with time_machine.travel(utcnow() + timedelta(seconds=301), tick=False):
        assert senders.deliver(
            outbox_id, "slack", "team", lambda c: senders.post_slack("hello", idempotency_key=c.idempotency_key)
        )
    assert slack_receiver.received == [{"text": "hello", "idempotency_key": senders.idempotency_key(key)}]
    assert db.session.scalar(select(NotificationDelivery.idempotency_key)) == senders.idempotency_key(key)


# --------------------------------------------------------------------------- real workers, SIGKILL mid-send


def test_replies_while_the_worker_is_killed_three_times_all_arrive(
    client, app, monkeypatch, tmp_path, make_org, make_user, make_ticket, rq_config, smtp_server
):
    _controller, mailbox = smtp_server
    monkeypatch.setitem(app.config, "DELIVERY_UNCERTAIN_AFTER", 1)
    # three kills inside the SMTP dialogue: after DATA (the server has the message: a duplicate follows, same
    # Message-ID), at RCPT (nothing received), after DATA again
    mailbox.stall_on = {3: "data", 8: "rcpt", 14: "data"}
    customers, tickets = _customers_with_tickets(make_org, make_user, make_ticket, 20)
    agent = make_user(Role.agent)
    _replies(client, agent, tickets)

    log = tmp_path / "worker.log"
    worker = start_worker(rq_config, log=log)
    try:
        for _kill in range(3):
            assert mailbox.stalled.wait(30), log.read_text()
            mailbox.stalled.clear()
            kill_worker(worker)  # SIGKILL, worker and work horse
            worker = start_worker(rq_config, log=log)

        def all_done():
            relay_due()  # what the scheduler does every 30 s: the killed rows are uncertain after 1 s
            return _outbox_statuses()[OutboxStatus.done] == 20

        wait_for(all_done, timeout=40, interval=0.3)
    finally:
        kill_worker(worker)

    assert mailbox.stalls == 3 and len(mailbox.cut) == 2
    for customer in customers:
        assert mailbox.to(customer.email), f"lost: {customer.email}"
    counts = Counter(mailbox.message_ids())
    assert len(counts) == 20 and sum(counts.values()) == 20 + len(mailbox.cut)
    assert {mid for mid, n in counts.items() if n > 1} == set(mailbox.cut)  # duplicates: only the cut sends
    assert all(counts[mid] == 2 for mid in mailbox.cut)
    db.session.expire_all()
    assert set(db.session.scalars(select(NotificationDelivery.state))) == {"sent"}
    assert _events(event="taken_over").count("taken_over") == 3


# --------------------------------------------------------------------------- Redis outage


def test_worker_and_scheduler_survive_a_redis_outage_and_deliver_once(
    client, app, monkeypatch, tmp_path, make_org, make_user, make_ticket, rq_config, redis_up, smtp_server
):
    _controller, mailbox = smtp_server
    monkeypatch.setitem(app.config, "JOBS_REDIS_BACKOFF_MAX", 1)  # reconnect attempts every second
    customers, tickets = _customers_with_tickets(make_org, make_user, make_ticket, 4)
    agent = make_user(Role.agent)
    worker_log, scheduler_log = tmp_path / "worker.log", tmp_path / "scheduler.log"
    worker = start_worker(rq_config, log=worker_log)
    scheduler = start_scheduler(rq_config, log=scheduler_log)
    try:
        _replies(client, agent, tickets[:1])
        wait_for(lambda: mailbox.to(customers[0].email), timeout=30)  # both up and working

        redis_up.kill()
        _replies(client, agent, tickets[1:])  # the pages answer; the rows stay pending in the database
        assert _outbox_statuses()[OutboxStatus.pending] == 3
        wait_for(lambda: "Redis unavailable" in scheduler_log.read_text(), timeout=15)
        wait_for(lambda: worker_log.read_text().count("could not connect to Redis") >= 2, timeout=15)
        assert worker.poll() is None and scheduler.poll() is None  # both still alive, waiting

        redis_up.start()  # the same port, empty (no persistence): the scheduler relays what piled up
        wait_for(lambda: all(mailbox.to(c.email) for c in customers), timeout=30)
        time.sleep(0.5)  # nothing more arrives
        assert worker.poll() is None and scheduler.poll() is None
        assert "Redis is back" in scheduler_log.read_text()
        assert _stop(worker) == 0 and _stop(scheduler) == 0
    finally:
        for proc in (worker, scheduler):
            if proc.poll() is None:
                kill_worker(proc)
    assert [len(mailbox.to(c.email)) for c in customers] == [1, 1, 1, 1]
    assert _outbox_statuses() == Counter({OutboxStatus.done: 4})


def test_worker_waits_for_redis_down_at_start(app, monkeypatch, tmp_path, rq_config, redis_up):
    monkeypatch.setitem(app.config, "JOBS_REDIS_BACKOFF_MAX", 1)
    redis_up.kill()
    log = tmp_path / "worker.log"
    worker = start_worker(rq_config, log=log)
    try:
        wait_for(lambda: log.read_text().count("Redis unavailable") >= 2, timeout=20)
        assert worker.poll() is None
        redis_up.start()
        wait_for(lambda: "Redis is back" in log.read_text(), timeout=20)
        wait_for(lambda: "Listening on" in log.read_text(), timeout=20)
        # RQ logs "Listening on" before it installs its signal handlers: stop it once it is idle in its loop
        wait_for(lambda: _rq_states(redis_up.url) == ["idle"], timeout=20)
        assert _stop(worker) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            kill_worker(worker)


def _rq_states(url: str) -> list[str]:
    from redis import Redis
    from rq import Worker

    with Redis.from_url(url) as connection:
        return [str(getattr(w.get_state(), "value", w.get_state())) for w in Worker.all(connection=connection)]


# --------------------------------------------------------------------------- graceful shutdown


def test_sigterm_during_a_job_finishes_it_and_the_worker_exits_0(
    client, tmp_path, make_org, make_user, make_ticket, rq_config, smtp_server
):
    _controller, mailbox = smtp_server
    mailbox.delay = 2.0  # the server answers DATA after 2 s: the job is in progress meanwhile
    customers, tickets = _customers_with_tickets(make_org, make_user, make_ticket, 1)
    _replies(client, make_user(Role.agent), tickets)
    log = tmp_path / "worker.log"
    worker = start_worker(rq_config, log=log)
    try:
        wait_for(lambda: mailbox.messages, timeout=30)  # the worker is inside the SMTP dialogue
        assert _stop(worker) == 0, log.read_text()  # SIGTERM to the worker: warm shutdown
    finally:
        if worker.poll() is None:
            kill_worker(worker)
    assert "warm shut down requested" in log.read_text()
    assert _outbox_statuses() == Counter({OutboxStatus.done: 1})
    db.session.expire_all()
    assert db.session.scalar(select(NotificationDelivery.state)) == "sent"
    assert len(mailbox.to(customers[0].email)) == 1


_EMBEDDED = """
import sys, time
from portal import create_app
from workers import embedded
app = create_app()
embedded.start(app, scheduler=False)
embedded.submit(app, [int(i) for i in sys.argv[1:]])
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def test_sigterm_to_the_embedded_runner_finishes_the_row_in_progress(
    client, app, monkeypatch, tmp_path, make_org, make_user, make_ticket, jobs_config, smtp_server
):
    _controller, mailbox = smtp_server
    monkeypatch.setitem(app.config, "JOBS_RELAY_ON_COMMIT", False)  # only the process under test runs the rows
    mailbox.delay = 2.0
    customers, tickets = _customers_with_tickets(make_org, make_user, make_ticket, 2)
    _replies(client, make_user(Role.agent), tickets)
    ids = sorted(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.kind == "notify.ticket_reply")))
    env = worker_env({**jobs_config, "REDIS_URL": ""})
    env["PORTAL_ENV"] = "development"  # not TESTING: the embedded runner and its shutdown handlers are installed
    script = tmp_path / "embedded.py"
    script.write_text(_EMBEDDED)
    proc = subprocess.Popen(
        [sys.executable, str(script), *map(str, ids)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: mailbox.messages, timeout=30)  # the first row is being sent
        assert _stop(proc) == -signal.SIGTERM  # it finished the row, then terminated as SIGTERM asks
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    db.session.expire_all()
    statuses = {m.id: m.status for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
    assert statuses == {ids[0]: OutboxStatus.done, ids[1]: OutboxStatus.pending}  # the second handed back
    assert len(mailbox.messages) == 1 and mailbox.to(customers[0].email)


# --------------------------------------------------------------------------- admin


def test_outbox_page_shows_each_deliverys_history(app, make_user, login_as):
    outbox_id = _row("notify.ticket_reply")

    def refused(claim):
        raise OSError("421 try again later")

    with pytest.raises(OSError):
        senders.deliver(outbox_id, "email", "d@example.test", refused, message_id="<d.1@support.test>")
    senders.deliver(outbox_id, "email", "d@example.test", lambda c: c.message_id, message_id="<d.1@support.test>")
    client, _token = login_as(make_user(Role.admin))
    page = client.get("/admin/outbox")
    assert page.status_code == 200
    html = page.text
    assert "Delivery history" in html and f"Job #{outbox_id}" in html
    assert html.count('class="delivery-event"') == 4
    assert "OSError: 421 try again later" in html and "&lt;d.1@support.test&gt;" in html
    for label in ("Claimed", "Failed", "Sent"):
        assert label in html
