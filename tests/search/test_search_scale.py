"""Ticket search at scale: a bounded search (top hits only, block skipping, a bounded count) pages through exactly
the hits of a full ranking under the same access rules; the total shown is exact or "more than N"; the rebuild reads
tickets in keyset batches, writes with several processes, reports progress and answers like the incremental index;
a change is searchable once the index writer ran its job."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from whoosh import query as q

from portal.extensions import db
from portal.models import EventKind, Role, Ticket, TicketEvent, User
from portal.search import indexing
from portal.search.analysis import text_analyzer
from portal.search.query import MAX_PAGE, parse
from portal.search.schema import TICKET_INDEX
from portal.search.store import open_index, searcher
from portal.search.tickets import COUNT_PAGES_AHEAD, TicketSearchFilters, search_tickets, ticket_query
from portal.services import tickets as ticket_service

_analyzer = text_analyzer()
QUERIES = ["export", "export meter", '"meter export"', "export -csv", "walrus", "boundary"]


@pytest.fixture
def desk(make_org, make_user, make_ticket, run_index_jobs):
    ours, theirs = make_org(), make_org()
    me = make_user(Role.customer, organization=ours)
    colleague = make_user(Role.customer, organization=ours)
    stranger = make_user(Role.customer, organization=theirs)
    loner = make_user(Role.customer)
    agent = make_user(Role.agent)
    requesters = [me, colleague, stranger, loner]
    for n in range(36):
        words = " ".join(["export"] * (1 + n % 4))
        ticket = make_ticket(
            requesters[n % 4],
            subject=f"Meter export {n}" if n % 5 == 0 else f"Question {n}",
            description=f"The {words} of site {n} {'stops' if n % 2 else 'uses csv'}.",
        )
        if n % 3 == 0:
            ticket_service.reply_to_ticket(agent, ticket, f"Check the boundary of site {n} and the meter export.")
        if n % 4 == 1:
            ticket_service.reply_to_ticket(agent, ticket, f"Walrus export note {n}; export export.", internal=True)
    db.session.commit()
    run_index_jobs()
    return {"agent": agent, "me": me, "stranger": stranger, "loner": loner}


def _terms(text: str) -> set[str]:
    return {t.text for t in _analyzer(text or "")}


def _visible_matches(actor: User, query: str) -> set[int]:
    """What a search by ``actor`` must find, straight from the database: the tickets the access rule lets them read
    whose text (staff: with internal notes) holds every word and no excluded word."""
    parsed = parse(query)
    kinds = {EventKind.public_reply, EventKind.internal_note} if actor.is_staff else {EventKind.public_reply}
    found = set()
    for ticket in db.session.scalars(select(Ticket)):
        if not actor.is_staff and not (
            ticket.requester_id == actor.id
            or (actor.organization_id is not None and ticket.organization_id == actor.organization_id)
        ):
            continue
        events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
        parts = [ticket.subject, ticket.description] + [e.body for e in events if e.kind in kinds]
        words = set().union(*(_terms(p) for p in parts))
        if all(set(g) <= words for g in parsed.groups + parsed.phrases) and not set(parsed.excluded) & words:
            found.add(ticket.id)
    return found


def _full_ranking(actor: User, query: str) -> list[int]:
    """Every hit ranked without bounds: no limit, no block skipping."""
    with searcher(TICKET_INDEX) as s:
        found = s.search(ticket_query(actor, parse(query), TicketSearchFilters()), limit=None, optimize=False)
        return [int(hit["id"]) for hit in found]


def _paged(actor: User, query: str, per_page: int) -> list[int]:
    ids, page = [], 1
    while True:
        results = search_tickets(actor, query, page=page, per_page=per_page)
        ids += [hit.ticket_id for hit in results.hits]
        if not results.has_next:
            return ids
        page += 1


def test_bounded_pages_return_the_full_ranking_under_the_same_access_rules(desk):
    for name, actor in desk.items():
        for query in QUERIES:
            full = _full_ranking(actor, query)
            assert set(full) == _visible_matches(actor, query), (name, query)
            assert _paged(actor, query, per_page=3) == full, (name, query)
    me, agent = desk["me"], desk["agent"]
    assert search_tickets(me, "walrus").total == 0 and search_tickets(agent, "walrus").total == 9  # internal notes
    # staff rank a subject match first, not a ticket whose internal note repeats the word
    assert search_tickets(agent, "export").hits[0].matched_in == "subject"


def test_the_total_is_exact_up_to_a_bound_and_otherwise_more_than_it(desk, login_as):
    agent = desk["agent"]
    bound = (1 + COUNT_PAGES_AHEAD) * 2
    matching = len(_visible_matches(agent, "export"))
    assert matching > bound
    first = search_tickets(agent, "export", per_page=2)
    assert (first.total, first.more_than, first.pages) == (bound, True, 1 + COUNT_PAGES_AHEAD)
    further = search_tickets(agent, "export", page=first.pages, per_page=2)  # the last page offered moves the bound
    assert further.total == min(matching, (first.pages + COUNT_PAGES_AHEAD) * 2) and further.has_next
    last = search_tickets(agent, "export", page=-(-matching // 2), per_page=2)
    assert (last.total, last.more_than, last.has_next) == (matching, False, False)
    boundary = search_tickets(agent, "boundary", per_page=2)  # 12 matches
    assert boundary.more_than and boundary.total == bound
    exact = search_tickets(agent, "boundary")
    assert (exact.total, exact.more_than) == (12, False)
    capped = search_tickets(agent, "export", page=MAX_PAGE, per_page=1)
    assert capped.total == min(matching, MAX_PAGE)

    client, _token = login_as(agent)
    page = client.get("/agent/search", query_string={"q": "export"})
    assert f"{matching} tickets match" in page.text  # a page of 20: every match counted
    assert "More than" not in page.text


def test_the_page_says_more_than_when_the_matches_go_past_the_bound(desk, login_as, monkeypatch):
    from portal.search import tickets

    monkeypatch.setattr(tickets.search_tickets, "__defaults__", (None, 1, 2))  # pages of 2 hits
    client, _token = login_as(desk["agent"])
    page = client.get("/agent/search", query_string={"q": "export"})
    assert f"More than {(1 + COUNT_PAGES_AHEAD) * 2} tickets match" in page.text


def test_rebuild_reads_keyset_batches_writes_with_processes_and_answers_like_the_incremental_index(desk, app, runner):
    queries = [(actor, query) for actor in desk.values() for query in QUERIES]

    def answers():
        out = []
        for actor, query in queries:
            results = search_tickets(actor, query, per_page=50)
            out.append((results.total, sorted((h.ticket_id, h.matched_in, str(h.snippet)) for h in results.hits)))
        # the same hits; ties may rank apart (document numbers differ, and until a merge deleted documents still
        # count in the incremental index's word statistics)
        return out

    incremental = answers()
    with searcher(TICKET_INDEX) as s:
        digests = {f["id"]: f["digest"] for f in s.all_stored_fields()}
    app.config.update(INDEX_REBUILD_BATCH=5, INDEX_REBUILD_PROCS=2, INDEX_REBUILD_MB=8)
    result = runner.invoke(args=["search", "rebuild", "--only", "tickets"])
    assert result.exit_code == 0, result.output
    assert "tickets: 5/36 (14%)" in result.output and "tickets: 36/36 (100%)" in result.output
    assert "committing the ticket index" in result.output
    assert answers() == incremental
    with searcher(TICKET_INDEX) as s:
        assert {f["id"]: f["digest"] for f in s.all_stored_fields()} == digests
    ix = open_index(TICKET_INDEX)
    assert ix.doc_count() == 36
    assert all(not segment.is_compound() for segment in ix._segments())  # plain files: opening one copies nothing
    assert indexing.check_tickets().ok


def test_rebuild_rows_come_in_keyset_batches_with_their_own_events(desk):
    with indexing._reading_session() as session:
        batches = list(indexing.ticket_rows(session, 4))
    ids = [t.id for tickets, _events in batches for t in tickets]
    assert [len(tickets) for tickets, _ in batches] == [4] * 9
    assert ids == sorted(ids) and len(set(ids)) == 36
    for tickets, events in batches:
        assert set(events) <= {t.id for t in tickets}
        for ticket_id, rows in events.items():
            stored = db.session.scalars(
                select(TicketEvent.body)
                .where(TicketEvent.ticket_id == ticket_id)
                .where(TicketEvent.kind.in_((EventKind.public_reply, EventKind.internal_note)))
                .order_by(TicketEvent.id)
            ).all()
            assert [body for _kind, body in rows] == stored
    # a document built from a row is the document built from the ORM object
    ticket = db.session.scalar(select(Ticket).order_by(Ticket.id).offset(4))
    row = next(t for tickets, _ in batches for t in tickets if t.id == ticket.id)
    orm_events = indexing._events_of([ticket.id]).get(ticket.id, [])
    from portal.search.documents import ticket_document, ticket_row_document

    row_events = next(e for tickets, e in batches if any(t.id == ticket.id for t in tickets)).get(ticket.id, [])
    assert ticket_row_document(row, row_events) == ticket_document(ticket, orm_events)


def test_a_change_is_searchable_once_the_index_writer_ran_its_job(desk, run_index_jobs):
    agent, me = desk["agent"], desk["me"]
    ticket = db.session.scalar(select(Ticket).where(Ticket.requester_id == me.id).order_by(Ticket.id))
    ticket_service.reply_to_ticket(agent, ticket, "Narwhal calibration pending.", internal=True)
    ticket_service.reply_to_ticket(agent, ticket, "We fixed the okapi sensor.")
    db.session.commit()
    assert search_tickets(agent, "narwhal").total == 0  # not yet indexed
    assert run_index_jobs() >= 1
    assert [h.ticket_id for h in search_tickets(agent, "narwhal").hits] == [ticket.id]
    assert search_tickets(me, "narwhal").total == 0  # an internal note: never for the customer
    assert [h.ticket_id for h in search_tickets(me, "okapi").hits] == [ticket.id]
    with searcher(TICKET_INDEX) as s:
        assert len(s.search(q.Term("customer_text", "narwhal"), limit=None)) == 0
