"""The index worker runs ``index.ticket`` rows in batches: one job claims every due row (the runner's
compare-and-set), writes all their tickets with one index commit and marks the rows done; their own jobs skip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, Role, utcnow
from portal.search import incremental
from portal.search.documents import ticket_document
from portal.search.schema import TICKET_INDEX
from portal.search.store import index_writer, open_index
from portal.search.tickets import search_tickets
from portal.services.outbox import emit
from portal.services.tickets import reply_to_ticket
from workers import runner

WORDS = ["gasketalpha", "gasketbravo", "gasketcharlie"]


@pytest.fixture
def people(make_org, make_user):
    return make_user(Role.customer, organization=make_org()), make_user(Role.agent)


def _generation() -> int:
    """Every commit of the ticket index makes a new generation."""
    return open_index(TICKET_INDEX).latest_generation()


def _rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "index.ticket").order_by(OutboxMessage.id))
    )


def _stored(ticket_id: int) -> dict | None:
    with open_index(TICKET_INDEX).searcher() as searcher:
        return searcher.document(id=str(ticket_id))


def test_one_job_indexes_every_pending_change_with_one_commit(people, make_ticket, run_index_jobs):
    customer, agent = people
    tickets = [make_ticket(customer, subject=f"Heron valve {n}", description="Pressure drops.") for n in range(3)]
    run_index_jobs()
    for word, ticket in zip(WORDS, tickets, strict=True):
        reply_to_ticket(agent, ticket, f"Checked the flange {word}", internal=True)
        db.session.commit()
    rows = [row for row in _rows() if row.status is OutboxStatus.pending]
    assert len(rows) >= 3
    before = _generation()

    assert runner.process(rows[0].id) == "done"

    assert _generation() == before + 1
    assert all(row.status is OutboxStatus.done and row.attempts == 1 for row in _rows())
    assert [runner.process(row.id) for row in rows[1:]] == ["skipped"] * (len(rows) - 1)
    assert _generation() == before + 1
    for word in WORDS:
        assert search_tickets(agent, word).total == 1


def test_a_ticket_gone_meanwhile_loses_its_document(people, make_ticket):
    customer, agent = people
    kept = make_ticket(customer, subject="Osprey meter", description="Readings missing.")
    gone_id = kept.id + 1000
    with index_writer(TICKET_INDEX) as writer:  # the document of a ticket deleted since
        writer.add_document(**{**ticket_document(kept, []), "id": str(gone_id)})
    emit("index.ticket", {"ticket_id": gone_id})
    db.session.commit()
    assert _stored(gone_id) is not None

    assert runner.process(_rows()[0].id) == "done"

    assert _stored(gone_id) is None and _stored(kept.id) is not None
    assert all(row.status is OutboxStatus.done for row in _rows())


def test_a_newer_document_is_not_replaced_by_an_older_row(people, make_ticket):
    customer, agent = people
    ticket = make_ticket(customer, subject="Kestrel boundary", description="Site missing.")
    other = make_ticket(customer, subject="Plover export", description="Empty file.")
    newer = ticket_document(ticket, [])
    newer.update(subject="Kestrel boundary (newer)", updated_at=newer["updated_at"] + 10**9)
    with index_writer(TICKET_INDEX) as writer:  # e.g. written by a later change's job
        writer.add_document(**newer)

    assert runner.process(_rows()[0].id) == "done"

    assert _stored(ticket.id)["subject"] == "Kestrel boundary (newer)"
    assert _stored(other.id)["subject"] == "Plover export"
    assert all(row.status is OutboxStatus.done for row in _rows())


def test_a_failed_batch_leaves_every_claimed_row_to_retry(people, make_ticket, monkeypatch, run_index_jobs):
    customer, agent = people
    tickets = [make_ticket(customer, subject=f"Curlew sensor {n}", description="Drift.") for n in range(3)]
    rows = _rows()
    assert len(rows) == 3
    before = _generation()
    real = incremental.ticket_document

    def failing(ticket, events):
        if ticket.id == tickets[-1].id:
            raise RuntimeError("analyzer broke")
        return real(ticket, events)

    monkeypatch.setattr(incremental, "ticket_document", failing)

    assert runner.process(rows[0].id) == "retry"

    assert _generation() == before  # nothing of the batch committed
    for row in _rows():
        assert row.status is OutboxStatus.pending and row.attempts == 1
        assert "analyzer broke" in row.last_error and row.available_at > utcnow()
    assert search_tickets(agent, "curlew").total == 0

    monkeypatch.setattr(incremental, "ticket_document", real)
    db.session.execute(update(OutboxMessage).values(available_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert run_index_jobs() == 3  # rows that failed once run alone
    assert all(row.status is OutboxStatus.done and row.attempts == 2 for row in _rows())
    assert search_tickets(agent, "curlew").total == 3


def test_a_row_another_runner_claimed_is_not_run_twice(people, make_ticket):
    customer, agent = people
    for n in range(3):
        make_ticket(customer, subject=f"Dunlin import {n}", description="Row 3.")
    first, taken, last = _rows()
    assert runner._claim(taken.id) is not None  # another runner holds attempt 1 of this row

    assert runner.process(first.id) == "done"

    rows = {row.id: row for row in _rows()}
    assert rows[taken.id].status is OutboxStatus.enqueued and rows[taken.id].attempts == 1  # left to its runner
    assert rows[first.id].status is OutboxStatus.done and rows[last.id].status is OutboxStatus.done
    assert _stored(int(taken.payload["ticket_id"])) is None


def test_the_claim_is_a_compare_and_set_on_attempts(people, make_ticket):
    """Another runner claims a row between our reading it and our UPDATE: our claim of it fails, theirs stands."""
    customer, agent = people
    for n in range(2):
        make_ticket(customer, subject=f"Avocet report {n}", description="Totals off.")
    first, raced = _rows()
    done: list[int] = []

    def other_runner_first(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE OUTBOX_MESSAGES") and not done:
            done.append(1)
            with db.engine.begin() as other:
                other.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == raced.id)
                    .values(attempts=OutboxMessage.attempts + 1, status=OutboxStatus.enqueued)
                )

    event.listen(db.engine, "before_cursor_execute", other_runner_first)
    try:
        claims = runner.claim_due("index.ticket")
    finally:
        event.remove(db.engine, "before_cursor_execute", other_runner_first)

    assert [claim.message_id for claim in claims] == [first.id]
    rows = {row.id: row for row in _rows()}
    assert rows[raced.id].attempts == 1 and rows[first.id].attempts == 1


def test_only_rows_whose_attempt_is_still_held_are_finished(people, make_ticket):
    customer, agent = people
    make_ticket(customer, subject="Godwit sync", description="Stopped.")
    ours = runner.claim_due("index.ticket")
    theirs = runner.claim_due("index.ticket")  # a runner that took the row over (e.g. the relay found it stale)
    assert [c.attempt for c in ours] == [1] and [c.attempt for c in theirs] == [2]

    runner.finish_claims(ours)
    assert _rows()[0].status is OutboxStatus.enqueued
    runner.finish_claims(theirs)
    assert _rows()[0].status is OutboxStatus.done
