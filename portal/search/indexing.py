"""Writing the indexes: one document per job (the ``index`` queue's handlers), full rebuilds and consistency checks.

Every write reloads the row from the database while holding the index's write lock, so a job is idempotent and a
late job never overwrites a newer document with older text (the ``updated`` stamp only moves forward).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from whoosh import writing

from portal.extensions import db
from portal.models import Ticket, TicketEvent
from portal.models.kb import Article, Faq
from portal.search.documents import article_document, faq_document, kb_doc_id, stamp, ticket_document
from portal.search.schema import KB_INDEX, TICKET_INDEX
from portal.search.store import index_writer, open_index, recreate_index, schema_is_current

Echo = Callable[[str], None]
BATCH = 500


# --------------------------------------------------------------------------- one document


def index_ticket(ticket_id: int) -> str:
    """Bring the ticket's document up to date (or delete it when the ticket is gone). Returns what was done."""
    with index_writer(TICKET_INDEX) as writer:
        ticket = db.session.scalar(
            select(Ticket)
            .where(Ticket.id == ticket_id)
            .options(selectinload(Ticket.category))
            .execution_options(populate_existing=True)
        )
        if ticket is None:
            writer.delete_by_term("id", str(ticket_id))
            return "deleted"
        doc = ticket_document(ticket, _events_of([ticket_id]).get(ticket_id, []))
        return _write_if_newer(writer, doc, "updated_at")


def index_article(article_id: int) -> str:
    with index_writer(KB_INDEX) as writer:
        article = db.session.scalar(
            select(Article)
            .where(Article.id == article_id)
            .options(selectinload(Article.category))
            .execution_options(populate_existing=True)
        )
        if article is None:
            writer.delete_by_term("id", kb_doc_id("article", article_id))
            return "deleted"
        return _write_if_newer(writer, article_document(article), "updated")


def index_faq(faq_id: int) -> str:
    with index_writer(KB_INDEX) as writer:
        faq = db.session.scalar(
            select(Faq)
            .where(Faq.id == faq_id)
            .options(selectinload(Faq.category))
            .execution_options(populate_existing=True)
        )
        if faq is None:
            writer.delete_by_term("id", kb_doc_id("faq", faq_id))
            return "deleted"
        return _write_if_newer(writer, faq_document(faq), "updated")


def _write_if_newer(writer, doc: dict, stamp_field: str) -> str:
    with writer.searcher() as searcher:
        current = searcher.document(id=doc["id"])
    if current is not None and (current.get(stamp_field) or 0) > doc[stamp_field]:
        return "skipped (index is newer)"
    writer.update_document(**doc)
    return "updated"


def _events_of(ticket_ids: list[int]) -> dict[int, list[TicketEvent]]:
    rows = db.session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.kind.in_(("public_reply", "internal_note")))
        .order_by(TicketEvent.ticket_id, TicketEvent.id)
    )
    grouped: dict[int, list[TicketEvent]] = {}
    for event in rows:
        grouped.setdefault(event.ticket_id, []).append(event)
    return grouped


# --------------------------------------------------------------------------- rebuild


def rebuild_tickets(echo: Echo | None = None, batch: int = BATCH) -> int:
    """Replace the ticket index with documents for every ticket. Searches keep seeing the old documents until the
    new ones are committed in one step (``mergetype=CLEAR``)."""
    total = db.session.scalar(select(func.count()).select_from(Ticket)) or 0
    ix = _index_for_rebuild(TICKET_INDEX)
    done = 0
    with index_writer(TICKET_INDEX, ix, limitmb=128) as writer:
        writer.mergetype = writing.CLEAR
        for tickets in _chunks(select(Ticket).options(selectinload(Ticket.category)), Ticket.id, batch):
            events = _events_of([t.id for t in tickets])
            for ticket in tickets:
                writer.add_document(**ticket_document(ticket, events.get(ticket.id, [])))
            done += len(tickets)
            _progress(echo, "tickets", done, total)
            db.session.expunge_all()
        if echo:
            echo("  committing the ticket index ...")
    return done


def rebuild_kb(echo: Echo | None = None) -> int:
    """Replace the KB index with documents for every article and FAQ (all statuses; queries filter)."""
    total = (db.session.scalar(select(func.count()).select_from(Article)) or 0) + (
        db.session.scalar(select(func.count()).select_from(Faq)) or 0
    )
    ix = _index_for_rebuild(KB_INDEX)
    done = 0
    with index_writer(KB_INDEX, ix) as writer:
        writer.mergetype = writing.CLEAR
        for articles in _chunks(select(Article).options(selectinload(Article.category)), Article.id, BATCH):
            for article in articles:
                writer.add_document(**article_document(article))
            done += len(articles)
            _progress(echo, "KB documents", done, total)
        for faqs in _chunks(select(Faq).options(selectinload(Faq.category)), Faq.id, BATCH):
            for faq in faqs:
                writer.add_document(**faq_document(faq))
            done += len(faqs)
            _progress(echo, "KB documents", done, total)
    return done


def _index_for_rebuild(name: str):
    ix = open_index(name)
    if not schema_is_current(ix, name):  # the schema changed in a release: start from an empty index
        ix = recreate_index(name)
    return ix


def _chunks(stmt, id_column, size: int) -> Iterator[list]:
    last = 0
    while True:
        rows = list(db.session.scalars(stmt.where(id_column > last).order_by(id_column).limit(size)))
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _progress(echo: Echo | None, label: str, done: int, total: int) -> None:
    if echo:
        echo(f"  {label}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f}%)")


# --------------------------------------------------------------------------- check


@dataclass
class CheckReport:
    index: str
    documents: int = 0
    rows: int = 0
    missing: list[str] = field(default_factory=list)  # rows without a document
    stale: list[str] = field(default_factory=list)  # documents older than their row
    orphaned: list[str] = field(default_factory=list)  # documents whose row is gone

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.orphaned)


def check_tickets() -> CheckReport:
    rows = {str(i): stamp(u) for i, u in db.session.execute(select(Ticket.id, Ticket.updated_at))}
    return _compare(TICKET_INDEX, rows, "updated_at")


def check_kb() -> CheckReport:
    rows = {kb_doc_id("article", i): stamp(u) for i, u in db.session.execute(select(Article.id, Article.updated_at))}
    rows.update({kb_doc_id("faq", i): stamp(u) for i, u in db.session.execute(select(Faq.id, Faq.updated_at))})
    return _compare(KB_INDEX, rows, "updated")


def _compare(name: str, rows: dict[str, int], stamp_field: str) -> CheckReport:
    report = CheckReport(name, rows=len(rows))
    ix = open_index(name)
    seen: set[str] = set()
    with ix.searcher() as searcher:
        for fields in searcher.all_stored_fields():
            doc_id = fields["id"]
            seen.add(doc_id)
            report.documents += 1
            if doc_id not in rows:
                report.orphaned.append(doc_id)
            elif (fields.get(stamp_field) or 0) < rows[doc_id]:
                report.stale.append(doc_id)
    report.missing = sorted(set(rows) - seen, key=_natural)
    report.stale.sort(key=_natural)
    report.orphaned.sort(key=_natural)
    return report


def _natural(doc_id: str):
    kind, _, number = doc_id.rpartition(":")
    return (kind, int(number) if number.isdigit() else 0)
