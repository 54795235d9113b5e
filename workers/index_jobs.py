"""Search index handlers (outbox kinds ``index.*``, queue ``index``, served by exactly one worker).

Payloads: index.ticket {ticket_id}; index.article {article_id}; index.faq {faq_id}. Each handler reloads the row and
updates or deletes its document, so running a job twice (a retry, a killed worker) gives the same index.

``index.ticket`` runs in batches: the job also claims every other due ``index.ticket`` row (``runner.claim_due``, up
to ``INDEX_BATCH_ROWS``), writes all their tickets with one index commit (``portal.search.incremental``) and marks
those rows done; their own jobs then find them done and skip. One commit per change cannot keep up at a million
tickets. A row that failed before runs alone (and takes no other rows), so a ticket that always fails cannot keep
failing the others.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage
from portal.search import incremental, indexing
from workers import runner
from workers.registry import handler

BATCH_ROWS = 500  # default of INDEX_BATCH_ROWS: the other rows one index.ticket job takes along


@handler("index.ticket")
def index_ticket(payload: dict[str, Any], message_id: int) -> None:
    ticket_id = int(payload["ticket_id"])
    limit = int(current_app.config.get("INDEX_BATCH_ROWS", BATCH_ROWS))
    if limit <= 0 or _attempt(message_id) > 1:
        indexing.index_ticket(ticket_id)
        return
    try:
        claims = runner.claim_due("index.ticket", limit=limit, exclude={message_id}, max_attempts=0)
    except Exception:  # e.g. a lock conflict with the relay: this row alone, the others keep their own jobs
        current_app.logger.warning("index batch claim failed; indexing ticket %s alone", ticket_id, exc_info=True)
        claims = []
    try:
        incremental.index_tickets([ticket_id, *(int(claim.payload["ticket_id"]) for claim in claims)])
    except Exception as exc:
        db.session.rollback()
        runner.fail_claims(claims, exc)  # every claimed row retried as its own would be; this row by the runner
        raise
    runner.finish_claims(claims)


def _attempt(message_id: int) -> int:
    """The attempt the runner holds on this row (read on a connection of its own, so the session starts no
    transaction before the index write lock is held)."""
    with db.engine.connect() as conn:
        return conn.scalar(select(OutboxMessage.attempts).where(OutboxMessage.id == message_id)) or 0


@handler("index.article")
def index_article(payload: dict[str, Any], message_id: int) -> None:
    indexing.index_article(int(payload["article_id"]))


@handler("index.faq")
def index_faq(payload: dict[str, Any], message_id: int) -> None:
    indexing.index_faq(int(payload["faq_id"]))
