"""The mailbox poll against a real dovecot: nothing is marked read before its outcome is committed, a crash at any
point loses and duplicates nothing (a real SIGKILL of the polling process), one bad message never stops the others,
oversize mail stays bounded, and a new UIDVALIDITY does not import old mail again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Heartbeat, Ticket
from portal.models.mail import InboundMessage, InboundState
from portal.services.mail import imap, pipeline
from tests.mail.messages import build
from workers import periodic
from workers.mail import mail_poll

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def customer(make_org, make_user):
    org = make_org(domains="customer.test")
    return make_user("customer", organization=org, email="ann@customer.test", name="Ann Customer")


def _count(model, *where) -> int:
    db.session.rollback()  # a fresh snapshot: the poll (or a child process) committed since
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _inbound() -> list[InboundMessage]:
    db.session.rollback()
    return list(db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def _mail(subject: str, body: str = "The nightly import stopped with error 42.", **kw) -> bytes:
    return build(sender=kw.pop("sender", "ann@customer.test"), subject=subject, body=body, **kw)


def test_poll_imports_new_mail_and_marks_it_seen_only_after_commit(app, mailbox, customer, monkeypatch):
    first = mailbox.append(_mail("Import fails"))
    second = mailbox.append(_mail("Export is slow", "Exports take an hour since Monday."))
    already_read = mailbox.append(_mail("Read by a person"), seen=True)
    observed: list[tuple[str, int, set[str], int]] = []

    def hook(point: str) -> None:
        uid = first if len(observed) < 3 else second
        # what another observer sees at this point: the server's flags, and the committed rows
        with db.engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(InboundMessage))
        observed.append((point, uid, mailbox.flags(uid), rows))

    monkeypatch.setattr(imap, "test_hook", hook)
    result = imap.poll_once()

    assert result.ok, result.errors
    assert (result.fetched, result.processed, result.quarantined, result.already_done) == (2, 2, 0, 0)
    points = [(point, flags, rows) for point, _uid, flags, rows in observed]
    assert points == [
        ("fetched", set(), 0),  # read with BODY.PEEK: not seen, nothing stored yet
        ("received", set(), 1),  # raw committed, still unseen on the server
        ("processed", set(), 1),  # ticket committed, still unseen
        ("fetched", set(), 1),
        ("received", set(), 2),
        ("processed", set(), 2),
    ]
    assert "\\Seen" in mailbox.flags(first) and "\\Seen" in mailbox.flags(second)
    assert mailbox.unseen() == []
    rows = _inbound()
    assert [r.subject for r in rows] == ["Import fails", "Export is slow"]  # the one already read is left alone
    assert all(r.state == InboundState.processed and r.ticket_id for r in rows)
    assert [(r.imap_folder, r.imap_uid) for r in rows] == [("INBOX", first), ("INBOX", second)]
    assert {r.imap_uidvalidity for r in rows} == {mailbox.uidvalidity()}
    assert _count(Ticket, Ticket.requester_id == customer.id) == 2
    assert already_read not in mailbox.unseen()

    beat = db.session.scalar(select(Heartbeat).where(Heartbeat.name == "mail_poll"))
    assert beat is not None and beat.kind == "mail_poll"
    assert json.loads(beat.detail)["processed"] == 2

    again = imap.poll_once()  # nothing unseen left: nothing happens, the heartbeat is refreshed
    assert (again.fetched, again.processed, again.already_done) == (0, 0, 0)
    assert _count(Ticket) == 2


def test_a_message_that_breaks_processing_is_quarantined_and_the_others_import(app, mailbox, customer, monkeypatch):
    good1 = mailbox.append(_mail("First good one"))
    bad = mailbox.append(_mail("Boom"))
    unreadable = mailbox.append(b"This is not a mail message at all\r\n")
    good2 = mailbox.append(_mail("Second good one"))
    real_process = pipeline.process

    def process(inbound):
        if inbound.subject == "Boom":
            raise RuntimeError("a bug in processing")
        return real_process(inbound)

    monkeypatch.setattr(pipeline, "process", process)
    result = imap.poll_once()

    assert result.connected and result.fetched == 4
    assert result.processed == 2 and result.quarantined == 2
    by_uid = {r.imap_uid: r for r in _inbound()}
    assert by_uid[good1].state == by_uid[good2].state == InboundState.processed
    assert by_uid[bad].state == InboundState.quarantined and by_uid[bad].reason == "error"
    assert "a bug in processing" in by_uid[bad].detail
    assert by_uid[unreadable].state == InboundState.quarantined  # the pipeline's own verdict
    assert _count(Ticket) == 2
    assert mailbox.unseen() == []  # all four have an outcome: none is retried on every tick

    monkeypatch.setattr(pipeline, "process", real_process)
    assert imap.poll_once().fetched == 0  # quarantined mail is not fetched again


def _child_config() -> dict:
    config = {k: v for k, v in current_app.config.items() if isinstance(v, str | int | float | bool | type(None))}
    config["SQLALCHEMY_DATABASE_URI"] = db.engine.url.render_as_string(hide_password=False)
    return config


def _run_child(kill_at: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        {
            "POLL_CHILD_CONFIG": json.dumps(_child_config()),
            "POLL_CHILD_INSTANCE": current_app.instance_path,
            "POLL_CHILD_KILL_AT": kill_at,
            "PORTAL_INSTANCE_DIR": current_app.instance_path,
            "PYTHONPATH": str(ROOT),
        }
    )
    db.session.rollback()
    return subprocess.run(
        [sys.executable, "-m", "tests.mail.poll_child"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )


@pytest.mark.parametrize(
    ("kill_at", "stored_state"),
    [
        ("fetched", None),  # read, nothing committed
        ("received", InboundState.received),  # raw committed, not processed
        ("processed", InboundState.processed),  # ticket committed, not marked seen
    ],
)
def test_the_imap_job_killed_between_fetch_and_commit_loses_nothing_and_duplicates_nothing(
    app, mailbox, customer, kill_at, stored_state
):
    uid = mailbox.append(_mail("Killed mid-import", "Please look at order 7781."))

    child = _run_child(kill_at)
    assert child.returncode == -signal.SIGKILL, child.stdout.decode() + child.stderr.decode()

    # the crash left the message unseen on the server and at most its stored row
    assert mailbox.unseen() == [uid]
    rows = _inbound()
    assert [r.state for r in rows] == ([stored_state] if stored_state else [])
    assert _count(Ticket) == (1 if kill_at == "processed" else 0)

    rerun = imap.poll_once()  # the next tick
    assert rerun.ok, rerun.errors
    assert rerun.already_done == (1 if kill_at == "processed" else 0)
    assert rerun.fetched == (1 if kill_at == "fetched" else 0)  # a stored raw message is not fetched again

    rows = _inbound()
    assert len(rows) == 1 and rows[0].state == InboundState.processed
    tickets = list(db.session.scalars(select(Ticket)))
    assert len(tickets) == 1 and tickets[0].subject == "Killed mid-import"
    assert rows[0].ticket_id == tickets[0].id
    assert "\\Seen" in mailbox.flags(uid) and mailbox.unseen() == []

    assert imap.poll_once().fetched == 0  # and a third run changes nothing
    assert _count(Ticket) == 1 and len(_inbound()) == 1


def test_an_oversize_message_is_fetched_bounded_and_quarantined(app, mailbox, customer, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_MESSAGE_BYTES", 50_000)
    monkeypatch.setitem(app.config, "MAIL_RAW_MAX", 4_096)
    big = mailbox.append(_mail("Huge log", "x" * 200 + "\n", attachments=[("log.txt", "text/plain", b"y" * 300_000)]))
    small = mailbox.append(_mail("Small one"))
    fetched: list[int] = []
    real_fetch = imap._fetch

    def fetch(conn, uid, limit=None):
        raw = real_fetch(conn, uid, limit)
        fetched.append(len(raw))
        return raw

    monkeypatch.setattr(imap, "_fetch", fetch)
    result = imap.poll_once()

    assert result.ok, result.errors
    assert (result.quarantined, result.processed) == (1, 1)
    assert fetched[0] == 4_096  # never more than MAIL_RAW_MAX of the big one in memory
    by_uid = {r.imap_uid: r for r in _inbound()}
    row = by_uid[big]
    assert row.state == InboundState.quarantined and row.reason == "oversize"
    assert row.raw_truncated and len(row.raw) == 4_096 and row.size > 300_000
    assert row.subject == "Huge log" and row.from_address == "ann@customer.test"  # an admin sees what it was
    assert row.ticket_id is None
    assert by_uid[small].state == InboundState.processed
    assert _count(Ticket) == 1
    assert mailbox.unseen() == []


def test_a_new_uidvalidity_does_not_import_processed_mail_again(app, mailbox, customer):
    uid = mailbox.append(_mail("Printer on fire"))
    assert imap.poll_once().processed == 1
    old_validity = mailbox.uidvalidity()

    mailbox.set_uidvalidity(old_validity + 1000)  # the server rebuilt its index: every UID is new
    mailbox.mark_unseen(uid)  # and lost the flags with it
    result = imap.poll_once()

    assert result.ok, result.errors
    assert (result.fetched, result.processed, result.ignored) == (1, 0, 1)
    rows = _inbound()
    assert [r.imap_uidvalidity for r in rows] == [old_validity, old_validity + 1000]
    assert rows[1].state == InboundState.ignored  # the same Message-ID: a duplicate
    assert _count(Ticket) == 1
    assert mailbox.unseen() == []


def test_connection_failures_are_reported_not_raised(app, mailbox, monkeypatch):
    from tests.ops.conftest import free_port

    monkeypatch.setitem(app.config, "IMAP_PORT", free_port())  # nobody listens
    result = imap.poll_once()
    assert not result.ok and not result.connected
    assert "connection" in result.errors[0].lower()

    monkeypatch.setitem(app.config, "IMAP_PORT", mailbox.server.port)
    monkeypatch.setitem(app.config, "IMAP_PASSWORD", "wrong")
    result = imap.poll_once()
    assert not result.ok and "login" in result.errors[0].lower()
    assert _count(Heartbeat) == 0  # no success to report

    monkeypatch.setitem(app.config, "IMAP_PASSWORD", mailbox.password)
    monkeypatch.setitem(app.config, "IMAP_FOLDER", "No Such Folder")
    result = imap.poll_once()
    assert not result.ok and "no such folder" in result.errors[0].lower()
    assert _count(Heartbeat) == 0


def test_the_periodic_job_polls_the_mailbox_and_does_nothing_without_a_host(app, mailbox, customer, monkeypatch):
    assert (mail_poll, 60, "default") in periodic.SCHEDULE
    mailbox.append(_mail("Through the job"))
    counts = mail_poll()
    assert counts["processed"] == 1 and counts["errors"] == 0
    assert _count(Ticket) == 1

    monkeypatch.setitem(app.config, "IMAP_HOST", None)
    mailbox.append(_mail("Not polled"))
    assert mail_poll() is None
    assert imap.poll_once().connected is False
    assert _count(InboundMessage) == 1 and len(mailbox.unseen()) == 1


def test_the_poll_command(app, runner, mailbox, customer, monkeypatch):
    mailbox.append(_mail("Through the command"))
    result = runner.invoke(args=["mail", "poll"])
    assert result.exit_code == 0, result.output
    assert "fetched 1, processed 1" in result.output
    assert _count(Ticket) == 1 and mailbox.unseen() == []

    monkeypatch.setitem(app.config, "IMAP_PASSWORD", "wrong")
    failed = runner.invoke(args=["mail", "poll"])
    assert failed.exit_code == 1 and "login" in failed.output.lower()

    monkeypatch.setitem(app.config, "IMAP_HOST", None)
    unset = runner.invoke(args=["mail", "poll"])
    assert unset.exit_code != 0 and "IMAP_HOST is not set" in unset.output
