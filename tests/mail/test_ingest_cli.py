"""`flask mail ingest` (an MTA pipes one message to stdin) and `flask mail reprocess ID`."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from portal.config import TestConfig
from portal.extensions import db
from portal.models import InboundMessage, InboundSource, InboundState, Ticket
from tests.conftest import make_test_app
from tests.mail._corpus_helpers import corpus, raw_mail


def test_ingest_reads_stdin_and_prints_the_outcome(runner, make_user):
    ann = make_user(email="ann@client.test")
    result = runner.invoke(args=["mail", "ingest"], input=raw_mail(sender=ann.email, subject="Help"))
    assert result.exit_code == 0, result.output
    inbound = db.session.scalar(select(InboundMessage))
    ticket = db.session.scalar(select(Ticket))
    assert inbound.source is InboundSource.pipe and inbound.state is InboundState.processed
    assert result.output.strip() == f"message #{inbound.id} processed new_ticket {ticket.reference}"


def test_ingest_exits_0_for_a_stored_message_whatever_its_outcome(runner):
    result = runner.invoke(args=["mail", "ingest"], input=corpus("malformed_from_two.eml"))
    assert result.exit_code == 0
    assert "quarantined malformed_from" in result.output
    result = runner.invoke(args=["mail", "ingest"], input=corpus("newsletter.eml"))
    assert result.exit_code == 0 and "ignored bulk" in result.output


def test_ingest_exits_75_when_the_message_cannot_be_stored():
    class DatabaseDown(TestConfig):
        # a real connection attempt to a port where no database listens
        SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"

    down = make_test_app(DatabaseDown)
    results = []
    # a thread of its own: the command runs in the down app's context, not in the test's
    worker = threading.Thread(
        target=lambda: results.append(
            down.test_cli_runner().invoke(args=["mail", "ingest"], input=raw_mail(sender="ann@client.test"))
        )
    )
    worker.start()
    worker.join(60)
    [result] = results
    assert result.exit_code == 75, result.output
    assert "could not be stored" in result.output


def test_reprocess_runs_a_quarantined_message_again(app, monkeypatch, runner, make_user):
    monkeypatch.setitem(app.config, "MAIL_UNKNOWN_SENDERS", "quarantine")
    runner.invoke(args=["mail", "ingest"], input=raw_mail(sender="zoe@partner.test"))
    inbound = db.session.scalar(select(InboundMessage))
    assert inbound.reason == "unknown_sender"
    make_user(email="zoe@partner.test")  # staff created her account meanwhile
    result = runner.invoke(args=["mail", "reprocess", str(inbound.id)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(InboundMessage, inbound.id).state is InboundState.processed
    assert "processed new_ticket ESG-" in result.output
    result = runner.invoke(args=["mail", "reprocess", str(inbound.id)])
    assert result.exit_code == 1 and "only quarantined" in result.output
    assert runner.invoke(args=["mail", "reprocess", "999"]).exit_code == 1


def test_a_message_stored_but_never_processed_is_finished_by_the_mail_job(app, make_user):
    """`mail ingest` stores the raw message and commits before processing; if the process dies (or the database goes
    away) in between, the periodic mail job processes it later — with or without a mailbox to poll."""
    import time_machine

    from portal.models import utcnow
    from portal.services.mail import pipeline
    from workers.mail import mail_poll

    ann = make_user(email="ann@client.test")
    stored = pipeline.receive(raw_mail(sender=ann.email, subject="Left half-done"), source=InboundSource.pipe)
    db.session.commit()
    inbound_id = stored.id
    assert mail_poll() is None  # too fresh: it may be being processed right now
    assert db.session.get(InboundMessage, inbound_id).state is InboundState.received
    with time_machine.travel(utcnow() + timedelta(minutes=3), tick=False):
        assert mail_poll() == {"finished": 1}
        assert mail_poll() is None  # done once
    db.session.expire_all()
    inbound = db.session.get(InboundMessage, inbound_id)
    assert inbound.state is InboundState.processed and inbound.outcome == "new_ticket"
    assert db.session.scalar(select(Ticket.subject)) == "Left half-done"
