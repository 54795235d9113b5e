"""Writing the indexes: one document per job (the ``index`` queue's handlers), full rebuilds and consistency checks.

Every write reloads the row from the database while holding the index's write lock, so a job is idempotent and a
late job never overwrites a newer document with older text (the ``updated`` stamp only moves forward). The check
builds every document again and compares content digests, so it also finds documents that went stale without a
newer change stamp (a row changed behind the services' back, a lost index job).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from whoosh import writing

from portal.extensions import db
from portal.models import Category, Ticket, TicketEvent
from portal.models.kb import Article, Faq
from portal.search.documents import (
    TicketRow,
    article_document,
    faq_document,
    kb_doc_id,
    stamp,
    ticket_document,
    ticket_row_document,
)
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
    # An index built before a field was added (until the rebuild that follows the upgrade) takes the fields it has.
    writer.update_document(**{name: value for name, value in doc.items() if name in writer.schema})
    return "updated"


def _events_of(ticket_ids: list[int], session=None) -> dict[int, list[TicketEvent]]:
    rows = (session or db.session).scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.kind.in_(("public_reply", "internal_note")))
        .order_by(TicketEvent.ticket_id, TicketEvent.id)
    )
    grouped: dict[int, list[TicketEvent]] = {}
    for event in rows:
        grouped.setdefault(event.ticket_id, []).append(event)
    return grouped


# --------------------------------------------------------------------------- rebuild


def rebuild_tickets(echo: Echo | None = None, batch: int | None = None, procs: int | None = None) -> int:
    """Replace the ticket index with documents for every ticket. Searches keep seeing the old documents until the
    new ones are committed in one step (``mergetype=CLEAR``: a new generation; a searcher opening the old one while
    its files go retries, see ``store._open_searcher``).

    Tickets are read as plain rows in id order, ``batch`` (``INDEX_REBUILD_BATCH``) at a time (keyset pages: the
    memory held is one batch, never the table), with their replies and notes in one range query per batch. With
    ``procs`` (``INDEX_REBUILD_PROCS``) above 1 the documents are analyzed and written by that many processes
    (Whoosh's ``MpWriter``), each into a segment of its own (``multisegment``: no final merge of a million
    documents); each holds at most ``INDEX_REBUILD_MB`` of postings in memory before spilling a sorted run to
    disk."""
    config = current_app.config
    batch = batch or int(config.get("INDEX_REBUILD_BATCH", BATCH))
    procs = procs or int(config.get("INDEX_REBUILD_PROCS", 2))
    limitmb = int(config.get("INDEX_REBUILD_MB", 128))
    total = db.session.scalar(select(func.count()).select_from(Ticket)) or 0
    ix = _index_for_rebuild(TICKET_INDEX)
    options: dict = {"limitmb": limitmb}
    if procs > 1:
        options.update(procs=procs, multisegment=True, batchsize=max(1, min(batch, 250)))
    done = 0
    with _reading_session() as session, index_writer(TICKET_INDEX, ix, **options) as writer:
        writer.mergetype = writing.CLEAR
        for tickets, events in ticket_rows(session, batch):
            for ticket in tickets:
                writer.add_document(**ticket_row_document(ticket, events.get(ticket.id, ())))
            done += len(tickets)
            _progress(echo, "tickets", done, total)
        if echo:
            echo("  committing the ticket index ...")
    return done


_TICKET_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.description,
    Ticket.organization_id,
    Ticket.requester_id,
    Ticket.status,
    Ticket.priority,
    Category.slug,
    Ticket.assignee_id,
    Ticket.updated_at,
)


def ticket_rows(session: Session, batch: int) -> Iterator[tuple[list[TicketRow], dict[int, list[tuple]]]]:
    """Every ticket as a ``TicketRow`` with its (kind, body) replies and notes, ``batch`` tickets at a time in id
    order: a keyset page of tickets, then the events of exactly that id range (one indexed range query)."""
    stmt = select(*_TICKET_COLUMNS).outerjoin(Category, Category.id == Ticket.category_id).order_by(Ticket.id)
    last = 0
    while True:
        rows = session.execute(stmt.where(Ticket.id > last).limit(batch)).all()
        if not rows:
            return
        tickets = [TicketRow(r[0], r[1], r[2], r[3], r[4], _value(r[5]), _value(r[6]), r[7], r[8], r[9]) for r in rows]
        first, last = tickets[0].id, tickets[-1].id
        events: dict[int, list[tuple]] = {}
        for ticket_id, kind, body in session.execute(
            select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.body)
            .where(
                TicketEvent.ticket_id.between(first, last),
                TicketEvent.kind.in_(("public_reply", "internal_note")),
            )
            .order_by(TicketEvent.ticket_id, TicketEvent.id)
        ):
            events.setdefault(ticket_id, []).append((kind, body))
        yield tickets, events


def _value(member) -> str:
    return getattr(member, "value", member)


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


def _chunks(stmt, id_column, size: int, session=None) -> Iterator[list]:
    session = session or db.session
    last = 0
    while True:
        rows = list(session.scalars(stmt.where(id_column > last).order_by(id_column).limit(size)))
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
    stale: list[str] = field(default_factory=list)  # documents whose content (or change stamp) differs from the row
    orphaned: list[str] = field(default_factory=list)  # documents whose row is gone
    content_checked: bool = True  # False: only the change stamps were compared
    schema_current: bool = True  # False: the index was built with another release's schema

    @property
    def ok(self) -> bool:
        return self.schema_current and not (self.missing or self.stale or self.orphaned)


# What a row is expected to look like in the index: its change stamp and (content check) its document's digest.
Expected = tuple[int, str | None]


def check_tickets(*, content: bool = True, batch: int = BATCH) -> CheckReport:
    """Compare the ticket index with the tickets table. With ``content`` every ticket's document is built again
    (as a rebuild would) and its digest compared with the indexed one, so a document that no longer says what
    the database says is reported stale even when the change stamps agree."""
    if not content:
        rows = {str(i): (stamp(u), None) for i, u in db.session.execute(select(Ticket.id, Ticket.updated_at))}
        return _compare(TICKET_INDEX, rows, "updated_at", content=False)
    rows: dict[str, Expected] = {}
    with _reading_session() as session:
        for tickets in _chunks(select(Ticket).options(selectinload(Ticket.category)), Ticket.id, batch, session):
            events = _events_of([t.id for t in tickets], session)
            for ticket in tickets:
                doc = ticket_document(ticket, events.get(ticket.id, []))
                rows[doc["id"]] = (doc["updated_at"], doc["digest"])
            session.expunge_all()
    return _compare(TICKET_INDEX, rows, "updated_at", content=True)


def check_kb(*, content: bool = True) -> CheckReport:
    """Compare the KB index with the articles and FAQs tables (see ``check_tickets``)."""
    rows: dict[str, Expected] = {}
    if not content:
        for model, kind in ((Article, "article"), (Faq, "faq")):
            for i, u in db.session.execute(select(model.id, model.updated_at)):
                rows[kb_doc_id(kind, i)] = (stamp(u), None)
        return _compare(KB_INDEX, rows, "updated", content=False)
    with _reading_session() as session:
        for articles in _chunks(select(Article).options(selectinload(Article.category)), Article.id, BATCH, session):
            for article in articles:
                doc = article_document(article)
                rows[doc["id"]] = (doc["updated"], doc["digest"])
        for faqs in _chunks(select(Faq).options(selectinload(Faq.category)), Faq.id, BATCH, session):
            for faq in faqs:
                doc = faq_document(faq)
                rows[doc["id"]] = (doc["updated"], doc["digest"])
    return _compare(KB_INDEX, rows, "updated", content=True)


def _reading_session() -> Session:
    """A session of its own for reading every row (the caller's session and the objects it holds stay as they
    are); it sees what has been committed."""
    return Session(db.engine, autoflush=False, expire_on_commit=False)


def _compare(name: str, rows: dict[str, Expected], stamp_field: str, *, content: bool) -> CheckReport:
    report = CheckReport(name, rows=len(rows), content_checked=content)
    ix = open_index(name)
    report.schema_current = schema_is_current(ix, name)
    seen: set[str] = set()
    with ix.searcher() as searcher:
        for fields in searcher.all_stored_fields():
            doc_id = fields["id"]
            seen.add(doc_id)
            report.documents += 1
            expected = rows.get(doc_id)
            if expected is None:
                report.orphaned.append(doc_id)
                continue
            row_stamp, digest = expected
            if (fields.get(stamp_field) or 0) < row_stamp or (digest is not None and fields.get("digest") != digest):
                report.stale.append(doc_id)
    report.missing = sorted(set(rows) - seen, key=_natural)
    report.stale.sort(key=_natural)
    report.orphaned.sort(key=_natural)
    return report


def _natural(doc_id: str):
    kind, _, number = doc_id.rpartition(":")
    return (kind, int(number) if number.isdigit() else 0)
