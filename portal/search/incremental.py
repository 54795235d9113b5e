"""Incremental ticket indexing: many changed tickets written with one index writer and one commit.

On a large index a commit dominates the cost of an index job (a new segment, a new table of contents, the old
generation's files cleaned up, every few commits a merge of the small segments), whatever it holds; one commit per
change cannot keep up with a busy help desk. The index worker therefore takes every due ``index.ticket`` row at once
(``workers.index_jobs``) and writes their tickets here in one commit.

The rules of the one-document job (``indexing.index_ticket``) stay: the tickets are reloaded while the write lock
is held (so what is written is at least as new as the change that queued the job), a ticket that is gone has its
document deleted, and a document is replaced only by one whose ``updated_at`` stamp is not older.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Ticket
from portal.search.documents import ticket_document
from portal.search.indexing import _events_of, _write_if_newer
from portal.search.schema import TICKET_INDEX
from portal.search.store import index_writer

# Tickets reloaded per query (and the bound of one IN list).
RELOAD_CHUNK = 500


def index_tickets(ticket_ids: Iterable[int]) -> Counter[str]:
    """Bring the documents of ``ticket_ids`` (duplicates are written once) up to date in one commit: updated,
    deleted (the ticket is gone) or skipped (the index holds a newer document). Returns how many of each.

    An exception cancels the writer: nothing of the batch is committed, and the caller retries all of it."""
    ids = sorted(set(ticket_ids))
    outcome: Counter[str] = Counter()
    if not ids:
        return outcome
    with index_writer(TICKET_INDEX) as writer:
        for start in range(0, len(ids), RELOAD_CHUNK):
            chunk = ids[start : start + RELOAD_CHUNK]
            tickets = {
                ticket.id: ticket
                for ticket in db.session.scalars(
                    select(Ticket)
                    .where(Ticket.id.in_(chunk))
                    .options(selectinload(Ticket.category))
                    .execution_options(populate_existing=True)
                )
            }
            events = _events_of(list(tickets)) if tickets else {}
            for ticket_id in chunk:
                ticket = tickets.get(ticket_id)
                if ticket is None:
                    writer.delete_by_term("id", str(ticket_id))
                    outcome["deleted"] += 1
                    continue
                # The writer's searcher (one per writer, over the committed segments) finds the current document.
                result = _write_if_newer(writer, ticket_document(ticket, events.get(ticket_id, [])), "updated_at")
                outcome["updated" if result == "updated" else "skipped"] += 1
    return outcome
